package sqlmigrate_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"

	"github.com/deployedworks/rampart/internal/sqlmigrate"
	"github.com/deployedworks/rampart/internal/testenv"
	"github.com/deployedworks/rampart/sqldb"
)

// databases opens each dialect's database in its subtest: the SQLite one
// runs when no PostgreSQL is configured.
var databases = map[sqldb.Dialect]func(testing.TB) *sql.DB{
	sqldb.SQLite:     func(t testing.TB) *sql.DB { return testenv.SQLite(t, 0) },
	sqldb.PostgreSQL: testenv.Postgres,
}

func TestApply(t *testing.T) {
	for d, open := range databases {
		t.Run(d.String(), func(t *testing.T) {
			db := open(t)
			ctx := context.Background()
			table := "mig_" + rand.Text()[:10]
			t.Cleanup(func() { _, _ = db.Exec("DROP TABLE IF EXISTS " + table) })
			steps := []sqlmigrate.Step{
				{Version: 1, Stmts: []string{"CREATE TABLE " + table + " (id INTEGER PRIMARY KEY)"}},
				{Version: 2, Stmts: []string{"ALTER TABLE " + table + " ADD COLUMN name TEXT"}},
			}
			comp := "test:" + table
			// Eight instances start at once: each step runs exactly once
			// (a second CREATE TABLE or ADD COLUMN would fail).
			var failed atomic.Int32
			testenv.Race(8, func(int) {
				if err := sqlmigrate.Apply(ctx, db, d, comp, steps); err != nil {
					t.Log(err)
					failed.Add(1)
				}
			})
			assert.Zero(t, failed.Load())
			require.NoError(t, sqlmigrate.Apply(ctx, db, d, comp, steps), "applying again is a no-op")
			_, err := db.Exec("INSERT INTO " + table + " (id, name) VALUES (1, 'x')")
			require.NoError(t, err)
			var n int
			q := "SELECT COUNT(*) FROM rampart_schema WHERE component = " + fmt.Sprintf("'%s'", comp)
			require.NoError(t, db.QueryRow(q).Scan(&n))
			assert.Equal(t, 2, n)

			// A failing step is rolled back and not recorded.
			bad := append(steps, sqlmigrate.Step{Version: 3, Stmts: []string{"CREATE TABLE " + table + "_x (id INTEGER)", "NOT SQL"}})
			require.Error(t, sqlmigrate.Apply(ctx, db, d, comp, bad))
			require.NoError(t, db.QueryRow(q).Scan(&n))
			assert.Equal(t, 2, n)
			_, err = db.Exec("SELECT * FROM " + table + "_x")
			assert.Error(t, err, "the failed step's first statement was rolled back")
		})
	}
}

func TestApplyRefuses(t *testing.T) {
	assert.ErrorContains(t, sqlmigrate.Apply(context.Background(), nil, sqldb.SQLite, "c", nil), "nil *sql.DB")
	db, err := sql.Open("sqlite", ":memory:")
	require.NoError(t, err)
	defer db.Close()
	assert.ErrorContains(t, sqlmigrate.Apply(context.Background(), db, 0, "c", nil), "unknown dialect")
	assert.ErrorContains(t, sqlmigrate.Apply(context.Background(), db, sqldb.SQLite, "c",
		[]sqlmigrate.Step{{Version: 2}, {Version: 1}}), "out of order")
}
