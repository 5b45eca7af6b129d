package sqlstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"

	"github.com/deployedworks/rampart/internal/testenv"
	"github.com/deployedworks/rampart/mfa"
	"github.com/deployedworks/rampart/mfa/mfatest"
	"github.com/deployedworks/rampart/mfa/sqlstore"
	"github.com/deployedworks/rampart/sqldb"
)

// backend opens a database and makes migrated stores on it.
type backend struct {
	name    string
	dialect sqldb.Dialect
	open    func(t testing.TB) (db *sql.DB, prefix string)
}

var backends = []backend{
	{"sqlite", sqldb.SQLite, func(t testing.TB) (*sql.DB, string) { return testenv.SQLite(t, 0), "" }},
	{"sqlite-1conn", sqldb.SQLite, func(t testing.TB) (*sql.DB, string) { return testenv.SQLite(t, 1), "" }},
	{"postgresql", sqldb.PostgreSQL, func(t testing.TB) (*sql.DB, string) {
		db := testenv.Postgres(t)
		return db, testenv.PGSchema(t, db, "mfa/sqlstore") + ".mfa"
	}},
}

func (b backend) store(t testing.TB) (*sqlstore.Store, *sql.DB) {
	t.Helper()
	db, prefix := b.open(t)
	s, err := sqlstore.New(db, b.dialect, sqlstore.Config{Prefix: prefix})
	require.NoError(t, err)
	require.NoError(t, s.Migrate(context.Background()))
	return s, db
}

func TestConformance(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			mfatest.TestStore(t, func(t *testing.T) any {
				s, _ := b.store(t)
				return s
			})
		})
	}
}

func TestNewRefuses(t *testing.T) {
	db := testenv.SQLite(t, 1)
	_, err := sqlstore.New(nil, sqldb.SQLite, sqlstore.Config{})
	assert.ErrorContains(t, err, "nil *sql.DB")
	_, err = sqlstore.New(db, 0, sqlstore.Config{})
	assert.ErrorContains(t, err, "unknown dialect")
	for _, p := range []string{
		"mfa; DROP TABLE users", "mfa-x", "1mfa", "a.b.c", ".mfa", "mfa.", `"mfa"`,
		strings.Repeat("m", 41), strings.Repeat("s", 64) + ".mfa",
	} {
		_, err = sqlstore.New(db, sqldb.SQLite, sqlstore.Config{Prefix: p})
		assert.ErrorContains(t, err, "Prefix", p)
	}
	for _, p := range []string{"mfa", "app_mfa2", strings.Repeat("m", 40), "auth.mfa", "_x"} {
		_, err = sqlstore.New(db, sqldb.SQLite, sqlstore.Config{Prefix: p})
		assert.NoError(t, err, p)
	}
}

func TestNewRunsNoSQL(t *testing.T) {
	db := testenv.SQLite(t, 1)
	s, err := sqlstore.New(db, sqldb.SQLite, sqlstore.Config{})
	require.NoError(t, err)
	var n int
	require.NoError(t, db.QueryRow(`SELECT COUNT(*) FROM sqlite_master`).Scan(&n))
	assert.Zero(t, n, "New created nothing")
	_, err = s.LoadTOTP(t.Context(), "alice")
	assert.Error(t, err, "the tables do not exist before Migrate")
	assert.NotErrorIs(t, err, mfa.ErrNotEnrolled)
}

func TestMigrate(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			db, prefix := b.open(t)
			s, err := sqlstore.New(db, b.dialect, sqlstore.Config{Prefix: prefix})
			require.NoError(t, err)
			// Instances starting together.
			var failed atomic.Int32
			testenv.Race(4, func(int) {
				if err := s.Migrate(t.Context()); err != nil {
					t.Log(err)
					failed.Add(1)
				}
			})
			assert.Zero(t, failed.Load())
			require.NoError(t, s.Migrate(t.Context()), "Migrate again is a no-op")
			require.NoError(t, s.SaveTOTP(t.Context(), "alice", mfa.TOTPRecord{Pending: []byte{1}}))

			// Binary columns are binary.
			if b.dialect == sqldb.PostgreSQL {
				schema, _, _ := strings.Cut(prefix, ".")
				rows, err := db.Query(`SELECT table_name, column_name FROM information_schema.columns
					WHERE table_schema = $1 AND data_type = 'bytea' ORDER BY 1, 2`, schema)
				require.NoError(t, err)
				var cols []string
				for rows.Next() {
					var tab, col string
					require.NoError(t, rows.Scan(&tab, &col))
					cols = append(cols, tab+"."+col)
				}
				require.NoError(t, rows.Err())
				assert.Equal(t, []string{"mfa_credentials.data", "mfa_credentials.id", "mfa_recovery_codes.code_hash", "mfa_totp.pending", "mfa_totp.secret"}, cols)
			}
		})
	}
}

func TestDefaultPrefix(t *testing.T) {
	db := testenv.SQLite(t, 1)
	s, err := sqlstore.New(db, sqldb.SQLite, sqlstore.Config{})
	require.NoError(t, err)
	require.NoError(t, s.Migrate(t.Context()))
	var names []string
	rows, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`)
	require.NoError(t, err)
	for rows.Next() {
		var n string
		require.NoError(t, rows.Scan(&n))
		names = append(names, n)
	}
	require.NoError(t, rows.Err())
	assert.Equal(t, []string{"rampart_mfa_credentials", "rampart_mfa_recovery_codes", "rampart_mfa_totp", "rampart_schema"}, names)
	var comp string
	require.NoError(t, db.QueryRow(`SELECT component FROM rampart_schema`).Scan(&comp))
	assert.Equal(t, "mfa/sqlstore:rampart_mfa", comp)
}

// TestAttachedSQLiteSchema: a schema-qualified prefix on SQLite names an
// attached database.
func TestAttachedSQLiteSchema(t *testing.T) {
	db := testenv.SQLite(t, 1)
	_, err := db.Exec(`ATTACH DATABASE ? AS aux`, filepath.Join(t.TempDir(), "aux.db"))
	require.NoError(t, err)
	s, err := sqlstore.New(db, sqldb.SQLite, sqlstore.Config{Prefix: "aux.mfa"})
	require.NoError(t, err)
	require.NoError(t, s.Migrate(t.Context()))
	require.NoError(t, s.CreateCredential(t.Context(), mfa.StoredCredential{ID: []byte{1}, UserID: "alice", Data: []byte{2}, CreatedAt: time.Now()}))
	var n int
	require.NoError(t, db.QueryRow(`SELECT COUNT(*) FROM aux.sqlite_master WHERE name = 'mfa_credentials_user_idx'`).Scan(&n))
	assert.Equal(t, 1, n, "the index is in the attached database")
}

// TestCancelledRemovalReleasesLock: a removal whose context has ended
// fails, changes nothing, and leaves the store usable (on one connection:
// a connection left inside a transaction or holding a lock would block
// every later removal).
func TestCancelledRemovalReleasesLock(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			s, db := b.store(t)
			db.SetMaxOpenConns(1)
			ctx := t.Context()
			require.NoError(t, s.SaveTOTP(ctx, "alice", mfa.TOTPRecord{Secret: []byte{1}}))
			require.NoError(t, s.CreateCredential(ctx, mfa.StoredCredential{ID: []byte{1}, UserID: "alice", Data: []byte{1}, CreatedAt: time.Now()}))
			cctx, cancel := context.WithCancel(ctx)
			cancel()
			_, err := s.DeleteTOTPUnlessLast(cctx, "alice")
			require.ErrorIs(t, err, context.Canceled)
			_, err = s.LoadTOTP(ctx, "alice")
			require.NoError(t, err, "nothing was deleted")
			wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			ok, err := s.DeleteTOTPUnlessLast(wctx, "alice")
			require.NoError(t, err, "the lock and the connection were released")
			assert.True(t, ok)
		})
	}
}

// TestUsersTableForeignKeys: an application that creates the tables
// itself, with foreign keys to its users, keeps them; Migrate creates
// only what is missing.
func TestUsersTableForeignKeys(t *testing.T) {
	db := testenv.SQLite(t, 1)
	_, err := db.Exec(`PRAGMA foreign_keys = ON`)
	require.NoError(t, err)
	for _, q := range []string{
		`CREATE TABLE users (id TEXT PRIMARY KEY)`,
		`CREATE TABLE app_mfa_totp (
			user_id TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
			secret BLOB, pending BLOB,
			confirmed_at BIGINT NOT NULL DEFAULT 0, last_step BIGINT NOT NULL DEFAULT 0)`,
		`INSERT INTO users (id) VALUES ('alice')`,
	} {
		_, err := db.Exec(q)
		require.NoError(t, err)
	}
	s, err := sqlstore.New(db, sqldb.SQLite, sqlstore.Config{Prefix: "app_mfa"})
	require.NoError(t, err)
	require.NoError(t, s.Migrate(t.Context()))
	ctx := t.Context()
	require.NoError(t, s.SaveTOTP(ctx, "alice", mfa.TOTPRecord{Secret: []byte{1}}))
	assert.Error(t, s.SaveTOTP(ctx, "nobody", mfa.TOTPRecord{Secret: []byte{1}}), "the foreign key holds")
	_, err = db.Exec(`DELETE FROM users WHERE id = 'alice'`)
	require.NoError(t, err)
	_, err = s.LoadTOTP(ctx, "alice")
	assert.ErrorIs(t, err, mfa.ErrNotEnrolled, "deleted with the user")
}

func BenchmarkAcceptTOTPStep(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			s, _ := be.store(b)
			ctx := context.Background()
			require.NoError(b, s.SaveTOTP(ctx, "alice", mfa.TOTPRecord{Secret: make([]byte, 61)}))
			b.ReportAllocs()
			step := int64(0)
			for b.Loop() {
				step++
				if ok, err := s.AcceptTOTPStep(ctx, "alice", step); err != nil || !ok {
					b.Fatal(ok, err)
				}
			}
		})
	}
}

func BenchmarkConsumeRecoveryCode(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			s, _ := be.store(b)
			ctx := context.Background()
			codes := make([][]byte, b.N)
			for i := range codes {
				codes[i] = fmt.Appendf(make([]byte, 0, 32), "%032d", i)
			}
			require.NoError(b, s.ReplaceRecoveryCodes(ctx, "alice", codes))
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				if ok, err := s.ConsumeRecoveryCode(ctx, "alice", codes[i]); err != nil || !ok {
					b.Fatal(ok, err)
				}
			}
		})
	}
}
