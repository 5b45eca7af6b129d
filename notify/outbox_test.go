package notify_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/internal/testenv"
	"github.com/deployedworks/rampart/notify"
	"github.com/deployedworks/rampart/sqldb"
)

// wait is the generous deadline of every wait on a condition.
const wait = 30 * time.Second

// database is one test database that several *sql.DB (instances) open.
type database struct {
	dialect sqldb.Dialect
	table   string
	open    func(t testing.TB) *sql.DB // a new pool on the database
	dsn     string                     // PostgreSQL only
}

// backend makes test databases of one dialect.
type backend struct {
	name string
	new  func(t testing.TB) database
}

var backends = []backend{
	{"sqlite", func(t testing.TB) database {
		path := filepath.Join(t.TempDir(), "outbox.db")
		return database{dialect: sqldb.SQLite, table: "rampart_outbox", open: func(t testing.TB) *sql.DB {
			db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)")
			require.NoError(t, err)
			db.SetMaxOpenConns(1)
			t.Cleanup(func() { _ = db.Close() })
			return db
		}}
	}},
	{"postgresql", func(t testing.TB) database {
		dsn := testenv.PostgresDSN(t)
		open := func(t testing.TB) *sql.DB { return openPG(t, dsn) }
		db := open(t)
		schema := testenv.PGSchema(t, db, "notify")
		return database{dialect: sqldb.PostgreSQL, table: schema + ".outbox", open: open, dsn: dsn}
	}},
}

func openPG(t testing.TB, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", dsn)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, db.PingContext(ctx), "PostgreSQL unreachable")
	return db
}

// outbox opens a pool on d and returns a migrated Outbox on it.
func (d database) outbox(t testing.TB, cfg notify.OutboxConfig) (*notify.Outbox, *sql.DB) {
	t.Helper()
	db := d.open(t)
	return d.outboxOn(t, db, cfg), db
}

func (d database) outboxOn(t testing.TB, db *sql.DB, cfg notify.OutboxConfig) *notify.Outbox {
	t.Helper()
	cfg.Table = d.table
	if cfg.ErrorLog == nil {
		cfg.ErrorLog = slog.New(slog.DiscardHandler)
	}
	o, err := notify.NewOutbox(db, d.dialect, cfg)
	require.NoError(t, err)
	require.NoError(t, o.Migrate(context.Background()))
	return o
}

// row is what the table holds of one message.
type row struct {
	state, attempts     int
	nextAttempt, doneAt int64
	lease, lastError    string
}

func (d database) row(t testing.TB, db *sql.DB, key string) (row, bool) {
	t.Helper()
	var r row
	q := "SELECT state, attempts, next_attempt, done_at, lease, last_error FROM " + d.table + " WHERE msg_key = "
	if d.dialect == sqldb.SQLite {
		q += "?"
	} else {
		q += "$1"
	}
	err := db.QueryRow(q, key).Scan(&r.state, &r.attempts, &r.nextAttempt, &r.doneAt, &r.lease, &r.lastError)
	if errors.Is(err, sql.ErrNoRows) {
		return row{}, false
	}
	require.NoError(t, err)
	return r, true
}

func (d database) count(t testing.TB, db *sql.DB, where string) int {
	t.Helper()
	var n int
	require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM "+d.table+" WHERE "+where).Scan(&n))
	return n
}

// forEach runs test against each backend.
func forEach(t *testing.T, test func(t *testing.T, d database)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { test(t, b.new(t)) })
	}
}

// sender counts the messages sent by key. fail, if set, is asked before
// each send and fails it with the error it returns.
type sender struct {
	mu    sync.Mutex
	fail  func(m notify.Message, call int) error
	calls int
	sent  map[string]int
	last  map[string]notify.Message
	want  int           // close done when this many distinct keys are sent
	done  chan struct{} // closed when want keys are sent
}

func newSender(want int) *sender {
	return &sender{sent: map[string]int{}, last: map[string]notify.Message{}, want: want, done: make(chan struct{})}
}

func (s *sender) Send(ctx context.Context, m notify.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.fail != nil {
		if err := s.fail(m, s.calls); err != nil {
			return err
		}
	}
	s.sent[m.Key]++
	s.last[m.Key] = m
	if len(s.sent) == s.want {
		close(s.done)
	}
	return nil
}

func (s *sender) counts() (calls int, sent map[string]int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := make(map[string]int, len(s.sent))
	for k, v := range s.sent {
		c[k] = v
	}
	return s.calls, c
}

func (s *sender) waitDone(t testing.TB) {
	t.Helper()
	select {
	case <-s.done:
	case <-time.After(wait):
		_, sent := s.counts()
		t.Fatalf("only %d of %d messages sent within %v", len(sent), s.want, wait)
	}
}

func msg(key string) notify.Message {
	return notify.Message{Key: key, To: "user@example.com", Kind: "password_changed", Subject: "Your password was changed", Text: "It was changed.\nIf it was not you, reset it."}
}

// run starts o.Run(s) and returns a function that stops it and returns
// Run's error.
func run(t testing.TB, o *notify.Outbox, s notify.Sender) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- o.Run(ctx, s) }()
	stopped := false
	var err error
	stop = func() error {
		if !stopped {
			stopped = true
			cancel()
			select {
			case err = <-errc:
			case <-time.After(wait):
				t.Errorf("Run did not return within %v of its context's end", wait)
			}
		}
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

func TestNewOutboxRefuses(t *testing.T) {
	db, err := sql.Open("sqlite", "file::memory:")
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	_, err = notify.NewOutbox(nil, sqldb.SQLite, notify.OutboxConfig{})
	assert.ErrorContains(t, err, "nil *sql.DB")
	_, err = notify.NewOutbox(db, 0, notify.OutboxConfig{})
	assert.ErrorContains(t, err, "unknown dialect")
	for name, cfg := range map[string]notify.OutboxConfig{
		"Table":                {Table: "outbox; DROP TABLE users"},
		"Table ":               {Table: `"outbox"`},
		"Table  ":              {Table: "a.b.c"},
		"MinBackoff":           {MinBackoff: -time.Second},
		"MaxBackoff":           {MaxBackoff: -time.Second},
		"exceeds MaxBackoff":   {MinBackoff: time.Hour, MaxBackoff: time.Minute},
		"Lease":                {Lease: time.Millisecond},
		"Lease ":               {Lease: -time.Minute},
		"Poll":                 {Poll: -time.Second},
		"MaxAttempts":          {MaxAttempts: -1},
		"Batch":                {Batch: 1001},
		"Batch ":               {Batch: -1},
		"exceeds MaxBackoff  ": {MaxBackoff: time.Second}, // below the default MinBackoff
	} {
		_, err = notify.NewOutbox(db, sqldb.SQLite, cfg)
		assert.ErrorContains(t, err, strings.TrimSpace(name), "%+v", cfg)
	}
	for _, table := range []string{"outbox", "app.outbox", "_x1"} {
		_, err = notify.NewOutbox(db, sqldb.SQLite, notify.OutboxConfig{Table: table})
		assert.NoError(t, err, table)
	}
	o, err := notify.NewOutbox(db, sqldb.SQLite, notify.OutboxConfig{})
	require.NoError(t, err)
	assert.ErrorContains(t, o.Run(context.Background(), nil), "nil Sender")
	assert.ErrorContains(t, o.EnqueueTx(context.Background(), nil, msg("k")), "nil *sql.Tx")
	_, err = o.Prune(context.Background(), -time.Hour)
	assert.ErrorContains(t, err, "negative")
}

func TestMessageValidate(t *testing.T) {
	long := func(n int) string { return strings.Repeat("a", n) }
	for _, tc := range []struct {
		name string
		edit func(m *notify.Message)
		err  string // "" for valid
	}{
		{"valid", func(m *notify.Message) {}, ""},
		{"html and unicode", func(m *notify.Message) { m.HTML = "<p>Grüße\n\t</p>"; m.Subject = "Grüße — 🔐" }, ""},
		{"no subject", func(m *notify.Message) { m.Subject = "" }, ""},
		{"kind with dot", func(m *notify.Message) { m.Kind = "alert.stuffing_2" }, ""},
		{"key at limit", func(m *notify.Message) { m.Key = long(200) }, ""},
		{"no key", func(m *notify.Message) { m.Key = "" }, "Key is empty"},
		{"long key", func(m *notify.Message) { m.Key = long(201) }, "Key is 201 bytes"},
		{"no to", func(m *notify.Message) { m.To = "" }, "To is empty"},
		{"no kind", func(m *notify.Message) { m.Kind = "" }, "Kind is empty"},
		{"no text", func(m *notify.Message) { m.Text = "" }, "Text is empty"},
		{"attack: CRLF in To", func(m *notify.Message) { m.To = "a@example.com\r\nBcc: all@example.com" }, "To contains a line break"},
		{"attack: LF in Subject", func(m *notify.Message) { m.Subject = "Hi\nBcc: all@example.com" }, "Subject contains a line break"},
		{"attack: CR in Subject", func(m *notify.Message) { m.Subject = "Hi\rX" }, "Subject contains a line break"},
		{"attack: NUL in To", func(m *notify.Message) { m.To = "a@example.com\x00" }, "To contains a control character"},
		{"attack: C1 control in Subject", func(m *notify.Message) { m.Subject = "Hi\u0085there" }, "Subject contains a control character"},
		{"attack: line separator in Subject", func(m *notify.Message) { m.Subject = "Hi\u2028there" }, "Subject contains a control character"},
		{"attack: NUL in Text", func(m *notify.Message) { m.Text = "a\x00b" }, "Text contains a control character"},
		{"attack: ESC in HTML", func(m *notify.Message) { m.HTML = "\x1b[31m" }, "HTML contains a control character"},
		{"attack: control in Key", func(m *notify.Message) { m.Key = "k\n" }, "Key contains"},
		{"attack: invalid UTF-8", func(m *notify.Message) { m.Text = "a\xffb" }, "Text is not valid UTF-8"},
		{"attack: upper-case kind", func(m *notify.Message) { m.Kind = "Password" }, "Kind"},
		{"attack: kind with space", func(m *notify.Message) { m.Kind = "a b" }, "Kind"},
		{"attack: long kind", func(m *notify.Message) { m.Kind = long(65) }, "Kind is 65 bytes"},
		{"attack: long to", func(m *notify.Message) { m.To = long(513) }, "To is 513 bytes"},
		{"attack: long subject", func(m *notify.Message) { m.Subject = long(1001) }, "Subject is 1001 bytes"},
		{"attack: oversized", func(m *notify.Message) { m.Text = long(200 << 10); m.HTML = long(60 << 10) }, "at most 262144 in all"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := msg("key")
			tc.edit(&m)
			err := m.Validate()
			if tc.err == "" {
				assert.NoError(t, err)
			} else {
				assert.ErrorContains(t, err, tc.err)
			}
		})
	}
}

func FuzzMessageValidate(f *testing.F) {
	f.Add("k", "a@example.com", "kind", "Subject", "Text", "")
	f.Add("k", "a@example.com\r\nBcc: x", "kind", "S", "T", "<p>")
	f.Fuzz(func(t *testing.T, key, to, kind, subject, text, html string) {
		m := notify.Message{Key: key, To: to, Kind: kind, Subject: subject, Text: text, HTML: html}
		if m.Validate() != nil {
			return
		}
		for _, s := range []string{key, to, subject} {
			assert.False(t, strings.ContainsAny(s, "\r\n\x00"), "accepted a line break in a header field")
		}
		assert.NotEmpty(t, text)
		assert.LessOrEqual(t, len(key), 200)
	})
}

// TestEnqueueRefusesInvalid stores nothing for an invalid message.
func TestEnqueueRefusesInvalid(t *testing.T) {
	forEach(t, func(t *testing.T, d database) {
		o, db := d.outbox(t, notify.OutboxConfig{})
		m := msg("k")
		m.Subject = "x\r\nBcc: everyone@example.com"
		assert.ErrorContains(t, o.Enqueue(context.Background(), m), "header injection")
		assert.Equal(t, 0, d.count(t, db, "1 = 1"))
	})
}

// TestTwoInstancesSendEachOnce runs two instances (two pools on one
// database), each running Run, over 200 messages queued before and while
// they run, through both: each message is sent exactly once.
func TestTwoInstancesSendEachOnce(t *testing.T) {
	forEach(t, func(t *testing.T, d database) {
		const n = 200
		cfg := notify.OutboxConfig{Batch: 7, Poll: 20 * time.Millisecond}
		a, db := d.outbox(t, cfg)
		b, _ := d.outbox(t, cfg)
		ctx := context.Background()
		for i := range n / 2 {
			require.NoError(t, []*notify.Outbox{a, b}[i%2].Enqueue(ctx, msg(fmt.Sprint("before-", i))))
		}
		s := newSender(n)
		stopA, stopB := run(t, a, s), run(t, b, s)
		testenv.Race(4, func(g int) {
			for i := g; i < n/2; i += 4 {
				assert.NoError(t, []*notify.Outbox{a, b}[i%2].Enqueue(ctx, msg(fmt.Sprint("during-", i))))
			}
		})
		s.waitDone(t)
		assert.ErrorIs(t, stopA(), context.Canceled)
		assert.ErrorIs(t, stopB(), context.Canceled)
		calls, sent := s.counts()
		assert.Equal(t, n, calls, "sends")
		assert.Len(t, sent, n)
		for k, c := range sent {
			assert.Equal(t, 1, c, k)
		}
		assert.Equal(t, n, d.count(t, db, "state = 1 AND lease = '' AND attempts = 1"), "all marked sent, after one attempt")
	})
}

// TestFailingSenderRecovers: a Sender that fails its first 40 calls, then
// recovers: nothing is lost, nothing is sent twice.
func TestFailingSenderRecovers(t *testing.T) {
	forEach(t, func(t *testing.T, d database) {
		const n = 30
		cfg := notify.OutboxConfig{MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, MaxAttempts: 1000, Poll: 20 * time.Millisecond}
		a, db := d.outbox(t, cfg)
		b, _ := d.outbox(t, cfg)
		for i := range n {
			require.NoError(t, a.Enqueue(context.Background(), msg(fmt.Sprint("m-", i))))
		}
		s := newSender(n)
		s.fail = func(m notify.Message, call int) error {
			if call <= 40 {
				return errors.New("421 service not available")
			}
			return nil
		}
		stopA, stopB := run(t, a, s), run(t, b, s)
		s.waitDone(t)
		require.ErrorIs(t, stopA(), context.Canceled)
		require.ErrorIs(t, stopB(), context.Canceled)
		calls, sent := s.counts()
		assert.Equal(t, n+40, calls)
		for k, c := range sent {
			assert.Equal(t, 1, c, k)
		}
		assert.Equal(t, n, d.count(t, db, "state = 1"))
		assert.Equal(t, n+40, sumAttempts(t, d, db), "every failure counted as an attempt")
	})
}

func sumAttempts(t testing.TB, d database, db *sql.DB) int {
	var n int
	require.NoError(t, db.QueryRow("SELECT SUM(attempts) FROM "+d.table).Scan(&n))
	return n
}

// fixture is an outbox on a test clock, for tests that call DeliverOnce.
type fixture struct {
	d     database
	o     *notify.Outbox
	db    *sql.DB
	clock *testenv.Clock
	audit *audit.MemorySink
}

func newFixture(t *testing.T, d database, cfg notify.OutboxConfig) *fixture {
	f := &fixture{d: d, clock: testenv.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)), audit: &audit.MemorySink{}}
	cfg.Now = f.clock.Now
	cfg.Audit = audit.MustNew(f.audit, audit.Config{Now: f.clock.Now})
	f.o, f.db = d.outbox(t, cfg)
	return f
}

func (f *fixture) deliver(t *testing.T, s notify.Sender) int {
	t.Helper()
	n, err := f.o.DeliverOnce(context.Background(), s)
	require.NoError(t, err)
	return n
}

func (f *fixture) events(a audit.Action) []audit.Event {
	var out []audit.Event
	for _, e := range f.audit.Events() {
		if e.Action == a {
			out = append(out, e)
		}
	}
	return out
}

// TestPermanentFailureGivenUp: an error wrapping ErrPermanent gives the
// message up after one attempt, audited, and it is never sent again.
func TestPermanentFailureGivenUp(t *testing.T) {
	forEach(t, func(t *testing.T, d database) {
		f := newFixture(t, d, notify.OutboxConfig{})
		require.NoError(t, f.o.Enqueue(context.Background(), msg("bounce")))
		s := newSender(1)
		s.fail = func(notify.Message, int) error {
			return fmt.Errorf("550 no such user\r\n\x00here: %w", notify.ErrPermanent)
		}
		assert.Equal(t, 1, f.deliver(t, s))
		r, ok := d.row(t, f.db, "bounce")
		require.True(t, ok)
		assert.Equal(t, 2, r.state, "given up")
		assert.Equal(t, 1, r.attempts)
		assert.Equal(t, f.clock.Now().UnixMilli(), r.doneAt)
		assert.Contains(t, r.lastError, "550 no such user")
		assert.NotContains(t, r.lastError, "\n", "control characters cut")
		assert.NotContains(t, r.lastError, "\x00")

		given := f.events(notify.ActionGivenUp)
		require.Len(t, given, 1)
		assert.Equal(t, audit.CategoryError, given[0].Category)
		assert.Equal(t, audit.OutcomeFailure, given[0].Outcome)
		assert.Equal(t, audit.Target{Kind: notify.TargetKindMessage, ID: "bounce"}, given[0].Target)
		assert.Equal(t, "password_changed", given[0].Meta["kind"])
		assert.Empty(t, f.events(notify.ActionSendFailed))

		f.clock.Add(48 * time.Hour)
		assert.Equal(t, 0, f.deliver(t, s), "a given-up message is not claimed again")
		calls, _ := s.counts()
		assert.Equal(t, 1, calls)
	})
}

// TestBackoffGrowsThenGivesUp: a Sender that always fails transiently;
// each retry waits within [step/2, step], the steps doubling from
// MinBackoff to MaxBackoff; after
// MaxAttempts the message is given up and audited.
func TestBackoffGrowsThenGivesUp(t *testing.T) {
	forEach(t, func(t *testing.T, d database) {
		const minB, maxB = time.Minute, 5 * time.Minute
		f := newFixture(t, d, notify.OutboxConfig{MinBackoff: minB, MaxBackoff: maxB, MaxAttempts: 5})
		require.NoError(t, f.o.Enqueue(context.Background(), msg("flaky")))
		s := newSender(1)
		s.fail = func(notify.Message, int) error { return errors.New("connection refused") }
		step, first := minB, time.Duration(0)
		for attempt := 1; attempt <= 4; attempt++ {
			require.Equal(t, 1, f.deliver(t, s), "attempt %d", attempt)
			r, _ := d.row(t, f.db, "flaky")
			require.Equal(t, 0, r.state)
			assert.Equal(t, attempt, r.attempts)
			assert.Empty(t, r.lease, "lease released")
			assert.Equal(t, "connection refused", r.lastError)
			delay := time.UnixMilli(r.nextAttempt).Sub(f.clock.Now())
			assert.GreaterOrEqual(t, delay, step/2-time.Millisecond, "attempt %d", attempt)
			assert.LessOrEqual(t, delay, step, "attempt %d", attempt)
			if attempt >= 3 {
				assert.Greater(t, delay, first, "attempt %d waits longer than the first", attempt)
			}
			if attempt == 1 {
				first = delay
			}
			step = min(2*step, maxB)

			assert.Equal(t, 0, f.deliver(t, s), "not due before the backoff ends")
			f.clock.Add(delay)
		}
		require.Equal(t, 1, f.deliver(t, s))
		r, _ := d.row(t, f.db, "flaky")
		assert.Equal(t, 2, r.state, "given up after MaxAttempts")
		assert.Equal(t, 5, r.attempts)
		assert.Len(t, f.events(notify.ActionSendFailed), 4)
		assert.Len(t, f.events(notify.ActionGivenUp), 1)
		f.clock.Add(24 * time.Hour)
		assert.Equal(t, 0, f.deliver(t, s))
		calls, _ := s.counts()
		assert.Equal(t, 5, calls)
	})
}

// TestDuplicateKeyQueuedOnce: a Key queued twice is one message, the
// first.
func TestDuplicateKeyQueuedOnce(t *testing.T) {
	forEach(t, func(t *testing.T, d database) {
		f := newFixture(t, d, notify.OutboxConfig{})
		ctx := context.Background()
		first, second := msg("dup"), msg("dup")
		second.Text = "the second"
		first.Created = time.Date(2025, 5, 6, 7, 8, 9, 0, time.UTC)
		require.NoError(t, f.o.Enqueue(ctx, first))
		require.NoError(t, f.o.Enqueue(ctx, second), "a duplicate is already queued: no error")
		assert.Equal(t, 1, d.count(t, f.db, "1 = 1"))
		s := newSender(1)
		assert.Equal(t, 1, f.deliver(t, s))
		require.Equal(t, first, s.last["dup"], "the first message, as queued")
		require.NoError(t, f.o.Enqueue(ctx, second), "still a duplicate once sent")
		assert.Equal(t, 0, f.deliver(t, s))
	})
}

// TestEnqueueTx: a message queued in a transaction exists if and only if
// the transaction commits.
func TestEnqueueTx(t *testing.T) {
	forEach(t, func(t *testing.T, d database) {
		f := newFixture(t, d, notify.OutboxConfig{})
		ctx := context.Background()
		tx, err := f.db.BeginTx(ctx, nil)
		require.NoError(t, err)
		t.Cleanup(func() { _ = tx.Rollback() })
		require.NoError(t, f.o.EnqueueTx(ctx, tx, msg("rolled-back")))
		require.NoError(t, tx.Rollback())
		assert.Equal(t, 0, d.count(t, f.db, "1 = 1"))
		s := newSender(1)
		assert.Equal(t, 0, f.deliver(t, s))

		tx2, err := f.db.BeginTx(ctx, nil)
		require.NoError(t, err)
		t.Cleanup(func() { _ = tx2.Rollback() })
		tx = tx2
		require.NoError(t, f.o.EnqueueTx(ctx, tx, msg("committed")))
		assert.ErrorContains(t, f.o.EnqueueTx(ctx, tx, notify.Message{Key: "x"}), "To is empty")
		require.NoError(t, tx.Commit())
		assert.Equal(t, 1, f.deliver(t, s))
		_, sent := s.counts()
		assert.Equal(t, map[string]int{"committed": 1}, sent)
	})
}

// TestLeaseLost: instance A claims a message and stalls in Send past its
// lease; instance B claims it again and sends it. A's mark then changes
// nothing: the message is recorded once, sent by B (and by A: delivery is
// at least once when an instance stalls past its lease).
func TestLeaseLost(t *testing.T) {
	forEach(t, func(t *testing.T, d database) {
		f := newFixture(t, d, notify.OutboxConfig{Lease: time.Minute})
		var logs strings.Builder
		var logMu sync.Mutex
		b := d.outboxOn(t, d.open(t), notify.OutboxConfig{Now: f.clock.Now})
		a := d.outboxOn(t, f.db, notify.OutboxConfig{Now: f.clock.Now, Lease: time.Minute,
			ErrorLog: slog.New(slog.NewTextHandler(lockedWriter{&logMu, &logs}, nil))})
		require.NoError(t, a.Enqueue(context.Background(), msg("slow")))

		bs := newSender(1)
		as := newSender(1)
		as.fail = func(notify.Message, int) error {
			// A stalls: nothing is due for B while A's lease holds it.
			n, err := b.DeliverOnce(context.Background(), bs)
			assert.NoError(t, err)
			assert.Equal(t, 0, n, "leased to A")
			f.clock.Add(time.Minute + time.Millisecond)
			n, err = b.DeliverOnce(context.Background(), bs)
			assert.NoError(t, err)
			assert.Equal(t, 1, n, "A's lease ran out: B claims it")
			return nil
		}
		n, err := a.DeliverOnce(context.Background(), as)
		require.NoError(t, err)
		require.Equal(t, 1, n)
		_, bSent := bs.counts()
		_, aSent := as.counts()
		assert.Equal(t, map[string]int{"slow": 1}, bSent)
		assert.Equal(t, map[string]int{"slow": 1}, aSent)
		r, _ := d.row(t, f.db, "slow")
		assert.Equal(t, 1, r.state)
		assert.Equal(t, 2, r.attempts)
		logMu.Lock()
		assert.Contains(t, logs.String(), "lease lost")
		logMu.Unlock()
		f.clock.Add(time.Hour)
		assert.Equal(t, 0, f.deliver(t, bs))
	})
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *strings.Builder
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}

// TestCrashBeforeMark: a claim whose instance dies (claims, never
// records) holds the message until the lease ends; then another instance
// sends it. Nothing is lost.
func TestCrashBeforeMark(t *testing.T) {
	forEach(t, func(t *testing.T, d database) {
		f := newFixture(t, d, notify.OutboxConfig{Lease: time.Minute})
		require.NoError(t, f.o.Enqueue(context.Background(), msg("orphan")))
		// The "crash": a Send whose context is never done and that never
		// returns is not possible to test without leaking; instead, claim
		// the row as a dead instance would have left it.
		rowsAffected(t, f.db, d, "UPDATE "+d.table+" SET lease = 'dead', next_attempt = next_attempt + 60000, attempts = 1")
		s := newSender(1)
		assert.Equal(t, 0, f.deliver(t, s), "leased")
		f.clock.Add(time.Minute)
		assert.Equal(t, 1, f.deliver(t, s), "the lease ran out")
		r, _ := d.row(t, f.db, "orphan")
		assert.Equal(t, 1, r.state)
		assert.Equal(t, 2, r.attempts)
	})
}

func rowsAffected(t testing.TB, db *sql.DB, d database, q string) {
	t.Helper()
	res, err := db.Exec(q)
	require.NoError(t, err)
	n, err := res.RowsAffected()
	require.NoError(t, err)
	require.Positive(t, n)
}

// TestRunEndReleases: a send that Run's end interrupts is released, not
// counted as an attempt, and sent by the next Run.
func TestRunEndReleases(t *testing.T) {
	forEach(t, func(t *testing.T, d database) {
		o, db := d.outbox(t, notify.OutboxConfig{})
		require.NoError(t, o.Enqueue(context.Background(), msg("m")))
		inSend := make(chan struct{})
		stuck := notify.Sender(senderFunc(func(ctx context.Context, m notify.Message) error {
			close(inSend)
			<-ctx.Done()
			return ctx.Err()
		}))
		stop := run(t, o, stuck)
		select {
		case <-inSend:
		case <-time.After(wait):
			t.Fatal("Run never sent")
		}
		assert.ErrorIs(t, stop(), context.Canceled)
		r, _ := d.row(t, db, "m")
		assert.Equal(t, row{state: 0, attempts: 0, nextAttempt: r.nextAttempt}, r)
		assert.Empty(t, r.lastError)

		s := newSender(1)
		run(t, o, s)
		s.waitDone(t)
	})
}

type senderFunc func(ctx context.Context, m notify.Message) error

func (f senderFunc) Send(ctx context.Context, m notify.Message) error { return f(ctx, m) }

// TestSenderPanics: a panicking Sender is a failed send, not a crash.
func TestSenderPanics(t *testing.T) {
	forEach(t, func(t *testing.T, d database) {
		f := newFixture(t, d, notify.OutboxConfig{})
		require.NoError(t, f.o.Enqueue(context.Background(), msg("p")))
		assert.Equal(t, 1, f.deliver(t, senderFunc(func(context.Context, notify.Message) error { panic("boom") })))
		r, _ := d.row(t, f.db, "p")
		assert.Equal(t, 0, r.state)
		assert.Contains(t, r.lastError, "panicked: boom")
	})
}

// TestRunWakesOnEnqueue: with a poll interval of an hour, a message
// queued in this process is sent at once.
func TestRunWakesOnEnqueue(t *testing.T) {
	forEach(t, func(t *testing.T, d database) {
		o, _ := d.outbox(t, notify.OutboxConfig{Poll: time.Hour})
		s := newSender(2)
		run(t, o, s)
		require.NoError(t, o.Enqueue(context.Background(), msg("first")))
		require.Eventually(t, func() bool { _, sent := s.counts(); return len(sent) == 1 }, wait, time.Millisecond)
		require.NoError(t, o.Enqueue(context.Background(), msg("second")))
		s.waitDone(t)
	})
}

// TestPrune deletes sent and given-up messages past retention, never
// pending ones; a pruned Key can be queued again.
func TestPrune(t *testing.T) {
	forEach(t, func(t *testing.T, d database) {
		f := newFixture(t, d, notify.OutboxConfig{})
		ctx := context.Background()
		for _, k := range []string{"sent", "bounced", "pending"} {
			require.NoError(t, f.o.Enqueue(ctx, msg(k)))
		}
		s := newSender(1)
		s.fail = func(m notify.Message, _ int) error {
			switch m.Key {
			case "bounced":
				return notify.ErrPermanent
			case "pending":
				return errors.New("try later")
			}
			return nil
		}
		assert.Equal(t, 3, f.deliver(t, s))
		n, err := f.o.Prune(ctx, time.Hour)
		require.NoError(t, err)
		assert.Equal(t, 0, n, "not old enough")
		f.clock.Add(time.Hour + time.Millisecond)
		n, err = f.o.Prune(ctx, time.Hour)
		require.NoError(t, err)
		assert.Equal(t, 2, n)
		_, ok := d.row(t, f.db, "pending")
		assert.True(t, ok, "pending messages are kept")
		require.NoError(t, f.o.Enqueue(ctx, msg("sent")))
		_, ok = d.row(t, f.db, "sent")
		assert.True(t, ok, "a pruned Key is free again")
	})
}

// TestMigrateTwice: Migrate is idempotent, and concurrent.
func TestMigrateTwice(t *testing.T) {
	forEach(t, func(t *testing.T, d database) {
		o, _ := d.outbox(t, notify.OutboxConfig{})
		o2, _ := d.outbox(t, notify.OutboxConfig{})
		testenv.Race(2, func(i int) { assert.NoError(t, []*notify.Outbox{o, o2}[i].Migrate(context.Background())) })
	})
}

// recordHandler signals on a channel when a record whose message contains
// match is logged.
type recordHandler struct {
	match string
	seen  chan struct{}
	once  *sync.Once
}

func (h recordHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h recordHandler) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, h.match) {
		h.once.Do(func() { close(h.seen) })
	}
	return nil
}
func (h recordHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h recordHandler) WithGroup(string) slog.Handler      { return h }

// TestRunSurvivesDatabaseDown: PostgreSQL hangs (behind a proxy) while
// Run runs; Run logs, keeps going, and delivers what was queued meanwhile
// once the database answers again.
func TestRunSurvivesDatabaseDown(t *testing.T) {
	d := backends[1].new(t)
	u, err := url.Parse(d.dsn)
	require.NoError(t, err)
	p := testenv.NewProxy(t, u.Host)
	u.Host = p.Addr()
	proxied := openPG(t, u.String())
	t.Cleanup(p.Resume) // before the pool closes

	h := recordHandler{match: "database error", seen: make(chan struct{}), once: new(sync.Once)}
	cfg := notify.OutboxConfig{Lease: 2 * time.Second, Poll: 20 * time.Millisecond, ErrorLog: slog.New(h)}
	runner := d.outboxOn(t, proxied, cfg)
	direct, db := d.outbox(t, notify.OutboxConfig{})

	s := newSender(6)
	stop := run(t, runner, s)
	require.NoError(t, direct.Enqueue(context.Background(), msg("before")))
	require.Eventually(t, func() bool { return d.count(t, db, "state = 1") == 1 }, wait, time.Millisecond, "sent and marked")

	p.Hang()
	select {
	case <-h.seen:
	case <-time.After(wait):
		t.Fatal("Run logged no database error while the database hung")
	}
	for i := range 5 {
		require.NoError(t, direct.Enqueue(context.Background(), msg(fmt.Sprint("during-", i))))
	}
	p.Resume()
	s.waitDone(t)
	assert.ErrorIs(t, stop(), context.Canceled)
	_, sent := s.counts()
	for k, c := range sent {
		assert.Equal(t, 1, c, k)
	}
	assert.Equal(t, 6, d.count(t, db, "state = 1"))
}
