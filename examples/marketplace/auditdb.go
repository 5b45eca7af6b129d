package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/audit/chain"
	"github.com/deployedworks/rampart/audit/sqlsink"
	"github.com/deployedworks/rampart/sqldb"
)

// The audit database (README "Audit database roles"): with
// MARKETPLACE_AUDIT_DATABASE_URL, the audit table and the chain checkpoints
// live in a PostgreSQL schema owned by a role the app has no credentials
// for, and the app writes them as a role that may only INSERT and SELECT.
// Pruning runs in a SECURITY DEFINER function owned by the owner role,
// which deletes only rows past their category's retention period by the
// database's own clock. A compromised app can add audit rows; it cannot
// change or delete them before their time, nor remove a checkpoint.
const (
	envAuditDatabaseURL      = "MARKETPLACE_AUDIT_DATABASE_URL"
	envAuditOwnerDatabaseURL = "MARKETPLACE_AUDIT_OWNER_DATABASE_URL"
	envAuditSchema           = "MARKETPLACE_AUDIT_SCHEMA"
	envInstance              = "MARKETPLACE_INSTANCE"

	defaultAuditSchema = "marketplace_audit"
	// Names inside the audit schema; in the main database the checkpoints
	// table is chain_checkpoints (migration 0006) and the audit table
	// sqlsink's default, audit_events.
	auditEventsTable = "audit_events"
	checkpointsTable = "chain_checkpoints"
	pruneFunction    = "prune_audit"

	// instanceFile, in the data directory, names this instance's chain in
	// the checkpoints table, unless MARKETPLACE_INSTANCE does.
	instanceFile = "instance-id"
	// maxCheckpoints bounds how many checkpoints of an instance
	// verification reads (about 9,000 a year are shipped): more means
	// someone flooded the table.
	maxCheckpoints = 1_000_000
)

// pgIdent is a PostgreSQL name the app accepts for a schema or role:
// unquoted-style, so that it needs no escaping.
var pgIdent = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// auditStore is where the audit rows and the chain checkpoints go: the
// main database, or the audit database.
type auditStore struct {
	db          *sql.DB
	dialect     sqldb.Dialect
	sink        *sqlsink.Sink
	checkpoints string // table, schema-qualified in the audit database
	prune       string // the pruning function, "" in the main database (sink.Prune)
	own         bool   // db was opened here: Close closes it
}

// mainAuditStore keeps the audit rows and checkpoints in the app's own
// database, written (and pruned) by its own role. It migrates the audit
// table; call it under the migration lock.
func mainAuditStore(ctx context.Context, db *store, now func() time.Time) (*auditStore, error) {
	sink, err := sqlsink.New(db.db, db.sqlDialect(), sqlsink.Config{Now: now})
	if err != nil {
		return nil, err
	}
	if err := sink.Migrate(ctx); err != nil {
		return nil, err
	}
	return &auditStore{db: db.db, dialect: db.sqlDialect(), sink: sink, checkpoints: checkpointsTable}, nil
}

// openAuditStore connects to the audit database as the insert-only writer
// role and refuses a role that could change or delete what it wrote. It
// runs no DDL: audit-setup, as the owner role, created the tables.
func openAuditStore(ctx context.Context, databaseURL, schema string, st serviceTLS) (*auditStore, error) {
	if schema == "" {
		schema = defaultAuditSchema
	}
	if !pgIdent.MatchString(schema) {
		return nil, fmt.Errorf("%s %q: use lower-case letters, digits and '_'", envAuditSchema, schema)
	}
	cc, err := st.pgConfig(envAuditDatabaseURL, databaseURL)
	if err != nil {
		return nil, err
	}
	db := stdlib.OpenDB(*cc)
	db.SetMaxOpenConns(4)
	db.SetConnMaxIdleTime(5 * time.Minute)
	s := &auditStore{db: db, dialect: sqldb.PostgreSQL, own: true,
		checkpoints: schema + "." + checkpointsTable, prune: schema + "." + pruneFunction}
	if s.sink, err = sqlsink.New(db, sqldb.PostgreSQL, sqlsink.Config{Table: schema + "." + auditEventsTable}); err != nil {
		_ = db.Close()
		return nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := checkWriterRole(cctx, db, schema); err != nil {
		_ = db.Close()
		return nil, err
	}
	return s, nil
}

// checkWriterRole fails unless the connection's role may INSERT and SELECT
// the audit tables and run the pruning function, and may not UPDATE,
// DELETE, TRUNCATE or add triggers to them, nor act as their owner or the
// schema's.
func checkWriterRole(ctx context.Context, db *sql.DB, schema string) error {
	events, cps := schema+"."+auditEventsTable, schema+"."+checkpointsTable
	var role string
	var exists bool
	err := db.QueryRowContext(ctx, `SELECT current_user, to_regclass($1) IS NOT NULL AND to_regclass($2) IS NOT NULL
		AND to_regprocedure($3) IS NOT NULL`, events, cps, schema+"."+pruneFunction+"()").Scan(&role, &exists)
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &pgErr) && pgErr.Code == "42501": // insufficient_privilege: no USAGE on the schema
		return fmt.Errorf("audit database: role %s may not use schema %s: run `marketplace audit-setup -writer ROLE` as the owner role (README, \"Audit database roles\"): %w",
			"of "+envAuditDatabaseURL, schema, err)
	case err != nil:
		return fmt.Errorf("audit database: connect (check %s): %w", envAuditDatabaseURL, err)
	}
	if !exists {
		return fmt.Errorf("audit database: %s, %s or %s() is missing or not visible to role %s: run `marketplace audit-setup` as the owner role (README, \"Audit database roles\")",
			events, cps, schema+"."+pruneFunction, role)
	}
	var canWrite, canChange, owns bool
	err = db.QueryRowContext(ctx, `SELECT
		has_table_privilege($1, 'INSERT') AND has_table_privilege($1, 'SELECT')
			AND has_table_privilege($2, 'INSERT') AND has_table_privilege($2, 'SELECT')
			AND has_function_privilege($3, 'EXECUTE'),
		has_table_privilege($1, 'UPDATE') OR has_table_privilege($1, 'DELETE') OR has_table_privilege($1, 'TRUNCATE') OR has_table_privilege($1, 'TRIGGER')
			OR has_table_privilege($2, 'UPDATE') OR has_table_privilege($2, 'DELETE') OR has_table_privilege($2, 'TRUNCATE') OR has_table_privilege($2, 'TRIGGER'),
		(SELECT bool_or(pg_has_role(c.relowner, 'MEMBER') OR pg_has_role(n.nspowner, 'MEMBER'))
			FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid IN ($1::regclass, $2::regclass))`,
		events, cps, schema+"."+pruneFunction+"()").Scan(&canWrite, &canChange, &owns)
	if err != nil {
		return fmt.Errorf("audit database: check the privileges of role %s: %w", role, err)
	}
	switch {
	case canChange || owns:
		return fmt.Errorf("audit database: role %s may change or delete audit rows (%s, %s): %s must name the insert-only writer role, not the owner or a superuser (README, \"Audit database roles\")",
			role, events, cps, envAuditDatabaseURL)
	case !canWrite:
		return fmt.Errorf("audit database: role %s may not INSERT and SELECT %s and %s or run %s(): run `marketplace audit-setup -writer %s` as the owner role",
			role, events, cps, schema+"."+pruneFunction, role)
	}
	return nil
}

// Close closes the audit database, when it is not the app's own.
func (s *auditStore) Close(context.Context) error {
	if s.own {
		return s.db.Close()
	}
	return nil
}

func (s *auditStore) ph(n int) string {
	if s.dialect == sqldb.PostgreSQL {
		return "$" + strconv.Itoa(n)
	}
	return "?"
}

// pruneRows deletes the audit rows past their retention period: through
// the owner's function in the audit database, else with the sink.
func (s *auditStore) pruneRows(ctx context.Context) (int64, error) {
	if s.prune == "" {
		return s.sink.Prune(ctx)
	}
	var n int64
	if err := s.db.QueryRowContext(ctx, "SELECT "+s.prune+"()").Scan(&n); err != nil {
		return 0, fmt.Errorf("audit database: prune: %w", err)
	}
	return n, nil
}

// shipCheckpoint records cp as instance's newest checkpoint.
func (s *auditStore) shipCheckpoint(ctx context.Context, instance string, cp chain.Checkpoint, at time.Time) error {
	_, err := s.db.ExecContext(ctx, "INSERT INTO "+s.checkpoints+" (instance, seq, mac, time_ns) VALUES ("+ // #nosec G202 -- s.checkpoints is a validated identifier; values are placeholders
		s.ph(1)+", "+s.ph(2)+", "+s.ph(3)+", "+s.ph(4)+")", instance, int64(cp.Seq), cp.MAC, at.UnixNano()) // #nosec G115 -- a chain's sequence numbers count records from 1 and stay far below 2^63
	if err != nil {
		return fmt.Errorf("ship audit checkpoint: %w", err)
	}
	return nil
}

// shippedCheckpoint is a checkpoint read back, with when it was shipped.
type shippedCheckpoint struct {
	chain.Checkpoint
	At time.Time
}

// checkpointsOf returns every checkpoint shipped for instance, by sequence
// number. All of them: whoever can insert checkpoints could otherwise push
// the genuine ones out of a "newest N" window with checkpoints of a
// rewritten chain.
func (s *auditStore) checkpointsOf(ctx context.Context, instance string) ([]shippedCheckpoint, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT seq, mac, time_ns FROM "+s.checkpoints+" WHERE instance = "+s.ph(1)+ // #nosec G202 -- s.checkpoints is a validated identifier; values are placeholders
		" ORDER BY seq, time_ns LIMIT "+strconv.Itoa(maxCheckpoints+1), instance)
	if err != nil {
		return nil, fmt.Errorf("read audit checkpoints: %w", err)
	}
	defer rows.Close()
	var out []shippedCheckpoint
	for rows.Next() {
		var c shippedCheckpoint
		var seq, ns int64
		if err := rows.Scan(&seq, &c.MAC, &ns); err != nil {
			return nil, fmt.Errorf("read audit checkpoints: %w", err)
		}
		if seq <= 0 {
			return nil, fmt.Errorf("read audit checkpoints: invalid sequence number %d", seq)
		}
		c.Seq, c.At = uint64(seq), time.Unix(0, ns).UTC()
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read audit checkpoints: %w", err)
	}
	if len(out) > maxCheckpoints {
		return nil, fmt.Errorf("read audit checkpoints: more than %d for instance %q: someone flooded %s", maxCheckpoints, instance, s.checkpoints)
	}
	return out, nil
}

// verifyServerChain verifies the server chain in fsys with key against the
// shipped checkpoints and extra ones. Beyond chain.Verify, it refuses a
// chain that claims retention deleted a record named by a checkpoint
// shipped less than the shortest retention period ago (less a day): no
// record that young can have been pruned, and a chain forged with the key
// could otherwise claim retention up to its start and so skip every
// checkpoint.
func verifyServerChain(ctx context.Context, fsys fs.FS, key []byte, shipped []shippedCheckpoint, extra []chain.Checkpoint, now time.Time) (chain.Report, error) {
	rep, err := chain.Verify(ctx, fsys, key, chain.VerifyConfig{Checkpoints: append(plain(shipped), extra...)})
	if err != nil {
		return rep, err
	}
	shortest := audit.Retention(nil).For("")
	for _, c := range audit.Categories() {
		if d := audit.Retention(nil).For(c); d != audit.KeepForever {
			shortest = min(shortest, d)
		}
	}
	young := now.Add(-(shortest - audit.Day))
	for _, c := range shipped {
		if c.At.After(young) && c.Seq < rep.FirstSeq {
			return rep, &chain.TamperError{Problem: chain.ProblemDeleted, File: "audit-*.jsonl", Seq: c.Seq,
				Detail: fmt.Sprintf("the chain starts at %d and claims retention deleted the records before it, but checkpoint %d was shipped at %s, less than the shortest retention period (%v) ago",
					rep.FirstSeq, c.Seq, c.At.Format(time.RFC3339), shortest)}
		}
	}
	return rep, nil
}

// plain returns the checkpoints without their times, for chain.Verify.
func plain(cps []shippedCheckpoint) []chain.Checkpoint {
	out := make([]chain.Checkpoint, len(cps))
	for i, c := range cps {
		out[i] = c.Checkpoint
	}
	return out
}

// instanceName returns the name of this instance's chain in the
// checkpoints table: configured, or the random one kept in the data
// directory (created on first use).
func instanceName(dataDir, configured string) (string, error) {
	if configured != "" {
		if len(configured) > 100 || strings.ContainsFunc(configured, func(r rune) bool { return r < 0x21 || r == 0x7f }) {
			return "", fmt.Errorf("%s %q: give at most 100 printable characters without spaces", envInstance, configured)
		}
		return configured, nil
	}
	path := filepath.Join(dataDir, instanceFile)
	b, err := os.ReadFile(path) // #nosec G304 -- the operator's data directory and a constant file name
	if errors.Is(err, fs.ErrNotExist) {
		name := rand.Text()
		f, cerr := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600) // #nosec G304 -- the operator's data directory and a constant file name
		if cerr == nil {
			_, cerr = f.WriteString(name + "\n")
			if err := f.Close(); cerr == nil {
				cerr = err
			}
			if cerr == nil {
				return name, nil
			}
		}
		if !errors.Is(cerr, fs.ErrExist) {
			return "", fmt.Errorf("instance name: %w", cerr)
		}
		b, err = os.ReadFile(path) // #nosec G304 -- another process created it first; same path as above
	}
	if err != nil {
		return "", fmt.Errorf("instance name: %w", err)
	}
	name := strings.TrimSpace(string(b))
	if name == "" || len(name) > 100 {
		return "", fmt.Errorf("instance name: %s is empty or too long: delete it only if this instance's chain is new (its shipped checkpoints are found by this name)", path)
	}
	return name, nil
}

// auditSetupStmts are the statements audit-setup runs as the owner role
// after migrating the audit table: the checkpoints table, the pruning
// function (retention r, by the database's clock) and the writer's
// privileges. They can run again (after a change of retention, say).
func auditSetupStmts(schema, writer string, r audit.Retention) []string {
	events, cps := schema+"."+auditEventsTable, schema+"."+checkpointsTable
	fn := schema + "." + pruneFunction + "()"
	return []string{
		`CREATE TABLE IF NOT EXISTS ` + cps + ` (
	instance TEXT NOT NULL,
	seq BIGINT NOT NULL,
	mac TEXT NOT NULL,
	time_ns BIGINT NOT NULL
)`,
		`CREATE INDEX IF NOT EXISTS ` + checkpointsTable + `_instance_idx ON ` + cps + ` (instance, seq)`,
		pruneFunctionSQL(schema, r),
		`REVOKE ALL ON ` + events + `, ` + cps + ` FROM PUBLIC`,
		`REVOKE ALL ON FUNCTION ` + fn + ` FROM PUBLIC`,
		`REVOKE ALL ON ` + events + `, ` + cps + ` FROM ` + writer,
		`GRANT USAGE ON SCHEMA ` + schema + ` TO ` + writer,
		`GRANT INSERT, SELECT ON ` + events + `, ` + cps + ` TO ` + writer,
		`GRANT EXECUTE ON FUNCTION ` + fn + ` TO ` + writer,
	}
}

// pruneFunctionSQL creates the function that deletes audit rows past their
// category's retention period in r (as sqlsink.Sink.Prune does) and
// checkpoints older than the longest period. It runs as its owner
// (SECURITY DEFINER) with a fixed search path, takes no argument, and
// reads the database's clock, so that whoever may call it can delete
// nothing younger.
func pruneFunctionSQL(schema string, r audit.Retention) string {
	events, cps := schema+"."+auditEventsTable, schema+"."+checkpointsTable
	var b strings.Builder
	b.WriteString(`CREATE OR REPLACE FUNCTION ` + schema + `.` + pruneFunction + `() RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
	now_ns bigint := (extract(epoch FROM clock_timestamp()) * 1000000000)::bigint;
	n bigint;
	total bigint := 0;
BEGIN
`)
	named := audit.Categories()
	for c := range r {
		if c != "" && !slices.Contains(named, c) {
			named = append(named, c)
		}
	}
	slices.Sort(named)
	del := func(where string, d time.Duration) {
		fmt.Fprintf(&b, "\tDELETE FROM %s WHERE %s AND time_ns < now_ns - %d;\n\tGET DIAGNOSTICS n = ROW_COUNT;\n\ttotal := total + n;\n",
			events, where, d.Nanoseconds())
	}
	quoted := make([]string, len(named))
	for i, c := range named {
		quoted[i] = "'" + strings.ReplaceAll(string(c), "'", "''") + "'"
		if d := r.For(c); d != audit.KeepForever {
			del("category = "+quoted[i], d)
		}
	}
	if d := r.For(""); d != audit.KeepForever {
		del("category NOT IN ("+strings.Join(quoted, ", ")+")", d)
	}
	if d := r.Longest(append(named, "")...); d != audit.KeepForever {
		fmt.Fprintf(&b, "\tDELETE FROM %s WHERE time_ns < now_ns - %d;\n", cps, d.Nanoseconds())
	}
	b.WriteString("\tRETURN total;\nEND\n$fn$")
	return b.String()
}

// withSearchPath returns databaseURL with its PostgreSQL search path set to
// schema, so that what sqlsink's migrations record (rampart_schema) stays
// in the audit schema.
func withSearchPath(databaseURL, schema string) (string, error) {
	u, err := url.Parse(databaseURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", fmt.Errorf("%s: want a postgres:// URL", envAuditOwnerDatabaseURL)
	}
	q := u.Query()
	q.Set("search_path", schema) // pgx passes it as a run-time parameter
	u.RawQuery = q.Encode()
	return u.String(), nil
}
