package session

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/alexedwards/scs/v2"
)

// scsStore adapts a [Store] to scs. scs hashes tokens before calling it
// (HashTokenInStore), so it only ever sees store keys. It reads the
// request's state from ctx to know which writes must be conditional, and
// encrypts with the Manager's Keyring, bound to the key.
type scsStore struct{ m *Manager }

var _ scs.CtxStore = scsStore{}

// adPrefix starts the associated data that binds ciphertext to its key.
const adPrefix = "rampart/session/v1:"

func (a scsStore) ad(key string) []byte { return []byte(adPrefix + key) }

// open decrypts data stored under key, if the Manager encrypts.
func (a scsStore) open(key string, b []byte) ([]byte, error) {
	if a.m.keyring == nil {
		return b, nil
	}
	pt, err := a.m.keyring.Decrypt(b, a.ad(key))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errCorrupt, err)
	}
	return pt, nil
}

// FindCtx implements scs.CtxStore.
func (a scsStore) FindCtx(ctx context.Context, key string) ([]byte, bool, error) {
	b, found, err := a.m.store.Find(ctx, key)
	if err != nil {
		return nil, false, fmt.Errorf("%w: find: %w", ErrStore, err)
	}
	if !found {
		return nil, false, nil
	}
	if st := a.m.state(ctx); st != nil {
		st.loadedKey, st.found = key, true
	}
	if b, err = a.open(key, b); err != nil {
		return nil, false, err
	}
	return b, true, nil
}

// CommitCtx implements scs.CtxStore. It writes unconditionally only a
// session that has no record yet; otherwise it writes only if the record
// it replaces is still there, so that a session revoked while the request
// ran stays revoked (it then returns errGone).
func (a scsStore) CommitCtx(ctx context.Context, key string, b []byte, _ time.Time) error {
	st := a.m.state(ctx)
	if st == nil {
		return ErrNoSession
	}
	if a.m.keyring != nil {
		var err error
		if b, err = a.m.keyring.Encrypt(b, a.ad(key)); err != nil {
			return fmt.Errorf("%w: encrypt: %w", ErrStore, err)
		}
	}
	replace := st.storedKey()
	ok, err := a.m.store.Save(ctx, replace, Record{Key: key, UserID: st.commitUser, Data: b, Expiry: st.commitExpiry})
	if err != nil {
		return fmt.Errorf("%w: save: %w", ErrStore, err)
	}
	if !ok {
		st.forget()
		return errGone
	}
	st.loadedKey, st.renewFrom, st.loadedUser = key, "", st.commitUser
	return nil
}

// DeleteCtx implements scs.CtxStore; scs calls it from RenewToken and
// Destroy with the current token's key. The record actually stored for the
// session is the one the state tracks (a renewed token has none yet).
func (a scsStore) DeleteCtx(ctx context.Context, _ string) error {
	st := a.m.state(ctx)
	if st == nil {
		return ErrNoSession
	}
	stored := st.storedKey()
	if stored == "" {
		return nil
	}
	if st.renew == renewRotate { // moved at commit, if not revoked by then
		st.loadedKey, st.renewFrom = "", stored
		return nil
	}
	if err := a.m.store.Delete(ctx, st.loadedUser, stored); err != nil {
		return fmt.Errorf("%w: delete: %w", ErrStore, err)
	}
	st.forget()
	return nil
}

// errNoContext reports a call without a context; scs never makes one
// because the adapter implements the Ctx variants.
var errNoContext = errors.New("session: store called without a context")

// Find implements scs.Store; scs uses FindCtx instead.
func (scsStore) Find(string) ([]byte, bool, error) { return nil, false, errNoContext }

// Commit implements scs.Store; scs uses CommitCtx instead.
func (scsStore) Commit(string, []byte, time.Time) error { return errNoContext }

// Delete implements scs.Store; scs uses DeleteCtx instead.
func (scsStore) Delete(string) error { return errNoContext }
