package sqlsink

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/internal/testenv"
	"github.com/deployedworks/rampart/sqldb"
)

// TestFaultsLoseAndDuplicateNothing puts PostgreSQL behind a proxy and
// faults it while writers log events through an AsyncSink: dropped, hung,
// slowed and reset connections, and a COMMIT that commits but whose answer
// is lost. After each fault the proxy recovers; then every event logged is
// in the table exactly once, counted.
func TestFaultsLoseAndDuplicateNothing(t *testing.T) {
	direct, _, table := openPostgres(t)
	u, err := url.Parse(testenv.PostgresDSN(t))
	require.NoError(t, err)
	p := testenv.NewProxy(t, u.Host)
	u.Host = p.Addr()
	db, err := sql.Open("pgx", u.String())
	require.NoError(t, err)
	t.Cleanup(func() { p.Recover(); _ = db.Close() })
	s, err := New(db, sqldb.PostgreSQL, Config{Table: table})
	require.NoError(t, err)
	require.NoError(t, s.Migrate(context.Background()))
	a, err := audit.NewAsyncSink(s, audit.AsyncConfig{BatchSize: 8, MinBackoff: time.Millisecond, MaxBackoff: 20 * time.Millisecond})
	require.NoError(t, err)
	t.Cleanup(func() { _ = a.Close(context.Background()) })
	l := audit.MustNew(a, audit.Config{})

	rows := func() (n, distinct int) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		require.NoError(t, direct.QueryRowContext(ctx, `SELECT COUNT(*), COUNT(DISTINCT meta) FROM "`+table+`"`).Scan(&n, &distinct))
		return n, distinct
	}
	logged := 0
	// traffic logs n events from 4 writers at once, each distinct.
	traffic := func(n int) {
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Go(func() {
				for i := w; i < n; i += 4 {
					l.Log(context.Background(), audit.Event{Category: audit.CategoryAuthentication, Action: audit.ActionLoginFailed,
						Outcome: audit.OutcomeFailure, Meta: map[string]string{"n": fmt.Sprint(logged + i)}})
				}
			})
		}
		wg.Wait()
		logged += n
	}
	// delivered waits until the sink has written every event logged.
	delivered := func() {
		t.Helper()
		require.Eventually(t, func() bool { return a.Stats().Written == uint64(logged) }, 30*time.Second, time.Millisecond,
			"written %d of %d", a.Stats().Written, logged)
	}
	assertExactlyOnce := func() {
		t.Helper()
		delivered()
		n, distinct := rows()
		assert.Equal(t, logged, n, "rows: every event once")
		assert.Equal(t, logged, distinct, "no event twice")
	}

	traffic(40)
	assertExactlyOnce()

	for _, tc := range testenv.Faults() {
		t.Run(tc.Name, func(t *testing.T) {
			done := make(chan struct{})
			go func() { defer close(done); traffic(200) }() // mid-traffic
			tc.Inject(p)
			<-done
			if tc.Fails {
				assert.Positive(t, a.Stats().Queued+int(a.Stats().Retries), "events wait for the database")
			}
			p.Recover()
			assertExactlyOnce()
		})
	}

	// The answer to a COMMIT is lost: the batch committed, the sink saw an
	// error and retries it.
	t.Run("commit answer lost", func(t *testing.T) {
		before := a.Stats().Retries
		p.HangRepliesAfter("commit")
		traffic(1)
		require.Eventually(t, func() bool { n, _ := rows(); return n == logged }, 30*time.Second, time.Millisecond,
			"the batch commits though its answer is held")
		p.Reset() // the sink reads a reset instead of the answer
		p.Recover()
		assertExactlyOnce()
		assert.Greater(t, a.Stats().Retries, before, "the batch was retried")
	})
}
