package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/deployedworks/rampart/audit/chain"
	"github.com/deployedworks/rampart/audit/sqlsink"
	"github.com/deployedworks/rampart/secrets"
	"github.com/deployedworks/rampart/sqldb"
)

// auditSetupCmd runs "audit-setup -writer ROLE": as the owner role of the
// audit schema (MARKETPLACE_AUDIT_OWNER_DATABASE_URL), it creates or
// upgrades the audit table and the checkpoints table, (re)creates the
// pruning function with the default retention periods, and grants the
// writer role INSERT and SELECT on the tables and EXECUTE on the function,
// nothing more. Run it at each deployment of a new version, from where the
// owner's credentials are kept, not from the app's hosts.
func auditSetupCmd(ctx context.Context, args []string, stdout, stderr io.Writer, lookup env) error {
	fs := flag.NewFlagSet("audit-setup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	writer := fs.String("writer", "", "the `role` the app writes the audit tables as (the user of "+envAuditDatabaseURL+") (required)")
	schema := fs.String("schema", lookup.str(envAuditSchema, defaultAuditSchema), "the audit `schema`, owned by the role of "+envAuditOwnerDatabaseURL+" (env "+envAuditSchema+")")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: marketplace audit-setup -writer ROLE [-schema NAME]")
		fmt.Fprintln(stderr, "Creates the audit tables in PostgreSQL as the owner role ("+envAuditOwnerDatabaseURL+") and grants ROLE")
		fmt.Fprintln(stderr, "INSERT and SELECT only; pruning runs in a function of the owner's. See README, \"Audit database roles\".")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return flagError("audit-setup", err)
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("audit-setup: unexpected argument %q", fs.Arg(0))}
	}
	if !pgIdent.MatchString(*writer) {
		return usageError{fmt.Errorf("audit-setup: -writer %q: give the writer role's name (lower-case letters, digits and '_')", *writer)}
	}
	if !pgIdent.MatchString(*schema) {
		return usageError{fmt.Errorf("audit-setup: -schema %q: use lower-case letters, digits and '_'", *schema)}
	}
	ownerURL := lookup.str(envAuditOwnerDatabaseURL, "")
	if ownerURL == "" {
		return usageError{fmt.Errorf("audit-setup: set %s to a postgres:// URL of the role that owns schema %s", envAuditOwnerDatabaseURL, *schema)}
	}
	dsn, err := withSearchPath(ownerURL, *schema)
	if err != nil {
		return usageError{fmt.Errorf("audit-setup: %w", err)}
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return fmt.Errorf("audit-setup: %w", err)
	}
	defer db.Close()
	var owner, current string
	err = db.QueryRowContext(ctx, `SELECT pg_get_userbyid(nspowner), current_user FROM pg_namespace WHERE nspname = $1`, *schema).Scan(&owner, &current)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("audit-setup: schema %s does not exist: create it owned by the owner role (README, \"Audit database roles\")", *schema)
	case err != nil:
		return fmt.Errorf("audit-setup: connect (check %s): %w", envAuditOwnerDatabaseURL, err)
	case *writer == current || *writer == owner:
		return usageError{fmt.Errorf("audit-setup: -writer %s is the owner: the app must write as a role of its own", *writer)}
	}
	sink, err := sqlsink.New(db, sqldb.PostgreSQL, sqlsink.Config{Table: *schema + "." + auditEventsTable})
	if err != nil {
		return fmt.Errorf("audit-setup: %w", err)
	}
	if err := sink.Migrate(ctx); err != nil {
		return fmt.Errorf("audit-setup: %w", err)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("audit-setup: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	for _, stmt := range auditSetupStmts(*schema, *writer, nil) {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("audit-setup: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("audit-setup: %w", err)
	}
	fmt.Fprintf(stdout, "audit-setup: %s.%s and %s.%s ready; role %s may INSERT and SELECT them and run %s.%s(), nothing more\n",
		*schema, auditEventsTable, *schema, checkpointsTable, *writer, *schema, pruneFunction)
	return nil
}

// auditVerifyCmd runs "audit-verify": it checks this instance's audit
// chain (data/audit) with the audit key against the checkpoints the
// server shipped to the database, so that a chain rewritten by someone
// holding the key is caught, and the command-line tools' chain, which
// must be sealed. Exit status 1 when a chain does not verify.
func auditVerifyCmd(ctx context.Context, args []string, stdout, stderr io.Writer, lookup env) error {
	var c commonFlags
	fs := flag.NewFlagSet("audit-verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c.register(fs, lookup)
	instance := fs.String("instance", lookup.str(envInstance, ""), "`name` of the instance whose chain this is, as the server ships its checkpoints (env "+envInstance+"; default the name kept in the data directory)")
	allowNone := fs.Bool("allow-no-checkpoints", false, "verify with the key alone when no checkpoint was shipped for the instance (a rewrite by someone holding the key then goes unseen)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: marketplace audit-verify [-data DIR] [-prod] [-instance NAME]")
		fmt.Fprintln(stderr, "Verifies the instance's audit chain against the checkpoints shipped to the database. The audit key comes")
		fmt.Fprintln(stderr, "from "+envAuditKey+" (or "+envAuditKey+"_FILE); the database from "+envAuditDatabaseURL+", else DATABASE_URL, else SQLite in -data.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return flagError("audit-verify", err)
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("audit-verify: unexpected argument %q", fs.Arg(0))}
	}
	if err := c.absDataDir(); err != nil {
		return err
	}
	dir := filepath.Join(c.dataDir, "audit")
	if _, err := os.Stat(dir); err != nil {
		return fmt.Errorf("audit-verify: no audit chain at %s (is -data right?): %w", dir, err)
	}
	name := *instance
	if name == "" { // read, never created here
		b, err := os.ReadFile(filepath.Join(c.dataDir, instanceFile))
		if err != nil {
			return fmt.Errorf("audit-verify: this instance's name (%s in the data directory, or -instance): %w", instanceFile, err)
		}
		name = strings.TrimSpace(string(b))
	}
	name, err := instanceName(c.dataDir, name)
	if err != nil {
		return fmt.Errorf("audit-verify: %w", err)
	}
	keys, err := loadSecrets(ctx, secrets.Env{LookupEnv: lookup}, c.prod, c.dataDir)
	if err != nil {
		return err
	}
	st, closeStore, err := openAuditStoreForCLI(ctx, c.dataDir, lookup)
	if err != nil {
		return fmt.Errorf("audit-verify: %w", err)
	}
	defer closeStore()
	cps, err := st.checkpointsOf(ctx, name)
	if err != nil {
		return fmt.Errorf("audit-verify: %w", err)
	}
	if len(cps) == 0 && !*allowNone {
		return fmt.Errorf("audit-verify: no checkpoint of instance %q in the database: the key alone cannot show a rewrite by someone holding it. "+
			"Check -instance (or %s), or pass -allow-no-checkpoints", name, envInstance)
	}
	key := keys.AuditKey.Reveal()
	rep, err := verifyServerChain(ctx, os.DirFS(dir), key, cps, nil, time.Now())
	if err != nil {
		return tamperedError("server chain", err)
	}
	fmt.Fprintf(stdout, "OK: server chain of instance %q: %d files, %d records (%d events), seq %d-%d\n",
		name, rep.Files, rep.Records, rep.Events, rep.FirstSeq, rep.Last.Seq)
	if n := len(cps); n > 0 {
		fmt.Fprintf(stdout, "    matches the %d checkpoints shipped to the database, the newest seq %d at %s\n",
			n, cps[n-1].Seq, cps[n-1].At.Format(time.RFC3339))
	} else {
		fmt.Fprintln(stdout, "    WARNING: no checkpoint shipped for it: verified with the key alone")
	}
	if names, _ := fsGlob(dir, cliChainPrefix+"-*.jsonl"); len(names) > 0 {
		rep, err := chain.Verify(ctx, os.DirFS(dir), key, chain.VerifyConfig{Prefix: cliChainPrefix, RequireSealed: true})
		if err != nil {
			return tamperedError("command-line chain", err)
		}
		fmt.Fprintf(stdout, "OK: command-line chain: %d files, %d records (%d events), sealed\n", rep.Files, rep.Records, rep.Events)
	}
	return nil
}

// tamperedError describes a chain that did not verify.
func tamperedError(which string, err error) error {
	var te *chain.TamperError
	if errors.As(err, &te) {
		where := te.File
		if te.Line > 0 {
			where += fmt.Sprintf(" line %d", te.Line)
		}
		return fmt.Errorf("audit-verify: TAMPERED: %s: %s record at %s (seq %d): %s", which, te.Problem, where, te.Seq, te.Detail)
	}
	return fmt.Errorf("audit-verify: %s: %w", which, err)
}

// openAuditStoreForCLI opens where the server ships checkpoints: the audit
// database, else the main database (which it does not migrate).
func openAuditStoreForCLI(ctx context.Context, dataDir string, lookup env) (*auditStore, func(), error) {
	if u := lookup.str(envAuditDatabaseURL, ""); u != "" {
		// An operator's command: the DSN's own sslmode decides, with the
		// CA of MARKETPLACE_DB_CA when set, as for the server.
		svc, err := loadServiceTLS(ctx, secrets.Env{LookupEnv: lookup}, false, false)
		if err != nil {
			return nil, nil, err
		}
		st, err := openAuditStore(ctx, u, lookup.str(envAuditSchema, ""), svc)
		if err != nil {
			return nil, nil, err
		}
		return st, func() { _ = st.Close(ctx) }, nil
	}
	if lookup.str("DATABASE_URL", "") == "" {
		if _, err := os.Stat(filepath.Join(dataDir, dbFile)); err != nil {
			return nil, nil, fmt.Errorf("no database at %s (is -data right?): %w", filepath.Join(dataDir, dbFile), err)
		}
	}
	db, err := openStore(ctx, dataDir, lookup.str("DATABASE_URL", ""), time.Now)
	if err != nil {
		return nil, nil, err
	}
	return &auditStore{db: db.db, dialect: db.sqlDialect(), checkpoints: checkpointsTable}, func() { _ = db.Close() }, nil
}

func fsGlob(dir, pattern string) ([]string, error) { return fs.Glob(os.DirFS(dir), pattern) }
