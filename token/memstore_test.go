package token_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/token"
	"github.com/deployedworks/rampart/token/tokentest"
)

func TestMemoryStoreConformance(t *testing.T) {
	tokentest.TestStore(t, func(t *testing.T) token.Store {
		return newMemoryStore(t)
	})
}

func TestMemoryStoreBounded(t *testing.T) {
	ctx := t.Context()
	s, err := token.NewMemoryStore(token.MemoryStoreConfig{MaxRecords: 3})
	require.NoError(t, err)
	t0 := time.Unix(1_800_000_000, 0)
	rec := func(i int, expires time.Time) token.Record {
		return token.Record{Hash: []byte{byte(i)}, UserID: fmt.Sprint("user", i), Purpose: token.PasswordReset, Created: t0, Expires: expires}
	}
	require.NoError(t, s.Put(ctx, rec(1, t0)))                // expired as soon as stored
	require.NoError(t, s.Put(ctx, rec(2, t0.Add(time.Hour)))) //
	require.NoError(t, s.Put(ctx, rec(3, t0.Add(time.Hour))))
	// Full: the expired record makes room.
	require.NoError(t, s.Put(ctx, rec(4, t0.Add(time.Hour))))
	// Full of valid records: refused, not grown.
	err = s.Put(ctx, rec(5, t0.Add(time.Hour)))
	assert.ErrorIs(t, err, token.ErrStoreFull)
	// A user's new token replaces their old one, so it fits.
	r := rec(6, t0.Add(time.Hour))
	r.UserID = "user2"
	require.NoError(t, s.Put(ctx, r))
	_, err = s.Get(ctx, []byte{2}, token.PasswordReset, t0)
	assert.ErrorIs(t, err, token.ErrInvalid)
	_, err = s.Get(ctx, []byte{6}, token.PasswordReset, t0)
	assert.NoError(t, err)
	// Emptied, it takes records again.
	require.NoError(t, s.Void(ctx, "user3"))
	require.NoError(t, s.Put(ctx, rec(5, t0.Add(time.Hour))))

	_, err = token.NewMemoryStore(token.MemoryStoreConfig{MaxRecords: -1})
	assert.ErrorContains(t, err, "MaxRecords -1: use 0 for the default, or a positive bound")
	assert.Error(t, s.Put(ctx, token.Record{UserID: "x", Purpose: token.PasswordReset}), "empty hash")
}

// newMemoryStore returns a MemoryStore with the default bound.
func newMemoryStore(t testing.TB) *token.MemoryStore {
	t.Helper()
	s, err := token.NewMemoryStore(token.MemoryStoreConfig{})
	require.NoError(t, err)
	return s
}
