package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/deployedworks/rampart/session"
)

// Dialect selects the SQL spoken to the database.
type Dialect int

// Supported dialects.
const (
	// SQLite 3.24 or later (UPSERT, partial indexes).
	SQLite Dialect = iota + 1
	// PostgreSQL 9.5 or later.
	Postgres
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
	db    *sql.DB
	table string
	q     queries
}

type queries struct {
	find, upsert, update, del, list, deleteUser, deleteExpired, claim string
	schema                                                            []string
}

var _ session.Store = (*Store)(nil)

var tableName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}(\.[A-Za-z_][A-Za-z0-9_]{0,62})?$`)

// New returns a Store using db. It does not touch the database; run
// [Store.Migrate] once to create the table.
func New(db *sql.DB, dialect Dialect, cfg Config) (*Store, error) {
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
	s := &Store{db: db, table: t}
	// Index names: PostgreSQL puts an index in its table's schema and
	// forbids qualifying the name; SQLite wants the schema on the index
	// name and none on the table ("CREATE INDEX aux.i ON t").
	schema, name, _ := strings.Cut(t, ".")
	if name == "" {
		schema, name = "", t
	} else {
		schema += "."
	}
	idxUser, idxExpiry, idxOn := name+"_user_idx", name+"_expiry_idx", t
	var p func(int) string
	blob := "BLOB"
	switch dialect {
	case SQLite:
		p = func(int) string { return "?" }
		idxUser, idxExpiry, idxOn = schema+idxUser, schema+idxExpiry, name
	case Postgres:
		p = func(i int) string { return fmt.Sprintf("$%d", i) }
		blob = "BYTEA"
	default:
		return nil, fmt.Errorf("sqlstore: New: unknown Dialect %d: use sqlstore.SQLite or sqlstore.Postgres", dialect)
	}
	s.q = queries{
		find: fmt.Sprintf(`SELECT data FROM %s WHERE token_hash = %s AND expiry > %s`, t, p(1), p(2)),
		upsert: fmt.Sprintf(`INSERT INTO %s (token_hash, user_id, data, expiry) VALUES (%s, %s, %s, %s)
ON CONFLICT (token_hash) DO UPDATE SET user_id = excluded.user_id, data = excluded.data, expiry = excluded.expiry`,
			t, p(1), p(2), p(3), p(4)),
		// One UPDATE, even for a renewal that changes the key: a concurrent
		// DeleteUser either sees the new row or blocks on it and then
		// deletes it (PostgreSQL re-checks updated rows; SQLite has one
		// writer), so a renewal cannot slip a session past a revocation.
		update: fmt.Sprintf(`UPDATE %s SET token_hash = %s, data = %s, expiry = %s WHERE token_hash = %s AND user_id = %s AND expiry > %s`,
			t, p(1), p(2), p(3), p(4), p(5), p(6)),
		del:           fmt.Sprintf(`DELETE FROM %s WHERE token_hash = %s`, t, p(1)),
		list:          fmt.Sprintf(`SELECT token_hash, data, expiry FROM %s WHERE user_id = %s AND user_id <> '' AND expiry > %s`, t, p(1), p(2)),
		deleteUser:    fmt.Sprintf(`DELETE FROM %s WHERE user_id = %s AND user_id <> '' AND token_hash <> %s`, t, p(1), p(2)),
		deleteExpired: fmt.Sprintf(`DELETE FROM %s WHERE expiry <= %s`, t, p(1)),
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
	expiry BIGINT NOT NULL
)`, t, blob),
			fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %s ON %s (user_id) WHERE user_id <> ''`, idxUser, idxOn),
			fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %s ON %s (expiry)`, idxExpiry, idxOn),
		},
	}
	return s, nil
}

// Schema returns the statements [Store.Migrate] runs, for migration tools.
// Columns: token_hash (SHA-256 of the token, base64url; "c:" and a hash
// for a claimed one-time value), user_id ("" for anonymous sessions and
// claims), data, expiry (Unix milliseconds).
func (s *Store) Schema() []string { return append([]string(nil), s.q.schema...) }

// Migrate creates the table and its indexes if they do not exist.
func (s *Store) Migrate(ctx context.Context) error {
	for _, q := range s.q.schema {
		if _, err := s.db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("sqlstore: migrate %s: %w", s.table, err)
		}
	}
	return nil
}

// DeleteExpired removes expired rows and reports how many. Call it
// periodically (every few minutes); it is not needed for correctness.
func (s *Store) DeleteExpired(ctx context.Context) (int64, error) {
	res, err := s.db.ExecContext(ctx, s.q.deleteExpired, ms(time.Now()))
	if err != nil {
		return 0, fmt.Errorf("sqlstore: delete expired: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

func ms(t time.Time) int64 { return t.UnixMilli() }

// Find implements session.Store.
func (s *Store) Find(ctx context.Context, key string) ([]byte, bool, error) {
	var b []byte
	err := s.db.QueryRowContext(ctx, s.q.find, key, ms(time.Now())).Scan(&b)
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
		if _, err := s.db.ExecContext(ctx, s.q.upsert, r.Key, r.UserID, r.Data, ms(r.Expiry)); err != nil {
			return false, fmt.Errorf("sqlstore: save: %w", err)
		}
		return true, nil
	}
	res, err := s.db.ExecContext(ctx, s.q.update, r.Key, r.Data, ms(r.Expiry), replace, r.UserID, ms(time.Now()))
	if err != nil {
		return false, fmt.Errorf("sqlstore: save: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("sqlstore: save: %w", err)
	}
	return n == 1, nil
}

// Delete implements session.Store.
func (s *Store) Delete(ctx context.Context, _, key string) error {
	if _, err := s.db.ExecContext(ctx, s.q.del, key); err != nil {
		return fmt.Errorf("sqlstore: delete: %w", err)
	}
	return nil
}

// List implements session.Store.
func (s *Store) List(ctx context.Context, userID string) ([]session.Record, error) {
	if userID == "" {
		return nil, nil
	}
	rows, err := s.db.QueryContext(ctx, s.q.list, userID, ms(time.Now()))
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list: %w", err)
	}
	defer rows.Close()
	var out []session.Record
	for rows.Next() {
		r := session.Record{UserID: userID}
		var exp int64
		if err := rows.Scan(&r.Key, &r.Data, &exp); err != nil {
			return nil, fmt.Errorf("sqlstore: list: %w", err)
		}
		r.Expiry = time.UnixMilli(exp)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: list: %w", err)
	}
	return out, nil
}

// DeleteUser implements session.Store.
func (s *Store) DeleteUser(ctx context.Context, userID, except string) error {
	if userID == "" {
		return nil
	}
	if _, err := s.db.ExecContext(ctx, s.q.deleteUser, userID, except); err != nil {
		return fmt.Errorf("sqlstore: delete user: %w", err)
	}
	return nil
}

// Claim implements session.Store. A key claimed once stays claimed until
// [Store.DeleteExpired] removes its row after expiry.
func (s *Store) Claim(ctx context.Context, key string, expiry time.Time) (bool, error) {
	res, err := s.db.ExecContext(ctx, s.q.claim, "c:"+key, []byte{}, ms(expiry))
	if err != nil {
		return false, fmt.Errorf("sqlstore: claim: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("sqlstore: claim: %w", err)
	}
	return n == 1, nil
}
