package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite" // driver "sqlite", pure Go

	mfasql "github.com/deployedworks/rampart/mfa/sqlstore"
	"github.com/deployedworks/rampart/sqldb"
)

//go:embed migrations
var migrationsFS embed.FS

// dialect is the SQL flavour of the database.
type dialect int

const (
	dialectSQLite dialect = iota + 1
	dialectPostgres
)

func (d dialect) String() string {
	if d == dialectPostgres {
		return "postgres"
	}
	return "sqlite"
}

// pgLockKey is the PostgreSQL advisory lock taken while migrating, so that
// instances starting together do not race to create tables.
const pgLockKey = 0x6d6b7470 // "mktp"

// dbFile is the SQLite database's name in the data directory.
const dbFile = "marketplace.db"

// errNotFound is returned by store lookups that match no row.
var errNotFound = errors.New("marketplace: not found")

// store is the app's database: SQLite in the data directory, or PostgreSQL
// when DATABASE_URL is set. Queries are written once with ? placeholders;
// q rebinds them to $n for PostgreSQL.
type store struct {
	db      *sql.DB
	dialect dialect
	now     func() time.Time
	stmts   sync.Map // query → *prepared
	// mfa keeps the second factors (tables mfa_totp, mfa_recovery_codes,
	// mfa_credentials, created by the app's migrations).
	mfa *mfasql.Store

	// onRemoveFactor, when set (by tests), runs as a removal of a second
	// factor begins, before any query: a barrier there makes concurrent
	// removals overlap.
	onRemoveFactor atomic.Pointer[func()]
}

// removingFactor runs the onRemoveFactor hook, if any.
func (s *store) removingFactor() {
	if f := s.onRemoveFactor.Load(); f != nil {
		(*f)()
	}
}

// openStore opens the database: PostgreSQL when databaseURL is set, else
// SQLite in dataDir/dbFile. It does not migrate.
func openStore(ctx context.Context, dataDir, databaseURL string, now func() time.Time) (*store, error) {
	return openStoreTLS(ctx, dataDir, databaseURL, now, serviceTLS{})
}

// openStoreTLS is openStore with PostgreSQL reached as st says.
func openStoreTLS(ctx context.Context, dataDir, databaseURL string, now func() time.Time, st serviceTLS) (*store, error) {
	s := &store{now: now}
	var err error
	if databaseURL != "" {
		s.dialect = dialectPostgres
		cc, err := st.pgConfig("DATABASE_URL", databaseURL)
		if err != nil {
			return nil, err
		}
		s.db = stdlib.OpenDB(*cc)
		s.db.SetMaxOpenConns(10)
		s.db.SetConnMaxIdleTime(5 * time.Minute)
	} else {
		if err := os.MkdirAll(dataDir, 0o700); err != nil {
			return nil, fmt.Errorf("store: create data directory %q: %w", dataDir, err)
		}
		s.dialect = dialectSQLite
		// A relative path in a file: URL would read as a host name.
		abs, err := filepath.Abs(dataDir)
		if err != nil {
			return nil, fmt.Errorf("store: data directory %q: %w", dataDir, err)
		}
		path := filepath.Join(abs, dbFile)
		// Create the file private before SQLite creates it with the umask;
		// its WAL and shared-memory files copy its mode.
		if f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600); err == nil { // #nosec G304 -- the database path from the operator's configuration
			_ = f.Close()
		}
		_ = os.Chmod(path, 0o600)
		dsn := (&url.URL{Scheme: "file", Path: path}).String() +
			"?_pragma=foreign_keys(1)&_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate"
		s.db, err = sql.Open("sqlite", dsn)
		if err != nil {
			return nil, fmt.Errorf("store: open SQLite: %w", err)
		}
		// SQLite has one writer; queueing in Go is faster than its busy
		// retries, and every query here is short. Never hold rows open
		// while running another query.
		s.db.SetMaxOpenConns(1)
	}
	if s.mfa, err = mfasql.New(s.db, s.sqlDialect(), mfasql.Config{Prefix: "mfa"}); err != nil {
		_ = s.db.Close()
		return nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := s.db.PingContext(pctx); err != nil {
		_ = s.db.Close()
		return nil, fmt.Errorf("store: connect to %s: %w", s.dialect, err)
	}
	return s, nil
}

// Close closes the database.
func (s *store) Close() error { return s.db.Close() }

// sqlDialect is the sqldb dialect of the database, for the Rampart
// packages that keep tables in it.
func (s *store) sqlDialect() sqldb.Dialect {
	if s.dialect == dialectPostgres {
		return sqldb.PostgreSQL
	}
	return sqldb.SQLite
}

// q rebinds a query written with ? placeholders for the store's dialect.
func (s *store) q(query string) string {
	if s.dialect != dialectPostgres {
		return query
	}
	return rebindDollar(query)
}

// rebindDollar replaces each ? outside string literals with $1, $2, ….
func rebindDollar(query string) string {
	var b strings.Builder
	b.Grow(len(query) + 8)
	n, inString := 0, false
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case c == '\'':
			inString = !inString
			b.WriteByte(c)
		case c == '?' && !inString:
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// stmt returns query in the dialect's syntax and, on SQLite, prepared:
// the driver keeps no statement cache, and parsing a small query costs
// more than running it (pgx caches PostgreSQL's statements itself). The
// queries are the store's constants, a bounded set; one that cannot be
// prepared (a table not created yet) runs unprepared and fails there.
func (s *store) stmt(ctx context.Context, query string) (string, *sql.Stmt) {
	if p, ok := s.stmts.Load(query); ok {
		p := p.(*prepared)
		return p.query, p.stmt
	}
	p := &prepared{query: s.q(query)}
	if s.dialect == dialectSQLite {
		st, err := s.db.PrepareContext(ctx, p.query) // #nosec G701 -- query is a constant of the store's own methods
		if err != nil {
			return p.query, nil
		}
		p.stmt = st
	}
	if old, loaded := s.stmts.LoadOrStore(query, p); loaded {
		if p.stmt != nil {
			_ = p.stmt.Close()
		}
		p = old.(*prepared)
	}
	return p.query, p.stmt
}

// prepared is a query of the store, rebound, and its statement on SQLite.
type prepared struct {
	query string
	stmt  *sql.Stmt
}

func (s *store) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	q, st := s.stmt(ctx, query)
	if st != nil {
		return st.ExecContext(ctx, args...)
	}
	return s.db.ExecContext(ctx, q, args...)
}

func (s *store) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	q, st := s.stmt(ctx, query)
	if st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return s.db.QueryRowContext(ctx, q, args...)
}

func (s *store) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	q, st := s.stmt(ctx, query)
	if st != nil {
		return st.QueryContext(ctx, args...)
	}
	return s.db.QueryContext(ctx, q, args...) // #nosec G701 -- query is a constant of the store's own methods; values travel as args
}

// tx runs fn in a transaction, committing when it returns nil. fn must use
// only the transaction: with SQLite's single connection, a query on s.db
// inside fn would wait forever.
func (s *store) tx(ctx context.Context, fn func(tx *txn) error) error {
	t, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	if err := fn(&txn{tx: t, s: s}); err != nil {
		_ = t.Rollback()
		return err
	}
	if err := t.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

// txn is a transaction with the store's rebinding.
type txn struct {
	tx *sql.Tx
	s  *store
}

func (t *txn) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return t.tx.ExecContext(ctx, t.s.q(query), args...)
}

func (t *txn) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	return t.tx.QueryRowContext(ctx, t.s.q(query), args...)
}

// withMigrationLock runs fn while holding a lock that keeps other instances
// from migrating at the same time: a PostgreSQL advisory lock on its own
// connection. SQLite needs none (one process owns the file, and it has a
// single connection that a lock would hold).
func (s *store) withMigrationLock(ctx context.Context, fn func() error) error {
	if s.dialect != dialectPostgres {
		return fn()
	}
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("store: migration lock: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", pgLockKey); err != nil {
		return fmt.Errorf("store: migration lock: %w", err)
	}
	defer func() {
		// A fresh context: the lock must go even if ctx ended.
		uctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, _ = conn.ExecContext(uctx, "SELECT pg_advisory_unlock($1)", pgLockKey)
	}()
	return fn()
}

// migrate applies the embedded migrations for the store's dialect that
// are not yet recorded in schema_migrations, each in its own transaction.
func (s *store) migrate(ctx context.Context) ([]string, error) {
	if _, err := s.exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    TEXT PRIMARY KEY,
		applied_at BIGINT NOT NULL
	)`); err != nil {
		return nil, fmt.Errorf("store: create schema_migrations: %w", err)
	}
	dir := "migrations/" + s.dialect.String()
	entries, err := fs.ReadDir(migrationsFS, dir)
	if err != nil {
		return nil, fmt.Errorf("store: read migrations: %w", err)
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".sql") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	var applied []string
	for _, name := range names {
		version := strings.TrimSuffix(name, ".sql")
		var n int
		if err := s.queryRow(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = ?`, version).Scan(&n); err != nil {
			return applied, fmt.Errorf("store: migration %s: %w", version, err)
		}
		if n > 0 {
			continue
		}
		body, err := fs.ReadFile(migrationsFS, dir+"/"+name)
		if err != nil {
			return applied, fmt.Errorf("store: migration %s: %w", version, err)
		}
		err = s.tx(ctx, func(t *txn) error {
			for _, stmt := range splitSQL(string(body)) {
				if _, err := t.tx.ExecContext(ctx, stmt); err != nil {
					return fmt.Errorf("store: migration %s: %w", version, err)
				}
			}
			_, err := t.exec(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`, version, s.now().UnixMilli())
			return err
		})
		if err != nil {
			return applied, err
		}
		applied = append(applied, version)
	}
	// After the app's migrations, which create the second-factor tables
	// (with foreign keys to users) under the names the package uses.
	if err := s.mfa.Migrate(ctx); err != nil {
		return applied, fmt.Errorf("store: %w", err)
	}
	return applied, nil
}

// splitSQL splits a migration file into statements at semicolons that end
// a line, dropping comment lines. Migrations keep to that shape.
func splitSQL(body string) []string {
	var out []string
	var cur strings.Builder
	for line := range strings.SplitSeq(body, "\n") {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "--") {
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
		if strings.HasSuffix(trimmed, ";") {
			out = append(out, strings.TrimSuffix(strings.TrimSpace(cur.String()), ";"))
			cur.Reset()
		}
	}
	if rest := strings.TrimSpace(cur.String()); rest != "" {
		out = append(out, rest)
	}
	return out
}

// newID returns a random 96-bit ID in hex: unguessable, so that IDs in URLs
// reveal neither counts nor order.
func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}

// validID reports whether s has the shape of an ID made by newID, so that
// handlers can refuse forged IDs before any query.
func validID(s string) bool {
	if len(s) != 24 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// ms converts a time to Unix milliseconds, 0 for the zero time.
func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// fromMS converts Unix milliseconds to a time, the zero time for 0.
func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
