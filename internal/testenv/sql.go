package testenv

import (
	"context"
	"crypto/rand"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver
	_ "modernc.org/sqlite"             // the "sqlite" driver
)

// SQLite opens a new SQLite database file in t's temporary directory,
// with a 10-second busy timeout and WAL mode, its pool limited to conns
// connections (0: no limit), closed at cleanup. It opens one connection
// before returning, so that the file is in WAL mode before the test's
// goroutines race on it (connections turning a new file to WAL at once get
// SQLITE_BUSY without waiting).
func SQLite(t testing.TB, conns int) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "test.db")+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(conns)
	t.Cleanup(func() { _ = db.Close() })
	if err := db.Ping(); err != nil {
		t.Fatal(err)
	}
	return db
}

// Postgres opens the test PostgreSQL server, closed at cleanup, or skips
// (fails under RAMPART_REQUIRE_INTEGRATION=1) when none is configured.
func Postgres(t testing.TB) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", PostgresDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		t.Fatalf("PostgreSQL unreachable: %v", err)
	}
	return db
}

// PGSchema creates a schema of the test's own in db and returns its name,
// so that tests of packages running in parallel on one server never
// collide. At cleanup it drops the schema and deletes the rows that
// migrations of component's tables in it recorded in rampart_schema
// (component "pkg/path", tables "pkg/path:schema.table").
func PGSchema(t testing.TB, db *sql.DB, component string) string {
	t.Helper()
	name := "test_" + strings.ToLower(rand.Text()[:12])
	if _, err := db.Exec("CREATE SCHEMA " + name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = db.Exec("DROP SCHEMA " + name + " CASCADE")
		_, _ = db.Exec("DELETE FROM rampart_schema WHERE component LIKE $1", component+":"+name+".%")
	})
	return name
}
