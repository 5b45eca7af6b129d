package memstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/mfa"
	"github.com/deployedworks/rampart/mfa/memstore"
	"github.com/deployedworks/rampart/mfa/mfatest"
)

// The store is bounded: beyond its limits, writes for new users (or new
// credentials) fail with ErrStoreFull, while existing entries can still be
// updated and freed space is reused.
func TestStore_Bounded(t *testing.T) {
	ctx := context.Background()
	s, err := memstore.New(memstore.Config{MaxUsers: 2, MaxCredentials: 2})
	require.NoError(t, err)

	t.Run("TOTP records", func(t *testing.T) {
		for _, u := range []string{"a", "b"} {
			require.NoError(t, s.SaveTOTP(ctx, u, mfa.TOTPRecord{Pending: []byte{1}}))
		}
		assert.ErrorIs(t, s.SaveTOTP(ctx, "c", mfa.TOTPRecord{Pending: []byte{1}}), mfa.ErrStoreFull)
		require.NoError(t, s.SaveTOTP(ctx, "a", mfa.TOTPRecord{Secret: []byte{2}}), "an existing user can still save")
		require.NoError(t, s.DeleteTOTP(ctx, "b"))
		require.NoError(t, s.SaveTOTP(ctx, "c", mfa.TOTPRecord{Pending: []byte{1}}), "room freed")
	})
	t.Run("recovery code sets", func(t *testing.T) {
		set := [][]byte{{1}, {2}}
		for _, u := range []string{"a", "b"} {
			require.NoError(t, s.ReplaceRecoveryCodes(ctx, u, set))
		}
		assert.ErrorIs(t, s.ReplaceRecoveryCodes(ctx, "c", set), mfa.ErrStoreFull)
		require.NoError(t, s.ReplaceRecoveryCodes(ctx, "a", set))
		require.NoError(t, s.ReplaceRecoveryCodes(ctx, "b", nil), "an empty set deletes")
		require.NoError(t, s.ReplaceRecoveryCodes(ctx, "c", set))
	})
	t.Run("credentials", func(t *testing.T) {
		for i := range 2 {
			require.NoError(t, s.CreateCredential(ctx, mfa.StoredCredential{ID: []byte{byte(i)}, UserID: "a"}))
		}
		assert.ErrorIs(t, s.CreateCredential(ctx, mfa.StoredCredential{ID: []byte{9}, UserID: "b"}), mfa.ErrStoreFull)
		assert.ErrorIs(t, s.CreateCredential(ctx, mfa.StoredCredential{ID: []byte{0}, UserID: "b"}), mfa.ErrExists)
	})

	_, err = memstore.New(memstore.Config{MaxUsers: -1})
	assert.Error(t, err)
}

// LastStep is written only by AcceptTOTPStep: SaveTOTP keeps it, so that a
// re-enrolment cannot reopen steps already used.
func TestStore_TOTPLastStep(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	_, err := s.AcceptTOTPStep(ctx, "u", 1)
	assert.ErrorIs(t, err, mfa.ErrNotEnrolled)

	require.NoError(t, s.SaveTOTP(ctx, "u", mfa.TOTPRecord{Secret: []byte{1}, LastStep: 99}))
	rec, err := s.LoadTOTP(ctx, "u")
	require.NoError(t, err)
	assert.Zero(t, rec.LastStep, "a new record starts at 0")

	ok, err := s.AcceptTOTPStep(ctx, "u", 10)
	require.NoError(t, err)
	assert.True(t, ok)
	for _, step := range []int64{10, 9} {
		ok, err = s.AcceptTOTPStep(ctx, "u", step)
		require.NoError(t, err)
		assert.False(t, ok, "step %d", step)
	}
	require.NoError(t, s.SaveTOTP(ctx, "u", mfa.TOTPRecord{Pending: []byte{2}}))
	rec, err = s.LoadTOTP(ctx, "u")
	require.NoError(t, err)
	assert.Equal(t, int64(10), rec.LastStep, "kept by SaveTOTP")

	require.NoError(t, s.DeleteTOTP(ctx, "u"))
	_, err = s.LoadTOTP(ctx, "u")
	assert.ErrorIs(t, err, mfa.ErrNotEnrolled)
}

// Callers get copies: changing a returned or a passed-in slice does not
// change what is stored.
func TestStore_Copies(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	secret := []byte{1, 2, 3}
	require.NoError(t, s.SaveTOTP(ctx, "u", mfa.TOTPRecord{Secret: secret}))
	secret[0] = 9
	rec, err := s.LoadTOTP(ctx, "u")
	require.NoError(t, err)
	rec.Secret[1] = 9
	rec, err = s.LoadTOTP(ctx, "u")
	require.NoError(t, err)
	assert.Equal(t, []byte{1, 2, 3}, rec.Secret)

	id, data := []byte{7}, []byte("state")
	require.NoError(t, s.CreateCredential(ctx, mfa.StoredCredential{ID: id, UserID: "u", Data: data}))
	id[0], data[0] = 8, 'X'
	c, err := s.Credential(ctx, []byte{7})
	require.NoError(t, err)
	c.Data[1] = 'X'
	c, err = s.Credential(ctx, []byte{7})
	require.NoError(t, err)
	assert.Equal(t, "state", string(c.Data))
}

// Credentials are listed oldest first, and only their owner may update or
// delete them.
func TestStore_Credentials(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, at := range []time.Duration{2, 0, 1} {
		require.NoError(t, s.CreateCredential(ctx, mfa.StoredCredential{
			ID: []byte{byte(i)}, UserID: "alice", Name: fmt.Sprint("key", i), CreatedAt: t0.Add(at * time.Hour),
		}))
	}
	require.NoError(t, s.CreateCredential(ctx, mfa.StoredCredential{ID: []byte{9}, UserID: "bob"}))

	list, err := s.UserCredentials(ctx, "alice")
	require.NoError(t, err)
	var names []string
	for _, c := range list {
		names = append(names, c.Name)
	}
	assert.Equal(t, []string{"key1", "key2", "key0"}, names)

	assert.ErrorIs(t, s.UpdateCredential(ctx, mfa.StoredCredential{ID: []byte{0}, UserID: "bob", Name: "mine"}), mfa.ErrNotFound, "attack: another user's credential")
	assert.ErrorIs(t, s.DeleteCredential(ctx, "bob", []byte{0}), mfa.ErrNotFound, "attack: another user's credential")
	_, err = s.Credential(ctx, []byte{42})
	assert.ErrorIs(t, err, mfa.ErrNotFound)

	require.NoError(t, s.UpdateCredential(ctx, mfa.StoredCredential{ID: []byte{0}, UserID: "alice", Name: "renamed"}))
	c, err := s.Credential(ctx, []byte{0})
	require.NoError(t, err)
	assert.Equal(t, "renamed", c.Name)
	assert.Equal(t, t0.Add(2*time.Hour), c.CreatedAt, "CreatedAt is not updated")
	require.NoError(t, s.DeleteCredential(ctx, "alice", []byte{0}))
	list, err = s.UserCredentials(ctx, "alice")
	require.NoError(t, err)
	assert.Len(t, list, 2)
}

// The store keeps every contract of the conformance suite.
func TestStore_Conformance(t *testing.T) {
	mfatest.TestStore(t, func(t *testing.T) any { return newStore(t) })
}

func newStore(t testing.TB) *memstore.Store {
	t.Helper()
	s, err := memstore.New(memstore.Config{})
	require.NoError(t, err)
	return s
}
