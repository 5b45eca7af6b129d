package session

import (
	"context"
	"fmt"
	"time"

	"github.com/alexedwards/scs/v2"

	"github.com/deployedworks/rampart/secrets"
)

// scsStore is a [Store] seen by scs: an scs.CtxStore. scs passes it
// tokens (HashTokenInStore is off), which it hashes into store keys
// ([storeKey]) before they reach the Store, so that the Store only ever
// sees keys: the request's own token, whose key the Handler computed,
// is hashed once per request rather than by scs and again by the Manager.
// It holds no request state: what a write needs besides the data (the
// session's user, when its authority was established, and the record it
// replaces) is in the data itself, in the session's meta, which the codec
// writes first (see [commitMeta]). It encrypts with the Manager's
// Keyring, bound to the key.
type scsStore struct {
	ck       ctxKey // finds the request's state, with its token's key
	store    Store
	keyring  *secrets.Keyring // nil: no encryption at rest
	idle     time.Duration
	lifetime time.Duration
}

var _ scs.CtxStore = scsStore{}

// adPrefix starts the associated data that binds ciphertext to its key.
const adPrefix = "rampart/session/v1:"

// ad returns the associated data of key, in buf when it fits: the
// keyring copies it, so that a store key costs no allocation.
func ad(buf *[64]byte, key string) []byte { return append(append(buf[:0], adPrefix...), key...) }

// open decrypts data stored under key, if the Manager encrypts.
func (a scsStore) open(key string, b []byte) ([]byte, error) {
	if a.keyring == nil {
		return b, nil
	}
	var buf [64]byte
	pt, err := a.keyring.Decrypt(b, ad(&buf, key))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errCorrupt, err)
	}
	return pt, nil
}

// key returns the store key of token: the one the Handler computed when
// token is the request's, else its hash.
func (a scsStore) key(ctx context.Context, token string) string {
	if st, _ := ctx.Value(a.ck).(*reqState); st != nil && st.key != "" && st.token == token {
		return st.key
	}
	return storeKey(token)
}

// FindCtx implements scs.CtxStore.
func (a scsStore) FindCtx(ctx context.Context, token string) ([]byte, bool, error) {
	key := a.key(ctx, token)
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

// CommitCtx implements scs.CtxStore. It writes the session b under the
// key of token with [Store.Save], replacing the record named in b's meta (the one the
// session was loaded from, or moves from after a token renewal): a
// session that had a record is written only if that record still exists,
// so that a session revoked while the request ran stays revoked, and the
// store refuses a session established before its user's revocation
// watermark. A refused write returns errGone. The record expires at the
// session's idle timeout or absolute lifetime, whichever comes first
// (scs's expiry, from its own Lifetime, is the later bound).
func (a scsStore) CommitCtx(ctx context.Context, token string, b []byte, expiry time.Time) error {
	key := a.key(ctx, token)
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
		var buf [64]byte
		if b, err = a.keyring.Encrypt(b, ad(&buf, key)); err != nil {
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

// DeleteCtx implements scs.CtxStore: it deletes the record of token. scs
// calls it from RenewToken and Destroy, which the Manager does not use
// (see the package documentation); the Manager deletes a session's
// record itself, naming its user for the per-user index.
func (a scsStore) DeleteCtx(ctx context.Context, token string) error {
	if err := a.store.Delete(ctx, "", a.key(ctx, token)); err != nil {
		return fmt.Errorf("%w: delete: %w", ErrStore, err)
	}
	return nil
}

// Find implements scs.Store, without a context.
func (a scsStore) Find(token string) ([]byte, bool, error) {
	return a.FindCtx(context.Background(), token)
}

// Commit implements scs.Store, without a context.
func (a scsStore) Commit(token string, b []byte, expiry time.Time) error {
	return a.CommitCtx(context.Background(), token, b, expiry)
}

// Delete implements scs.Store, without a context.
func (a scsStore) Delete(token string) error { return a.DeleteCtx(context.Background(), token) }

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
