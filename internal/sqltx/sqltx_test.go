package sqltx_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/internal/sqltx"
	"github.com/deployedworks/rampart/internal/testenv"
	"github.com/deployedworks/rampart/sqldb"
)

// Holders of one lock run one after the other, each seeing what the
// previous one committed: eight read-then-write increments lose none. A
// failing fn leaves nothing behind.
func TestLocked(t *testing.T) {
	for d, open := range map[sqldb.Dialect]func(testing.TB) *sql.DB{
		sqldb.SQLite:     func(t testing.TB) *sql.DB { return testenv.SQLite(t, 0) },
		sqldb.PostgreSQL: testenv.Postgres,
	} {
		t.Run(d.String(), func(t *testing.T) {
			db := open(t)
			ctx := context.Background()
			table := "sqltx_" + strings.ToLower(rand.Text()[:10])
			_, err := db.Exec("CREATE TABLE " + table + " (n INTEGER NOT NULL)")
			require.NoError(t, err)
			t.Cleanup(func() { _, _ = db.Exec("DROP TABLE " + table) })
			_, err = db.Exec("INSERT INTO " + table + " (n) VALUES (0)")
			require.NoError(t, err)
			lock := sqltx.LockKey("test", table)
			var failed atomic.Int32
			testenv.Race(8, func(int) {
				err := sqltx.Locked(ctx, db, d, lock, func(q sqltx.Querier) error {
					var n int
					if err := q.QueryRowContext(ctx, "SELECT n FROM "+table).Scan(&n); err != nil {
						return err
					}
					_, err := q.ExecContext(ctx, "UPDATE "+table+" SET n = "+strconv.Itoa(n+1))
					return err
				})
				if err != nil {
					t.Log(err)
					failed.Add(1)
				}
			})
			require.Zero(t, failed.Load())
			var n int
			require.NoError(t, db.QueryRow("SELECT n FROM "+table).Scan(&n))
			assert.Equal(t, 8, n, "no increment lost")

			boom := errors.New("boom")
			err = sqltx.Locked(ctx, db, d, lock, func(q sqltx.Querier) error {
				if _, err := q.ExecContext(ctx, "UPDATE "+table+" SET n = 100"); err != nil {
					return err
				}
				return boom
			})
			require.ErrorIs(t, err, boom)
			require.NoError(t, db.QueryRow("SELECT n FROM "+table).Scan(&n))
			assert.Equal(t, 8, n, "rolled back")
		})
	}
}

func TestMillis(t *testing.T) {
	assert.Zero(t, sqltx.Millis(time.Time{}))
	assert.True(t, sqltx.FromMillis(0).IsZero())
	at := time.Date(2026, 12, 6, 1, 2, 3, 4_000_000, time.FixedZone("x", 3600))
	assert.Equal(t, at.UTC(), sqltx.FromMillis(sqltx.Millis(at)))
	assert.NotEqual(t, sqltx.LockKey("a", "b"), sqltx.LockKey("ab", ""), "store and key are separated")
}
