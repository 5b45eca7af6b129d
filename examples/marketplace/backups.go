package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/deployedworks/rampart/examples/marketplace/internal/backup"
	"github.com/deployedworks/rampart/identity"
)

// Scheduled backups (Config.BackupDir). Backup files are named
// backupPrefix + UTC time + an extension: ".backup" for the app's own
// (SQLite, package internal/backup), anything else (".pgdump") for those a
// scheduler writes with pg_dump. The time in the name, not the file's
// modification time, says how old a backup is.
const (
	backupPrefix     = "marketplace-"
	backupTimeLayout = "20060102T150405Z"
	backupExt        = ".backup"
	// backupWarnEvery is how often a stale backup is warned about again.
	backupWarnEvery = time.Hour
)

// Defaults of Config.BackupEvery and Config.BackupKeep.
const (
	defaultBackupEvery = 24 * time.Hour
	defaultBackupKeep  = 7
)

// scheduledBackups takes the app's backups (SQLite) and watches how old
// the newest backup in the directory is (both dialects).
type scheduledBackups struct {
	dir        string
	every      time.Duration
	keep       int
	staleAfter time.Duration
	bk         *backup.Manager // nil with PostgreSQL: backups come from pg_dump
	db         *store
	now        func() time.Time
	log        *slog.Logger

	mu       sync.Mutex
	lastWarn time.Time
}

// backupName is the file name of a backup taken at t.
func backupName(t time.Time, ext string) string {
	return backupPrefix + t.UTC().Format(backupTimeLayout) + ext
}

// backupTime parses a backup file name; ok is false for other files.
func backupTime(name string) (t time.Time, own, ok bool) {
	rest, found := strings.CutPrefix(name, backupPrefix)
	if !found || len(rest) <= len(backupTimeLayout) || rest[len(backupTimeLayout)] != '.' {
		return time.Time{}, false, false
	}
	t, err := time.Parse(backupTimeLayout, rest[:len(backupTimeLayout)])
	return t, rest[len(backupTimeLayout):] == backupExt, err == nil
}

// backupFile is a backup in the directory.
type backupFile struct {
	name string
	at   time.Time
	own  bool
}

// list returns the backups in the directory, newest first.
func (b *scheduledBackups) list() ([]backupFile, error) {
	entries, err := os.ReadDir(b.dir)
	if err != nil {
		return nil, fmt.Errorf("backup directory: %w", err)
	}
	var out []backupFile
	for _, e := range entries {
		if t, own, ok := backupTime(e.Name()); ok && e.Type().IsRegular() {
			out = append(out, backupFile{e.Name(), t, own})
		}
	}
	slices.SortFunc(out, func(x, y backupFile) int { return y.at.Compare(x.at) })
	return out, nil
}

// run is the janitor's backup task: it takes a backup when the newest is
// BackupEvery old (SQLite), deletes the app's own backups beyond the
// newest BackupKeep, and warns when the newest backup of any kind is older
// than BackupStaleAfter.
func (b *scheduledBackups) run(ctx context.Context) error {
	now := b.now()
	// Left by a run cut short (a crash): runs are serialised, so none is
	// being written now.
	if partial, _ := filepath.Glob(filepath.Join(b.dir, "."+backupPrefix+"*"+backupExt+".partial")); len(partial) > 0 && b.bk != nil {
		for _, p := range partial {
			_ = os.Remove(p)
		}
	}
	files, err := b.list()
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	if err == nil && b.bk != nil && (len(files) == 0 || now.Sub(files[0].at) >= b.every) {
		if f, err := b.take(ctx, now); err != nil {
			errs = append(errs, err)
		} else {
			files = slices.Insert(files, 0, f)
		}
	}
	if b.bk != nil {
		kept := 0
		for _, f := range files {
			if !f.own {
				continue
			}
			if kept++; kept > b.keep {
				if err := os.Remove(filepath.Join(b.dir, f.name)); err != nil && !errors.Is(err, os.ErrNotExist) {
					errs = append(errs, fmt.Errorf("delete old backup: %w", err))
				}
			}
		}
	}
	b.checkStale(now, files)
	return errors.Join(errs...)
}

// take writes a backup, under a temporary name renamed into place once
// complete and synced, so that a backup in the directory is a whole one.
func (b *scheduledBackups) take(ctx context.Context, now time.Time) (backupFile, error) {
	name := backupName(now, backupExt)
	tmp := filepath.Join(b.dir, "."+name+".partial")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600) // #nosec G304 -- the operator's backup directory joined with a name built here from the time
	if err != nil {
		return backupFile{}, fmt.Errorf("create backup file: %w", err)
	}
	ctx = identity.NewContext(ctx, identity.Principal{UserID: "system"})
	_, err = b.bk.Create(ctx, b.db.db, f)
	err = errors.Join(err, f.Sync(), f.Close())
	if err == nil {
		err = os.Rename(tmp, filepath.Join(b.dir, name))
	}
	if err != nil {
		_ = os.Remove(tmp)
		return backupFile{}, fmt.Errorf("scheduled backup: %w", err)
	}
	if d, err := os.Open(b.dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return backupFile{name: name, at: now, own: true}, nil
}

// checkStale logs a warning, at most once per backupWarnEvery, while the
// newest backup is older than staleAfter (or there is none): a
// metric-like line, backup_stale=1 backup_age_seconds=N, for log alerts.
func (b *scheduledBackups) checkStale(now time.Time, files []backupFile) {
	ageSeconds, newest := int64(-1), "none"
	if len(files) > 0 {
		age := now.Sub(files[0].at)
		if age <= b.staleAfter {
			return
		}
		ageSeconds, newest = int64(age.Seconds()), files[0].name
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.lastWarn.IsZero() && now.Sub(b.lastWarn) < backupWarnEvery {
		return
	}
	b.lastWarn = now
	b.log.Warn("backup: STALE: the newest backup is older than the limit; check the scheduled backups",
		"backup_stale", 1, "backup_age_seconds", ageSeconds, "limit", b.staleAfter, "newest", newest, "dir", b.dir)
}
