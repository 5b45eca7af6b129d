package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/deployedworks/rampart/internal/sqlmigrate"
	"github.com/deployedworks/rampart/internal/sqltx"
	"github.com/deployedworks/rampart/sqldb"
	"github.com/deployedworks/rampart/token"
)

// DefaultTable is the table's name unless [Config.Table] is set.
const DefaultTable = "rampart_tokens"

// Config tunes a [Store]. The zero value is ready to use.
type Config struct {
	// Table is the name of the store's table. It may be schema-qualified
	// ("auth.tokens": a PostgreSQL schema, or an attached SQLite
	// database). Default: [DefaultTable]. Letters, digits and underscores
	// only, at most 40 of them after the schema: it is written into SQL,
	// and PostgreSQL cuts longer names short.
	Table string
}

// Store keeps token records in SQLite or PostgreSQL. It implements
// [token.Store], is safe for concurrent use, and starts no goroutine.
type Store struct {
	db      *sql.DB
	dialect sqldb.Dialect
	table   string
	p       func(int) string
	q       queries
}

var _ token.Store = (*Store)(nil)

type queries struct {
	deleteUserPurpose, insert, get, take, voidAll, deleteExpired string
	schema                                                       []string
}

var tablePattern = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]{0,62}\.)?[A-Za-z_][A-Za-z0-9_]{0,39}$`)

// New returns a Store on db, which must have been opened with a driver
// for dialect. It does not touch the database: run [Store.Migrate] before
// first use.
func New(db *sql.DB, dialect sqldb.Dialect, cfg Config) (*Store, error) {
	if db == nil {
		return nil, errors.New("token/sqlstore: New: nil *sql.DB: open one with sql.Open and the driver for your database")
	}
	table := cfg.Table
	if table == "" {
		table = DefaultTable
	}
	if !tablePattern.MatchString(table) {
		return nil, fmt.Errorf("token/sqlstore: New: Table %q: use letters, digits and underscores (at most 40), optionally after a schema and a dot", table)
	}
	var p func(int) string
	blob := "BLOB"
	switch dialect {
	case sqldb.SQLite:
		p = func(i int) string { return fmt.Sprintf("?%d", i) }
	case sqldb.PostgreSQL:
		p = func(i int) string { return fmt.Sprintf("$%d", i) }
		blob = "BYTEA"
	default:
		return nil, fmt.Errorf("token/sqlstore: New: unknown dialect %v: use sqldb.SQLite or sqldb.PostgreSQL", dialect)
	}
	// PostgreSQL puts an index in its table's schema and forbids
	// qualifying its name; SQLite wants the schema on the index name and
	// none on the table.
	schema, name, qualified := strings.Cut(table, ".")
	if !qualified {
		schema, name = "", table
	}
	userIdx, expIdx, idxOn := name+"_user_idx", name+"_expires_idx", table
	if dialect == sqldb.SQLite && qualified {
		userIdx, expIdx, idxOn = schema+"."+userIdx, schema+"."+expIdx, name
	}
	const cols = `hash, user_id, purpose, data, created_at, expires_at`
	s := &Store{db: db, dialect: dialect, table: table, p: p}
	s.q = queries{
		deleteUserPurpose: fmt.Sprintf(`DELETE FROM %s WHERE user_id = %s AND purpose = %s`, table, p(1), p(2)),
		insert:            fmt.Sprintf(`INSERT INTO %s (%s) VALUES (%s, %s, %s, %s, %s, %s)`, table, cols, p(1), p(2), p(3), p(4), p(5), p(6)),
		get:               fmt.Sprintf(`SELECT %s FROM %s WHERE hash = %s AND purpose = %s AND expires_at > %s`, cols, table, p(1), p(2), p(3)),
		// Single use: one statement finds and deletes the row. Of
		// concurrent Takes, PostgreSQL runs the second DELETE after the
		// first commits and re-checks its WHERE clause on a row that is
		// gone (READ COMMITTED); SQLite has one writer.
		take:          fmt.Sprintf(`DELETE FROM %s WHERE hash = %s AND purpose = %s AND expires_at > %s RETURNING %s`, table, p(1), p(2), p(3), cols),
		voidAll:       fmt.Sprintf(`DELETE FROM %s WHERE user_id = %s`, table, p(1)),
		deleteExpired: fmt.Sprintf(`DELETE FROM %s WHERE expires_at <= %s`, table, p(1)),
		// Times are Unix milliseconds, 0 for the zero time.
		schema: []string{
			fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s (
	hash       %s PRIMARY KEY,
	user_id    TEXT NOT NULL,
	purpose    TEXT NOT NULL,
	data       %s NOT NULL,
	created_at BIGINT NOT NULL,
	expires_at BIGINT NOT NULL
)`, table, blob, blob),
			fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %s ON %s (user_id, purpose)`, userIdx, idxOn),
			fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %s ON %s (expires_at)`, expIdx, idxOn),
		},
	}
	return s, nil
}

// Migrate creates the store's table and indexes, or brings them up to
// date, and records what it did in the table rampart_schema (component
// "token/sqlstore:" and the table name). It is safe to run from several
// instances at once and more than once. A table that exists already with
// the same name is kept as it is: an application may create it itself,
// with the columns Migrate would create, to add a foreign key to its
// users.
func (s *Store) Migrate(ctx context.Context) error {
	err := sqlmigrate.Apply(ctx, s.db, s.dialect, "token/sqlstore:"+s.table, []sqlmigrate.Step{
		{Version: 1, Stmts: s.q.schema},
	})
	if err != nil {
		return fmt.Errorf("token/sqlstore: %w", err)
	}
	return nil
}

// Put implements [token.Store]: the delete of the user's older records of
// the purpose and the insert are one transaction that holds a lock on the
// user and purpose, so that of concurrent Puts one record survives. A
// record whose hash exists fails the primary key and changes nothing.
func (s *Store) Put(ctx context.Context, rec token.Record) error {
	if len(rec.Hash) == 0 {
		return errors.New("token/sqlstore: put: empty hash")
	}
	return s.locked(ctx, "put", rec.UserID+"\x00"+string(rec.Purpose), func(tx querier) error {
		if _, err := tx.ExecContext(ctx, s.q.deleteUserPurpose, rec.UserID, string(rec.Purpose)); err != nil {
			return err
		}
		data := []byte(rec.Data)
		if data == nil {
			data = []byte{} // NOT NULL
		}
		_, err := tx.ExecContext(ctx, s.q.insert, rec.Hash, rec.UserID, string(rec.Purpose), data, sqltx.Millis(rec.Created), sqltx.Millis(rec.Expires))
		return err
	})
}

// Get implements [token.Store].
func (s *Store) Get(ctx context.Context, hash []byte, p token.Purpose, now time.Time) (token.Record, error) {
	return s.one(ctx, "get", s.q.get, hash, p, now)
}

// Take implements [token.Store] with one DELETE … RETURNING.
func (s *Store) Take(ctx context.Context, hash []byte, p token.Purpose, now time.Time) (token.Record, error) {
	return s.one(ctx, "take", s.q.take, hash, p, now)
}

func (s *Store) one(ctx context.Context, op, query string, hash []byte, p token.Purpose, now time.Time) (token.Record, error) {
	var rec token.Record
	var purpose string
	var data []byte
	var created, expires int64
	err := s.db.QueryRowContext(ctx, query, hash, string(p), now.UnixMilli()).
		Scan(&rec.Hash, &rec.UserID, &purpose, &data, &created, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return token.Record{}, token.ErrInvalid
	}
	if err != nil {
		return token.Record{}, fmt.Errorf("token/sqlstore: %s: %w", op, err)
	}
	rec.Purpose, rec.Data = token.Purpose(purpose), string(data)
	rec.Created, rec.Expires = sqltx.FromMillis(created), sqltx.FromMillis(expires)
	return rec, nil
}

// Void implements [token.Store] with one DELETE.
func (s *Store) Void(ctx context.Context, userID string, purposes ...token.Purpose) error {
	query, args := s.q.voidAll, []any{userID}
	if len(purposes) > 0 {
		ph := make([]string, len(purposes))
		for i, p := range purposes {
			ph[i] = s.p(i + 2)
			args = append(args, string(p))
		}
		query += " AND purpose IN (" + strings.Join(ph, ", ") + ")"
	}
	if _, err := s.db.ExecContext(ctx, query, args...); err != nil {
		return fmt.Errorf("token/sqlstore: void: %w", err)
	}
	return nil
}

// DeleteExpired implements [token.Store] with one DELETE, through the
// index on expires_at.
func (s *Store) DeleteExpired(ctx context.Context, now time.Time) (int, error) {
	res, err := s.db.ExecContext(ctx, s.q.deleteExpired, now.UnixMilli())
	if err != nil {
		return 0, fmt.Errorf("token/sqlstore: delete expired: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("token/sqlstore: delete expired: %w", err)
	}
	return int(n), nil
}

// querier is what a locked function runs on: a transaction, or on SQLite
// a connection inside BEGIN IMMEDIATE.
type querier = sqltx.Querier

// locked runs fn in a transaction that holds the lock of key, committing
// if it returns nil; op names the operation in errors. fn must use only
// the querier it is given: with a single-connection pool, a query on s.db
// would wait forever.
//
// PostgreSQL: a transaction-scoped advisory lock on a hash of the table
// and key, at READ COMMITTED so that each statement after it sees what
// the previous holder committed. SQLite: BEGIN IMMEDIATE, which takes the
// database's write lock.
func (s *Store) locked(ctx context.Context, op, key string, fn func(querier) error) error {
	return wrap(op, sqltx.Locked(ctx, s.db, s.dialect, s.lockKey(key), fn))
}

// lockKey is the advisory lock of key in this store's table. Two keys
// sharing a lock only wait for each other.
func (s *Store) lockKey(key string) int64 {
	return sqltx.LockKey("token/sqlstore:"+s.table, key)
}

// wrap prefixes err, if any, with the package and op.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("token/sqlstore: %s: %w", op, err)
}
