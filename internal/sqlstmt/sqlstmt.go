// Package sqlstmt runs the constant queries of Rampart's SQL stores as
// prepared statements on SQLite, where preparing (parsing and planning)
// is a large part of a small query's cost and the driver keeps no cache.
// On PostgreSQL it passes the queries through: pgx caches prepared
// statements per connection itself.
package sqlstmt

import (
	"context"
	"database/sql"
	"sync"

	"github.com/deployedworks/rampart/sqldb"
)

// Cache prepares each query it is given once (per database/sql pool; the
// pool re-prepares a statement on each connection as needed) and keeps
// it for the life of the *sql.DB. It is for the constant queries of a
// store, a bounded set: never pass it a query built from input. Its zero
// value is not usable; it is safe for concurrent use.
type Cache struct {
	db      *sql.DB
	prepare bool
	stmts   sync.Map // query -> *sql.Stmt
	mu      sync.Mutex
}

// New returns a Cache of db that prepares statements if d is SQLite.
func New(db *sql.DB, d sqldb.Dialect) *Cache {
	return &Cache{db: db, prepare: d == sqldb.SQLite}
}

// stmt returns the prepared statement of q, preparing it on first use,
// or nil if statements are not prepared or q cannot be prepared yet (a
// table not migrated): the caller then runs q unprepared, and gets the
// error from there.
func (c *Cache) stmt(ctx context.Context, q string) *sql.Stmt {
	if !c.prepare {
		return nil
	}
	if s, ok := c.stmts.Load(q); ok {
		return s.(*sql.Stmt)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.stmts.Load(q); ok {
		return s.(*sql.Stmt)
	}
	s, err := c.db.PrepareContext(ctx, q)
	if err != nil {
		return nil
	}
	c.stmts.Store(q, s)
	return s
}

// QueryRowContext runs q as [sql.DB.QueryRowContext] does.
func (c *Cache) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	if s := c.stmt(ctx, q); s != nil {
		return s.QueryRowContext(ctx, args...)
	}
	return c.db.QueryRowContext(ctx, q, args...)
}

// QueryContext runs q as [sql.DB.QueryContext] does.
func (c *Cache) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if s := c.stmt(ctx, q); s != nil {
		return s.QueryContext(ctx, args...)
	}
	return c.db.QueryContext(ctx, q, args...)
}

// ExecContext runs q as [sql.DB.ExecContext] does.
func (c *Cache) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if s := c.stmt(ctx, q); s != nil {
		return s.ExecContext(ctx, args...)
	}
	return c.db.ExecContext(ctx, q, args...)
}
