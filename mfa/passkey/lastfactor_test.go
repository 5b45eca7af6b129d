package passkey_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/mfa"
	"github.com/deployedworks/rampart/mfa/memstore"
	"github.com/deployedworks/rampart/mfa/passkey"
)

// factorFixture is one store holding both factors, with the TOTP and
// WebAuthn that use it.
type factorFixture struct {
	store *memstore.Store
	totp  *mfa.TOTP
	wa    *passkey.RelyingParty
	sink  *audit.MemorySink
}

func newFactorFixture(t *testing.T) *factorFixture {
	t.Helper()
	f := &factorFixture{store: newStore(t)}
	c := newClock()
	var lg *audit.Logger
	lg, f.sink = newAudit()
	var err error
	s := newFakeSessions(c.Now)
	f.totp, err = mfa.NewTOTP(mfa.TOTPConfig{Issuer: "X", Keyring: newKeyring(t), Store: f.store, Sessions: s, Audit: lg, Now: c.Now})
	require.NoError(t, err)
	f.wa, err = passkey.New(passkey.Config{
		RPID: "localhost", RPDisplayName: "X", RPOrigins: []string{"http://localhost"},
		Credentials: f.store, Sessions: s, Challenges: s, Audit: lg, Now: c.Now,
	})
	require.NoError(t, err)
	return f
}

// give stores factors for user directly: a confirmed TOTP secret, a
// pending one, and credentials with the given IDs.
func (f *factorFixture) give(t *testing.T, user string, totp, pending bool, creds ...string) {
	t.Helper()
	ctx := context.Background()
	if totp || pending {
		var rec mfa.TOTPRecord
		if totp {
			rec.Secret = []byte("sealed")
		}
		if pending {
			rec.Pending = []byte("sealed")
		}
		require.NoError(t, f.store.SaveTOTP(ctx, user, rec))
	}
	for _, id := range creds {
		require.NoError(t, f.store.CreateCredential(ctx, mfa.StoredCredential{ID: []byte(id), UserID: user, Name: id, Data: []byte("{}"), CreatedAt: time.Unix(1, 0)}))
	}
}

func (f *factorFixture) factors(t *testing.T, user string) (totp bool, creds int) {
	t.Helper()
	ctx := context.Background()
	totp, err := f.totp.Enrolled(ctx, user)
	require.NoError(t, err)
	list, err := f.wa.Credentials(ctx, user)
	require.NoError(t, err)
	return totp, len(list)
}

// With keepLast, a user keeps their last factor; without it, or with
// another factor left, a factor is removed.
func TestRemoveFactor_KeepLast(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name          string
		totp, pending bool
		creds         []string
		remove        string // "totp" or a credential ID
		keepLast      bool
		want          error
		left          int // factors left: confirmed TOTP + credentials
	}{
		{name: "last TOTP kept", totp: true, remove: "totp", keepLast: true, want: mfa.ErrLastFactor, left: 1},
		{name: "TOTP removed, a passkey left", totp: true, creds: []string{"k1"}, remove: "totp", keepLast: true, left: 1},
		{name: "pending TOTP only: nothing to keep", pending: true, remove: "totp", keepLast: true, left: 0},
		{name: "no TOTP at all", remove: "totp", keepLast: true, left: 0},
		{name: "last TOTP removed without keepLast", totp: true, remove: "totp", left: 0},
		{name: "last passkey kept", creds: []string{"k1"}, remove: "k1", keepLast: true, want: mfa.ErrLastFactor, left: 1},
		{name: "last passkey kept, a pending TOTP does not count", pending: true, creds: []string{"k1"}, remove: "k1", keepLast: true, want: mfa.ErrLastFactor, left: 1},
		{name: "passkey removed, another left", creds: []string{"k1", "k2"}, remove: "k1", keepLast: true, left: 1},
		{name: "passkey removed, TOTP left", totp: true, creds: []string{"k1"}, remove: "k1", keepLast: true, left: 1},
		{name: "last passkey removed without keepLast", creds: []string{"k1"}, remove: "k1", left: 0},
		{name: "attack: unknown passkey", totp: true, creds: []string{"k1"}, remove: "nope", keepLast: true, want: mfa.ErrNotFound, left: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFactorFixture(t)
			f.give(t, "u", tc.totp, tc.pending, tc.creds...)
			f.give(t, "other", false, false, "x1") // another user's passkey
			var err error
			if tc.remove == "totp" {
				err = f.totp.Disable(ctx, "u", tc.keepLast)
			} else {
				err = f.wa.RemoveCredential(ctx, "u", []byte(tc.remove), tc.keepLast)
			}
			if tc.want == nil {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, tc.want)
			}
			totp, n := f.factors(t, "u")
			left := n
			if totp {
				left++
			}
			assert.Equal(t, tc.left, left)
			if errors.Is(tc.want, mfa.ErrLastFactor) {
				var denied int
				for _, e := range f.sink.Events() {
					if e.Outcome == audit.OutcomeDenied && e.Actor.UserID == "u" {
						denied++
					}
				}
				assert.Equal(t, 1, denied, "the refusal is audited")
			}
		})
	}

	t.Run("attack: another user's passkey", func(t *testing.T) {
		f := newFactorFixture(t)
		f.give(t, "u", true, false, "k1")
		f.give(t, "other", true, false, "x1")
		require.ErrorIs(t, f.wa.RemoveCredential(ctx, "u", []byte("x1"), true), mfa.ErrNotFound)
		_, n := f.factors(t, "other")
		assert.Equal(t, 1, n)
	})
}

// plainStore hides memstore.Store's FactorStore methods.
type plainStore struct {
	mfa.TOTPStore
	mfa.CredentialStore
}

// Without a FactorStore, keeping the last factor cannot be done
// atomically: the removal fails closed.
func TestRemoveFactor_KeepLastNeedsFactorStore(t *testing.T) {
	ctx := context.Background()
	ms := newStore(t)
	st := plainStore{ms, ms}
	c := newClock()
	s := newFakeSessions(c.Now)
	tp, err := mfa.NewTOTP(mfa.TOTPConfig{Issuer: "X", Keyring: newKeyring(t), Store: st, Sessions: s, Now: c.Now})
	require.NoError(t, err)
	wa, err := passkey.New(passkey.Config{RPID: "localhost", RPDisplayName: "X", RPOrigins: []string{"http://localhost"},
		Credentials: st, Sessions: s, Challenges: s, Now: c.Now})
	require.NoError(t, err)
	require.NoError(t, ms.SaveTOTP(ctx, "u", mfa.TOTPRecord{Secret: []byte("s")}))
	require.NoError(t, ms.CreateCredential(ctx, mfa.StoredCredential{ID: []byte("k1"), UserID: "u", Data: []byte("{}")}))

	err = tp.Disable(ctx, "u", true)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "FactorStore")
	err = wa.RemoveCredential(ctx, "u", []byte("k1"), true)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "FactorStore")
	ok, err := tp.Enrolled(ctx, "u")
	require.NoError(t, err)
	assert.True(t, ok, "nothing removed")
}

// TestRemoveFactor_ConcurrentRemovalsRegression: removing the TOTP secret
// and the last passkey at once left an administrator with no factor.
// Both removals start together, many times over: exactly one succeeds
// each time and the user keeps a factor.
func TestRemoveFactor_ConcurrentRemovalsRegression(t *testing.T) {
	ctx := context.Background()
	for i := range 100 {
		f := newFactorFixture(t)
		f.give(t, "admin", true, false, "k1")
		errs := make([]error, 2)
		start := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() { <-start; errs[0] = f.totp.Disable(ctx, "admin", true) })
		wg.Go(func() { <-start; errs[1] = f.wa.RemoveCredential(ctx, "admin", []byte("k1"), true) })
		close(start)
		wg.Wait()
		ok := 0
		for _, err := range errs {
			if err == nil {
				ok++
			} else {
				require.ErrorIs(t, err, mfa.ErrLastFactor, "round %d", i)
			}
		}
		require.Equal(t, 1, ok, "round %d: exactly one removal succeeds", i)
		totp, n := f.factors(t, "admin")
		require.True(t, totp || n > 0, "round %d: the user keeps a factor", i)
	}
}
