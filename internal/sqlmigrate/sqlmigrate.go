// Package sqlmigrate applies the versioned schema steps of Rampart's SQL
// packages, recording each in the table rampart_schema. It is the one
// migration model behind every exported Migrate method.
package sqlmigrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/deployedworks/rampart/internal/sqltx"
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
// PostgreSQL by an advisory lock, on SQLite by the write lock that BEGIN
// IMMEDIATE takes; the second caller then finds the step recorded and
// skips it.
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

// migrationLock is the advisory lock every Rampart migration takes on
// PostgreSQL: two first-ever CREATE TABLE IF NOT EXISTS can collide in its
// catalogue, and migrations are rare and short.
const migrationLock = 7236398016101511757

func applyStep(ctx context.Context, db *sql.DB, d sqldb.Dialect, create, component string, s Step) error {
	ins := `INSERT INTO rampart_schema (component, version) VALUES (?, ?) ON CONFLICT DO NOTHING`
	if d == sqldb.PostgreSQL {
		ins = `INSERT INTO rampart_schema (component, version) VALUES ($1, $2) ON CONFLICT DO NOTHING`
	}
	return sqltx.Locked(ctx, db, d, migrationLock, func(q sqltx.Querier) error {
		if _, err := q.ExecContext(ctx, create); err != nil {
			return err
		}
		// Recording the step first, under the lock, makes a concurrent
		// Apply that waited for the lock find the step recorded.
		res, err := q.ExecContext(ctx, ins, component, s.Version)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err // applied already: nothing to do
		}
		for _, stmt := range s.Stmts {
			if _, err := q.ExecContext(ctx, stmt); err != nil {
				return err
			}
		}
		return nil
	})
}
