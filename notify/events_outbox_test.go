package notify_test

import (
	"context"
	"database/sql"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/internal/testenv"
	"github.com/deployedworks/rampart/notify"
	"github.com/deployedworks/rampart/sqldb"
)

// Two instances, each with its own *sql.DB and Outbox on one database
// (SQLite, PostgreSQL), each with its EventSink: an event both see is one
// message in the outbox, and alerts about one account that each raises
// within the window are one message per contact.
func TestEventSinkOnceAcrossInstances(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		db1 := testenv.SQLite(t, 0)
		var path string
		require.NoError(t, db1.QueryRow(`SELECT file FROM pragma_database_list WHERE name = 'main'`).Scan(&path))
		db2, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
		require.NoError(t, err)
		t.Cleanup(func() { _ = db2.Close() })
		onceAcrossInstances(t, db1, db2, sqldb.SQLite, "rampart_outbox")
	})
	t.Run("postgres", func(t *testing.T) {
		db1, db2 := testenv.Postgres(t), testenv.Postgres(t)
		onceAcrossInstances(t, db1, db2, sqldb.PostgreSQL, testenv.PGSchema(t, db1, "notify")+".outbox")
	})
}

func onceAcrossInstances(t *testing.T, db1, db2 *sql.DB, d sqldb.Dialect, table string) {
	o1, err := notify.NewOutbox(db1, d, notify.OutboxConfig{Table: table})
	require.NoError(t, err)
	require.NoError(t, o1.Migrate(context.Background()))
	o2, err := notify.NewOutbox(db2, d, notify.OutboxConfig{Table: table})
	require.NoError(t, err)
	a := newSink(t, &audit.MemorySink{}, o1, notify.EventSinkConfig{})
	b := newSink(t, &audit.MemorySink{}, o2, notify.EventSinkConfig{})
	count := func() (n int) {
		require.NoError(t, db1.QueryRow(`SELECT count(*) FROM `+table).Scan(&n))
		return n
	}

	var wg sync.WaitGroup
	for _, s := range []*notify.EventSink{a, b, a, b} {
		wg.Go(func() { assert.NoError(t, s.Write(context.Background(), factorAdded("u2", "req-9"))) })
	}
	wg.Wait()
	assert.Equal(t, 1, count(), "one notice for the event both instances saw, twice each")

	// Each instance detects the stuffing on its share of the traffic.
	require.NoError(t, a.Write(context.Background(), stuffing(time.Minute, "carol")))
	require.NoError(t, b.Write(context.Background(), stuffing(3*time.Minute, "carol")))
	assert.Equal(t, 3, count(), "one alert to each of the two contacts")
	require.NoError(t, b.Write(context.Background(), stuffing(20*time.Minute, "carol")))
	assert.Equal(t, 5, count(), "the next window alerts again")
	require.NoError(t, a.Write(context.Background(), stuffing(21*time.Minute, "dave")))
	assert.Equal(t, 7, count(), "another account is another alert")

	// An AsyncSink retrying a write that failed: the EventSink under it
	// sees the event twice, the outbox holds one message.
	store := &failFirst{}
	async, err := audit.NewAsyncSink(newSink(t, store, o1, notify.EventSinkConfig{}), audit.AsyncConfig{MinBackoff: time.Millisecond})
	require.NoError(t, err)
	require.NoError(t, async.Write(context.Background(), factorAdded("u1", "req-async")))
	require.NoError(t, async.Close(context.Background()))
	assert.Equal(t, uint64(1), async.Stats().Retries)
	assert.Len(t, store.Events(), 1)
	assert.Equal(t, 8, count(), "one notice for the event written twice")
}
