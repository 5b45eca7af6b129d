package session

import (
	"context"
	"fmt"
	"time"

	"github.com/alexedwards/scs/v2"

	"github.com/deployedworks/rampart/secrets"
)

// scsStore is a [Store] seen by scs: an scs.CtxStore. scs hashes tokens
// before calling it (HashTokenInStore), so it only ever sees store keys.
// It holds no request state: what a write needs besides the data (the
// session's user, when its authority was established, and the record it
// replaces) is in the data itself, in the session's meta, which the codec
// writes first (see [commitMeta]). It encrypts with the Manager's
// Keyring, bound to the key.
type scsStore struct {
	store    Store
	keyring  *secrets.Keyring // nil: no encryption at rest
	idle     time.Duration
	lifetime time.Duration
}

var _ scs.CtxStore = scsStore{}

// adPrefix starts the associated data that binds ciphertext to its key.
const adPrefix = "rampart/session/v1:"

func ad(key string) []byte { return []byte(adPrefix + key) }

// open decrypts data stored under key, if the Manager encrypts.
func (a scsStore) open(key string, b []byte) ([]byte, error) {
	if a.keyring == nil {
		return b, nil
	}
	pt, err := a.keyring.Decrypt(b, ad(key))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errCorrupt, err)
	}
	return pt, nil
}

// FindCtx implements scs.CtxStore.
func (a scsStore) FindCtx(ctx context.Context, key string) ([]byte, bool, error) {
	b, found, err := a.store.Find(ctx, key)
	if err != nil {
		return nil, false, fmt.Errorf("%w: find: %w", ErrStore, err)
	}
	if !found {
		return nil, false, nil
	}
	if b, err = a.open(key, b); err != nil {
		return nil, false, err
	}
	return b, true, nil
}

// CommitCtx implements scs.CtxStore. It writes the session b under key
// with [Store.Save], replacing the record named in b's meta (the one the
// session was loaded from, or moves from after a token renewal): a
// session that had a record is written only if that record still exists,
// so that a session revoked while the request ran stays revoked, and the
// store refuses a session established before its user's revocation
// watermark. A refused write returns errGone. The record expires at the
// session's idle timeout or absolute lifetime, whichever comes first
// (scs's expiry, from its own Lifetime, is the later bound).
func (a scsStore) CommitCtx(ctx context.Context, key string, b []byte, expiry time.Time) error {
	md, err := commitMeta(b)
	if err != nil {
		return err
	}
	if e := md.Created.Add(a.lifetime); e.Before(expiry) {
		expiry = e
	}
	if e := md.LastSeen.Add(a.idle); e.Before(expiry) {
		expiry = e
	}
	if a.keyring != nil {
		if b, err = a.keyring.Encrypt(b, ad(key)); err != nil {
			return fmt.Errorf("%w: encrypt: %w", ErrStore, err)
		}
	}
	r := Record{Key: key, UserID: md.UserID, Data: b, Expiry: expiry}
	if md.UserID != "" {
		r.AuthAt = md.AuthAt
	}
	ok, err := a.store.Save(ctx, md.Stored, r)
	if err != nil {
		return fmt.Errorf("%w: save: %w", ErrStore, err)
	}
	if !ok {
		return errGone
	}
	return nil
}

// DeleteCtx implements scs.CtxStore: it deletes the record under key. scs
// calls it from RenewToken and Destroy, which the Manager does not use
// (see the package documentation); the Manager deletes a session's
// record itself, naming its user for the per-user index.
func (a scsStore) DeleteCtx(ctx context.Context, key string) error {
	if err := a.store.Delete(ctx, "", key); err != nil {
		return fmt.Errorf("%w: delete: %w", ErrStore, err)
	}
	return nil
}

// Find implements scs.Store, without a context.
func (a scsStore) Find(key string) ([]byte, bool, error) {
	return a.FindCtx(context.Background(), key)
}

// Commit implements scs.Store, without a context.
func (a scsStore) Commit(key string, b []byte, expiry time.Time) error {
	return a.CommitCtx(context.Background(), key, b, expiry)
}

// Delete implements scs.Store, without a context.
func (a scsStore) Delete(key string) error { return a.DeleteCtx(context.Background(), key) }

// userStore is the sessions of one user as an scs.IterableCtxStore, read
// through the per-user index ([Store.List]): [Manager.Sessions] iterates
// them with scs, decoding with the session codec. Records that cannot be
// decrypted or decoded are left out, as scs's Iterate would stop at them.
type userStore struct {
	scsStore
	userID string
}

var _ scs.IterableCtxStore = userStore{}

// AllCtx implements scs.IterableCtxStore.
func (u userStore) AllCtx(ctx context.Context) (map[string][]byte, error) {
	recs, err := u.store.List(ctx, u.userID)
	if err != nil {
		return nil, fmt.Errorf("%w: list: %w", ErrStore, err)
	}
	all := make(map[string][]byte, len(recs))
	for _, r := range recs {
		b, err := u.open(r.Key, r.Data)
		if err != nil {
			continue
		}
		if _, _, err := (codec{}).Decode(b); err != nil {
			continue
		}
		all[r.Key] = b
	}
	return all, nil
}
