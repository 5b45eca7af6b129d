package sqlsink

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/internal/sqlmigrate"
	"github.com/deployedworks/rampart/sqldb"
)

// Config tunes a [Sink]. The zero value is ready to use.
type Config struct {
	// Table is the table name, optionally schema-qualified
	// ("audit.events" on PostgreSQL): lower-case letters, digits and '_'.
	// Default: "audit_events".
	Table string
	// Retention sets how long [Sink.Prune] keeps each category. Default
	// (nil): the audit package defaults (see audit.Retention).
	Retention audit.Retention
	// Now returns the current time, for Prune. Default: time.Now.
	// Tests in a testing/synctest bubble leave it nil (the bubble's fake
	// clock drives time.Now); set it only to drive one clock through a
	// whole application outside a bubble (against a real database).
	Now func() time.Time
}

// Sink stores events in a SQL table. It is safe for concurrent use.
type Sink struct {
	db        *sql.DB
	dialect   sqldb.Dialect
	name      string // as configured, for the migration record
	table     string // quoted
	schema    []string
	retention audit.Retention
	now       func() time.Time
	insertMax string // batchRows rows

	// uncertain are the batches whose COMMIT failed (the connection was
	// lost, say), which may have committed: a retry checks before
	// inserting them again. The newest maxUncertain are kept.
	mu        sync.Mutex
	uncertain []uncertainBatch
}

// uncertainBatch is a batch whose COMMIT failed.
type uncertainBatch struct {
	sum   [32]byte // of its rows (fingerprint)
	token string   // its batch column
	since int64    // its earliest time_ns, to look it up by the time index
}

// maxUncertain bounds Sink.uncertain: an AsyncSink retries the failed batch
// first, so one would do.
const maxUncertain = 8

var (
	_ audit.Sink      = (*Sink)(nil)
	_ audit.BatchSink = (*Sink)(nil)
)

// batchRows is the most rows in one INSERT statement (16 parameters each:
// well below both databases' limits).
const batchRows = 100

const columns = "time_ns, category, action, outcome, actor_id, actor_roles, target_kind, target_id, " +
	"client_ip, user_agent, request_id, session_ref, reason, meta"

const ncols = 14

// insertColumns are the columns an insert sets: columns and the batch
// token, by which a retried batch whose COMMIT failed is found.
const insertColumns = columns + ", batch"

var identRE = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}(\.[a-z_][a-z0-9_]{0,62})?$`)

// New returns a Sink storing events in cfg.Table of db. dialect must match
// db's driver. New runs no statement: call [Sink.Migrate] (at start-up) to
// create the table and its indexes.
func New(db *sql.DB, dialect sqldb.Dialect, cfg Config) (*Sink, error) {
	if db == nil {
		return nil, errors.New("sqlsink: nil *sql.DB: pass the application's database handle")
	}
	if !dialect.Valid() {
		return nil, fmt.Errorf("sqlsink: unknown %v: use sqldb.SQLite or sqldb.PostgreSQL", dialect)
	}
	if cfg.Table == "" {
		cfg.Table = "audit_events"
	}
	if !identRE.MatchString(cfg.Table) {
		return nil, fmt.Errorf("sqlsink: invalid Table %q: use lower-case letters, digits and '_', optionally schema.table", cfg.Table)
	}
	if dialect == sqldb.SQLite && strings.Contains(cfg.Table, ".") {
		return nil, fmt.Errorf("sqlsink: Table %q: schema-qualified names are for PostgreSQL", cfg.Table)
	}
	s := &Sink{db: db, dialect: dialect, name: cfg.Table, retention: cfg.Retention, now: cfg.Now}
	if s.now == nil {
		s.now = time.Now
	}
	var quoted []string
	for _, part := range strings.Split(cfg.Table, ".") {
		quoted = append(quoted, `"`+part+`"`)
	}
	s.table = strings.Join(quoted, ".")
	base := cfg.Table[strings.LastIndexByte(cfg.Table, '.')+1:]

	id := "id INTEGER PRIMARY KEY AUTOINCREMENT"
	if dialect == sqldb.PostgreSQL {
		id = "id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"
	}
	// Version 1 is the schema the constructor used to create, with IF NOT
	// EXISTS, so that tables created by earlier releases migrate as they
	// are.
	s.schema = []string{
		`CREATE TABLE IF NOT EXISTS ` + s.table + ` (
	` + id + `,
	time_ns BIGINT NOT NULL,
	category TEXT NOT NULL,
	action TEXT NOT NULL,
	outcome TEXT NOT NULL DEFAULT '',
	actor_id TEXT NOT NULL DEFAULT '',
	actor_roles TEXT NOT NULL DEFAULT '',
	target_kind TEXT NOT NULL DEFAULT '',
	target_id TEXT NOT NULL DEFAULT '',
	client_ip TEXT NOT NULL DEFAULT '',
	user_agent TEXT NOT NULL DEFAULT '',
	request_id TEXT NOT NULL DEFAULT '',
	session_ref TEXT NOT NULL DEFAULT '',
	reason TEXT NOT NULL DEFAULT '',
	meta TEXT NOT NULL DEFAULT ''
)`,
		`CREATE INDEX IF NOT EXISTS "` + base + `_time_idx" ON ` + s.table + ` (time_ns, id)`,
		`CREATE INDEX IF NOT EXISTS "` + base + `_category_idx" ON ` + s.table + ` (category, time_ns, id)`,
		`CREATE INDEX IF NOT EXISTS "` + base + `_actor_idx" ON ` + s.table + ` (actor_id, time_ns, id)`,
	}
	s.insertMax = s.insertSQL(batchRows)
	return s, nil
}

// Migrate creates the table and its indexes (by time, by category and
// time, by actor and time), or upgrades them, and records what it did in
// the table rampart_schema (component "audit/sqlsink:" and the table
// name). It is safe to run from several instances at once and more than
// once; a table created by an earlier release, whose constructor created
// it, is kept as it is.
func (s *Sink) Migrate(ctx context.Context) error {
	err := sqlmigrate.Apply(ctx, s.db, s.dialect, "audit/sqlsink:"+s.name, []sqlmigrate.Step{
		{Version: 1, Stmts: s.schema},
		{Version: 2, Stmts: []string{`ALTER TABLE ` + s.table + ` ADD COLUMN batch TEXT NOT NULL DEFAULT ''`}},
	})
	if err != nil {
		return fmt.Errorf("sqlsink: %w", err)
	}
	return nil
}

func (s *Sink) placeholder(n int) string {
	if s.dialect == sqldb.PostgreSQL {
		return "$" + strconv.Itoa(n)
	}
	return "?"
}

func (s *Sink) insertSQL(rows int) string {
	var b strings.Builder
	b.WriteString("INSERT INTO " + s.table + " (" + insertColumns + ") VALUES ")
	n := 1
	for r := range rows {
		if r > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('(')
		for c := range ncols + 1 {
			if c > 0 {
				b.WriteByte(',')
			}
			b.WriteString(s.placeholder(n))
			n++
		}
		b.WriteByte(')')
	}
	return b.String()
}

// clean makes s storable in any TEXT column: valid UTF-8, no NUL.
func clean(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "\uFFFD")
	}
	return s
}

func appendArgs(args []any, e *audit.Event) []any {
	roles, meta := "", ""
	if e.Actor.Roles != nil {
		b, _ := json.Marshal(e.Actor.Roles)
		roles = string(b)
	}
	if len(e.Meta) > 0 {
		b, _ := json.Marshal(e.Meta)
		meta = string(b)
	}
	ip := ""
	if e.ClientIP.IsValid() {
		ip = e.ClientIP.String()
	}
	return append(args,
		nanos(e.Time), clean(string(e.Category)), clean(string(e.Action)), clean(string(e.Outcome)),
		clean(e.Actor.UserID), roles, clean(e.Target.Kind), clean(e.Target.ID),
		ip, clean(e.UserAgent), clean(e.RequestID), clean(e.SessionRef), clean(e.Reason), meta,
	)
}

// Write inserts e, as a batch of one.
func (s *Sink) Write(ctx context.Context, e audit.Event) error {
	_, err := s.WriteBatch(ctx, []audit.Event{e})
	return err
}

// WriteBatch inserts events in one transaction: it returns len(events) or
// 0. It implements audit.BatchSink.
//
// A retry inserts nothing twice: when the COMMIT of a batch fails (the
// connection to the database is lost before its answer arrives), the batch
// may have committed, so the Sink remembers it, and a later WriteBatch of
// the same events (as audit.AsyncSink retries it) first looks the batch up
// and, if it committed, returns len(events) without inserting again.
func (s *Sink) WriteBatch(ctx context.Context, events []audit.Event) (int, error) {
	if len(events) == 0 {
		return 0, nil
	}
	switch committed, err := s.settle(ctx, events); {
	case err != nil:
		return 0, err
	case committed:
		return len(events), nil
	}
	token := rand.Text()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("sqlsink: begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	args := make([]any, 0, (ncols+1)*min(len(events), batchRows))
	for rest := events; len(rest) > 0; {
		chunk := rest[:min(len(rest), batchRows)]
		rest = rest[len(chunk):]
		args = args[:0]
		for i := range chunk {
			args = append(appendArgs(args, &chunk[i]), token)
		}
		q := s.insertMax
		if len(chunk) != batchRows {
			q = s.insertSQL(len(chunk))
		}
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return 0, fmt.Errorf("sqlsink: insert batch: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		s.remember(events, token)
		return 0, fmt.Errorf("sqlsink: commit: %w", err)
	}
	return len(events), nil
}

// fingerprint identifies a batch by the rows it stores.
func fingerprint(events []audit.Event) ([32]byte, int64) {
	h := sha256.New()
	since := int64(math.MaxInt64)
	var args []any
	for i := range events {
		args = appendArgs(args[:0], &events[i])
		since = min(since, args[0].(int64))
		b, _ := json.Marshal(args) // strings and an int64: cannot fail
		h.Write(binary.AppendUvarint(nil, uint64(len(b))))
		h.Write(b)
	}
	return [32]byte(h.Sum(nil)), since
}

// remember records a batch whose COMMIT failed.
func (s *Sink) remember(events []audit.Event, token string) {
	sum, since := fingerprint(events)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.uncertain) == maxUncertain {
		s.uncertain = s.uncertain[1:]
	}
	s.uncertain = append(s.uncertain, uncertainBatch{sum: sum, token: token, since: since})
}

// settle reports whether events are a batch whose COMMIT failed and which
// did commit. It forgets the batch once the database has said.
func (s *Sink) settle(ctx context.Context, events []audit.Event) (bool, error) {
	s.mu.Lock()
	n := len(s.uncertain)
	s.mu.Unlock()
	if n == 0 {
		return false, nil
	}
	sum, _ := fingerprint(events)
	s.mu.Lock()
	i := slices.IndexFunc(s.uncertain, func(u uncertainBatch) bool { return u.sum == sum })
	var u uncertainBatch
	if i >= 0 {
		u = s.uncertain[i]
	}
	s.mu.Unlock()
	if i < 0 {
		return false, nil
	}
	var one int
	err := s.db.QueryRowContext(ctx, "SELECT 1 FROM "+s.table+" WHERE time_ns >= "+s.placeholder(1)+" AND batch = "+s.placeholder(2)+" LIMIT 1",
		u.since, u.token).Scan(&one)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return false, fmt.Errorf("sqlsink: look up a batch whose commit failed: %w", err)
	}
	s.mu.Lock()
	s.uncertain = slices.DeleteFunc(s.uncertain, func(v uncertainBatch) bool { return v.token == u.token })
	s.mu.Unlock()
	return err == nil, nil
}

// ErrBadCursor is returned by [Sink.Query] for a Cursor it did not issue.
var ErrBadCursor = errors.New("sqlsink: bad cursor")

// Query selects events for [Sink.Query] and [Sink.Count]. Empty fields do
// not filter.
type Query struct {
	Categories   []audit.Category // any of these
	Action       string           // exact action
	ActionPrefix string           // actions starting with this, e.g. "login."
	ActorID      string
	TargetKind   string
	TargetID     string
	Outcome      audit.Outcome
	ClientIP     netip.Addr
	RequestID    string
	Since        time.Time // events at or after
	Until        time.Time // events before
	// Limit is the page size. Default: 50; at most 1000.
	Limit int
	// Cursor continues from a previous Page.Next.
	Cursor string
}

// Record is a stored event with its row ID.
type Record struct {
	ID    int64       `json:"id"`
	Event audit.Event `json:"event"`
}

// Page is one page of results, newest first.
type Page struct {
	Records []Record
	// Next is the cursor of the following page, "" on the last page.
	Next string
}

// where builds the WHERE clause of q.
func (s *Sink) where(q Query, withCursor bool) (string, []any, error) {
	var conds []string
	var args []any
	add := func(cond string, vals ...any) {
		for _, v := range vals {
			args = append(args, v)
			cond = strings.Replace(cond, "?", s.placeholder(len(args)), 1)
		}
		conds = append(conds, cond)
	}
	if len(q.Categories) > 0 {
		ph := make([]string, len(q.Categories))
		for i, c := range q.Categories {
			args = append(args, string(c))
			ph[i] = s.placeholder(len(args))
		}
		conds = append(conds, "category IN ("+strings.Join(ph, ",")+")")
	}
	if q.Action != "" {
		add("action = ?", q.Action)
	}
	if q.ActionPrefix != "" {
		add(`action LIKE ? ESCAPE '\'`, escapeLike(q.ActionPrefix)+"%")
	}
	if q.ActorID != "" {
		add("actor_id = ?", q.ActorID)
	}
	if q.TargetKind != "" {
		add("target_kind = ?", q.TargetKind)
	}
	if q.TargetID != "" {
		add("target_id = ?", q.TargetID)
	}
	if q.Outcome != "" {
		add("outcome = ?", string(q.Outcome))
	}
	if q.ClientIP.IsValid() {
		add("client_ip = ?", q.ClientIP.String())
	}
	if q.RequestID != "" {
		add("request_id = ?", q.RequestID)
	}
	if !q.Since.IsZero() {
		add("time_ns >= ?", nanos(q.Since))
	}
	if !q.Until.IsZero() {
		add("time_ns < ?", nanos(q.Until))
	}
	if withCursor && q.Cursor != "" {
		t, id, err := decodeCursor(q.Cursor)
		if err != nil {
			return "", nil, err
		}
		add("(time_ns < ? OR (time_ns = ? AND id < ?))", t, t, id)
	}
	if len(conds) == 0 {
		return "", args, nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args, nil
}

func escapeLike(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(s)
}

func encodeCursor(t, id int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("v1:" + strconv.FormatInt(t, 10) + ":" + strconv.FormatInt(id, 10)))
}

func decodeCursor(c string) (int64, int64, error) {
	if len(c) > 128 {
		return 0, 0, ErrBadCursor
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return 0, 0, ErrBadCursor
	}
	parts := strings.Split(string(b), ":")
	if len(parts) != 3 || parts[0] != "v1" {
		return 0, 0, ErrBadCursor
	}
	t, err1 := strconv.ParseInt(parts[1], 10, 64)
	id, err2 := strconv.ParseInt(parts[2], 10, 64)
	if err1 != nil || err2 != nil || id <= 0 {
		return 0, 0, ErrBadCursor
	}
	return t, id, nil
}

// Query returns one page of the events matching q, newest first. Paging is
// by keyset (time, then ID), so pages do not shift as new events arrive.
func (s *Sink) Query(ctx context.Context, q Query) (Page, error) {
	limit := q.Limit
	switch {
	case limit <= 0:
		limit = 50
	case limit > 1000:
		limit = 1000
	}
	where, args, err := s.where(q, true)
	if err != nil {
		return Page{}, err
	}
	args = append(args, limit+1)
	sqlq := "SELECT id, " + columns + " FROM " + s.table + where + // #nosec G202 -- s.table is validated as an identifier in New; values are placeholders
		" ORDER BY time_ns DESC, id DESC LIMIT " + s.placeholder(len(args))
	rows, err := s.db.QueryContext(ctx, sqlq, args...)
	if err != nil {
		return Page{}, fmt.Errorf("sqlsink: query: %w", err)
	}
	defer rows.Close()
	var page Page
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return Page{}, err
		}
		page.Records = append(page.Records, r)
	}
	if err := rows.Err(); err != nil {
		return Page{}, fmt.Errorf("sqlsink: query: %w", err)
	}
	if len(page.Records) > limit {
		page.Records = page.Records[:limit]
		last := page.Records[limit-1]
		page.Next = encodeCursor(last.Event.Time.UnixNano(), last.ID)
	}
	return page, nil
}

func scanRecord(rows *sql.Rows) (Record, error) {
	var (
		r                             Record
		tns                           int64
		cat, outcome, roles, ip, meta string
		e                             = &r.Event
	)
	if err := rows.Scan(&r.ID, &tns, &cat, &e.Action, &outcome, &e.Actor.UserID, &roles,
		&e.Target.Kind, &e.Target.ID, &ip, &e.UserAgent, &e.RequestID, &e.SessionRef, &e.Reason, &meta); err != nil {
		return r, fmt.Errorf("sqlsink: scan: %w", err)
	}
	e.Time = time.Unix(0, tns).UTC()
	e.Category, e.Outcome = audit.Category(cat), audit.Outcome(outcome)
	if roles != "" {
		if err := json.Unmarshal([]byte(roles), &e.Actor.Roles); err != nil {
			return r, fmt.Errorf("sqlsink: row %d: roles: %w", r.ID, err)
		}
	}
	if meta != "" {
		if err := json.Unmarshal([]byte(meta), &e.Meta); err != nil {
			return r, fmt.Errorf("sqlsink: row %d: meta: %w", r.ID, err)
		}
	}
	if ip != "" {
		a, err := netip.ParseAddr(ip)
		if err != nil {
			return r, fmt.Errorf("sqlsink: row %d: client_ip: %w", r.ID, err)
		}
		e.ClientIP = a
	}
	return r, nil
}

// Count returns the number of events matching q (Limit and Cursor are
// ignored).
func (s *Sink) Count(ctx context.Context, q Query) (int64, error) {
	where, args, err := s.where(q, false)
	if err != nil {
		return 0, err
	}
	var n int64
	if err := s.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+s.table+where, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlsink: count: %w", err)
	}
	return n, nil
}

// Prune deletes the events older than their category's retention period
// and returns how many it deleted. Categories kept forever are left alone.
// Log the result as an audit event if you want a record of the pruning.
func (s *Sink) Prune(ctx context.Context) (int64, error) {
	now := s.now()
	named := audit.Categories()
	for c := range s.retention {
		if !slices.Contains(named, c) {
			named = append(named, c)
		}
	}
	var total int64
	for _, c := range named {
		cut, ok := s.retention.Cutoff(c, now)
		if !ok {
			continue
		}
		res, err := s.db.ExecContext(ctx, "DELETE FROM "+s.table+" WHERE category = "+s.placeholder(1)+ // #nosec G202 -- s.table is validated as an identifier in New; values are placeholders
			" AND time_ns < "+s.placeholder(2), string(c), nanos(cut))
		if err != nil {
			return total, fmt.Errorf("sqlsink: prune %s: %w", c, err)
		}
		n, _ := res.RowsAffected()
		total += n
	}
	// Every other category: the default period.
	if cut, ok := s.retention.Cutoff("", now); ok {
		args := []any{}
		ph := make([]string, len(named))
		for i, c := range named {
			args = append(args, string(c))
			ph[i] = s.placeholder(i + 1)
		}
		args = append(args, nanos(cut))
		res, err := s.db.ExecContext(ctx, "DELETE FROM "+s.table+" WHERE category NOT IN ("+strings.Join(ph, ",")+ // #nosec G202 -- s.table is validated as an identifier in New; values are placeholders
			") AND time_ns < "+s.placeholder(len(args)), args...)
		if err != nil {
			return total, fmt.Errorf("sqlsink: prune other categories: %w", err)
		}
		n, _ := res.RowsAffected()
		total += n
	}
	return total, nil
}

// Times that fit in int64 nanoseconds since 1970 (UnixNano is undefined
// outside them).
var (
	minNanosTime = time.Unix(0, math.MinInt64)
	maxNanosTime = time.Unix(0, math.MaxInt64)
)

// nanos is t.UnixNano, clamped to the int64 range (years 1678 to 2262), so
// that an event time, filter or cut-off far in the past or future is stored
// and compared as such instead of wrapping around.
func nanos(t time.Time) int64 {
	switch {
	case t.Before(minNanosTime):
		return math.MinInt64
	case t.After(maxNanosTime):
		return math.MaxInt64
	}
	return t.UnixNano()
}
