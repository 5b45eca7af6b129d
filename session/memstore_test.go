package session_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/session"
	"github.com/deployedworks/rampart/session/sessiontest"
)

func TestMemoryStore(t *testing.T) {
	sessiontest.TestBackend(t, sessiontest.Backend{
		New:  func(*testing.T) session.Store { return session.NewMemoryStore() },
		Dump: func(_ *testing.T, s session.Store) string { return session.DumpMemoryStore(s.(*session.MemoryStore)) },
	})
}

// TestMemoryStoreRecorded runs the suite as a third party would, without
// access to the backend.
func TestMemoryStoreRecorded(t *testing.T) {
	sessiontest.TestStore(t, func(*testing.T) session.Store { return session.NewMemoryStore() })
}

// TestMemoryStoreWatermarksExpire: watermarks past their Until are dropped
// by later revocations, so that revocations do not grow the store
// forever: it holds at most twice the live watermarks.
func TestMemoryStoreWatermarksExpire(t *testing.T) {
	s := session.NewMemoryStore()
	ctx := context.Background()
	now := time.Now()
	for i := range 100 {
		require.NoError(t, s.DeleteUser(ctx, fmt.Sprint("kept-", i), "", session.Revocation{At: now, Until: now.Add(time.Hour)}))
	}
	assert.Equal(t, 100, session.MemoryStoreWatermarks(s), "live watermarks are kept")
	for i := range 10000 {
		require.NoError(t, s.DeleteUser(ctx, fmt.Sprint("gone-", i), "", session.Revocation{At: now, Until: now.Add(-time.Second)}))
		require.LessOrEqual(t, session.MemoryStoreWatermarks(s), 200, "expired watermarks are swept")
	}
	ok, err := s.Save(ctx, "", session.Record{Key: "g", UserID: "gone-1", Data: []byte("x"), Expiry: now.Add(time.Hour)})
	require.NoError(t, err)
	assert.True(t, ok, "a forgotten watermark refuses nothing")
	ok, err = s.Save(ctx, "", session.Record{Key: "k", UserID: "kept-1", Data: []byte("x"), Expiry: now.Add(time.Hour)})
	require.NoError(t, err)
	assert.False(t, ok)
}
