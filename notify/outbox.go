package notify

import (
	"context"
	crand "crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/internal/sqlmigrate"
	"github.com/deployedworks/rampart/sqldb"
)

// OutboxConfig tunes an [Outbox]. The zero value is ready to use.
type OutboxConfig struct {
	// Table names the outbox table, optionally schema-qualified
	// ("app.outbox": a PostgreSQL schema, or an attached SQLite database).
	// Default: "rampart_outbox". Letters, digits and underscores only: it
	// is written into SQL.
	Table string
	// Audit receives the events of failed sends and given-up messages
	// (see [ActionGivenUp]). [Outbox.Run] works outside any request, so
	// there is no request Logger to fall back on: leave Audit nil and
	// those failures go to ErrorLog only.
	Audit *audit.Logger
	// ErrorLog receives what Run cannot tell anyone else: database errors
	// (Run keeps going), failed sends and given-up messages. Default: a
	// text handler on os.Stderr; never the global logger.
	ErrorLog *slog.Logger
	// MaxAttempts is how many times a message is tried before it is given
	// up. Default: 10, which with the default backoffs spans about five
	// hours.
	MaxAttempts int
	// MinBackoff and MaxBackoff bound the wait before a failed message is
	// tried again: MinBackoff after the first failure, doubling with each
	// failure up to MaxBackoff, and jittered (between half the step and
	// the step) so that instances recovering together do not stampede a
	// recovering mail server. Defaults: 30s and 1h.
	MinBackoff, MaxBackoff time.Duration
	// Lease is how long a claimed message belongs to the instance that
	// claimed it; after that another instance may send it again. Each
	// send's context has a deadline of Lease/2, and each database call of
	// Run a timeout of Lease/4, so that a message is marked sent well
	// before its lease ends. Default: 2m; at least 1s.
	Lease time.Duration
	// Batch is how many messages Run claims at a time and sends
	// concurrently. Default: 10; at most 1000.
	Batch int
	// Poll is how often Run looks for messages it was not told about:
	// those queued by other instances or by [Outbox.EnqueueTx]. Default:
	// 5s.
	Poll time.Duration
	// Now is the outbox's clock, for tests that drive one clock against a
	// real database (where testing/synctest cannot reach). Default:
	// time.Now. Timers and deadlines always use the real clock.
	Now func() time.Time
}

// Outbox is a durable queue of messages in a database table: the request
// that causes a notification queues it ([Outbox.Enqueue], or
// [Outbox.EnqueueTx] in the request's own transaction), and [Outbox.Run]
// delivers it later through a [Sender]. It is safe for concurrent use.
// The Outbox starts no goroutine: Run is the delivery loop, in a goroutine
// of the caller's.
type Outbox struct {
	db      *sql.DB
	dialect sqldb.Dialect
	cfg     OutboxConfig
	wake    chan struct{} // holds one pending nudge from Enqueue
	q       queries
}

type queries struct {
	enqueue, claim, sent, retry, giveUp, release, nextDue, prune string
	schema                                                       []string
}

// Row states.
const (
	statePending = 0
	stateSent    = 1
	stateGivenUp = 2
)

const maxLastError = 500

var tableName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}(\.[A-Za-z_][A-Za-z0-9_]{0,62})?$`)

// NewOutbox returns an Outbox on db, which must have been opened with a
// driver for dialect. It runs no SQL: call [Outbox.Migrate] before first
// use.
func NewOutbox(db *sql.DB, dialect sqldb.Dialect, cfg OutboxConfig) (*Outbox, error) {
	if db == nil {
		return nil, errors.New("notify: NewOutbox: nil *sql.DB: open one with sql.Open and the driver for your database")
	}
	if !dialect.Valid() {
		return nil, fmt.Errorf("notify: NewOutbox: unknown dialect %v: use sqldb.SQLite or sqldb.PostgreSQL", dialect)
	}
	if cfg.Table == "" {
		cfg.Table = "rampart_outbox"
	}
	if !tableName.MatchString(cfg.Table) {
		return nil, fmt.Errorf("notify: NewOutbox: Table %q: use letters, digits and underscores, optionally schema.table", cfg.Table)
	}
	if cfg.ErrorLog == nil {
		cfg.ErrorLog = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	defaults := []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{{"MinBackoff", &cfg.MinBackoff, 30 * time.Second}, {"MaxBackoff", &cfg.MaxBackoff, time.Hour}, {"Lease", &cfg.Lease, 2 * time.Minute}, {"Poll", &cfg.Poll, 5 * time.Second}}
	for _, d := range defaults {
		if *d.v < 0 {
			return nil, fmt.Errorf("notify: NewOutbox: %s is %v: it must not be negative (0 is %v)", d.name, *d.v, d.def)
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	switch {
	case cfg.MinBackoff > cfg.MaxBackoff:
		return nil, fmt.Errorf("notify: NewOutbox: MinBackoff %v exceeds MaxBackoff %v", cfg.MinBackoff, cfg.MaxBackoff)
	case cfg.Lease < time.Second:
		return nil, fmt.Errorf("notify: NewOutbox: Lease %v: at least 1s, to leave a send time to finish", cfg.Lease)
	case cfg.MaxAttempts < 0:
		return nil, fmt.Errorf("notify: NewOutbox: MaxAttempts %d: it must not be negative (0 is 10)", cfg.MaxAttempts)
	case cfg.Batch < 0 || cfg.Batch > 1000:
		return nil, fmt.Errorf("notify: NewOutbox: Batch %d: between 1 and 1000 (0 is 10)", cfg.Batch)
	}
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = 10
	}
	if cfg.Batch == 0 {
		cfg.Batch = 10
	}
	o := &Outbox{db: db, dialect: dialect, cfg: cfg, wake: make(chan struct{}, 1)}
	o.q = buildQueries(dialect, cfg.Table)
	return o, nil
}

func buildQueries(d sqldb.Dialect, t string) queries {
	// Index names: PostgreSQL puts an index in its table's schema and
	// forbids qualifying the name; SQLite wants the schema on the index
	// name and none on the table ("CREATE INDEX aux.i ON t").
	schema, name, qualified := strings.Cut(t, ".")
	if !qualified {
		schema, name = "", t
	} else {
		schema += "."
	}
	due, done, on := name+"_due_idx", name+"_done_idx", t
	p := func(i int) string { return "$" + strconv.Itoa(i) }
	lock := " FOR UPDATE SKIP LOCKED"
	if d == sqldb.SQLite {
		p = func(i int) string { return "?" + strconv.Itoa(i) }
		lock = ""
		due, done, on = schema+due, schema+done, name
	}
	const cols = `msg_key, recipient, kind, subject, body_text, body_html, created_at`
	return queries{
		enqueue: fmt.Sprintf(`INSERT INTO %s (%s, next_attempt) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (msg_key) DO NOTHING`, t, cols, p(1), p(2), p(3), p(4), p(5), p(6), p(7), p(8)),
		// A due row is pending with next_attempt passed: a new message, a
		// failed one whose backoff is over, or a claimed one whose lease
		// ran out (its claimer died or stalled). Claiming moves
		// next_attempt to the end of the lease and stamps the row with
		// the claim's token. On PostgreSQL, SKIP LOCKED passes over rows
		// that another instance is claiming, and a row that instance has
		// claimed meanwhile is re-checked against the WHERE clause (READ
		// COMMITTED), so it is not claimed twice; SQLite runs one writer
		// at a time.
		claim: fmt.Sprintf(`UPDATE %s SET lease = %s, next_attempt = %s, attempts = attempts + 1
WHERE msg_key IN (SELECT msg_key FROM %s WHERE state = %d AND next_attempt <= %s ORDER BY next_attempt LIMIT %s%s)
RETURNING %s, attempts`, t, p(1), p(2), t, statePending, p(3), p(4), lock, cols),
		// The outcome of a send is written only while the claim's token
		// is on the row: an instance whose lease ran out and was
		// re-claimed changes nothing.
		sent: fmt.Sprintf(`UPDATE %s SET state = %d, done_at = %s, lease = '', last_error = '' WHERE msg_key = %s AND lease = %s AND state = %d`,
			t, stateSent, p(1), p(2), p(3), statePending),
		retry: fmt.Sprintf(`UPDATE %s SET next_attempt = %s, lease = '', last_error = %s WHERE msg_key = %s AND lease = %s AND state = %d`,
			t, p(1), p(2), p(3), p(4), statePending),
		giveUp: fmt.Sprintf(`UPDATE %s SET state = %d, done_at = %s, lease = '', last_error = %s WHERE msg_key = %s AND lease = %s AND state = %d`,
			t, stateGivenUp, p(1), p(2), p(3), p(4), statePending),
		// An interrupted send (Run's context ended) is not a failure: the
		// message is due again at once, the attempt not counted.
		release: fmt.Sprintf(`UPDATE %s SET next_attempt = %s, lease = '', attempts = attempts - 1 WHERE msg_key = %s AND lease = %s AND state = %d`,
			t, p(1), p(2), p(3), statePending),
		nextDue: fmt.Sprintf(`SELECT MIN(next_attempt) FROM %s WHERE state = %d`, t, statePending),
		prune:   fmt.Sprintf(`DELETE FROM %s WHERE state <> %d AND done_at < %s`, t, statePending, p(1)),
		// Times are Unix milliseconds. lease is the token of the claim
		// that holds the row, '' when none does.
		schema: []string{
			fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s (
	msg_key      TEXT PRIMARY KEY,
	recipient    TEXT NOT NULL,
	kind         TEXT NOT NULL,
	subject      TEXT NOT NULL,
	body_text    TEXT NOT NULL,
	body_html    TEXT NOT NULL,
	created_at   BIGINT NOT NULL,
	state        SMALLINT NOT NULL DEFAULT 0,
	attempts     INTEGER NOT NULL DEFAULT 0,
	next_attempt BIGINT NOT NULL,
	lease        TEXT NOT NULL DEFAULT '',
	last_error   TEXT NOT NULL DEFAULT '',
	done_at      BIGINT NOT NULL DEFAULT 0
)`, t),
			fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %s ON %s (state, next_attempt)`, due, on),
			fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %s ON %s (state, done_at)`, done, on),
		},
	}
}

// Migrate creates the outbox table, or brings it up to date, and records
// what it did in the table rampart_schema (component "notify:" and the
// table's name). It is safe to run from several instances at once and
// more than once.
func (o *Outbox) Migrate(ctx context.Context) error {
	err := sqlmigrate.Apply(ctx, o.db, o.dialect, "notify:"+o.cfg.Table, []sqlmigrate.Step{{Version: 1, Stmts: o.q.schema}})
	if err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	return nil
}

// execer is what Enqueue writes with: the pool or the caller's transaction.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// Enqueue queues m for delivery, and wakes this process's [Outbox.Run]. It
// never calls the Sender, so a Sender that is down never fails or slows
// the request; it fails only when m is invalid (an error that names the
// field) or the database does. A message whose Key is queued already is
// not queued again, whatever its content, and Enqueue returns nil: the
// first one stands. Keys stay taken until [Outbox.Prune] removes their
// messages.
func (o *Outbox) Enqueue(ctx context.Context, m Message) error {
	if err := o.enqueue(ctx, o.db, m); err != nil {
		return err
	}
	o.nudge()
	return nil
}

// EnqueueTx is [Outbox.Enqueue] inside the caller's transaction tx: the
// message is queued if and only if tx commits, so that a notification is
// never sent about a change that was rolled back, nor lost when one was
// committed. tx must be a transaction on the Outbox's database. Run is
// woken now, and finds the message then if tx has committed by the time
// it looks, else at its next poll ([OutboxConfig.Poll]).
func (o *Outbox) EnqueueTx(ctx context.Context, tx *sql.Tx, m Message) error {
	if tx == nil {
		return errors.New("notify: EnqueueTx: nil *sql.Tx: pass the transaction to queue the message in, or call Enqueue")
	}
	if err := o.enqueue(ctx, tx, m); err != nil {
		return err
	}
	o.nudge()
	return nil
}

func (o *Outbox) enqueue(ctx context.Context, ex execer, m Message) error {
	if err := m.validate(); err != nil {
		return err
	}
	now := o.cfg.Now()
	created := m.Created
	if created.IsZero() {
		created = now
	}
	if _, err := ex.ExecContext(ctx, o.q.enqueue, m.Key, m.To, m.Kind, m.Subject, m.Text, m.HTML, created.UnixMilli(), now.UnixMilli()); err != nil {
		return fmt.Errorf("notify: enqueue: %w", err)
	}
	return nil
}

// nudge wakes Run without ever blocking: one pending wake-up is enough.
func (o *Outbox) nudge() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// Run delivers queued messages through s until ctx ends, and returns
// ctx's error once its sends in flight have returned. Run it in one
// goroutine per process; any number of processes may run it on one
// table.
//
// Each round, Run claims up to [OutboxConfig.Batch] due messages for
// [OutboxConfig.Lease], sends them concurrently, and marks each sent
// ("mark sent only if the lease is still ours"). A failed send is tried
// again after a backoff, and given up (kept until [Outbox.Prune], and
// audited as [ActionGivenUp]) after [OutboxConfig.MaxAttempts] attempts or
// at once when its error wraps [ErrPermanent]. Between rounds Run sleeps
// until the earliest retry is due, an Enqueue of this process wakes it,
// or [OutboxConfig.Poll] passes. A database error is logged to
// [OutboxConfig.ErrorLog] and retried with a backoff of its own: Run never
// returns because the database is down, and never spins.
//
// # Delivery guarantee
//
// Each message is sent at least once, and exactly once unless an instance
// dies or stalls between a send and its mark: then the message is sent
// again when the lease runs out. The lease bounds that window: a send
// must end within Lease/2 and the mark within Lease/4 more, so only an
// instance that crashes, or whose database stalls past those deadlines,
// lets a second instance send the message too. A message is never lost:
// it stays pending until a mark of sent or given up commits.
//
// A send that Run's end interrupts is not counted as an attempt: the
// message is released for the next round, of this or another instance.
// A panic in s is recovered and counted as a failed send.
func (o *Outbox) Run(ctx context.Context, s Sender) error {
	if s == nil {
		return errors.New("notify: Run: nil Sender: pass the Sender that delivers the messages (package notify/mail sends e-mail)")
	}
	failures := 0 // consecutive database errors
	for {
		n, err := o.deliver(ctx, s)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var wait time.Duration
		if err == nil && n == o.cfg.Batch {
			failures = 0
			continue // a full batch: more may be due
		}
		if err == nil {
			wait, err = o.untilDue(ctx, n)
		}
		if err != nil {
			failures++
			// Poll, doubling to at most ten of them, jittered.
			wait = o.cfg.Poll << min(failures-1, 3)
			wait = min(wait, 10*o.cfg.Poll)
			wait = wait/2 + rand.N(wait/2+1) // #nosec G404 -- retry jitter: spreads retries, needs no unpredictability
			o.cfg.ErrorLog.LogAttrs(ctx, slog.LevelError, "notify: outbox: database error; retrying",
				slog.String("error", err.Error()), slog.Int("failures", failures), slog.Duration("retry_in", wait))
		} else {
			failures = 0
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-o.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// untilDue returns how long to wait before the next round: until the
// earliest pending message is due, at most Poll. When messages are due
// but none could be claimed (another instance is claiming them) it waits
// a little rather than spin.
func (o *Outbox) untilDue(ctx context.Context, claimed int) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, o.cfg.Lease/4)
	defer cancel()
	var due sql.NullInt64
	if err := o.db.QueryRowContext(ctx, o.q.nextDue).Scan(&due); err != nil {
		return 0, fmt.Errorf("notify: outbox: next due: %w", err)
	}
	if !due.Valid {
		return o.cfg.Poll, nil
	}
	wait := time.UnixMilli(due.Int64).Sub(o.cfg.Now())
	if wait <= 0 && claimed == 0 {
		wait = min(o.cfg.Poll, 100*time.Millisecond)
	}
	return max(0, min(wait, o.cfg.Poll)), nil
}

// claimed is a message held by this instance.
type claimed struct {
	m        Message
	attempts int
}

// deliver runs one round: claim a batch, send it, record the outcomes. It
// returns how many messages it claimed.
func (o *Outbox) deliver(ctx context.Context, s Sender) (int, error) {
	token := crand.Text()
	batch, err := o.claim(ctx, token)
	if err != nil || len(batch) == 0 {
		return 0, err
	}
	sendCtx, cancel := context.WithTimeout(ctx, o.cfg.Lease/2)
	defer cancel()
	errs := make([]error, len(batch))
	var wg sync.WaitGroup
	for i := range batch {
		wg.Go(func() { errs[i] = send(sendCtx, s, batch[i].m) })
	}
	wg.Wait()
	// The outcomes are written even when ctx has ended: a sent message
	// left unmarked would be sent again.
	markCtx, cancelMark := context.WithTimeout(context.WithoutCancel(ctx), o.cfg.Lease/4)
	defer cancelMark()
	var dbErr error
	for i, c := range batch {
		if err := o.record(markCtx, ctx, token, c, errs[i]); err != nil {
			dbErr = errors.Join(dbErr, err)
		}
	}
	return len(batch), dbErr
}

// claim takes up to Batch due messages under token.
func (o *Outbox) claim(ctx context.Context, token string) ([]claimed, error) {
	ctx, cancel := context.WithTimeout(ctx, o.cfg.Lease/4)
	defer cancel()
	now := o.cfg.Now()
	rows, err := o.db.QueryContext(ctx, o.q.claim, token, now.Add(o.cfg.Lease).UnixMilli(), now.UnixMilli(), o.cfg.Batch)
	if err != nil {
		return nil, fmt.Errorf("notify: outbox: claim: %w", err)
	}
	defer rows.Close()
	var out []claimed
	for rows.Next() {
		var c claimed
		var created int64
		if err := rows.Scan(&c.m.Key, &c.m.To, &c.m.Kind, &c.m.Subject, &c.m.Text, &c.m.HTML, &created, &c.attempts); err != nil {
			return nil, fmt.Errorf("notify: outbox: claim: %w", err)
		}
		c.m.Created = time.UnixMilli(created).UTC()
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("notify: outbox: claim: %w", err)
	}
	return out, nil
}

// send calls s, turning a panic into an error.
func send(ctx context.Context, s Sender, m Message) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("notify: Sender panicked: %v", r)
		}
	}()
	return s.Send(ctx, m)
}

// record writes the outcome of one send, sendErr, under token. runCtx is
// Run's context: a send that failed because it ended is released.
func (o *Outbox) record(ctx, runCtx context.Context, token string, c claimed, sendErr error) error {
	now := o.cfg.Now()
	var (
		res    sql.Result
		err    error
		op     string
		reason string
	)
	switch {
	case sendErr == nil:
		op = "mark sent"
		res, err = o.db.ExecContext(ctx, o.q.sent, now.UnixMilli(), c.m.Key, token)
	case runCtx.Err() != nil:
		op = "release"
		res, err = o.db.ExecContext(ctx, o.q.release, now.UnixMilli(), c.m.Key, token)
	case errors.Is(sendErr, ErrPermanent) || c.attempts >= o.cfg.MaxAttempts:
		op, reason = "give up", cut(sendErr.Error())
		res, err = o.db.ExecContext(ctx, o.q.giveUp, now.UnixMilli(), reason, c.m.Key, token)
	default:
		op, reason = "retry", cut(sendErr.Error())
		res, err = o.db.ExecContext(ctx, o.q.retry, now.Add(o.backoff(c.attempts)).UnixMilli(), reason, c.m.Key, token)
	}
	if err != nil {
		return fmt.Errorf("notify: outbox: %s %q: %w", op, c.m.Key, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("notify: outbox: %s %q: %w", op, c.m.Key, err)
	} else if n == 0 {
		// The lease ran out and another instance claimed the message:
		// it sends it again (or has), and records the outcome.
		o.cfg.ErrorLog.LogAttrs(ctx, slog.LevelWarn, "notify: outbox: lease lost before the outcome was recorded; the message may be sent twice: raise OutboxConfig.Lease",
			slog.String("key", c.m.Key), slog.String("outcome", op))
		return nil
	}
	if reason == "" {
		return nil
	}
	e := audit.Event{
		Category: audit.CategoryError,
		Action:   ActionSendFailed,
		Outcome:  audit.OutcomeFailure,
		Target:   audit.Target{Kind: TargetKindMessage, ID: c.m.Key},
		Reason:   reason,
		Meta:     map[string]string{"kind": c.m.Kind, "attempts": strconv.Itoa(c.attempts)},
		Pace:     audit.Pace{Every: time.Minute, Burst: 10},
	}
	msg, level := "notify: outbox: send failed; will retry", slog.LevelWarn
	if op == "give up" {
		e.Action, e.Pace = ActionGivenUp, audit.Pace{}
		msg, level = "notify: outbox: message given up", slog.LevelError
	}
	o.cfg.ErrorLog.LogAttrs(ctx, level, msg, slog.String("key", c.m.Key), slog.String("kind", c.m.Kind),
		slog.Int("attempts", c.attempts), slog.String("error", reason))
	if o.cfg.Audit != nil {
		o.cfg.Audit.Log(ctx, e)
	}
	return nil
}

// backoff is the wait after the attempts-th failed attempt: MinBackoff
// doubled attempts-1 times, at most MaxBackoff, then jittered into its
// upper half: the jitter spreads instances apart without ever cutting a
// wait below half its step.
func (o *Outbox) backoff(attempts int) time.Duration {
	d := o.cfg.MinBackoff
	for i := 1; i < attempts && d < o.cfg.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, o.cfg.MaxBackoff)
	return d/2 + rand.N(d/2+1) // #nosec G404 -- retry jitter: spreads retries, needs no unpredictability
}

// cut makes an error (a Sender's, or other code's for an EventSink's
// Reason) fit for a column, a Reason and a log line: valid UTF-8, control
// characters as spaces, at most maxLastError bytes.
func cut(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if isControl(r) {
			return ' '
		}
		return r
	}, s)
	if len(s) <= maxLastError {
		return s
	}
	i := maxLastError
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i]
}

// Prune deletes the messages that were sent or given up more than
// olderThan ago, and returns how many. Pending messages are never pruned.
// Call it from time to time (daily, say): the outbox keeps delivered
// messages, and their Keys, until then, so that a Key seen again within
// that time is not sent again.
func (o *Outbox) Prune(ctx context.Context, olderThan time.Duration) (int, error) {
	if olderThan < 0 {
		return 0, fmt.Errorf("notify: Prune: olderThan %v is negative", olderThan)
	}
	res, err := o.db.ExecContext(ctx, o.q.prune, o.cfg.Now().Add(-olderThan).UnixMilli())
	if err != nil {
		return 0, fmt.Errorf("notify: prune: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("notify: prune: %w", err)
	}
	return int(n), nil
}
