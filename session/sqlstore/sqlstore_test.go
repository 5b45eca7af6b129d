package sqlstore_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"

	"github.com/deployedworks/rampart/internal/testenv"
	"github.com/deployedworks/rampart/session"
	"github.com/deployedworks/rampart/session/sessiontest"
	"github.com/deployedworks/rampart/session/sqlstore"
	"github.com/deployedworks/rampart/sqldb"
)

// uniqueTable returns a table name no other test uses, dropped at cleanup.
func uniqueTable(t testing.TB, db *sql.DB) string {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "rampart_sessions_test_" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		_, _ = db.Exec("DROP TABLE IF EXISTS " + name)
		_, _ = db.Exec("DROP TABLE IF EXISTS " + name + "_revocations")
		_, _ = db.Exec("DELETE FROM rampart_schema WHERE component = 'session/sqlstore:" + name + "'")
	})
	return name
}

func newStore(t testing.TB, db *sql.DB, d sqldb.Dialect) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.New(db, d, sqlstore.Config{Table: uniqueTable(t, db)})
	require.NoError(t, err)
	require.NoError(t, s.Migrate(context.Background()))
	require.NoError(t, s.Migrate(context.Background()), "Migrate is idempotent")
	return s
}

// dump reads every row directly, all columns as text.
func dump(t testing.TB, db *sql.DB, s *sqlstore.Store) string {
	t.Helper()
	table := strings.Fields(s.Schema()[0])[5]
	rows, err := db.Query("SELECT token_hash, user_id, data, expiry FROM " + table)
	require.NoError(t, err)
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var k, u string
		var d []byte
		var e int64
		require.NoError(t, rows.Scan(&k, &u, &d, &e))
		fmt.Fprintf(&b, "%s|%s|%s|%x|%d\n", k, u, d, d, e)
	}
	require.NoError(t, rows.Err())
	return b.String()
}

// brokenSQLite is a store whose database handle is closed.
func brokenSQLite(t *testing.T) *sql.DB {
	db := testenv.SQLite(t, 1)
	require.NoError(t, db.Close())
	return db
}

// brokenPostgres is a store whose server refuses connections.
func brokenPostgres(t *testing.T) *sql.DB {
	testenv.PostgresDSN(t)
	db, err := sql.Open("pgx", "postgres://rampart:rampart@127.0.0.1:1/rampart?sslmode=disable&connect_timeout=2")
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// openSQLite opens a new database with one connection: SQLite has one
// writer, so writers queue in Go rather than in busy-wait sleeps.
func openSQLite(t testing.TB) *sql.DB { return testenv.SQLite(t, 1) }

func openPostgres(t testing.TB) *sql.DB { return testenv.Postgres(t) }

func harness(open func(testing.TB) *sql.DB, broken func(*testing.T) *sql.DB, d sqldb.Dialect) sessiontest.Backend {
	dbs := map[session.Store]*sql.DB{}
	return sessiontest.Backend{
		New: func(t *testing.T) session.Store {
			db := open(t)
			s := newStore(t, db, d)
			dbs[s] = db
			return s
		},
		Dump: func(t *testing.T, s session.Store) string { return dump(t, dbs[s], s.(*sqlstore.Store)) },
		Broken: func(t *testing.T) session.Store {
			s, err := sqlstore.New(broken(t), d, sqlstore.Config{})
			require.NoError(t, err)
			return s
		},
	}
}

func TestSQLite(t *testing.T) {
	sessiontest.TestBackend(t, harness(openSQLite, brokenSQLite, sqldb.SQLite))
}

func TestPostgres(t *testing.T) {
	sessiontest.TestBackend(t, harness(openPostgres, brokenPostgres, sqldb.PostgreSQL))
}

func TestNew(t *testing.T) {
	db := testenv.SQLite(t, 1)
	for _, tc := range []struct {
		name    string
		dialect sqldb.Dialect
		table   string
		wantErr string
	}{
		{"default table", sqldb.SQLite, "", ""},
		{"schema qualified", sqldb.PostgreSQL, "auth.sessions", ""},
		{"no dialect", 0, "", "unknown Dialect"},
		{"injection", sqldb.SQLite, "s; DROP TABLE users", "Table"},
		{"quote", sqldb.SQLite, `s"x`, "Table"},
		{"three parts", sqldb.SQLite, "a.b.c", "Table"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sqlstore.New(db, tc.dialect, sqlstore.Config{Table: tc.table})
			if tc.wantErr == "" {
				assert.NoError(t, err)
			} else {
				assert.ErrorContains(t, err, tc.wantErr)
			}
		})
	}
	_, err := sqlstore.New(nil, sqldb.SQLite, sqlstore.Config{})
	assert.ErrorContains(t, err, "nil *sql.DB: open one with sql.Open")
}

// TestSchemaQualified is the regression test for Config.Table "schema.table"
// on SQLite: Migrate wrote "CREATE INDEX name ON schema.table", a syntax
// error there (SQLite qualifies the index name instead).
func TestSchemaQualified(t *testing.T) {
	for _, tc := range []struct {
		name    string
		open    func(testing.TB) *sql.DB
		d       sqldb.Dialect
		create  string // makes schema %s
		drop    string
		indexes string // lists the index names in schema %s of table %s
	}{
		{"sqlite", openSQLite, sqldb.SQLite, "ATTACH DATABASE ':memory:' AS %s", "",
			`SELECT name FROM %s.sqlite_master WHERE type = 'index' AND tbl_name = '%s' AND sql IS NOT NULL`},
		{"postgres", openPostgres, sqldb.PostgreSQL, "CREATE SCHEMA %s", "DROP SCHEMA IF EXISTS %s CASCADE",
			`SELECT indexname FROM pg_indexes WHERE schemaname = '%s' AND tablename = '%s'`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := tc.open(t)
			var b [6]byte
			_, _ = rand.Read(b[:])
			schema := "rampart_test_" + hex.EncodeToString(b[:])
			_, err := db.Exec(fmt.Sprintf(tc.create, schema))
			require.NoError(t, err)
			if tc.drop != "" {
				t.Cleanup(func() { _, _ = db.Exec(fmt.Sprintf(tc.drop, schema)) })
			}
			s, err := sqlstore.New(db, tc.d, sqlstore.Config{Table: schema + ".sessions"})
			require.NoError(t, err)
			ctx := context.Background()
			require.NoError(t, s.Migrate(ctx))
			require.NoError(t, s.Migrate(ctx), "Migrate is idempotent")

			rows, err := db.Query(fmt.Sprintf(tc.indexes, schema, "sessions"))
			require.NoError(t, err)
			var idx []string
			for rows.Next() {
				var n string
				require.NoError(t, rows.Scan(&n))
				idx = append(idx, n)
			}
			require.NoError(t, rows.Err())
			assert.Subset(t, idx, []string{"sessions_user_idx", "sessions_expiry_idx"}, "indexes created in the table's schema")

			ok, err := s.Save(ctx, "", session.Record{Key: "k", UserID: "u", Data: []byte("d"), Expiry: time.Now().Add(time.Hour)})
			require.NoError(t, err)
			require.True(t, ok)
			recs, err := s.List(ctx, "u")
			require.NoError(t, err)
			require.Len(t, recs, 1)
			assert.Equal(t, "d", string(recs[0].Data))
		})
	}
}

func TestDeleteExpired(t *testing.T) {
	db := testenv.SQLite(t, 1)
	s := newStore(t, db, sqldb.SQLite)
	ctx := context.Background()
	_, err := s.Save(ctx, "", session.Record{Key: "old", UserID: "u", Data: []byte("x"), Expiry: time.Now().Add(-time.Minute)})
	require.NoError(t, err)
	_, err = s.Save(ctx, "", session.Record{Key: "new", UserID: "u", Data: []byte("y"), Expiry: time.Now().Add(time.Hour)})
	require.NoError(t, err)
	// Claims are rows of the same table, and go the same way.
	for _, k := range []string{"spent", "live"} {
		exp := time.Now().Add(time.Hour)
		if k == "spent" {
			exp = time.Now().Add(-time.Minute)
		}
		ok, err := s.Claim(ctx, k, exp)
		require.NoError(t, err)
		require.True(t, ok)
	}
	n, err := s.DeleteExpired(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(2), n)
	assert.NotContains(t, dump(t, db, s), "old|")
	assert.Contains(t, dump(t, db, s), "new|")
	assert.NotContains(t, dump(t, db, s), "c:spent|")
	assert.Contains(t, dump(t, db, s), "c:live|")
}

// BenchmarkRevokeUser ends the four sessions of one user among 100,000
// rows: "index" is DeleteUser (one indexed DELETE); "scan" reads every
// row, the least a revocation without an index must do (scs's Iterate
// also decodes each one). Each index iteration re-creates the four
// sessions with the timer stopped.
func BenchmarkRevokeUser(b *testing.B) {
	for _, bc := range []struct {
		name string
		open func(testing.TB) *sql.DB
		d    sqldb.Dialect
		fill string
	}{
		{"sqlite", openSQLite, sqldb.SQLite, `WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i < 100000)
INSERT INTO %s (token_hash, user_id, data, expiry) SELECT 'key-' || i, 'user-' || (i %% 25000), ?, ? FROM c`},
		{"postgres", openPostgres, sqldb.PostgreSQL, `INSERT INTO %s (token_hash, user_id, data, expiry) SELECT 'key-' || i, 'user-' || (i %% 25000), $1, $2 FROM generate_series(1, 100000) i`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			db := bc.open(b)
			s := newStore(b, db, bc.d)
			table := strings.Fields(s.Schema()[0])[5]
			data := make([]byte, 190)
			exp := time.Now().Add(time.Hour)
			_, err := db.Exec(fmt.Sprintf(bc.fill, table), data, exp.UnixMilli())
			require.NoError(b, err)
			_, _ = db.Exec("ANALYZE " + table)
			ctx := context.Background()
			b.Run("index", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					b.StopTimer()
					for range 4 {
						var k [16]byte
						_, _ = rand.Read(k[:])
						_, err := s.Save(ctx, "", session.Record{Key: hex.EncodeToString(k[:]), UserID: "victim", Data: data, Expiry: exp, AuthAt: exp})
						require.NoError(b, err)
					}
					b.StartTimer()
					require.NoError(b, s.DeleteUser(ctx, "victim", "", session.Revocation{At: time.Now(), Until: exp}))
				}
			})
			b.Run("scan", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					rows, err := db.Query("SELECT token_hash, data FROM " + table)
					require.NoError(b, err)
					n := 0
					for rows.Next() {
						var k string
						var d []byte
						require.NoError(b, rows.Scan(&k, &d))
						n++
					}
					require.NoError(b, rows.Close())
					require.Equal(b, 100000, n)
				}
			})
		})
	}
}

// TestWatermark covers what the conformance suite cannot reach through
// the Store: a row written below the watermark behind DeleteUser's back
// (as an INSERT racing the revocation at READ COMMITTED can) is neither
// found nor listed; DeleteExpired drops expired watermarks; and Migrate
// adds auth_at to a table made before it existed.
func TestWatermark(t *testing.T) {
	for _, tc := range []struct {
		name string
		open func(testing.TB) *sql.DB
		d    sqldb.Dialect
		p    func(int) string
	}{
		{"sqlite", openSQLite, sqldb.SQLite, func(int) string { return "?" }},
		{"postgres", openPostgres, sqldb.PostgreSQL, func(i int) string { return fmt.Sprintf("$%d", i) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := tc.open(t)
			ctx := context.Background()
			s := newStore(t, db, tc.d)
			table := strings.Fields(s.Schema()[0])[5]
			exp := time.Now().Add(time.Hour)
			w := time.Now().Truncate(time.Microsecond)

			require.NoError(t, s.DeleteUser(ctx, "u", "", session.Revocation{At: w, Until: exp}))
			_, err := db.Exec(fmt.Sprintf("INSERT INTO %s (token_hash, user_id, data, expiry, auth_at) VALUES (%s, %s, %s, %s, %s)",
				table, tc.p(1), tc.p(2), tc.p(3), tc.p(4), tc.p(5)), "raced", "u", []byte("x"), exp.UnixMilli(), w.UnixMicro()-1)
			require.NoError(t, err)
			_, found, err := s.Find(ctx, "raced")
			require.NoError(t, err)
			assert.False(t, found, "a row below the watermark is not loaded")
			recs, err := s.List(ctx, "u")
			require.NoError(t, err)
			assert.Empty(t, recs)

			// Expired watermarks go with DeleteExpired, and then refuse nothing.
			require.NoError(t, s.DeleteUser(ctx, "old", "", session.Revocation{At: w, Until: time.Now().Add(-time.Second)}))
			before := session.Record{Key: "k", UserID: "old", Data: []byte("x"), Expiry: exp, AuthAt: w.Add(-time.Second)}
			ok, err := s.Save(ctx, "", before)
			require.NoError(t, err)
			assert.False(t, ok, "refused while the watermark is kept")
			n, err := s.DeleteExpired(ctx)
			require.NoError(t, err)
			assert.Equal(t, int64(1), n, "the expired watermark")
			var rows int
			require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM "+table+"_revocations").Scan(&rows))
			assert.Equal(t, 1, rows, "the live watermark is kept")
			ok, err = s.Save(ctx, "", before)
			require.NoError(t, err)
			assert.True(t, ok)
		})
	}
}

// TestMigrateAddsAuthAt upgrades a sessions table created by an earlier
// version, without auth_at: its sessions stay readable.
func TestMigrateAddsAuthAt(t *testing.T) {
	for _, tc := range []struct {
		name string
		open func(testing.TB) *sql.DB
		d    sqldb.Dialect
		blob string
	}{
		{"sqlite", openSQLite, sqldb.SQLite, "BLOB"},
		{"postgres", openPostgres, sqldb.PostgreSQL, "BYTEA"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := tc.open(t)
			ctx := context.Background()
			table := uniqueTable(t, db)
			_, err := db.Exec(fmt.Sprintf(`CREATE TABLE %s (token_hash TEXT PRIMARY KEY, user_id TEXT NOT NULL DEFAULT '', data %s NOT NULL, expiry BIGINT NOT NULL)`, table, tc.blob))
			require.NoError(t, err)
			_, err = db.Exec(fmt.Sprintf(`INSERT INTO %s VALUES ('old', 'u', 'x', %d)`, table, time.Now().Add(time.Hour).UnixMilli()))
			require.NoError(t, err)
			s, err := sqlstore.New(db, tc.d, sqlstore.Config{Table: table})
			require.NoError(t, err)
			require.NoError(t, s.Migrate(ctx))
			require.NoError(t, s.Migrate(ctx), "Migrate is idempotent")
			b, found, err := s.Find(ctx, "old")
			require.NoError(t, err)
			assert.True(t, found)
			assert.Equal(t, "x", string(b))
		})
	}
}

// TestLongTableNames: PostgreSQL truncates identifiers to 63 bytes, so
// that for a table name of 52 to 63 characters the revocations table and
// the indexes, named by appending to it, collided with each other or with
// the table. Derived names longer than 63 bytes now end in a hash of the
// table name: two such stores, and the parts of each, stay apart.
func TestLongTableNames(t *testing.T) {
	for _, tc := range []struct {
		name string
		open func(testing.TB) *sql.DB
		d    sqldb.Dialect
	}{
		{"sqlite", openSQLite, sqldb.SQLite},
		{"postgres", openPostgres, sqldb.PostgreSQL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := tc.open(t)
			ctx := context.Background()
			base := uniqueTable(t, db) // 34 characters
			var stores []*sqlstore.Store
			for _, n := range []int{62, 63} {
				table := base + strings.Repeat("x", n-len(base))
				s, err := sqlstore.New(db, tc.d, sqlstore.Config{Table: table})
				require.NoError(t, err)
				revocations := strings.Fields(s.Schema()[3])[5]
				assert.LessOrEqual(t, len(revocations), 63)
				t.Cleanup(func() {
					_, _ = db.Exec("DROP TABLE IF EXISTS " + table)
					_, _ = db.Exec("DROP TABLE IF EXISTS " + revocations)
					_, _ = db.Exec("DELETE FROM rampart_schema WHERE component = 'session/sqlstore:" + table + "'")
				})
				require.NoError(t, s.Migrate(ctx))
				require.NoError(t, s.Migrate(ctx), "Migrate is idempotent")
				stores = append(stores, s)
			}
			exp := time.Now().Add(time.Hour)
			now := time.Now()
			for i, s := range stores {
				ok, err := s.Save(ctx, "", session.Record{Key: fmt.Sprint("k", i), UserID: "u", Data: []byte("x"), Expiry: exp, AuthAt: now})
				require.NoError(t, err)
				require.True(t, ok)
			}
			// A revocation in one store leaves the other alone.
			require.NoError(t, stores[0].DeleteUser(ctx, "u", "", session.Revocation{At: now.Add(time.Second), Until: exp}))
			recs, err := stores[0].List(ctx, "u")
			require.NoError(t, err)
			assert.Empty(t, recs)
			recs, err = stores[1].List(ctx, "u")
			require.NoError(t, err)
			assert.Len(t, recs, 1, "the other store's sessions and watermark are its own")
			ok, err := stores[1].Save(ctx, "", session.Record{Key: "k2", UserID: "u", Data: []byte("x"), Expiry: exp, AuthAt: now})
			require.NoError(t, err)
			assert.True(t, ok)
		})
	}
}
