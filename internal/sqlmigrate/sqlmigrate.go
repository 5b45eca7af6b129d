// Package sqlmigrate applies the versioned schema steps of Rampart's SQL
// packages, recording each in the table rampart_schema. It is the one
// migration model behind every exported Migrate method.
package sqlmigrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/deployedworks/rampart/sqldb"
)

// Step is one schema version of a component: statements run in one
// transaction, in order. Steps are never edited once released; a change is
// a new step.
type Step struct {
	Version int
	Stmts   []string
}

// Apply runs, in one transaction per step, the steps of component that are
// not yet recorded in rampart_schema, in version order. component names the
// package and its table ("session/sqlstore:rampart_sessions"), so that two
// tables of one package migrate separately.
//
// Concurrent Apply calls (instances starting together) are serialised: on
// PostgreSQL by the row each step inserts into rampart_schema before
// running (the second caller waits for the first to commit, then skips the
// step), on SQLite by the write lock that BEGIN IMMEDIATE takes.
func Apply(ctx context.Context, db *sql.DB, d sqldb.Dialect, component string, steps []Step) error {
	if db == nil {
		return errors.New("migrate: nil *sql.DB")
	}
	if !d.Valid() {
		return fmt.Errorf("migrate: unknown dialect %v: use sqldb.SQLite or sqldb.PostgreSQL", d)
	}
	create := `CREATE TABLE IF NOT EXISTS rampart_schema (
	component TEXT NOT NULL,
	version INTEGER NOT NULL,
	PRIMARY KEY (component, version))`
	for i, s := range steps {
		if i > 0 && s.Version <= steps[i-1].Version {
			return fmt.Errorf("migrate %s: steps out of order at version %d", component, s.Version)
		}
		if err := applyStep(ctx, db, d, create, component, s); err != nil {
			return fmt.Errorf("migrate %s to version %d: %w", component, s.Version, err)
		}
	}
	return nil
}

// execer is what a step runs on: a transaction, or on SQLite a connection
// inside BEGIN IMMEDIATE.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func applyStep(ctx context.Context, db *sql.DB, d sqldb.Dialect, create, component string, s Step) (err error) {
	var (
		ex       execer
		commit   func() error
		rollback func() error
	)
	if d == sqldb.SQLite {
		// A deferred SQLite transaction that reads before it writes fails
		// with SQLITE_BUSY when another writer got there first; BEGIN
		// IMMEDIATE takes the write lock up front, waiting (busy_timeout)
		// for it.
		conn, err := db.Conn(ctx)
		if err != nil {
			return err
		}
		defer conn.Close()
		if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
			return err
		}
		ex = conn
		commit = func() error { _, err := conn.ExecContext(ctx, "COMMIT"); return err }
		rollback = func() error { _, err := conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK"); return err }
	} else {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		ex, commit, rollback = tx, tx.Commit, tx.Rollback
		// Two first-ever CREATE TABLE IF NOT EXISTS can collide in
		// PostgreSQL's catalogue; one lock for all of Rampart's migrations
		// (they are rare and short) rules that out.
		if _, err = tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7236398016101511757)`); err != nil {
			_ = tx.Rollback()
			return err
		}
	}
	defer func() {
		if err != nil {
			_ = rollback()
		}
	}()
	ins := `INSERT INTO rampart_schema (component, version) VALUES (?, ?) ON CONFLICT DO NOTHING`
	if d == sqldb.PostgreSQL {
		ins = `INSERT INTO rampart_schema (component, version) VALUES ($1, $2) ON CONFLICT DO NOTHING`
	}
	if _, err = ex.ExecContext(ctx, create); err != nil {
		return err
	}
	// Recording the step first takes the row lock (PostgreSQL) before
	// anything else is done, so a concurrent Apply waits here and then finds
	// the step recorded.
	res, err := ex.ExecContext(ctx, ins, component, s.Version)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return rollback()
	}
	for _, stmt := range s.Stmts {
		if _, err = ex.ExecContext(ctx, stmt); err != nil {
			return err
		}
	}
	return commit()
}
