package sqlstmt

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/internal/testenv"
	"github.com/deployedworks/rampart/sqldb"
)

// run exercises a Cache of db: exec, query a row, query rows, from many
// goroutines at once on first use.
func run(t *testing.T, c *Cache, p func(int) string) {
	ctx := context.Background()
	_, err := c.ExecContext(ctx, `CREATE TABLE kv (k TEXT PRIMARY KEY, v INTEGER NOT NULL)`)
	require.NoError(t, err)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			_, err := c.ExecContext(ctx, `INSERT INTO kv (k, v) VALUES (`+p(1)+`, `+p(2)+`)`, fmt.Sprint("k", i), i)
			assert.NoError(t, err)
			var v int
			assert.NoError(t, c.QueryRowContext(ctx, `SELECT v FROM kv WHERE k = `+p(1), fmt.Sprint("k", i)).Scan(&v))
			assert.Equal(t, i, v)
		})
	}
	wg.Wait()
	rows, err := c.QueryContext(ctx, `SELECT COUNT(*) FROM kv WHERE v >= `+p(1), 0)
	require.NoError(t, err)
	defer rows.Close()
	require.True(t, rows.Next())
	var n int
	require.NoError(t, rows.Scan(&n))
	assert.Equal(t, 8, n)
	require.NoError(t, rows.Err())
}

func count(c *Cache) (n int) {
	c.stmts.Range(func(any, any) bool { n++; return true })
	return n
}

func TestSQLitePrepares(t *testing.T) {
	db := testenv.SQLite(t, 0)
	c := New(db, sqldb.SQLite)
	// A query on a table that does not exist yet fails as unprepared and
	// is not cached; once the table exists it is prepared.
	var v int
	err := c.QueryRowContext(t.Context(), `SELECT v FROM kv WHERE k = ?1`, "k1").Scan(&v)
	require.ErrorContains(t, err, "no such table")
	assert.Zero(t, count(c))
	run(t, c, func(i int) string { return fmt.Sprintf("?%d", i) })
	assert.Equal(t, 4, count(c), "each query prepared once (the CREATE TABLE too)")
}

func TestPostgresPassesThrough(t *testing.T) {
	schema := testenv.PGSchema(t, testenv.Postgres(t), "sqlstmt")
	db, err := sql.Open("pgx", testenv.PostgresDSN(t)+"&search_path="+schema)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	c := New(db, sqldb.PostgreSQL)
	run(t, c, func(i int) string { return fmt.Sprintf("$%d", i) })
	assert.Zero(t, count(c), "pgx caches its statements itself")
}
