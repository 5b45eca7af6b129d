package backup

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/identity"
	"github.com/deployedworks/rampart/secrets"
)

// openDB opens (creating) a SQLite database in WAL mode, as the app does.
func openDB(t testing.TB, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)")
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	require.NoError(t, db.Ping())
	return db
}

// seed fills db with tables covering SQLite's types: unicode text, blobs
// (empty, NULL and 64 KiB), reals, integers at the edges, an index, a
// view, a trigger, and user_version.
func seed(t testing.TB, db *sql.DB) {
	t.Helper()
	stmts := []string{
		`CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT UNIQUE, created INTEGER)`,
		`CREATE TABLE listings (id INTEGER PRIMARY KEY, seller INTEGER REFERENCES users(id), title TEXT, price REAL, photo BLOB)`,
		`CREATE TABLE ledger (id INTEGER PRIMARY KEY AUTOINCREMENT, tx INTEGER NOT NULL, amount INTEGER NOT NULL)`,
		`CREATE INDEX listings_seller ON listings(seller)`,
		`CREATE VIEW balances AS SELECT tx, SUM(amount) AS total FROM ledger GROUP BY tx`,
		`CREATE TABLE audit_trail (id INTEGER PRIMARY KEY, what TEXT)`,
		`CREATE TRIGGER listings_log AFTER INSERT ON listings BEGIN INSERT INTO audit_trail(what) VALUES ('listing ' || NEW.id); END`,
		`PRAGMA user_version = 7`,
	}
	for _, s := range stmts {
		_, err := db.Exec(s)
		require.NoError(t, err, s)
	}
	users := []struct {
		name, email string
		created     int64
	}{
		{"Ada Lovelace", "ada@example.com", 1},
		{"Zoë Ünïcødé", "zoe@example.com", -1 << 63},
		{"日本語の名前", "jp@example.com", 1<<63 - 1},
		{"emoji 🛒🔐", "emoji@example.com", 0},
		{"quote ' and \" and \\ and \x00 nul", "q@example.com", 42},
	}
	for _, u := range users {
		_, err := db.Exec(`INSERT INTO users(name, email, created) VALUES (?, ?, ?)`, u.name, u.email, u.created)
		require.NoError(t, err)
	}
	photo := make([]byte, 64<<10)
	for i := range photo {
		photo[i] = byte(i * 31)
	}
	listings := []struct {
		seller int
		title  string
		price  any
		photo  any
	}{
		{1, "Analytical engine (used)", 1843.5, photo},
		{2, "Crème brûlée torch", 19.99, []byte{}},
		{3, "急須 teapot", nil, nil},
		{4, "binary \xff\xfe", math.Inf(-1), []byte{0, 1, 2, 255}},
	}
	for _, l := range listings {
		_, err := db.Exec(`INSERT INTO listings(seller, title, price, photo) VALUES (?, ?, ?, ?)`, l.seller, l.title, l.price, l.photo)
		require.NoError(t, err)
	}
}

// dump returns every row of every table and the schema, in a stable order,
// as comparable values.
func dump(t testing.TB, db *sql.DB) map[string][][]any {
	t.Helper()
	out := map[string][][]any{}
	rows, err := db.Query(`SELECT type, name, sql FROM sqlite_schema ORDER BY name`)
	require.NoError(t, err)
	var tables []string
	for rows.Next() {
		var typ, name string
		var s sql.NullString
		require.NoError(t, rows.Scan(&typ, &name, &s))
		out["schema"] = append(out["schema"], []any{typ, name, s.String})
		if typ == "table" {
			tables = append(tables, name)
		}
	}
	require.NoError(t, rows.Err())
	require.NoError(t, rows.Close())
	var uv int64
	require.NoError(t, db.QueryRow(`PRAGMA user_version`).Scan(&uv))
	out["user_version"] = [][]any{{uv}}
	sort.Strings(tables)
	for _, tbl := range tables {
		rows, err := db.Query(fmt.Sprintf(`SELECT * FROM %q ORDER BY rowid`, tbl))
		require.NoError(t, err)
		cols, err := rows.Columns()
		require.NoError(t, err)
		out[tbl] = [][]any{}
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			require.NoError(t, rows.Scan(ptrs...))
			for i, v := range vals {
				if b, ok := v.([]byte); ok {
					vals[i] = string(b) // comparable, and tells nil from empty via the type below
				}
				vals[i] = fmt.Sprintf("%T:%v", v, vals[i])
			}
			out[tbl] = append(out[tbl], vals)
		}
		require.NoError(t, rows.Err())
		require.NoError(t, rows.Close())
	}
	return out
}

func newManager(t testing.TB, kr *secrets.Keyring, cfg Config) *Manager {
	t.Helper()
	if cfg.ChunkSize == 0 {
		cfg.ChunkSize = MinChunkSize // many chunks, even for a small database
	}
	m, err := New(kr, cfg)
	require.NoError(t, err)
	return m
}

func fileSum(t testing.TB, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return sha256.Sum256(b)
}

func dirNames(t testing.TB, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// TestRoundTrip writes data, backs it up while another goroutine keeps
// writing, wipes the database, restores it and compares every row.
func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.db")
	db := openDB(t, path)
	seed(t, db)
	sink := &audit.MemorySink{}
	kr := newKeyring(t, "2026-06")
	m := newManager(t, kr, Config{Audit: audit.MustNew(sink, audit.Config{})})

	// The writer inserts two ledger rows per transaction, +n and -n: a
	// consistent snapshot holds only whole transactions.
	var (
		mu        sync.Mutex
		progress  = sync.NewCond(&mu)
		txs       int64
		writerErr error
		stopped   bool
	)
	stop := make(chan struct{})
	go func() {
		var err error
		for i := int64(1); err == nil; i++ {
			select {
			case <-stop:
				err = errors.New("stopped")
				continue
			default:
			}
			var tx *sql.Tx
			if tx, err = db.Begin(); err != nil {
				break
			}
			if _, err = tx.Exec(`INSERT INTO ledger(tx, amount) VALUES (?, ?)`, i, i); err == nil {
				_, err = tx.Exec(`INSERT INTO ledger(tx, amount) VALUES (?, ?)`, i, -i)
			}
			if err == nil {
				err = tx.Commit()
			} else {
				_ = tx.Rollback()
			}
			mu.Lock()
			if err == nil {
				txs++
			}
			progress.Broadcast()
			mu.Unlock()
		}
		mu.Lock()
		writerErr, stopped = err, true
		progress.Broadcast()
		mu.Unlock()
	}()
	// waitFor blocks until the writer has committed n transactions and
	// returns how many it has committed.
	waitFor := func(n int64) int64 {
		mu.Lock()
		defer mu.Unlock()
		for txs < n && !stopped {
			progress.Wait()
		}
		require.False(t, stopped, "writer failed: %v", writerErr)
		return txs
	}
	waitFor(20)

	var buf bytes.Buffer
	made, err := m.Create(t.Context(), db, &buf)
	require.NoError(t, err)
	atBackup := waitFor(0)
	waitFor(atBackup + 20) // the writer carries on after the snapshot
	close(stop)
	mu.Lock()
	for !stopped {
		progress.Wait()
	}
	mu.Unlock()

	want := dump(t, db)
	require.NoError(t, db.Close())
	assert.Empty(t, filterPrefix(dirNames(t, dir), ".backup-"), "no snapshot left behind")

	verified, err := m.Verify(t.Context(), bytes.NewReader(buf.Bytes()))
	require.NoError(t, err)
	assert.Equal(t, made, verified)

	// Wipe.
	for _, s := range []string{"", "-wal", "-shm"} {
		require.NoError(t, os.RemoveAll(path+s))
	}

	restored, err := m.Restore(t.Context(), bytes.NewReader(buf.Bytes()), path)
	require.NoError(t, err)
	assert.Equal(t, made, restored)
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "a new database file is private")
	assert.Equal(t, made.Size, fi.Size())
	assert.Equal(t, []string{"app.db"}, dirNames(t, dir), "no temporary file left behind")

	got := dump(t, openDB(t, path))
	ledger := want["ledger"]
	restoredLedger := got["ledger"]
	delete(want, "ledger")
	delete(got, "ledger")
	delete(want, "sqlite_sequence")
	delete(got, "sqlite_sequence")
	assert.Equal(t, want, got, "every table but the ledger is identical")

	t.Logf("ledger: %d rows in backup, %d at the end; backup %d bytes, %d chunks", len(restoredLedger), len(ledger), made.EncryptedSize, made.Chunks)
	// The ledger holds whole transactions only, and exactly the first ones.
	require.NotEmpty(t, restoredLedger)
	assert.Less(t, len(restoredLedger), len(ledger), "writes after the snapshot are not in it")
	assert.Zero(t, len(restoredLedger)%2, "no half transaction")
	assert.Equal(t, ledger[:len(restoredLedger)], restoredLedger)

	// Audit: created, verified, restored.
	var actions []string
	for _, e := range sink.Events() {
		actions = append(actions, string(e.Action))
		assert.Equal(t, audit.CategoryAdmin, e.Category)
		assert.Equal(t, audit.OutcomeSuccess, e.Outcome)
		assert.Equal(t, made.ID, e.Meta["backup_id"])
		assert.Equal(t, "2026-06", e.Meta["sealed_with"])
		assert.Equal(t, made.SHA256, e.Meta["db_sha256"])
		assert.Equal(t, fmt.Sprint(made.Size), e.Meta["db_bytes"])
		if e.Action != ActionVerified {
			assert.Equal(t, audit.Target{Kind: "database", ID: path}, e.Target)
		}
	}
	assert.Equal(t, []string{"backup.created", "backup.verified", "backup.restored"}, actions)
}

func filterPrefix(names []string, prefix string) []string {
	var out []string
	for _, n := range names {
		if len(n) >= len(prefix) && n[:len(prefix)] == prefix {
			out = append(out, n)
		}
	}
	return out
}

// backupOf returns a backup of a freshly seeded database, and its dump.
func backupOf(t *testing.T, m *Manager) ([]byte, map[string][][]any) {
	t.Helper()
	db := openDB(t, filepath.Join(t.TempDir(), "src.db"))
	seed(t, db)
	var buf bytes.Buffer
	_, err := m.Create(t.Context(), db, &buf)
	require.NoError(t, err)
	return buf.Bytes(), dump(t, db)
}

// existingDB makes a closed database at dir/app.db that a restore may
// replace, and returns its path.
func existingDB(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "app.db")
	db := openDB(t, path)
	_, err := db.Exec(`CREATE TABLE current (v TEXT); INSERT INTO current VALUES ('live data')`)
	require.NoError(t, err)
	require.NoError(t, db.Close())
	return path
}

func TestRestoreReplacesExisting(t *testing.T) {
	m := newManager(t, newKeyring(t, "k"), Config{})
	b, want := backupOf(t, m)
	dir := t.TempDir()
	path := existingDB(t, dir)
	require.NoError(t, os.Chmod(path, 0o640))

	_, err := m.Restore(t.Context(), bytes.NewReader(b), path)
	require.NoError(t, err)
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o640), fi.Mode().Perm(), "permissions kept")
	assert.Equal(t, want, dump(t, openDB(t, path)))
}

func TestRestoreThroughSymlink(t *testing.T) {
	m := newManager(t, newKeyring(t, "k"), Config{})
	b, want := backupOf(t, m)
	dir := t.TempDir()
	real := existingDB(t, dir)
	link := filepath.Join(t.TempDir(), "link.db")
	require.NoError(t, os.Symlink(real, link))

	_, err := m.Restore(t.Context(), bytes.NewReader(b), link)
	require.NoError(t, err)
	fi, err := os.Lstat(link)
	require.NoError(t, err)
	assert.Equal(t, os.ModeSymlink, fi.Mode().Type(), "the link stays a link")
	assert.Equal(t, want, dump(t, openDB(t, real)))
}

func TestRestoreRotatedKeyring(t *testing.T) {
	oldKey := secrets.Key{ID: "2025-12", Secret: secrets.Random(32)}
	old, err := secrets.NewKeyring(oldKey)
	require.NoError(t, err)
	b, want := backupOf(t, newManager(t, old, Config{}))

	rotated, err := secrets.NewKeyring(secrets.Key{ID: "2026-06", Secret: secrets.Random(32)}, oldKey)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "app.db")
	man, err := newManager(t, rotated, Config{}).Restore(t.Context(), bytes.NewReader(b), path)
	require.NoError(t, err)
	assert.Equal(t, "2025-12", man.KeyID)
	assert.Equal(t, want, dump(t, openDB(t, path)))
}

// TestRestoreFailureLeavesDatabase checks that every failed restore leaves
// the existing database byte for byte as it was, with no file added, and
// says why in the audit log.
func TestRestoreFailureLeavesDatabase(t *testing.T) {
	kr := newKeyring(t, "k")
	m := newManager(t, kr, Config{})
	good, _ := backupOf(t, m)
	pre, recs := split(t, good)
	require.Greater(t, len(recs), 8, "enough chunks to tamper in the middle")
	mid := len(recs) / 2

	var notDB bytes.Buffer
	junk := bytes.Repeat([]byte("not a database "), 1000)
	_, err := seal(t.Context(), &notDB, bytes.NewReader(junk), int64(len(junk)), kr, MinChunkSize, goldenCreated)
	require.NoError(t, err)

	// A genuine SQLite file with one page damaged after the header.
	corrupt := func() []byte {
		db := openDB(t, filepath.Join(t.TempDir(), "c.db"))
		seed(t, db)
		var snap bytes.Buffer
		_, err := m.Create(t.Context(), db, &snap)
		require.NoError(t, err)
		var raw bytes.Buffer
		_, err = open(t.Context(), bytes.NewReader(snap.Bytes()), kr, &raw)
		require.NoError(t, err)
		d := raw.Bytes()
		for i := 4096 + 8; i < 4096+200; i++ { // page 2: scramble its b-tree header and cells
			d[i] ^= 0x5A
		}
		var out bytes.Buffer
		_, err = seal(t.Context(), &out, bytes.NewReader(d), int64(len(d)), kr, MinChunkSize, goldenCreated)
		require.NoError(t, err)
		return out.Bytes()
	}()

	tests := []struct {
		name   string
		input  []byte
		kr     *secrets.Keyring
		inUse  func(t *testing.T, path string)
		want   error
		reject bool
	}{
		{name: "empty input", input: nil, want: ErrTruncated, reject: true},
		{name: "garbage", input: bytes.Repeat([]byte("garbage!"), 2000), want: ErrNotBackup, reject: true},
		{name: "middle chunk tampered", input: join(pre, append(append(append([][]byte{}, recs[:mid]...), flip(recs[mid], 100)), recs[mid+1:]...)...), want: ErrTampered, reject: true},
		{name: "trailer tampered", input: flip(good, len(good)-5), want: ErrTampered, reject: true},
		{name: "truncated before the trailer", input: good[:len(good)-len(recs[len(recs)-1])], want: ErrTruncated, reject: true},
		{name: "truncated mid-chunk", input: good[:len(good)/2], want: ErrTruncated, reject: true},
		{name: "chunk removed", input: join(pre, append(append([][]byte{}, recs[:mid]...), recs[mid+1:]...)...), want: ErrTampered, reject: true},
		{name: "wrong keyring", input: good, kr: newKeyring(t, "k"), want: ErrWrongKey, reject: true},
		{name: "genuine backup of something that is not a database", input: notDB.Bytes(), want: ErrBadDatabase, reject: true},
		{name: "genuine backup of a corrupt database", input: corrupt, want: ErrBadDatabase, reject: true},
		{name: "database open", input: good, inUse: func(t *testing.T, path string) {
			db := openDB(t, path)
			_, err := db.Exec(`INSERT INTO current VALUES ('more')`)
			require.NoError(t, err)
		}, want: ErrInUse},
		{name: "stale WAL after a crash", input: good, inUse: func(t *testing.T, path string) {
			require.NoError(t, os.WriteFile(path+"-wal", []byte("wal frames"), 0o600))
		}, want: ErrInUse},
		{name: "hot rollback journal", input: good, inUse: func(t *testing.T, path string) {
			require.NoError(t, os.WriteFile(path+"-journal", []byte("journal"), 0o600))
		}, want: ErrInUse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := existingDB(t, dir)
			if tt.inUse != nil {
				tt.inUse(t, path)
			}
			before := fileSum(t, path)
			names := dirNames(t, dir)

			sink := &audit.MemorySink{}
			mk := kr
			if tt.kr != nil {
				mk = tt.kr
			}
			rm := newManager(t, mk, Config{Audit: audit.MustNew(sink, audit.Config{})})
			_, err := rm.Restore(t.Context(), bytes.NewReader(tt.input), path)
			require.ErrorIs(t, err, tt.want)

			assert.Equal(t, before, fileSum(t, path), "existing database untouched")
			assert.Equal(t, names, dirNames(t, dir), "no file added or removed")

			evs := sink.Events()
			require.Len(t, evs, 1)
			assert.Equal(t, audit.OutcomeFailure, evs[0].Outcome)
			assert.Equal(t, "restore", evs[0].Meta["operation"])
			assert.NotEmpty(t, evs[0].Reason)
			if tt.reject {
				assert.Equal(t, audit.CategorySecurityAlert, evs[0].Category)
				assert.Equal(t, ActionRejected, evs[0].Action)
			} else {
				assert.Equal(t, audit.CategoryAdmin, evs[0].Category)
				assert.Equal(t, ActionRestored, evs[0].Action)
			}
		})
	}
}

func TestRestoreBadTarget(t *testing.T) {
	m := newManager(t, newKeyring(t, "k"), Config{})
	good, _ := backupOf(t, m)
	dir := t.TempDir()
	for name, path := range map[string]string{
		"empty path":        "",
		"directory":         dir,
		"missing directory": filepath.Join(dir, "nope", "app.db"),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := m.Restore(t.Context(), bytes.NewReader(good), path)
			require.Error(t, err)
			assert.False(t, rejected(err))
		})
	}
	assert.Empty(t, dirNames(t, dir))
}

func TestVerifyAudit(t *testing.T) {
	kr := newKeyring(t, "k")
	sink := &audit.MemorySink{}
	m := newManager(t, kr, Config{Audit: audit.MustNew(sink, audit.Config{})})
	good, _ := backupOf(t, m)
	sink = &audit.MemorySink{}
	m = newManager(t, kr, Config{Audit: audit.MustNew(sink, audit.Config{})})
	ctx := identity.NewContext(t.Context(), identity.Principal{UserID: "ops-1", Roles: []string{"admin"}})

	_, err := m.Verify(ctx, bytes.NewReader(flip(good, len(good)/2)))
	require.ErrorIs(t, err, ErrTampered)
	_, err = m.Verify(ctx, &errReader{good[:100], errors.New("network down")})
	require.Error(t, err)
	_, err = m.Verify(ctx, bytes.NewReader(good))
	require.NoError(t, err)

	evs := sink.Events()
	require.Len(t, evs, 3)
	assert.Equal(t, audit.CategorySecurityAlert, evs[0].Category)
	assert.Equal(t, ActionRejected, evs[0].Action)
	assert.Equal(t, "verify", evs[0].Meta["operation"])
	assert.Contains(t, evs[0].Reason, "tampered")
	assert.NotEmpty(t, evs[0].Meta["backup_id"], "the refused backup is identified")
	assert.Equal(t, audit.CategoryAdmin, evs[1].Category, "an I/O error is not an attack")
	assert.Equal(t, ActionVerified, evs[1].Action)
	assert.Equal(t, audit.OutcomeFailure, evs[1].Outcome)
	assert.Equal(t, ActionVerified, evs[2].Action)
	assert.Equal(t, audit.OutcomeSuccess, evs[2].Outcome)
	for _, e := range evs {
		assert.Equal(t, "ops-1", e.Actor.UserID, "actor from ctx")
		for k, v := range e.Meta {
			assert.NotEqual(t, audit.Redacted, v, "meta %q must not look like a secret", k)
		}
	}
}

// failingSink refuses every event.
type failingSink struct{}

func (failingSink) Write(context.Context, audit.Event) error { return errors.New("audit disk full") }

// An audit failure does not fail the operation: the Logger reports it to
// its error log, with the event.
func TestAuditFailureReported(t *testing.T) {
	var errLog bytes.Buffer
	lg := audit.MustNew(failingSink{}, audit.Config{ErrorLog: slog.New(slog.NewTextHandler(&errLog, nil))})
	m := newManager(t, newKeyring(t, "k"), Config{Audit: lg})
	db := openDB(t, filepath.Join(t.TempDir(), "a.db"))
	seed(t, db)
	var buf bytes.Buffer
	man, err := m.Create(t.Context(), db, &buf)
	require.NoError(t, err)
	assert.NotEmpty(t, man.ID, "the backup itself was made")
	assert.Contains(t, errLog.String(), "audit disk full")
	assert.Contains(t, errLog.String(), string(ActionCreated))

	_, err = m.Verify(t.Context(), bytes.NewReader(buf.Bytes()[:10]))
	require.ErrorIs(t, err, ErrTruncated, "the operation's error is kept")
	assert.Contains(t, errLog.String(), string(ActionRejected))
}

func TestCreate(t *testing.T) {
	kr := newKeyring(t, "k")
	t.Run("snapshot beside the database by default, then removed", func(t *testing.T) {
		dir := t.TempDir()
		db := openDB(t, filepath.Join(dir, "app.db"))
		seed(t, db)
		var buf bytes.Buffer
		_, err := newManager(t, kr, Config{}).Create(t.Context(), db, &buf)
		require.NoError(t, err)
		assert.Empty(t, filterPrefix(dirNames(t, dir), ".backup-"))
	})
	t.Run("writer fails: snapshot still removed", func(t *testing.T) {
		tmp := t.TempDir()
		db := openDB(t, filepath.Join(t.TempDir(), "app.db"))
		seed(t, db)
		sink := &audit.MemorySink{}
		m := newManager(t, kr, Config{TempDir: tmp, Audit: audit.MustNew(sink, audit.Config{})})
		_, err := m.Create(t.Context(), db, errWriter{errors.New("disk full")})
		require.ErrorContains(t, err, "disk full")
		assert.Empty(t, dirNames(t, tmp))
		evs := sink.Events()
		require.Len(t, evs, 1)
		assert.Equal(t, ActionCreated, evs[0].Action)
		assert.Equal(t, audit.CategoryAdmin, evs[0].Category)
		assert.Equal(t, audit.OutcomeFailure, evs[0].Outcome)
	})
	t.Run("in-memory database", func(t *testing.T) {
		db, err := sql.Open("sqlite", ":memory:")
		require.NoError(t, err)
		defer db.Close()
		db.SetMaxOpenConns(1)
		seed(t, db)
		want := dump(t, db)
		tmp := t.TempDir()
		m := newManager(t, kr, Config{TempDir: tmp})
		var buf bytes.Buffer
		_, err = m.Create(t.Context(), db, &buf)
		require.NoError(t, err)
		path := filepath.Join(t.TempDir(), "restored.db")
		_, err = m.Restore(t.Context(), bytes.NewReader(buf.Bytes()), path)
		require.NoError(t, err)
		assert.Equal(t, want, dump(t, openDB(t, path)))
	})
	t.Run("nil db", func(t *testing.T) {
		_, err := newManager(t, kr, Config{}).Create(t.Context(), nil, &bytes.Buffer{})
		require.Error(t, err)
	})
	t.Run("temp dir missing", func(t *testing.T) {
		db := openDB(t, filepath.Join(t.TempDir(), "app.db"))
		_, err := newManager(t, kr, Config{TempDir: filepath.Join(t.TempDir(), "nope")}).Create(t.Context(), db, &bytes.Buffer{})
		require.ErrorContains(t, err, "TempDir")
	})
	t.Run("cancelled", func(t *testing.T) {
		db := openDB(t, filepath.Join(t.TempDir(), "app.db"))
		seed(t, db)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := newManager(t, kr, Config{}).Create(ctx, db, &bytes.Buffer{})
		require.ErrorIs(t, err, context.Canceled)
	})
	t.Run("clock", func(t *testing.T) {
		db := openDB(t, filepath.Join(t.TempDir(), "app.db"))
		at := time.Date(2026, 7, 1, 3, 0, 0, 0, time.FixedZone("CEST", 2*3600))
		man, err := newManager(t, kr, Config{Now: func() time.Time { return at }}).Create(t.Context(), db, &bytes.Buffer{})
		require.NoError(t, err)
		assert.Equal(t, time.Date(2026, 7, 1, 1, 0, 0, 0, time.UTC), man.Created)
	})
}

func TestNew(t *testing.T) {
	kr := newKeyring(t, "k")
	tests := []struct {
		name    string
		kr      *secrets.Keyring
		cfg     Config
		wantErr string
	}{
		{"defaults", kr, Config{}, ""},
		{"smallest chunk", kr, Config{ChunkSize: MinChunkSize}, ""},
		{"largest chunk", kr, Config{ChunkSize: MaxChunkSize}, ""},
		{"nil keyring", nil, Config{}, "Keyring"},
		{"zero keyring", &secrets.Keyring{}, Config{}, "Keyring"},
		{"chunk too small", kr, Config{ChunkSize: MinChunkSize - 1}, "ChunkSize"},
		{"chunk too large", kr, Config{ChunkSize: MaxChunkSize + 1}, "ChunkSize"},
		{"negative chunk", kr, Config{ChunkSize: -1}, "ChunkSize"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := New(tt.kr, tt.cfg)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				assert.Nil(t, m)
				return
			}
			require.NoError(t, err)
			if tt.cfg.ChunkSize == 0 {
				assert.Equal(t, DefaultChunkSize, m.cfg.ChunkSize)
			}
		})
	}
}
