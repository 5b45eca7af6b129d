package sqlstore_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"errors"
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
	"github.com/deployedworks/rampart/sqldb"
	"github.com/deployedworks/rampart/token"
	"github.com/deployedworks/rampart/token/sqlstore"
	"github.com/deployedworks/rampart/token/tokentest"
)

// backend opens a database and makes migrated stores on it.
type backend struct {
	name    string
	dialect sqldb.Dialect
	open    func(t testing.TB) (db *sql.DB, table string)
}

var backends = []backend{
	{"sqlite", sqldb.SQLite, func(t testing.TB) (*sql.DB, string) { return testenv.SQLite(t, 0), "" }},
	{"sqlite-1conn", sqldb.SQLite, func(t testing.TB) (*sql.DB, string) { return testenv.SQLite(t, 1), "" }},
	{"postgresql", sqldb.PostgreSQL, func(t testing.TB) (*sql.DB, string) {
		db := testenv.Postgres(t)
		return db, testenv.PGSchema(t, db, "token/sqlstore") + ".tokens"
	}},
}

func (b backend) store(t testing.TB) (*sqlstore.Store, *sql.DB, string) {
	t.Helper()
	db, table := b.open(t)
	s, err := sqlstore.New(db, b.dialect, sqlstore.Config{Table: table})
	require.NoError(t, err)
	require.NoError(t, s.Migrate(context.Background()))
	if table == "" {
		table = sqlstore.DefaultTable
	}
	return s, db, table
}

func TestConformance(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			tokentest.TestStore(t, func(t *testing.T) token.Store {
				s, _, _ := b.store(t)
				return s
			})
		})
	}
}

// TestConcurrentRedeem: of 8 Redeems of one token, through 8 Issuers (8
// instances) sharing the database, exactly one succeeds.
func TestConcurrentRedeem(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			s, _, _ := b.store(t)
			issuers := make([]*token.Issuer, 8)
			for i := range issuers {
				var err error
				issuers[i], err = token.New(s, token.Config{})
				require.NoError(t, err)
			}
			for range 5 {
				tok, err := issuers[0].Issue(t.Context(), "alice", token.PasswordReset, "")
				require.NoError(t, err)
				var won, invalid atomic.Int32
				testenv.Race(len(issuers), func(i int) {
					_, err := issuers[i].Redeem(t.Context(), tok, token.PasswordReset)
					switch {
					case err == nil:
						won.Add(1)
					case errors.Is(err, token.ErrInvalid):
						invalid.Add(1)
					default:
						t.Error(err)
					}
				})
				require.Equal(t, int32(1), won.Load(), "exactly one Redeem succeeds")
				require.Equal(t, int32(7), invalid.Load())
			}
		})
	}
}

// TestHashedAtRest reads the table directly: no column holds the token,
// in its text or its raw bytes; the hash column holds its SHA-256.
func TestHashedAtRest(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			s, db, table := b.store(t)
			is, err := token.New(s, token.Config{})
			require.NoError(t, err)
			tok, err := is.Issue(t.Context(), "alice", token.EmailChange, "new@example.com")
			require.NoError(t, err)
			raw, err := base64.RawURLEncoding.DecodeString(tok)
			require.NoError(t, err)

			rows, err := db.Query("SELECT * FROM " + table)
			require.NoError(t, err)
			defer rows.Close()
			cols, err := rows.Columns()
			require.NoError(t, err)
			n := 0
			for rows.Next() {
				n++
				vals := make([]any, len(cols))
				ptrs := make([]any, len(cols))
				for i := range vals {
					ptrs[i] = &vals[i]
				}
				require.NoError(t, rows.Scan(ptrs...))
				for i, v := range vals {
					var cell []byte
					switch v := v.(type) {
					case []byte:
						cell = v
					case string:
						cell = []byte(v)
					}
					assert.False(t, bytes.Contains(cell, []byte(tok)), "column %s holds the token", cols[i])
					assert.False(t, bytes.Contains(cell, raw), "column %s holds the token's bytes", cols[i])
					for _, part := range []string{tok[:16], tok[16:32]} {
						assert.False(t, bytes.Contains(cell, []byte(part)), "column %s holds part of the token", cols[i])
					}
				}
			}
			require.NoError(t, rows.Err())
			assert.Equal(t, 1, n)

			var hash []byte
			require.NoError(t, db.QueryRow("SELECT hash FROM "+table).Scan(&hash))
			sum := sha256.Sum256(raw)
			assert.Equal(t, sum[:], hash, "the row is keyed by the token's SHA-256")
			_, err = is.Redeem(t.Context(), tok, token.EmailChange)
			assert.NoError(t, err)
		})
	}
}

// TestExpiry drives the Issuer's clock (Config.Now) against the real
// database: the database compares the times.
func TestExpiry(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			s, _, _ := b.store(t)
			clock := testenv.NewClock(time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC))
			is, err := token.New(s, token.Config{Now: clock.Now})
			require.NoError(t, err)
			ctx := t.Context()
			reset, err := is.Issue(ctx, "alice", token.PasswordReset, "")
			require.NoError(t, err)
			verify, err := is.Issue(ctx, "alice", token.EmailVerify, "")
			require.NoError(t, err)

			clock.Add(30*time.Minute - time.Millisecond)
			rec, err := is.Check(ctx, reset, token.PasswordReset)
			require.NoError(t, err, "a millisecond before 30 minutes")
			assert.Equal(t, time.Date(2026, 12, 6, 10, 30, 0, 0, time.UTC), rec.Expires)
			clock.Add(time.Millisecond)
			_, err = is.Check(ctx, reset, token.PasswordReset)
			assert.ErrorIs(t, err, token.ErrInvalid, "at 30 minutes")
			_, err = is.Redeem(ctx, reset, token.PasswordReset)
			assert.ErrorIs(t, err, token.ErrInvalid, "at 30 minutes")

			n, err := s.DeleteExpired(ctx, clock.Now())
			require.NoError(t, err)
			assert.Equal(t, 1, n, "the reset record, not the verification one")
			_, err = is.Redeem(ctx, verify, token.EmailVerify)
			assert.NoError(t, err)
		})
	}
}

func TestNewRefuses(t *testing.T) {
	db := testenv.SQLite(t, 1)
	_, err := sqlstore.New(nil, sqldb.SQLite, sqlstore.Config{})
	assert.ErrorContains(t, err, "nil *sql.DB")
	_, err = sqlstore.New(db, 0, sqlstore.Config{})
	assert.ErrorContains(t, err, "unknown dialect")
	for _, tab := range []string{
		"tokens; DROP TABLE users", "tokens-x", "1tokens", "a.b.c", ".tokens", "tokens.", `"tokens"`,
		strings.Repeat("t", 41), strings.Repeat("s", 64) + ".tokens",
	} {
		_, err = sqlstore.New(db, sqldb.SQLite, sqlstore.Config{Table: tab})
		assert.ErrorContains(t, err, "Table", tab)
	}
	for _, tab := range []string{"tokens", "app_tokens2", strings.Repeat("t", 40), "auth.tokens", "_x"} {
		_, err = sqlstore.New(db, sqldb.SQLite, sqlstore.Config{Table: tab})
		assert.NoError(t, err, tab)
	}
}

func TestNewRunsNoSQL(t *testing.T) {
	db := testenv.SQLite(t, 1)
	s, err := sqlstore.New(db, sqldb.SQLite, sqlstore.Config{})
	require.NoError(t, err)
	var n int
	require.NoError(t, db.QueryRow(`SELECT COUNT(*) FROM sqlite_master`).Scan(&n))
	assert.Zero(t, n, "New created nothing")
	_, err = s.Get(t.Context(), []byte{1}, token.PasswordReset, time.Now())
	assert.Error(t, err, "the table does not exist before Migrate")
	assert.NotErrorIs(t, err, token.ErrInvalid, "a missing table is a failure, not an invalid token")
}

func TestMigrate(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			db, table := b.open(t)
			s, err := sqlstore.New(db, b.dialect, sqlstore.Config{Table: table})
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

			// The indexes exist.
			var idx []string
			var rows *sql.Rows
			if b.dialect == sqldb.PostgreSQL {
				schema, _, _ := strings.Cut(table, ".")
				rows, err = db.Query(`SELECT indexname FROM pg_indexes WHERE schemaname = $1 ORDER BY 1`, schema)
			} else {
				rows, err = db.Query(`SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL ORDER BY 1`)
			}
			require.NoError(t, err)
			for rows.Next() {
				var n string
				require.NoError(t, rows.Scan(&n))
				idx = append(idx, n)
			}
			require.NoError(t, rows.Err())
			if b.dialect == sqldb.PostgreSQL {
				assert.Equal(t, []string{"tokens_expires_idx", "tokens_pkey", "tokens_user_idx"}, idx)
			} else {
				assert.Equal(t, []string{"rampart_tokens_expires_idx", "rampart_tokens_user_idx"}, idx)
			}
		})
	}
}

// TestAttachedSQLiteSchema: a schema-qualified table on SQLite names an
// attached database.
func TestAttachedSQLiteSchema(t *testing.T) {
	db := testenv.SQLite(t, 1)
	_, err := db.Exec(`ATTACH DATABASE ? AS aux`, filepath.Join(t.TempDir(), "aux.db"))
	require.NoError(t, err)
	s, err := sqlstore.New(db, sqldb.SQLite, sqlstore.Config{Table: "aux.tokens"})
	require.NoError(t, err)
	require.NoError(t, s.Migrate(t.Context()))
	is, err := token.New(s, token.Config{})
	require.NoError(t, err)
	tok, err := is.Issue(t.Context(), "alice", token.PasswordReset, "")
	require.NoError(t, err)
	_, err = is.Redeem(t.Context(), tok, token.PasswordReset)
	require.NoError(t, err)
	var n int
	require.NoError(t, db.QueryRow(`SELECT COUNT(*) FROM aux.sqlite_master WHERE type = 'index' AND name LIKE 'tokens_%'`).Scan(&n))
	assert.Equal(t, 2, n, "the indexes are in the attached database")
}

// TestCanceledRedeemFailsClosed: a Redeem whose context ends (a hung or
// slow database) fails with an error that is not ErrInvalid, and leaves
// the token for the user's next try.
func TestCanceledRedeemFailsClosed(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			s, _, _ := b.store(t)
			is, err := token.New(s, token.Config{})
			require.NoError(t, err)
			tok, err := is.Issue(t.Context(), "alice", token.PasswordReset, "")
			require.NoError(t, err)
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			_, err = is.Redeem(ctx, tok, token.PasswordReset)
			require.Error(t, err)
			assert.NotErrorIs(t, err, token.ErrInvalid)
			assert.ErrorIs(t, err, context.Canceled)
			_, err = is.Issue(ctx, "alice", token.PasswordReset, "")
			assert.ErrorIs(t, err, context.Canceled)
			_, err = is.Redeem(t.Context(), tok, token.PasswordReset)
			assert.NoError(t, err, "the token survived the failed attempts")
		})
	}
}
