// Package sqltx runs the serialised write transactions of Rampart's SQL
// stores the same way on both dialects, and converts their times.
package sqltx

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"hash/fnv"
	"time"

	"github.com/deployedworks/rampart/sqldb"
)

// Querier is what a transaction's work runs on: a *sql.Tx on PostgreSQL,
// a *sql.Conn inside BEGIN IMMEDIATE on SQLite.
type Querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Locked runs fn in one write transaction that holds lock, committing if
// fn returns nil and rolling back otherwise. fn must use only the Querier
// it is given: with a single-connection pool, a query on db would wait for
// the connection fn holds.
//
// PostgreSQL: a READ COMMITTED transaction that first takes the advisory
// lock (pg_advisory_xact_lock), so that holders of one lock run one after
// the other, each seeing what the previous one committed. SQLite: BEGIN
// IMMEDIATE, which takes the database's write lock up front (waiting up to
// the busy timeout) instead of failing with SQLITE_BUSY when a read turns
// into a write; lock is not needed there.
func Locked(ctx context.Context, db *sql.DB, d sqldb.Dialect, lock int64, fn func(Querier) error) error {
	if d == sqldb.PostgreSQL {
		tx, err := db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, lock); err != nil {
			_ = tx.Rollback()
			return err
		}
		if err := fn(tx); err != nil {
			_ = tx.Rollback()
			return err
		}
		return tx.Commit()
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return err
	}
	err = fn(conn)
	if err == nil {
		if _, err = conn.ExecContext(ctx, "COMMIT"); err == nil {
			return nil
		}
	}
	if _, rerr := conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK"); rerr != nil {
		// The connection may still be inside the transaction: have the
		// pool discard it rather than hand it to the next caller.
		_ = conn.Raw(func(any) error { return driver.ErrBadConn })
	}
	return err
}

// LockKey is the advisory lock for key in a store: FNV-1a of the store's
// name and key. Two keys that share a lock only wait for each other.
func LockKey(store, key string) int64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(store))
	_, _ = h.Write([]byte{0})
	_, _ = h.Write([]byte(key))
	return int64(h.Sum64()) // #nosec G115 -- a hash: wrapping to a negative lock key is intended and harmless
}

// Millis is t in Unix milliseconds, 0 for the zero time.
func Millis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// FromMillis is the time in UTC of v Unix milliseconds, the zero time for
// 0.
func FromMillis(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}
