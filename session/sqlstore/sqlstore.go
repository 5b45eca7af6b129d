package sqlstore

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/deployedworks/rampart/internal/sqlmigrate"
	"github.com/deployedworks/rampart/internal/sqlstmt"
	"github.com/deployedworks/rampart/session"
	"github.com/deployedworks/rampart/sqldb"
)

// DefaultTable is the table used unless Config.Table is set.
const DefaultTable = "rampart_sessions"

// Config tunes a [Store]. The zero value is ready to use.
type Config struct {
	// Table names the sessions table, optionally schema-qualified
	// ("auth.sessions": a PostgreSQL schema, or an attached SQLite
	// database). Default: [DefaultTable]. Letters, digits and underscores
	// only: it is written into SQL.
	Table string
}

// Store is a session.Store on a SQL database. It is safe for concurrent
// use and starts no goroutine.
type Store struct {
	db      *sql.DB
	stmts   *sqlstmt.Cache // the request-path queries, prepared on SQLite
	dialect sqldb.Dialect
	table   string
	q       queries
}

type queries struct {
	find, upsert, update, del, list, revoke, deleteUser  string
	deleteExpired, deleteExpiredRevocations, probeAuthAt string
	addAuthAt, claim                                     string
	schema                                               []string
}

var _ session.Store = (*Store)(nil)

var tableName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}(\.[A-Za-z_][A-Za-z0-9_]{0,62})?$`)

// New returns a Store using db, which speaks dialect. It does not touch
// the database: run [Store.Migrate] to create or upgrade the tables.
func New(db *sql.DB, dialect sqldb.Dialect, cfg Config) (*Store, error) {
	if db == nil {
		return nil, errors.New("sqlstore: New: nil *sql.DB: open one with sql.Open and the driver for your database")
	}
	t := cfg.Table
	if t == "" {
		t = DefaultTable
	}
	if !tableName.MatchString(t) {
		return nil, fmt.Errorf("sqlstore: New: Table %q: use letters, digits and underscores, optionally schema.table", t)
	}
	if !dialect.Valid() {
		return nil, fmt.Errorf("sqlstore: New: unknown Dialect %d: use sqldb.SQLite or sqldb.PostgreSQL", dialect)
	}
	s := &Store{db: db, dialect: dialect, table: t, stmts: sqlstmt.New(db, dialect)}
	// Index names: PostgreSQL puts an index in its table's schema and
	// forbids qualifying the name; SQLite wants the schema on the index
	// name and none on the table ("CREATE INDEX aux.i ON t").
	schema, name, _ := strings.Cut(t, ".")
	if name == "" {
		schema, name = "", t
	} else {
		schema += "."
	}
	idxUser, idxExpiry, idxOn := indexName(name, "_user_idx"), indexName(name, "_expiry_idx"), t
	rt := schema + indexName(name, revocationsSuffix) // PostgreSQL would truncate a long name onto t's
	// p numbers parameters so that a query can use one twice; the casts
	// type the parameters of INSERT … SELECT, which PostgreSQL cannot
	// infer from the target columns.
	var p func(int) string
	blob, text, bigint, greatest := "BLOB", "", "", "max"
	switch dialect {
	case sqldb.SQLite:
		p = func(i int) string { return fmt.Sprintf("?%d", i) }
		idxUser, idxExpiry, idxOn = schema+idxUser, schema+idxExpiry, name
	default: // sqldb.PostgreSQL
		p = func(i int) string { return fmt.Sprintf("$%d", i) }
		blob, text, bigint, greatest = "BYTEA", "::text", "::bigint", "GREATEST"
	}
	// notRevoked holds for a session row s whose user has no watermark
	// above its auth_at: the check at load (and, with the row's values as
	// parameters, at save).
	notRevoked := func(user, authAt string) string {
		return fmt.Sprintf(`NOT EXISTS (SELECT 1 FROM %s r WHERE r.user_id = %s AND r.revoked_at > %s)`, rt, user, authAt)
	}
	s.q = queries{
		find: fmt.Sprintf(`SELECT s.data FROM %s s WHERE s.token_hash = %s AND s.expiry > %s AND %s`,
			t, p(1), p(2), notRevoked("s.user_id", "s.auth_at")),
		// INSERT … SELECT … WHERE, so that a session established before
		// its user's watermark is not written. On PostgreSQL at READ
		// COMMITTED, a DeleteUser committing while this runs may go
		// unseen and the row be written anyway: find and list refuse it.
		upsert: fmt.Sprintf(`INSERT INTO %s (token_hash, user_id, data, expiry, auth_at)
SELECT %s%s, %s%s, %s%s, %s%s, %s%s WHERE %s
ON CONFLICT (token_hash) DO UPDATE SET user_id = excluded.user_id, data = excluded.data, expiry = excluded.expiry, auth_at = excluded.auth_at`,
			t, p(1), text, p(2), text, p(3), castBlob(dialect), p(4), bigint, p(5), bigint, notRevoked(p(2)+text, p(5)+bigint)),
		// One UPDATE, even for a renewal that changes the key: a concurrent
		// DeleteUser either sees the new row or blocks on it and then
		// deletes it (PostgreSQL re-checks updated rows; SQLite has one
		// writer), so a renewal cannot slip a session past a revocation.
		update: fmt.Sprintf(`UPDATE %s SET token_hash = %s, data = %s, expiry = %s, auth_at = %s WHERE token_hash = %s AND user_id = %s AND expiry > %s AND %s`,
			t, p(1), p(2), p(3), p(7), p(4), p(5), p(6), notRevoked(p(5), p(7))),
		del: fmt.Sprintf(`DELETE FROM %s WHERE token_hash = %s`, t, p(1)),
		list: fmt.Sprintf(`SELECT s.token_hash, s.data, s.expiry, s.auth_at FROM %s s WHERE s.user_id = %s AND s.user_id <> '' AND s.expiry > %s AND %s`,
			t, p(1), p(2), notRevoked("s.user_id", "s.auth_at")),
		// The watermark never moves back, and is kept until the latest
		// expiry asked for.
		revoke: fmt.Sprintf(`INSERT INTO %s AS w (user_id, revoked_at, expiry) VALUES (%s, %s, %s)
ON CONFLICT (user_id) DO UPDATE SET revoked_at = %s(w.revoked_at, excluded.revoked_at), expiry = %s(w.expiry, excluded.expiry)`,
			rt, p(1), p(2), p(3), greatest, greatest),
		deleteUser:               fmt.Sprintf(`DELETE FROM %s WHERE user_id = %s AND user_id <> '' AND token_hash <> %s`, t, p(1), p(2)),
		deleteExpired:            fmt.Sprintf(`DELETE FROM %s WHERE expiry <= %s`, t, p(1)),
		deleteExpiredRevocations: fmt.Sprintf(`DELETE FROM %s WHERE expiry <= %s`, rt, p(1)),
		probeAuthAt:              fmt.Sprintf(`SELECT auth_at FROM %s WHERE 1 = 0`, t),
		addAuthAt:                fmt.Sprintf(`ALTER TABLE %s ADD COLUMN auth_at BIGINT NOT NULL DEFAULT 0`, t),
		// A claim is a row of its own, keyed "c:" + key so that it never
		// matches a session key (43 characters), with no user: Find, List
		// and DeleteUser never return or remove it; DeleteExpired does.
		claim: fmt.Sprintf(`INSERT INTO %s (token_hash, user_id, data, expiry) VALUES (%s, '', %s, %s)
ON CONFLICT (token_hash) DO NOTHING`, t, p(1), p(2), p(3)),
		schema: []string{
			fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s (
	token_hash TEXT PRIMARY KEY,
	user_id TEXT NOT NULL DEFAULT '',
	data %s NOT NULL,
	expiry BIGINT NOT NULL,
	auth_at BIGINT NOT NULL DEFAULT 0
)`, t, blob),
			fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %s ON %s (user_id) WHERE user_id <> ''`, idxUser, idxOn),
			fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %s ON %s (expiry)`, idxExpiry, idxOn),
			fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s (
	user_id TEXT PRIMARY KEY,
	revoked_at BIGINT NOT NULL,
	expiry BIGINT NOT NULL
)`, rt),
		},
	}
	return s, nil
}

// maxIdent is the longest identifier PostgreSQL keeps; it truncates longer
// ones, so that two index names sharing their first 63 bytes collide.
const maxIdent = 63

// indexName names an index (or the revocations table) of table: table +
// suffix, or, when that is longer than maxIdent, a prefix of table, a hash
// of the whole name and suffix, so that the names derived from two long
// table names, or from one, never collide.
func indexName(table, suffix string) string {
	n := table + suffix
	if len(n) <= maxIdent {
		return n // the name earlier versions created: kept, so that Migrate finds it
	}
	h := sha256.Sum256([]byte(table))
	tag := "_" + hex.EncodeToString(h[:4])
	return table[:maxIdent-len(tag)-len(suffix)] + tag + suffix
}

// castBlob types a parameter as binary data for INSERT … SELECT.
func castBlob(d sqldb.Dialect) string {
	if d == sqldb.PostgreSQL {
		return "::bytea"
	}
	return ""
}

// revocationsSuffix names the revocations table after the sessions table.
const revocationsSuffix = "_revocations"

// Schema returns the statements [Store.Migrate] runs on a new database,
// for migration tools. Sessions table columns: token_hash (SHA-256 of the
// token, base64url; "c:" and a hash for a claimed one-time value),
// user_id ("" for claims), data, expiry (Unix milliseconds), auth_at
// (when the session's login read the user, Unix microseconds).
// Revocations table (Config.Table + "_revocations", shortened with a hash
// of the table name when longer than 63 bytes): user_id, revoked_at
// (the watermark, Unix microseconds), expiry (Unix milliseconds, when the
// row may go).
//
// A sessions table created before auth_at existed needs
// "ALTER TABLE <table> ADD COLUMN auth_at BIGINT NOT NULL DEFAULT 0",
// which Migrate runs when the column is missing.
func (s *Store) Schema() []string { return append([]string(nil), s.q.schema...) }

// Migrate creates or upgrades the tables and indexes, recording the
// schema version in the table rampart_schema (component
// "session/sqlstore:" + the table name). It is safe to run from every
// instance at start-up, concurrently and more than once. Version 1 creates
// what does not exist yet, so that a database set up by an earlier
// version of this package migrates as is; a sessions table made before
// the auth_at column existed gets it.
func (s *Store) Migrate(ctx context.Context) error {
	steps := []sqlmigrate.Step{{Version: 1, Stmts: s.q.schema}}
	if err := sqlmigrate.Apply(ctx, s.db, s.dialect, "session/sqlstore:"+s.table, steps); err != nil {
		return fmt.Errorf("sqlstore: migrate %s: %w", s.table, err)
	}
	if _, err := s.db.ExecContext(ctx, s.q.probeAuthAt); err == nil {
		return nil
	}
	if _, err := s.db.ExecContext(ctx, s.q.addAuthAt); err != nil {
		if _, perr := s.db.ExecContext(ctx, s.q.probeAuthAt); perr == nil {
			return nil // added meanwhile by another instance
		}
		return fmt.Errorf("sqlstore: migrate %s: add auth_at: %w", s.table, err)
	}
	return nil
}

// DeleteExpired removes expired sessions and expired revocation
// watermarks, and reports how many rows it removed. Call it periodically
// (every few minutes): it is not needed for correctness, but without it
// both tables only grow. A watermark expires Lifetime + IdleTimeout (of
// the session.Manager that set it) after its revocation, when no session
// it could refuse is alive.
func (s *Store) DeleteExpired(ctx context.Context) (int64, error) {
	now := ms(time.Now())
	res, err := s.db.ExecContext(ctx, s.q.deleteExpired, now)
	if err != nil {
		return 0, fmt.Errorf("sqlstore: delete expired: %w", err)
	}
	n, _ := res.RowsAffected()
	res, err = s.db.ExecContext(ctx, s.q.deleteExpiredRevocations, now)
	if err != nil {
		return n, fmt.Errorf("sqlstore: delete expired revocations: %w", err)
	}
	m, _ := res.RowsAffected()
	return n + m, nil
}

func ms(t time.Time) int64 { return t.UnixMilli() }

// us returns t in Unix microseconds, 0 for the zero time.
func us(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

// Find implements session.Store.
func (s *Store) Find(ctx context.Context, key string) ([]byte, bool, error) {
	var b []byte
	err := s.stmts.QueryRowContext(ctx, s.q.find, key, ms(time.Now())).Scan(&b)
	switch {
	case err == sql.ErrNoRows:
		return nil, false, nil
	case err != nil:
		return nil, false, fmt.Errorf("sqlstore: find: %w", err)
	}
	return b, true, nil
}

// Save implements session.Store.
func (s *Store) Save(ctx context.Context, replace string, r session.Record) (bool, error) {
	if replace == "" {
		return s.execOne(ctx, "save", s.q.upsert, r.Key, r.UserID, r.Data, ms(r.Expiry), us(r.AuthAt))
	}
	return s.execOne(ctx, "save", s.q.update, r.Key, r.Data, ms(r.Expiry), replace, r.UserID, ms(time.Now()), us(r.AuthAt))
}

// execOne runs the statement q and reports whether it wrote one row.
func (s *Store) execOne(ctx context.Context, op, q string, args ...any) (bool, error) {
	res, err := s.stmts.ExecContext(ctx, q, args...)
	if err != nil {
		return false, fmt.Errorf("sqlstore: %s: %w", op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("sqlstore: %s: %w", op, err)
	}
	return n == 1, nil
}

// Delete implements session.Store.
func (s *Store) Delete(ctx context.Context, _, key string) error {
	if _, err := s.stmts.ExecContext(ctx, s.q.del, key); err != nil {
		return fmt.Errorf("sqlstore: delete: %w", err)
	}
	return nil
}

// List implements session.Store.
func (s *Store) List(ctx context.Context, userID string) ([]session.Record, error) {
	if userID == "" {
		return nil, nil
	}
	rows, err := s.stmts.QueryContext(ctx, s.q.list, userID, ms(time.Now()))
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list: %w", err)
	}
	defer rows.Close()
	var out []session.Record
	for rows.Next() {
		r := session.Record{UserID: userID}
		var exp, authAt int64
		if err := rows.Scan(&r.Key, &r.Data, &exp, &authAt); err != nil {
			return nil, fmt.Errorf("sqlstore: list: %w", err)
		}
		r.Expiry = time.UnixMilli(exp)
		if authAt != 0 {
			r.AuthAt = time.UnixMicro(authAt)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: list: %w", err)
	}
	return out, nil
}

// DeleteUser implements session.Store: it raises the watermark and
// deletes the sessions in one transaction.
func (s *Store) DeleteUser(ctx context.Context, userID, except string, rev session.Revocation) (err error) {
	if userID == "" {
		return nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlstore: delete user: %w", err)
	}
	defer func() { _ = tx.Rollback() }() // a no-op after Commit
	if _, err := tx.ExecContext(ctx, s.q.revoke, userID, us(rev.At), ms(rev.Until)); err != nil {
		return fmt.Errorf("sqlstore: delete user: watermark: %w", err)
	}
	if _, err := tx.ExecContext(ctx, s.q.deleteUser, userID, except); err != nil {
		return fmt.Errorf("sqlstore: delete user: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlstore: delete user: commit: %w", err)
	}
	return nil
}

// Claim implements session.Store. A key claimed once stays claimed until
// [Store.DeleteExpired] removes its row after expiry.
func (s *Store) Claim(ctx context.Context, key string, expiry time.Time) (bool, error) {
	return s.execOne(ctx, "claim", s.q.claim, "c:"+key, []byte{}, ms(expiry))
}
