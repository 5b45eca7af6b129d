// Package sqlsink stores audit events in a SQL database (SQLite or
// PostgreSQL, through database/sql) and queries them for admin pages.
//
// It is a leaf package so that importing audit compiles no database
// driver: bring your own *sql.DB, opened with modernc.org/sqlite (driver
// name "sqlite") or github.com/jackc/pgx/v5/stdlib (driver name "pgx").
//
// # Use
//
// [New] takes the database and its sqldb.Dialect and runs no statement;
// [Sink.Migrate], called at start-up, creates the table and its indexes
// (by time, by category and time, by actor and time). Put the [Sink] behind an
// audit.AsyncSink so that events are inserted in batches, one transaction
// per batch ([Sink.WriteBatch]). [Sink.Query] serves an audit-log page:
// filters by category, action, actor, target, outcome, client address,
// request ID and time range, newest first, with keyset paging (an opaque
// cursor, stable while new events arrive). Call [Sink.Prune] periodically
// (say hourly) to delete events past their category's retention period.
//
// A batch is stored once even when its COMMIT is ambiguous: when the
// connection is lost before the database answers, the batch may or may not
// have committed, and the AsyncSink retries it. Each batch's rows carry a
// random token; after a failed COMMIT the Sink remembers the batch, and the
// retry looks the token up first and inserts nothing if it committed.
//
// # Threat
//
// The table is the admin UI's view of the audit trail and a second copy of
// it. Every value is passed as a query parameter, never spliced into SQL;
// the table name is checked against a strict pattern. Text is stored as
// valid UTF-8 without NUL bytes (replaced by U+FFFD), so that an
// attacker-chosen User-Agent cannot make PostgreSQL reject a batch and
// stall the log.
//
// # Out of scope
//
// The database copy is not tamper-evident: anyone with write access to the
// table can change it. Keep the chain of package audit/chain as the record of
// truth, and on PostgreSQL give the application a role that may only
// INSERT and SELECT the table (what [Sink.WriteBatch], [Sink.Query] and
// [Sink.Count] need): run [Sink.Migrate] as the table's owner, a role the
// application has no credentials for, and prune under the owner's rights,
// for instance from a SECURITY DEFINER function that deletes only rows past
// retention by the database's clock (the example application's audit-setup
// command creates one). [Sink.Prune] needs DELETE. Events are not
// encrypted at rest beyond what the database provides.
package sqlsink
