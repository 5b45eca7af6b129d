// Package sqlstore keeps Rampart sessions in SQLite or PostgreSQL through
// database/sql, with the per-user index as an indexed column, so that
// revoking every session of a user is one DELETE, and the users'
// revocation watermarks in a second table (see session.Store), so that a
// login racing a revocation gets no session. Watermarks are times from the
// application's clock (session.Config.Now), compared only with the
// sessions' own; the database's clock plays no part.
//
// The package imports no driver: open the *sql.DB with the one you use,
// for example modernc.org/sqlite (driver "sqlite", pure Go) or
// github.com/jackc/pgx/v5/stdlib (driver "pgx"; wrap an existing pool with
// stdlib.OpenDBFromPool), and name its SQL with sqldb.SQLite or
// sqldb.PostgreSQL. New runs no SQL: create or upgrade the tables with
// [Store.Migrate] at start-up (it records the schema version in the table
// rampart_schema, like Rampart's other SQL packages), and call [Store.DeleteExpired]
// from time to time: expired sessions and watermarks are never used, but
// they are only removed by it.
//
// Rows hold the SHA-256 hash of each token, never the token, so a copy of
// the table cannot be replayed as cookies. session.New requires a
// session.Config.Keyring with this store, which encrypts session data at
// rest. Only signed-in sessions have rows, and the claims that make
// challenges single-use (Store.Claim: "c:" keys, no user, no data).
//
// SQLite: open the file with a busy timeout and WAL, e.g.
// "file:sessions.db?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)",
// and call db.SetMaxOpenConns(1): SQLite has a single writer, and queueing
// in Go is far faster than its busy-wait retries (measured 40× on the
// conformance race test). An in-memory SQLite database exists once per
// connection, another reason for one connection.
package sqlstore
