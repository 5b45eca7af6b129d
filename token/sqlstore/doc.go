// Package sqlstore keeps the records of package token's single-use tokens
// in SQLite or PostgreSQL through database/sql, so that every instance of
// an application honours a link once. [Store] implements token.Store; pass
// it to token.New.
//
// # Threat
//
// The store is where "single use" is won or lost under concurrency, and
// each contract is kept by the database, so that it holds across
// instances:
//
//   - Double use: a reset link clicked twice, or replayed by whoever saw
//     it, must work once. Take is one DELETE … RETURNING of the token's
//     row; of any number of concurrent Takes, one gets the row.
//   - Stale links: issuing a token voids the user's older tokens of the
//     same purpose. Put deletes them and inserts the new row in one
//     transaction that holds a lock on the user and purpose (an advisory
//     lock on PostgreSQL, the write lock of BEGIN IMMEDIATE on SQLite), so
//     of two tokens issued at once one survives.
//   - A stolen copy of the table: rows hold the SHA-256 of each token,
//     never the token (token.Issuer hashes before it stores), so a backup
//     or a read-only SQL injection opens no account.
//
// # Use
//
// The package imports no driver: open the *sql.DB with the one you use,
// for example modernc.org/sqlite (driver "sqlite", pure Go; SQLite 3.35
// or later, for RETURNING) or github.com/jackc/pgx/v5/stdlib (driver
// "pgx"). Then:
//
//	store, err := sqlstore.New(db, sqldb.PostgreSQL, sqlstore.Config{})
//	err = store.Migrate(ctx) // at start-up, before first use
//	issuer, err := token.New(store, token.Config{})
//
// [New] runs no SQL. [Store.Migrate] is explicit, so a deployment decides
// when its schema changes: it creates the table if it does not exist and
// records the version in rampart_schema; run it from one instance or from
// all at once, as often as you like. Call [Store.DeleteExpired] now and
// then (an hourly job will do) to keep the table small: expired rows are
// refused whether or not they are deleted.
//
// SQLite: open the file with a busy timeout and WAL, e.g.
// "file:app.db?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)".
//
// PostgreSQL: Take relies on the default isolation, READ COMMITTED, under
// which a concurrent loser finds the row gone. Where the server's default
// is REPEATABLE READ or SERIALIZABLE, the loser gets a serialization error
// instead: still refused, but as an error rather than token.ErrInvalid.
//
// # Table
//
// With the default [Config.Table] "rampart_tokens": hash (binary, the
// primary key), user_id, purpose, data (binary), created_at and
// expires_at (Unix milliseconds); index rampart_tokens_user_idx on
// (user_id, purpose) for Put and Void, and rampart_tokens_expires_idx on
// expires_at for DeleteExpired.
//
// The store never deletes a user's rows by itself: when you delete a
// user, void their tokens (or create the table yourself, with these
// columns, and a foreign key to your users with ON DELETE CASCADE; Migrate
// keeps a table that exists).
package sqlstore
