// Package sqlstore keeps the second factors of package mfa in SQLite or
// PostgreSQL through database/sql: TOTP records, recovery-code hashes and
// WebAuthn credentials. One [Store] implements mfa.TOTPStore,
// mfa.RecoveryStore, mfa.CredentialStore and mfa.FactorStore; pass it
// wherever mfa asks for one of them.
//
// # Threat
//
// The stores are where second factors are won or lost under concurrency,
// and each contract is kept in the database, so that it holds across
// instances:
//
//   - Replay: a TOTP code is valid for a time step, and a code seen over a
//     shoulder or in a proxy log could be submitted again while it is.
//     AcceptTOTPStep is a compare-and-set in one UPDATE ("SET last_step =
//     step WHERE last_step < step"), so of any number of concurrent
//     submissions of one step, one is accepted.
//   - Double use: a recovery code is single-use. ConsumeRecoveryCode is one
//     DELETE of the code's row; of concurrent uses, one deletes it.
//   - Last-factor races: removing a user's TOTP secret and their last
//     passkey at once must not leave a user who is required to keep a
//     factor with none. DeleteTOTPUnlessLast and DeleteCredentialUnlessLast
//     check and delete in one transaction that holds a per-user lock (an
//     advisory lock on PostgreSQL, the write lock of BEGIN IMMEDIATE on
//     SQLite), so the second removal waits for the first and sees its
//     result. ReplaceRecoveryCodes takes the same lock, so two sets
//     generated at once never mix.
//
// The rows hold what mfa gives the store: TOTP secrets sealed with the
// application's keyring and bound to the user, recovery codes as keyed
// hashes, WebAuthn public keys. A copy of the tables yields no secret and
// no usable code.
//
// # Use
//
// The package imports no driver: open the *sql.DB with the one you use,
// for example modernc.org/sqlite (driver "sqlite", pure Go; SQLite 3.35
// or later) or github.com/jackc/pgx/v5/stdlib (driver "pgx"). Then:
//
//	store, err := sqlstore.New(db, sqldb.PostgreSQL, sqlstore.Config{})
//	err = store.Migrate(ctx) // at start-up, before first use
//	totp, err := mfa.NewTOTP(mfa.TOTPConfig{Store: store, ...})
//
// [New] runs no SQL. [Store.Migrate] is explicit, so a deployment decides
// when its schema changes: it creates the tables if they do not exist and
// records the version in rampart_schema; run it from one instance or from
// all at once, as often as you like.
//
// SQLite: open the file with a busy timeout and WAL, e.g.
// "file:app.db?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)"; one
// connection (db.SetMaxOpenConns(1)) is fastest, as SQLite has a single
// writer.
//
// PostgreSQL: the single statements rely on the default isolation, READ
// COMMITTED, under which a concurrent loser finds the row changed and
// reports false. Where the server's default is REPEATABLE READ or
// SERIALIZABLE, the loser gets a serialization error instead: still
// refused, but as an error.
//
// # Tables
//
// With the default [Config.Prefix] "rampart_mfa":
//
//   - rampart_mfa_totp: user_id (primary key), secret and pending (binary,
//     NULL when none), confirmed_at (Unix milliseconds, 0 when none),
//     last_step.
//   - rampart_mfa_recovery_codes: user_id, code_hash (binary); the pair is
//     the primary key.
//   - rampart_mfa_credentials: id (binary, primary key), user_id, name,
//     data (binary), created_at and last_used_at (Unix milliseconds, 0 for
//     never); index rampart_mfa_credentials_user_idx on (user_id,
//     created_at).
//
// The store never deletes a user's rows by itself: when you delete a
// user, delete theirs (or create the tables yourself, with these columns,
// and foreign keys to your users with ON DELETE CASCADE; Migrate keeps
// tables that exist).
package sqlstore
