package backup

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/deployedworks/rampart/audit"

	_ "modernc.org/sqlite" // driver "sqlite", for the integrity check
)

// Restore reads a backup from r and replaces the SQLite database at dbPath
// with the database in it. The application must not be running: stop it
// first, restore, then start it.
//
// Nothing changes at dbPath unless everything succeeds. Restore writes the
// database to a temporary file (mode 0600) in dbPath's directory, which
// needs free space for one copy; checks the whole backup as [Manager.Verify]
// does; syncs the file; runs PRAGMA integrity_check on it; and only then
// renames it over dbPath and syncs the directory. On any error the
// temporary file is removed and the existing database is left as it was.
// The new file keeps the permissions of the one it replaces and, when
// Restore may change it (as root), its owner and group. If dbPath is a
// symbolic link, the file it points to is replaced. If there is no
// database at dbPath yet, one is created with mode 0600.
//
// Before starting, and again just before the rename, Restore looks for signs
// that the database is open or was not closed cleanly (a -shm file, a
// non-empty -wal or -journal file) and refuses with [ErrInUse]. That check
// is best effort: it cannot see a process that has the database open in
// rollback-journal mode without a transaction, and a process holding the old
// file open keeps using the old file after the rename. Stopping the
// application is the caller's job.
//
// A backup that is refused gives an error wrapping [ErrNotBackup],
// [ErrUnsupportedVersion], [ErrTruncated], [ErrTampered], [ErrWrongKey] or
// [ErrBadDatabase]. Restore records "backup.restored", or "backup.rejected"
// as a security alert when the backup is refused. On error the Manifest
// holds what could be read before the failure, unauthenticated unless the
// header was reached.
func (m *Manager) Restore(ctx context.Context, r io.Reader, dbPath string) (Manifest, error) {
	man, target, err := m.restore(ctx, r, dbPath)
	ev := audit.Event{Category: audit.CategoryAdmin, Action: ActionRestored, Target: audit.Target{Kind: "database", ID: target}}
	return man, m.record(ctx, ev, man, "restore", err)
}

func (m *Manager) restore(ctx context.Context, r io.Reader, dbPath string) (man Manifest, target string, err error) {
	if dbPath == "" {
		return man, "", errors.New("backup: restore: empty database path")
	}
	target, err = filepath.Abs(dbPath)
	if err != nil {
		return man, dbPath, fmt.Errorf("backup: restore: %w", err)
	}
	if real, err := filepath.EvalSymlinks(target); err == nil {
		target = real
	} else if !errors.Is(err, fs.ErrNotExist) {
		return man, target, fmt.Errorf("backup: restore: %w", err)
	}
	old, err := os.Stat(target)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		old = nil
	case err != nil:
		return man, target, fmt.Errorf("backup: restore: %w", err)
	case !old.Mode().IsRegular():
		return man, target, fmt.Errorf("backup: restore: %s is not a regular file", target)
	}
	if err := checkNotInUse(target); err != nil {
		return man, target, err
	}

	dir := filepath.Dir(target)
	f, err := os.CreateTemp(dir, ".restore-*.db") // mode 0600
	if err != nil {
		return man, target, fmt.Errorf("backup: restore: temporary file beside the database: %w", err)
	}
	tmp := f.Name()
	renamed := false
	defer func() {
		_ = f.Close() // second Close after success returns an error: ignored
		if !renamed {
			_ = os.Remove(tmp)
		}
	}()
	if old != nil {
		// Keep the replaced file's permissions and, where the platform and
		// our privileges allow, its owner, so the application can still
		// open it when an administrator restores as another user.
		if err := f.Chmod(old.Mode().Perm()); err != nil {
			return man, target, fmt.Errorf("backup: restore: %w", err)
		}
		copyOwner(f, old)
	}

	if man, err = open(ctx, r, m.kr, f); err != nil {
		return man, target, err
	}
	if err := f.Sync(); err != nil {
		return man, target, fmt.Errorf("backup: restore: sync: %w", err)
	}
	if err := f.Close(); err != nil {
		return man, target, fmt.Errorf("backup: restore: close: %w", err)
	}
	if err := checkDatabase(ctx, tmp); err != nil {
		return man, target, err
	}
	if err := checkNotInUse(target); err != nil {
		return man, target, err
	}
	if err := os.Rename(tmp, target); err != nil {
		return man, target, fmt.Errorf("backup: restore: rename into place: %w", err)
	}
	renamed = true
	if err := syncDir(dir); err != nil {
		return man, target, fmt.Errorf("backup: restore: database replaced, but syncing its directory failed (a power loss now could undo it): %w", err)
	}
	return man, target, nil
}

// checkNotInUse looks for SQLite's side files next to the database at path.
func checkNotInUse(path string) error {
	for _, s := range []string{"-shm", "-wal", "-journal"} {
		fi, err := os.Stat(path + s)
		if errors.Is(err, fs.ErrNotExist) || err == nil && s != "-shm" && fi.Size() == 0 {
			continue
		}
		if err != nil {
			return fmt.Errorf("backup: restore: %w", err)
		}
		return fmt.Errorf("%w: %s exists; stop the application and retry (if it is stopped, it crashed: open the database once with sqlite3 to recover that file, or delete it to discard it)", ErrInUse, path+s)
	}
	return nil
}

// checkDatabase runs PRAGMA integrity_check on the database file at path,
// opened read-only and immutable so that SQLite creates no side file.
func checkDatabase(ctx context.Context, path string) error {
	p := filepath.ToSlash(path)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // a Windows drive letter
	}
	u := url.URL{Scheme: "file", Path: p, RawQuery: "mode=ro&immutable=1"}
	db, err := sql.Open("sqlite", u.String())
	if err != nil {
		return fmt.Errorf("backup: restore: integrity check: %w", err)
	}
	defer func() { _ = db.Close() }()
	rows, err := db.QueryContext(ctx, "PRAGMA integrity_check(20)")
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("backup: restore: %w", ctx.Err())
		}
		return fmt.Errorf("%w: %w", ErrBadDatabase, err)
	}
	defer func() { _ = rows.Close() }()
	var problems []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return fmt.Errorf("%w: %w", ErrBadDatabase, err)
		}
		problems = append(problems, strings.ReplaceAll(s, "\n", " "))
	}
	if err := rows.Err(); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("backup: restore: %w", ctx.Err())
		}
		return fmt.Errorf("%w: %w", ErrBadDatabase, err)
	}
	if len(problems) != 1 || problems[0] != "ok" {
		return fmt.Errorf("%w: %s", ErrBadDatabase, strings.Join(problems, "; "))
	}
	return nil
}

// syncDir makes a rename in dir durable. Windows cannot sync a directory
// and makes renames durable by itself.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir) // #nosec G304 -- the backup directory from the operator's configuration
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
