// Package sqldb names the SQL databases that Rampart's stores and sinks
// speak. Each SQL package (session/sqlstore, audit/sqlsink, mfa/sqlstore)
// takes a [Dialect] and has an explicit Migrate method that creates or
// upgrades its tables; constructors never run DDL, so a deployment decides
// when its schema changes (run Migrate at start-up, from one instance or
// from all: it is safe to run concurrently and more than once).
//
// Applied migrations are recorded in the table rampart_schema, one row per
// component and version.
package sqldb

import "strconv"

// Dialect is the SQL flavour of a database. There is no default: the zero
// Dialect is rejected by every constructor that takes one.
type Dialect uint8

// Dialects.
const (
	_ Dialect = iota
	// SQLite is SQLite 3.35 or later, for example modernc.org/sqlite.
	SQLite
	// PostgreSQL is PostgreSQL 13 or later, for example through
	// github.com/jackc/pgx/v5/stdlib.
	PostgreSQL
)

// String returns "sqlite" or "postgresql".
func (d Dialect) String() string {
	switch d {
	case SQLite:
		return "sqlite"
	case PostgreSQL:
		return "postgresql"
	}
	return "Dialect(" + strconv.Itoa(int(d)) + ")"
}

// Valid reports whether d is one of the dialects above.
func (d Dialect) Valid() bool { return d == SQLite || d == PostgreSQL }
