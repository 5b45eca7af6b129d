package backup_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/examples/marketplace/internal/backup"
	"github.com/deployedworks/rampart/secrets"
)

// backupCommand is what the marketplace's main.go runs for the
// subcommands "backup -out FILE", "restore -in FILE" and
// "backup-verify -in FILE", reduced to the calls into this package. The
// marketplace's own command (backupCmd in ../../cli_backup.go) follows the
// same steps and adds secrets, the DATABASE_URL refusal and audit sinks;
// it is tested end to end in ../../cli_backup_test.go. openDB opens the application's database as
// the server does; restore never calls it, because an open database makes
// Restore refuse with ErrInUse.
func backupCommand(ctx context.Context, cmd string, args []string, keys *secrets.Keyring, events *audit.Logger,
	dbPath string, openDB func() (*sql.DB, error), stdout io.Writer) error {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	out := fs.String("out", "", "backup file to create; must not exist")
	in := fs.String("in", "", "backup file to read")
	if err := fs.Parse(args); err != nil {
		return err
	}
	bk, err := backup.New(keys, backup.Config{Audit: events})
	if err != nil {
		return err
	}
	var man backup.Manifest
	switch {
	case cmd == "backup" && *out != "":
		db, err := openDB()
		if err != nil {
			return err
		}
		defer db.Close()
		f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return err
		}
		man, err = bk.Create(ctx, db, f)
		if werr := errors.Join(f.Sync(), f.Close()); werr != nil || err != nil && !errors.Is(err, backup.ErrNotAudited) {
			_ = os.Remove(*out) // never leave a partial backup behind
			return errors.Join(err, werr)
		} else if err != nil {
			return err // the backup is complete, but its audit event was lost
		}
	case (cmd == "restore" || cmd == "backup-verify") && *in != "":
		f, err := os.Open(*in)
		if err != nil {
			return err
		}
		defer f.Close()
		if cmd == "restore" {
			man, err = bk.Restore(ctx, f, dbPath) // the server must be stopped
		} else {
			man, err = bk.Verify(ctx, f)
		}
		if err != nil {
			return err
		}
	default:
		return errors.New("usage: marketplace backup -out FILE | restore -in FILE | backup-verify -in FILE")
	}
	_, err = fmt.Fprintf(stdout, "%s: ok: backup %s of %s, %d database bytes, sha256 %s, key %s\n",
		cmd, man.ID, man.Created.Format(time.RFC3339), man.Size, man.SHA256, man.KeyID)
	return err
}

func TestBackupCommand(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "marketplace.db")
	openDB := func() (*sql.DB, error) {
		return sql.Open("sqlite", "file:"+dbPath+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)")
	}
	db, err := openDB()
	require.NoError(t, err)
	_, err = db.Exec(`CREATE TABLE listings (title TEXT); INSERT INTO listings VALUES ('teapot')`)
	require.NoError(t, err)
	keys, err := secrets.NewKeyring(secrets.Key{ID: "2026-06", Secret: secrets.Random(32)})
	require.NoError(t, err)
	sink := &audit.MemorySink{}
	events := audit.New(sink, audit.Config{})
	run := func(args ...string) (string, error) {
		var stdout bytes.Buffer
		err := backupCommand(ctx, args[0], args[1:], keys, events, dbPath, openDB, &stdout)
		return stdout.String(), err
	}
	file := filepath.Join(t.TempDir(), "marketplace.bak")

	// Back up while the server (db) runs.
	out, err := run("backup", "-out", file)
	require.NoError(t, err)
	assert.Regexp(t, `^backup: ok: backup [0-9a-f]{32} of .*, key 2026-06\n$`, out)
	fi, err := os.Stat(file)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	_, err = run("backup", "-out", file)
	require.ErrorIs(t, err, os.ErrExist, "never overwrites a backup")
	_, err = run("backup-verify", "-in", file)
	require.NoError(t, err)

	_, err = run("restore", "-in", file)
	require.ErrorIs(t, err, backup.ErrInUse, "the server is still running")
	_, err = db.Exec(`DELETE FROM listings`)
	require.NoError(t, err)
	require.NoError(t, db.Close())
	out, err = run("restore", "-in", file)
	require.NoError(t, err)
	assert.Contains(t, out, "restore: ok")

	db, err = openDB()
	require.NoError(t, err)
	defer db.Close()
	var title string
	require.NoError(t, db.QueryRow(`SELECT title FROM listings`).Scan(&title))
	assert.Equal(t, "teapot", title)

	b, err := os.ReadFile(file)
	require.NoError(t, err)
	b[len(b)/2] ^= 1
	require.NoError(t, os.WriteFile(file, b, 0o600))
	_, err = run("backup-verify", "-in", file)
	require.ErrorIs(t, err, backup.ErrTampered)

	missingDir := filepath.Join(t.TempDir(), "nope", "x.bak")
	_, err = run("backup", "-out", missingDir)
	require.Error(t, err)
	_, err = run("backup")
	require.ErrorContains(t, err, "usage")
	_, err = run("restore", "-out", file)
	require.ErrorContains(t, err, "usage")

	var actions []string
	for _, e := range sink.Events() {
		actions = append(actions, e.Action+" "+string(e.Outcome))
	}
	assert.Equal(t, []string{
		"backup.created success", "backup.verified success", "backup.restored failure",
		"backup.restored success", "backup.rejected failure",
	}, actions)
}
