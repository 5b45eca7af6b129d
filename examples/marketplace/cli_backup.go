package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/audit/chain"
	"github.com/deployedworks/rampart/audit/sqlsink"
	"github.com/deployedworks/rampart/examples/marketplace/internal/backup"
	"github.com/deployedworks/rampart/identity"
	"github.com/deployedworks/rampart/secrets"
	"github.com/deployedworks/rampart/session/sqlstore"
	"github.com/deployedworks/rampart/sqldb"
)

// backupCmd runs "backup -out FILE", "restore -in FILE" and
// "backup-verify -in FILE": encrypted backups of the SQLite database in the
// data directory (package internal/backup), sealed under
// MARKETPLACE_BACKUP_KEYS. Each records an audit event in the command-line
// chain (data/audit/audit-cli-*.jsonl) and, when the database exists, in
// its audit table.
//
// restore never opens the database before replacing it (an open database
// makes Restore refuse), and refuses while the server runs. After a
// restore it deletes the sessions stored in the restored database, so that
// sessions signed out after the backup was taken do not come back.
func backupCmd(ctx context.Context, cmd string, args []string, stdout, stderr io.Writer, lookup env) error {
	var c commonFlags
	var file string
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	c.register(fs, lookup)
	flagName, usage := "in", "backup `file` to read"
	if cmd == "backup" {
		flagName, usage = "out", "backup `file` to create (mode 0600); it must not exist"
	}
	fs.StringVar(&file, flagName, "", usage+" (required)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: marketplace %s -%s FILE [-data DIR] [-prod]\n", cmd, flagName)
		switch cmd {
		case "backup":
			fmt.Fprintln(stderr, "Writes an encrypted backup of the SQLite database; the server may keep running.")
		case "restore":
			fmt.Fprintln(stderr, "Replaces the SQLite database with the one in the backup. Stop the server first.")
		default:
			fmt.Fprintln(stderr, "Checks that a backup is complete and genuine, without restoring it.")
		}
		fmt.Fprintln(stderr, "The backup key comes from "+envBackupKeys+" (or "+envBackupKeys+"_FILE); see README.md.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return flagError(cmd, err)
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("%s: unexpected argument %q", cmd, fs.Arg(0))}
	}
	if file == "" {
		return usageError{fmt.Errorf("%s: -%s FILE is required", cmd, flagName)}
	}
	if err := c.absDataDir(); err != nil {
		return err
	}
	if lookup.str("DATABASE_URL", "") != "" {
		return fmt.Errorf("%s: DATABASE_URL is set: these commands back up the embedded SQLite database in the data directory. "+
			"Back up PostgreSQL with pg_dump or your provider's backups, or unset DATABASE_URL to work on %s", cmd, filepath.Join(c.dataDir, dbFile))
	}
	dbPath := filepath.Join(c.dataDir, dbFile)
	if cmd == "backup" {
		if _, err := os.Stat(dbPath); err != nil {
			return fmt.Errorf("backup: no database to back up at %s (is -data right?): %w", dbPath, err)
		}
	}

	// Secrets: the backup keyring, and the audit key for the command-line
	// chain. Only backup may generate development secrets: a restore needs
	// the ones the backup was made with.
	keys, err := loadSecretsWith(ctx, secrets.Env{LookupEnv: lookup}, c.dataDir,
		secretsOptions{prod: c.prod, backup: true, noGenerate: cmd != "backup"})
	if err != nil {
		return fmt.Errorf("%s: %w", cmd, err)
	}
	if cmd == "backup" && !c.prod && lookup.str(envBackupKeys, "") == "" && lookup.str(envBackupKeys+"_FILE", "") == "" {
		fmt.Fprintf(stderr, "Development mode: the backup key and the other secrets are in %s. "+
			"Keep a copy of that file apart from the backups: a backup cannot be restored without it. "+
			"In production, set %s (see README.md).\n", filepath.Join(c.dataDir, devSecretsFile), envBackupKeys)
	}

	cliChain, err := chain.New(filepath.Join(c.dataDir, "audit"), keys.AuditKey.Reveal(), chain.Config{Prefix: cliChainPrefix})
	if err != nil {
		return fmt.Errorf("%s: audit chain: %w", cmd, err)
	}
	table := &lazyAuditTable{dbPath: dbPath}
	defer func() { _ = table.Close() }()
	both, err := audit.NewFanoutSink(cliChain, table)
	if err != nil {
		return errors.Join(err, cliChain.Close(ctx))
	}
	// The command must know its event was written: it checks the sink.
	written := &checkedSink{Sink: both}
	events := audit.MustNew(written, audit.Config{ErrorLog: discardLogger()})
	ctx = identity.NewContext(ctx, identity.Principal{UserID: "system"})
	bk, err := backup.New(keys.BackupKeys, backup.Config{Audit: events})
	if err != nil {
		return errors.Join(err, cliChain.Close(ctx))
	}

	var man backup.Manifest
	var note string
	switch cmd {
	case "backup":
		man, err = createBackup(ctx, bk, dbPath, file, table)
	case "backup-verify":
		man, err = verifyBackup(ctx, bk, file)
	case "restore":
		man, err = restoreBackup(ctx, bk, dbPath, file)
		if err == nil {
			var n int64
			n, err = table.dropSessions(ctx)
			note = fmt.Sprintf("; signed out %d session(s) stored in the backup", n)
		}
	}
	if aerr := written.Err(); aerr != nil { // the operation is done; its record is not
		err = errors.Join(err, fmt.Errorf("%s: audit event not recorded: %w", cmd, aerr))
	}
	// Seal the chain whatever happened: it holds the refusal too.
	if cerr := cliChain.Close(ctx); cerr != nil {
		err = errors.Join(err, fmt.Errorf("%s: seal the audit chain: %w", cmd, cerr))
	}
	if err != nil {
		return fmt.Errorf("%s: %w", cmd, err)
	}
	_, err = fmt.Fprintf(stdout, "%s: ok: backup %s of %s, %d database bytes, sha256 %s, key %s%s\n",
		cmd, man.ID, man.Created.Format(time.RFC3339), man.Size, man.SHA256, man.KeyID, note)
	return err
}

// createBackup writes a backup of the database at dbPath to the new file
// out, and removes it again if anything fails.
func createBackup(ctx context.Context, bk *backup.Manager, dbPath, out string, table *lazyAuditTable) (backup.Manifest, error) {
	db, err := table.open(ctx) // the same connection records the event
	if err != nil {
		return backup.Manifest{}, err
	}
	f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600) // #nosec G304 -- output path given by the operator on the command line
	if err != nil {
		return backup.Manifest{}, fmt.Errorf("create the backup file (it must not exist): %w", err)
	}
	man, err := bk.Create(ctx, db.db, f)
	if werr := errors.Join(f.Sync(), f.Close()); werr != nil || err != nil {
		_ = os.Remove(out) // never leave a partial backup behind
		return man, errors.Join(err, werr)
	}
	return man, nil
}

func verifyBackup(ctx context.Context, bk *backup.Manager, in string) (backup.Manifest, error) {
	f, err := os.Open(in) // #nosec G304 -- input path given by the operator on the command line
	if err != nil {
		return backup.Manifest{}, err
	}
	defer f.Close()
	return bk.Verify(ctx, f)
}

func restoreBackup(ctx context.Context, bk *backup.Manager, dbPath, in string) (backup.Manifest, error) {
	f, err := os.Open(in) // #nosec G304 -- input path given by the operator on the command line
	if err != nil {
		return backup.Manifest{}, err
	}
	defer f.Close()
	if err := os.MkdirAll(filepath.Dir(dbPath), 0o700); err != nil {
		return backup.Manifest{}, err
	}
	man, err := bk.Restore(ctx, f, dbPath)
	if errors.Is(err, backup.ErrInUse) {
		err = fmt.Errorf("%w (is the server still running? stop it first)", err)
	}
	return man, err
}

// lazyAuditTable is an audit sink writing to the audit table of the SQLite
// database at dbPath, which it opens only when an event arrives (after a
// restore: the restored database) and only if the file exists: a restore
// refused on an empty data directory is recorded in the chain alone, not
// in a database created for the purpose.
type lazyAuditTable struct {
	dbPath string
	db     *store
	sink   *sqlsink.Sink
}

var _ audit.Sink = (*lazyAuditTable)(nil)

// open opens the database (once).
func (l *lazyAuditTable) open(ctx context.Context) (*store, error) {
	if l.db != nil {
		return l.db, nil
	}
	db, err := openStore(ctx, filepath.Dir(l.dbPath), "", time.Now)
	if err != nil {
		return nil, err
	}
	l.db = db
	return db, nil
}

func (l *lazyAuditTable) Write(ctx context.Context, e audit.Event) error {
	if l.sink == nil {
		if _, err := os.Stat(l.dbPath); errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		db, err := l.open(ctx)
		if err != nil {
			return err
		}
		sink, err := sqlsink.New(db.db, sqldb.SQLite, sqlsink.Config{})
		if err != nil {
			return err
		}
		if err := sink.Migrate(ctx); err != nil {
			return err
		}
		l.sink = sink
	}
	return l.sink.Write(ctx, e)
}

// dropSessions deletes every session stored in the database, if it has a
// sessions table (it has none when sessions live in Redis).
func (l *lazyAuditTable) dropSessions(ctx context.Context) (int64, error) {
	db, err := l.open(ctx)
	if err != nil {
		return 0, err
	}
	var n int
	if err := db.queryRow(ctx, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?", sqlstore.DefaultTable).Scan(&n); err != nil || n == 0 {
		return 0, err
	}
	res, err := db.exec(ctx, "DELETE FROM "+sqlstore.DefaultTable)
	if err != nil {
		return 0, fmt.Errorf("the database was restored, but signing out the sessions in it failed (delete the rows of %s before starting): %w", sqlstore.DefaultTable, err)
	}
	return res.RowsAffected()
}

// Close closes the database if it was opened.
func (l *lazyAuditTable) Close() error {
	if l.db == nil {
		return nil
	}
	return l.db.Close()
}
