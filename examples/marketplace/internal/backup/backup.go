package backup

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/secrets"
)

// Errors that say why a backup was refused. Each is distinct so that the
// caller (and the audit log) can tell an incomplete copy from a forged or
// damaged one; the returned error wraps one of them with detail, so test
// with errors.Is.
var (
	// ErrNotBackup means the input does not start like a backup made by
	// this package: the wrong file was given.
	ErrNotBackup = errors.New("backup: not a Rampart backup file")

	// ErrUnsupportedVersion means the input is a backup in a format version
	// this program cannot read: restore it with the version that made it, or
	// a later one.
	ErrUnsupportedVersion = errors.New("backup: unsupported backup format version")

	// ErrTruncated means the input ends early: it is a prefix of a backup,
	// empty input included. Typical causes are an interrupted copy or a
	// backup whose writer failed (a full disk).
	ErrTruncated = errors.New("backup: backup is truncated")

	// ErrTampered means the input was modified, corrupted, reordered or
	// assembled from parts of different backups: some part does not
	// authenticate or does not match the checksums.
	ErrTampered = errors.New("backup: backup was tampered with or is corrupted")

	// ErrWrongKey means the backup was not sealed under any key of the
	// keyring: the keyring lacks its key ID (a key retired too early, or
	// another environment's keys), or holds a different key under that ID.
	ErrWrongKey = errors.New("backup: backup is sealed under a key this keyring does not have")

	// ErrBadDatabase means the backup is genuine and complete but the
	// database in it fails SQLite's PRAGMA integrity_check: the source
	// database was already damaged when it was backed up. [Manager.Restore]
	// leaves the existing database in place.
	ErrBadDatabase = errors.New("backup: the database in the backup fails PRAGMA integrity_check")

	// ErrInUse means [Manager.Restore] found signs that the target database
	// is open, or was not closed cleanly: a -shm file, or a non-empty -wal
	// or -journal file beside it. Stop the application and retry; if it is
	// stopped and a -wal or -journal file remains, it crashed with data not
	// yet in the main file, which the restore would lose.
	ErrInUse = errors.New("backup: target database appears to be in use")
)

var errNoKeyring = errors.New("backup: Keyring is nil or zero; build one with secrets.NewKeyring or secrets.ParseKeyring")

// Chunk size bounds and default for [Config.ChunkSize].
const (
	DefaultChunkSize = 1 << 20
	MinChunkSize     = 4 << 10
	MaxChunkSize     = maxFormatChunk
)

// Config tunes a [Manager]. The zero value is ready to use.
type Config struct {
	// ChunkSize is the number of database bytes sealed per chunk, between
	// [MinChunkSize] and [MaxChunkSize]. Default: [DefaultChunkSize]
	// (1 MiB), so memory stays at a few MiB whatever the size of the
	// database and the format adds under 0.01% to it.
	ChunkSize int

	// TempDir is where [Manager.Create] puts the plaintext snapshot while
	// sealing it, in a private (0700) directory removed before Create
	// returns. It needs free space for one copy of the database. Default:
	// the directory of the database file, which already holds the data
	// under the same protection; os.TempDir() for an in-memory database.
	TempDir string

	// Audit receives an event for every backup created, verified, refused
	// or restored (see the package documentation under "Audit"). Default:
	// nil, which records nothing.
	Audit *audit.Logger

	// Now returns the current time, stored in each backup as its creation
	// time. Default: time.Now. Tests inject a clock.
	Now func() time.Time
}

// Manager creates, verifies and restores backups of SQLite databases,
// sealed under a keyring. It holds no goroutine or open file between
// calls and is safe for concurrent use.
type Manager struct {
	kr  *secrets.Keyring
	cfg Config
}

// New returns a Manager sealing new backups under the primary key of kr and
// opening backups sealed under any of its keys. It returns an error if kr
// holds no key or cfg.ChunkSize is out of range.
func New(kr *secrets.Keyring, cfg Config) (*Manager, error) {
	if kr == nil || kr.PrimaryID() == "" {
		return nil, errNoKeyring
	}
	if cfg.ChunkSize == 0 {
		cfg.ChunkSize = DefaultChunkSize
	}
	if cfg.ChunkSize < MinChunkSize || cfg.ChunkSize > MaxChunkSize {
		return nil, fmt.Errorf("backup: Config.ChunkSize %d out of range; use %d to %d, or 0 for the default", cfg.ChunkSize, MinChunkSize, MaxChunkSize)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Manager{kr: kr, cfg: cfg}, nil
}

// Manifest describes one backup. It is returned by every operation, and
// its fields go to the audit log; none of them is secret.
type Manifest struct {
	// ID is the backup's random identifier, 32 hex digits.
	ID string
	// Created is when the snapshot was taken, in UTC, to the millisecond:
	// read from [Config.Now] just before its read transaction began, so the
	// backup holds every transaction committed before Created.
	Created time.Time
	// KeyID is the ID of the keyring key that sealed the backup. A backup
	// stays readable only while the keyring holds that key.
	KeyID string
	// Size is the length of the database file, in bytes.
	Size int64
	// Chunks is the number of chunks, and ChunkSize their size in bytes
	// (all but the last are full).
	Chunks    int64
	ChunkSize int
	// SHA256 is the hex SHA-256 of the database file.
	SHA256 string
	// EncryptedSize is the length of the backup, in bytes.
	EncryptedSize int64
}

// Create takes a consistent snapshot of the SQLite database db with
// VACUUM INTO, seals it under the keyring's primary key and writes the
// backup to w. The snapshot is one read transaction: writers may keep
// writing (in WAL mode they are not blocked; in rollback-journal mode they
// wait, as for any reader), and the backup holds the database exactly as
// it was when the transaction began. db must be a modernc.org/sqlite
// (driver "sqlite") database; its main schema is backed up, not attached
// ones.
//
// Create writes the backup as it goes: on error, discard whatever reached
// w. It does not sync or close w: for a file, call Sync and check Close
// before reporting success. The plaintext snapshot lives in a private
// directory under [Config.TempDir] and is removed before Create returns.
// Create records a "backup.created" audit event, with the outcome.
func (m *Manager) Create(ctx context.Context, db *sql.DB, w io.Writer) (Manifest, error) {
	man, dbFile, err := m.create(ctx, db, w)
	ev := audit.Event{Category: audit.CategoryAdmin, Action: ActionCreated}
	if dbFile != "" {
		ev.Target = audit.Target{Kind: "database", ID: dbFile}
	}
	return man, m.record(ctx, ev, man, "create", err)
}

func (m *Manager) create(ctx context.Context, db *sql.DB, w io.Writer) (Manifest, string, error) {
	if db == nil {
		return Manifest{}, "", errors.New("backup: create: nil *sql.DB")
	}
	var dbFile string
	if err := db.QueryRowContext(ctx, "SELECT file FROM pragma_database_list WHERE name = 'main'").Scan(&dbFile); err != nil {
		return Manifest{}, "", fmt.Errorf("backup: create: find the database file (is db a SQLite database?): %w", err)
	}
	dir := m.cfg.TempDir
	if dir == "" {
		dir = os.TempDir()
		if dbFile != "" {
			dir = filepath.Dir(dbFile)
		}
	}
	tmpDir, err := os.MkdirTemp(dir, ".backup-*")
	if err != nil {
		return Manifest{}, dbFile, fmt.Errorf("backup: create: snapshot directory (set Config.TempDir to a writable directory): %w", err)
	}
	defer func() { _ = os.RemoveAll(tmpDir) }()

	snap := filepath.Join(tmpDir, "snapshot.db")
	created := m.cfg.Now() // before the snapshot's read transaction begins
	if _, err := db.ExecContext(ctx, "VACUUM INTO ?", snap); err != nil {
		return Manifest{}, dbFile, fmt.Errorf("backup: create: snapshot with VACUUM INTO: %w", err)
	}
	f, err := os.Open(snap) // #nosec G304 -- a snapshot file this package created in its own temporary directory
	if err != nil {
		return Manifest{}, dbFile, fmt.Errorf("backup: create: open snapshot: %w", err)
	}
	defer func() { _ = f.Close() }()
	fi, err := f.Stat()
	if err != nil {
		return Manifest{}, dbFile, fmt.Errorf("backup: create: %w", err)
	}
	man, err := seal(ctx, w, f, fi.Size(), m.kr, m.cfg.ChunkSize, created)
	return man, dbFile, err
}

// Verify reads a whole backup from r and checks that it is genuine and
// complete, without restoring it: every part authenticates under the
// keyring, in order, with nothing missing, repeated or added, and the
// checksums match. It holds at most one chunk in memory and writes nothing
// to disk. It fails closed: any doubt is an error wrapping [ErrNotBackup],
// [ErrUnsupportedVersion], [ErrTruncated], [ErrTampered] or [ErrWrongKey].
// It does not run SQLite's integrity check on the database inside; Restore
// does.
//
// Verify records "backup.verified", or "backup.rejected" as a security
// alert when the backup is refused. On error the Manifest holds what could
// be read before the failure, unauthenticated unless the header was
// reached.
func (m *Manager) Verify(ctx context.Context, r io.Reader) (Manifest, error) {
	man, err := open(ctx, r, m.kr, io.Discard)
	return man, m.record(ctx, audit.Event{Category: audit.CategoryAdmin, Action: ActionVerified}, man, "verify", err)
}

// record writes the audit event for an operation that ended with err, and
// returns err, joined with the audit failure if there is one.
func (m *Manager) record(ctx context.Context, ev audit.Event, man Manifest, op string, err error) error {
	if m.cfg.Audit == nil {
		return err
	}
	ev.Outcome = audit.OutcomeSuccess
	if err != nil {
		ev.Outcome = audit.OutcomeFailure
		ev.Reason = err.Error()
		if rejected(err) {
			ev.Category = audit.CategorySecurityAlert
			ev.Action = ActionRejected
		}
	}
	ev.Meta = map[string]string{"operation": op}
	for k, v := range map[string]string{
		"backup_id":   man.ID,
		"sealed_with": man.KeyID,
		"db_sha256":   man.SHA256,
	} {
		if v != "" {
			ev.Meta[k] = v
		}
	}
	if !man.Created.IsZero() {
		ev.Meta["created"] = man.Created.Format(time.RFC3339Nano)
		ev.Meta["db_bytes"] = strconv.FormatInt(man.Size, 10)
	}
	m.cfg.Audit.Log(ctx, ev)
	return err
}

// rejected reports whether err means the backup itself was refused (as
// opposed to an I/O error, a cancelled context or a target in use).
func rejected(err error) bool {
	for _, e := range []error{ErrNotBackup, ErrUnsupportedVersion, ErrTruncated, ErrTampered, ErrWrongKey, ErrBadDatabase} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
