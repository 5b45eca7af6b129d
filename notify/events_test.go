package notify_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/audit/detect"
	"github.com/deployedworks/rampart/identity"
	"github.com/deployedworks/rampart/notify"
	"github.com/deployedworks/rampart/ratelimit"
)

// Actions of other packages, as an application passes them (package notify
// may not import mfa, which is above it).
const (
	actFactorAdded audit.Action = "mfa.totp.confirm"
	actRoleGranted audit.Action = "app.role.granted"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// memOutbox is an Enqueuer that keeps one message per Key, as the outbox
// does, and can be made to fail or hang.
type memOutbox struct {
	mu    sync.Mutex
	msgs  []notify.Message
	keys  map[string]bool
	calls int
	fail  error
	hang  bool
}

func (o *memOutbox) Enqueue(ctx context.Context, m notify.Message) error {
	o.mu.Lock()
	o.calls++
	fail, hang := o.fail, o.hang
	o.mu.Unlock()
	if hang {
		<-ctx.Done()
		return ctx.Err()
	}
	if fail != nil {
		return fail
	}
	if err := valid(m); err != nil {
		return err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.keys == nil {
		o.keys = map[string]bool{}
	}
	if !o.keys[m.Key] {
		o.keys[m.Key] = true
		o.msgs = append(o.msgs, m)
	}
	return nil
}

// valid checks m as the outbox does: valid UTF-8, no control character but
// line breaks and tabs in the bodies, none in the other fields.
func valid(m notify.Message) error {
	for i, v := range []string{m.Key, m.To, m.Kind, m.Subject, m.Text, m.HTML} {
		if !utf8.ValidString(v) {
			return fmt.Errorf("field %d not UTF-8", i)
		}
		for _, c := range v {
			if i >= 4 && (c == '\n' || c == '\r' || c == '\t') {
				continue
			}
			if unicode.IsControl(c) || c == '\u2028' || c == '\u2029' {
				return fmt.Errorf("field %d holds control character %U", i, c)
			}
		}
	}
	return nil
}

func (o *memOutbox) messages() []notify.Message {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.msgs)
}

func (o *memOutbox) to(addr string) []notify.Message {
	var out []notify.Message
	for _, m := range o.messages() {
		if m.To == addr {
			out = append(out, m)
		}
	}
	return out
}

// users is the lookup of ToUser: user ID -> address.
func users(m map[string]string) func(context.Context, string) (string, error) {
	return func(_ context.Context, id string) (string, error) { return m[id], nil }
}

func factorAdded(user, req string) audit.Event {
	return audit.Event{Time: t0, Category: audit.CategoryAuthentication, Action: actFactorAdded, Outcome: audit.OutcomeSuccess,
		Actor: identity.Principal{UserID: user}, RequestID: req, ClientIP: netip.MustParseAddr("198.51.100.7"), UserAgent: "Firefox/140"}
}

func stuffing(at time.Duration, account string) audit.Event {
	return audit.Event{Time: t0.Add(at), Category: audit.CategorySuspicious, Action: detect.ActionCredentialStuffing, Outcome: audit.OutcomeFailure,
		Target: audit.Target{Kind: audit.TargetKindAccount, ID: account}, ClientIP: netip.MustParseAddr("203.0.113.9"),
		Reason: "failed logins on one account from 5 addresses within 15m0s", Meta: map[string]string{"distinct_ips": "5"}}
}

func actionsOf(events []audit.Event, a audit.Action) []audit.Event {
	var out []audit.Event
	for _, e := range events {
		if e.Action == a {
			out = append(out, e)
		}
	}
	return out
}

func rules() []notify.Rule {
	return []notify.Rule{
		notify.Notice(actFactorAdded, "An authenticator app was added to your account.",
			notify.ToUser(users(map[string]string{"u1": "alice@example.com", "u2": "bob@example.com"}))),
		notify.Alert(detect.ActionCredentialStuffing, "Credential stuffing: one account failed to sign in from many addresses.",
			notify.ToAddresses("sec@example.com", "oncall@example.com")),
	}
}

func newSink(t testing.TB, next audit.Sink, q notify.Enqueuer, cfg notify.EventSinkConfig) *notify.EventSink {
	t.Helper()
	s, err := notify.NewEventSink(next, q, rules(), cfg)
	require.NoError(t, err)
	return s
}

// failFirst fails its first write, as a database that blips would.
type failFirst struct {
	audit.MemorySink
	mu     sync.Mutex
	failed bool
}

func (f *failFirst) Write(ctx context.Context, e audit.Event) error {
	f.mu.Lock()
	first := !f.failed
	f.failed = true
	f.mu.Unlock()
	if first {
		return errors.New("store: connection reset")
	}
	return f.MemorySink.Write(ctx, e)
}

// WriteBatch fails like Write: the embedded MemorySink's would bypass the
// failure (an audit.AsyncSink batches into an EventSink, which batches
// into its next sink).
func (f *failFirst) WriteBatch(ctx context.Context, events []audit.Event) (int, error) {
	for i, e := range events {
		if err := f.Write(ctx, e); err != nil {
			return i, err
		}
	}
	return len(events), nil
}

// An AsyncSink retries a failed write: the EventSink under it sees the
// event twice, and the user gets one mail.
func TestEventSinkNoticeOnceWhenAsyncSinkRetries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := &failFirst{}
		q := &memOutbox{}
		async, err := audit.NewAsyncSink(newSink(t, store, q, notify.EventSinkConfig{}), audit.AsyncConfig{})
		require.NoError(t, err)
		require.NoError(t, async.Write(context.Background(), factorAdded("u1", "req-1")))
		require.NoError(t, async.Close(context.Background()))

		assert.Equal(t, uint64(1), async.Stats().Retries, "the first write failed and was retried")
		assert.Len(t, store.Events(), 1, "the event is stored once")
		msgs := q.messages()
		require.Len(t, msgs, 1, "one notice for one event")
		assert.Equal(t, "alice@example.com", msgs[0].To)
		assert.Equal(t, string(actFactorAdded), msgs[0].Kind)
		assert.Equal(t, "Security notice: An authenticator app was added to your account.", msgs[0].Subject)
		assert.Equal(t, 1, q.calls, "the repeat is known locally: no second round trip to the outbox")

		// Another event of the same kind is another notice.
		s := newSink(t, &audit.MemorySink{}, q, notify.EventSinkConfig{})
		require.NoError(t, s.Write(context.Background(), factorAdded("u1", "req-2")))
		assert.Len(t, q.messages(), 2)
	})
}

// A flood of alerts about many targets (a botnet) is cut by the rate limit
// per rule and contact; the held-back count is in the next message and
// each refusal is recorded (paced).
func TestEventSinkAlertsRateLimited(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lim, err := ratelimit.NewMemory(ratelimit.Limit{Events: 2, Per: time.Hour}, ratelimit.MemoryConfig{SweepInterval: -1})
		require.NoError(t, err)
		store := &audit.MemorySink{}
		q := &memOutbox{}
		s := newSink(t, store, q, notify.EventSinkConfig{Limiter: lim})
		start := time.Now()
		for i := range 5 {
			e := stuffing(0, fmt.Sprint("victim", i))
			e.Time = start
			require.NoError(t, s.Write(context.Background(), e))
		}
		sec := q.to("sec@example.com")
		assert.Len(t, sec, 2, "two alerts pass, three are held back")
		assert.Len(t, q.to("oncall@example.com"), 2, "each contact has its own budget")
		for _, m := range sec {
			assert.NotContains(t, m.Text, "held back")
		}
		held := actionsOf(store.Events(), notify.ActionHeldBack)
		assert.Len(t, held, 6, "each refusal recorded: 3 per contact")
		assert.Equal(t, string(detect.ActionCredentialStuffing), held[0].Meta["event_action"])
		assert.Equal(t, audit.Target{Kind: audit.TargetKindAccount, ID: "victim2"}, held[0].Target)

		time.Sleep(31 * time.Minute) // a token is back
		e := stuffing(0, "victim9")
		e.Time = time.Now()
		require.NoError(t, s.Write(context.Background(), e))
		sec = q.to("sec@example.com")
		require.Len(t, sec, 3)
		assert.Contains(t, sec[2].Text, "3 more alerts of this kind were held back")
		assert.Contains(t, sec[2].HTML, "<p>3 more alerts of this kind were held back")

		require.NoError(t, s.Write(context.Background(), stuffing(0, "victim10")))
		time.Sleep(31 * time.Minute)
		e = stuffing(0, "victim11")
		e.Time = time.Now()
		require.NoError(t, s.Write(context.Background(), e))
		sec = q.to("sec@example.com")
		require.Len(t, sec, 4)
		assert.Contains(t, sec[3].Text, "1 more alerts", "the count starts again after it was told")
	})
}

// A flood of alerts about one account (a detector without its own window,
// or several instances) is one message per contact within Dedup, and
// repeats spend no rate-limit token.
func TestEventSinkAlertsDeduplicated(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lim, err := ratelimit.NewMemory(ratelimit.Limit{Events: 2, Per: time.Hour}, ratelimit.MemoryConfig{SweepInterval: -1})
		require.NoError(t, err)
		store := &audit.MemorySink{}
		q := &memOutbox{}
		s := newSink(t, store, q, notify.EventSinkConfig{Limiter: lim, Dedup: 10 * time.Minute})
		for i := range 50 {
			require.NoError(t, s.Write(context.Background(), stuffing(time.Duration(i)*time.Second, "carol")))
		}
		assert.Len(t, q.to("sec@example.com"), 1)
		assert.Empty(t, actionsOf(store.Events(), notify.ActionHeldBack), "repeats are not held back: they are the same alert")
		require.NoError(t, s.Write(context.Background(), stuffing(11*time.Minute, "carol")))
		assert.Len(t, q.to("sec@example.com"), 2, "the next window is a new alert, within the budget")
	})
}

// The outbox failing or hanging never fails Write, never holds it past
// the Timeout, and is recorded, paced.
func TestEventSinkOutboxFailureRecorded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := &audit.MemorySink{}
		q := &memOutbox{fail: errors.New("outbox: database is locked")}
		lim, err := ratelimit.NewMemory(ratelimit.Limit{Events: 1000, Per: time.Second}, ratelimit.MemoryConfig{SweepInterval: -1})
		require.NoError(t, err)
		s := newSink(t, store, q, notify.EventSinkConfig{Limiter: lim})
		for i := range 30 {
			assert.NoError(t, s.Write(context.Background(), factorAdded("u1", fmt.Sprint("req", i))))
		}
		failed := actionsOf(store.Events(), notify.ActionQueueFailed)
		require.Len(t, failed, 10, "paced: 10 at once")
		f := failed[0]
		assert.Equal(t, audit.CategoryError, f.Category)
		assert.Equal(t, audit.OutcomeFailure, f.Outcome)
		assert.Equal(t, "outbox: database is locked", f.Reason)
		assert.Equal(t, map[string]string{"step": "enqueue", "event_action": string(actFactorAdded), "kind": string(actFactorAdded)}, f.Meta)
		assert.Len(t, actionsOf(store.Events(), actFactorAdded), 30, "every event stored")

		time.Sleep(time.Minute)
		require.NoError(t, s.Write(context.Background(), factorAdded("u1", "late")))
		failed = actionsOf(store.Events(), notify.ActionQueueFailed)
		require.Len(t, failed, 11)
		assert.Equal(t, "20", failed[10].Meta["suppressed"], "the next record counts those held back")

		// Recovered: the notice goes out.
		q.mu.Lock()
		q.fail = nil
		q.mu.Unlock()
		require.NoError(t, s.Write(context.Background(), factorAdded("u1", "req0")))
		assert.Len(t, q.messages(), 1)

		// Hung: Write returns after the timeout.
		q.mu.Lock()
		q.hang = true
		q.mu.Unlock()
		time.Sleep(time.Minute) // let the pacing of the records recover
		start := time.Now()
		require.NoError(t, s.Write(context.Background(), factorAdded("u1", "req-hung")))
		assert.Equal(t, 2*time.Second, time.Since(start), "the default Timeout bounds the wait")
		last := actionsOf(store.Events(), notify.ActionQueueFailed)
		assert.Contains(t, last[len(last)-1].Reason, "deadline exceeded")
	})
}

// The next sink's error is returned (the record matters most); the notice
// is queued anyway, so that a retry finds it queued.
func TestEventSinkReturnsNextError(t *testing.T) {
	q := &memOutbox{}
	s := newSink(t, &failFirst{}, q, notify.EventSinkConfig{})
	assert.ErrorContains(t, s.Write(context.Background(), factorAdded("u1", "r")), "connection reset")
	assert.Len(t, q.messages(), 1)
}

// badSink fails every write: the EventSink's records go to ErrorLog.
type badSink struct{}

func (badSink) Write(context.Context, audit.Event) error { return errors.New("store down") }

func TestEventSinkRecipientsFailureRecorded(t *testing.T) {
	lookupErr := errors.New("users: connection refused")
	store := &audit.MemorySink{}
	q := &memOutbox{}
	s, err := notify.NewEventSink(store, q, []notify.Rule{
		notify.Notice(actRoleGranted, "You were granted a role.", notify.ToUser(func(_ context.Context, id string) (string, error) {
			switch id {
			case "broken":
				return "", lookupErr
			case "noaddr":
				return "", nil
			}
			return id + "@example.com", nil
		})),
		notify.Alert(actRoleGranted, "A role was granted.", notify.ToAddresses("sec@example.com")),
	}, notify.EventSinkConfig{})
	require.NoError(t, err)
	granted := func(target string) audit.Event {
		return audit.Event{Time: t0, Category: audit.CategoryAccess, Action: actRoleGranted, Outcome: audit.OutcomeSuccess,
			Actor: identity.Principal{UserID: "admin1"}, Target: audit.Target{Kind: audit.TargetKindUser, ID: target}, RequestID: target}
	}
	require.NoError(t, s.Write(context.Background(), granted("broken")))
	failed := actionsOf(store.Events(), notify.ActionQueueFailed)
	require.Len(t, failed, 1)
	assert.Equal(t, "recipients", failed[0].Meta["step"])
	assert.Equal(t, audit.Target{Kind: audit.TargetKindUser, ID: "broken"}, failed[0].Target)
	assert.Equal(t, lookupErr.Error(), failed[0].Reason)
	assert.Len(t, q.to("sec@example.com"), 1, "the other rule still runs")

	require.NoError(t, s.Write(context.Background(), granted("noaddr")))
	assert.Len(t, actionsOf(store.Events(), notify.ActionQueueFailed), 1, "a user without an address is nobody to tell, not a failure")

	require.NoError(t, s.Write(context.Background(), granted("u5")))
	require.Len(t, q.to("u5@example.com"), 1, "the Target user, not the admin who acted, is told")

	e := granted("")
	e.Target, e.Actor = audit.Target{}, identity.Principal{}
	require.NoError(t, s.Write(context.Background(), e))
	failed = actionsOf(store.Events(), notify.ActionQueueFailed)
	require.Len(t, failed, 2)
	assert.Contains(t, failed[1].Reason, "names no user")

	// When the store fails too, the failure goes to ErrorLog.
	var log strings.Builder
	s2, err := notify.NewEventSink(badSink{}, &memOutbox{fail: errors.New("outbox down")}, rules(),
		notify.EventSinkConfig{ErrorLog: slogTo(&log)})
	require.NoError(t, err)
	assert.ErrorContains(t, s2.Write(context.Background(), factorAdded("u1", "r")), "store down")
	assert.Contains(t, log.String(), "notify.queue_failed")
	assert.Contains(t, log.String(), "outbox down")
}

// Event fields a client chooses are escaped in the HTML body and quoted in
// the plain-text one, and never reach the subject.
func TestEventSinkTemplatesRenderSafely(t *testing.T) {
	q := &memOutbox{}
	s := newSink(t, &audit.MemorySink{}, q, notify.EventSinkConfig{})
	e := factorAdded("u1", "r1")
	e.UserAgent = "<script>alert(1)</script>\r\nClick https://evil.example to keep your account"
	require.NoError(t, s.Write(context.Background(), e))
	a := stuffing(0, `<img src=x onerror=alert(1)>`)
	a.Meta["note"] = "\"><a href=javascript:alert(1)>x</a>"
	require.NoError(t, s.Write(context.Background(), a))

	msgs := q.messages()
	require.Len(t, msgs, 3)
	notice, alert := msgs[0], msgs[1]
	assert.Equal(t, "Security notice: An authenticator app was added to your account.", notice.Subject)
	assert.Contains(t, notice.Text, "When: 2026-03-01 12:00 UTC\nAddress: 198.51.100.7\nBrowser: \"<script>alert(1)</script>\uFFFD\uFFFDClick https://evil.example to keep your account\"\n")
	assert.NotContains(t, notice.Text, "\r\nClick", "the line break is quoted, not kept")
	e = factorAdded("u2", "r2")
	e.UserAgent = strings.Repeat("A", 5000)
	require.NoError(t, s.Write(context.Background(), e))
	assert.Contains(t, q.to("bob@example.com")[0].Text, "Browser: \""+strings.Repeat("A", 120)+"\"\n", "cut to 120")
	assert.NotContains(t, notice.HTML, "<script>")
	assert.Contains(t, notice.HTML, "&lt;script&gt;alert(1)&lt;/script&gt;")

	assert.Equal(t, "Security alert: Credential stuffing: one account failed to sign in from many addresses.", alert.Subject)
	assert.Contains(t, alert.Text, `Target: account "<img src=x onerror=alert(1)>"`)
	assert.Contains(t, alert.Text, `"distinct_ips": "5"`)
	assert.NotContains(t, alert.HTML, "<img")
	assert.NotContains(t, alert.HTML, "<a href")
	assert.Contains(t, alert.HTML, "&lt;img src=x onerror=alert(1)&gt;")
	for _, m := range msgs {
		assert.NotContains(t, m.Text, "<no value>")
	}
}

// A client that puts a control character in its User-Agent must not
// silence the notice of its own sign-in: the outbox refuses messages with
// control characters, so they are replaced before rendering.
func TestEventSinkControlCharactersDoNotSilenceNotice(t *testing.T) {
	q := &memOutbox{}
	store := &audit.MemorySink{}
	s := newSink(t, store, q, notify.EventSinkConfig{})
	e := factorAdded("u1", "r\x01")
	e.UserAgent = "Mozilla\x01\x1b[31m\xff"
	e.Meta = map[string]string{"k\x00": "v\x7f"}
	require.NoError(t, s.Write(context.Background(), e))
	assert.Empty(t, actionsOf(store.Events(), notify.ActionQueueFailed))
	msgs := q.messages()
	require.Len(t, msgs, 1)
	assert.Contains(t, msgs[0].HTML, "Mozilla\uFFFD\uFFFD[31m\uFFFD")
	assert.Equal(t, "Mozilla\x01\x1b[31m\xff", store.Events()[0].UserAgent, "the record keeps what was written")
}

// A sentence with template syntax is text, not a template.
func TestNoticeSentenceIsNotTemplate(t *testing.T) {
	q := &memOutbox{}
	s, err := notify.NewEventSink(&audit.MemorySink{}, q, []notify.Rule{
		notify.Notice(actFactorAdded, `A factor {{.To}} & "more" was added.`, notify.ToUser(users(map[string]string{"u1": "a@example.com"}))),
	}, notify.EventSinkConfig{})
	require.NoError(t, err)
	require.NoError(t, s.Write(context.Background(), factorAdded("u1", "r")))
	m := q.messages()[0]
	assert.Equal(t, `Security notice: A factor {{.To}} & "more" was added.`, m.Subject)
	assert.True(t, strings.HasPrefix(m.Text, `A factor {{.To}} & "more" was added.`))
	assert.Contains(t, m.HTML, `A factor {{.To}} &amp; &#34;more&#34; was added.`)
}

// Notice matches successes only; a failed or refused attempt is no change.
func TestEventSinkOutcomeFilter(t *testing.T) {
	q := &memOutbox{}
	s := newSink(t, &audit.MemorySink{}, q, notify.EventSinkConfig{})
	for _, o := range []audit.Outcome{audit.OutcomeFailure, audit.OutcomeDenied, ""} {
		e := factorAdded("u1", "r-"+string(o))
		e.Outcome = o
		require.NoError(t, s.Write(context.Background(), e))
	}
	assert.Empty(t, q.messages())
	a := stuffing(0, "x")
	a.Outcome = audit.OutcomeSuccess
	require.NoError(t, s.Write(context.Background(), a))
	assert.Len(t, q.messages(), 2, "an Alert matches any outcome")
}

// Under the detector, the EventSink sees the detector's events: a user's
// sign-in from a new address is a notice to that user.
func TestEventSinkUnderDetectorNewLocation(t *testing.T) {
	q := &memOutbox{}
	store := &audit.MemorySink{}
	s, err := notify.NewEventSink(store, q, []notify.Rule{
		notify.Notice(detect.ActionNewLocation, "Someone signed in to your account from a new device or address.",
			notify.ToUser(users(map[string]string{"u3": "u3@example.com"}))),
	}, notify.EventSinkConfig{})
	require.NoError(t, err)
	det, err := detect.New(s, detect.Config{})
	require.NoError(t, err)
	login := func(at time.Duration, addr string) audit.Event {
		return audit.Event{Time: t0.Add(at), Category: audit.CategoryAuthentication, Action: audit.ActionLoginSucceeded,
			Outcome: audit.OutcomeSuccess, Actor: identity.Principal{UserID: "u3"},
			Target: audit.Target{Kind: audit.TargetKindUser, ID: "u3"}, ClientIP: netip.MustParseAddr(addr), UserAgent: "Safari"}
	}
	require.NoError(t, det.Write(context.Background(), login(0, "192.0.2.1")))
	require.NoError(t, det.Write(context.Background(), login(time.Hour, "192.0.2.1")))
	assert.Empty(t, q.messages(), "first and known places: no notice")
	require.NoError(t, det.Write(context.Background(), login(2*time.Hour, "192.0.2.200")))
	msgs := q.messages()
	require.Len(t, msgs, 1)
	assert.Equal(t, "u3@example.com", msgs[0].To)
	assert.Contains(t, msgs[0].Text, "Address: 192.0.2.200")
	assert.Len(t, actionsOf(store.Events(), detect.ActionNewLocation), 1, "the event is recorded too")
}

func TestNewEventSinkValidates(t *testing.T) {
	q := &memOutbox{}
	to := notify.ToAddresses("sec@example.com")
	tests := []struct {
		name  string
		next  audit.Sink
		q     notify.Enqueuer
		rules []notify.Rule
		cfg   notify.EventSinkConfig
		want  string
	}{
		{"nil sink", nil, q, rules(), notify.EventSinkConfig{}, "nil audit.Sink"},
		{"nil outbox", &audit.MemorySink{}, nil, rules(), notify.EventSinkConfig{}, "nil Enqueuer"},
		{"nil outbox pointer", &audit.MemorySink{}, (*memOutbox)(nil), rules(), notify.EventSinkConfig{}, "nil Enqueuer"},
		{"no rules", &audit.MemorySink{}, q, nil, notify.EventSinkConfig{}, "no rules"},
		{"no action", &audit.MemorySink{}, q, []notify.Rule{notify.Alert("", "x", to)}, notify.EventSinkConfig{}, "Action is required"},
		{"own action: loop", &audit.MemorySink{}, q, []notify.Rule{notify.Alert(notify.ActionQueueFailed, "x", to)}, notify.EventSinkConfig{}, "loop"},
		{"account's own notice twice", &audit.MemorySink{}, q, []notify.Rule{notify.Notice("account.reset.completed", "x", notify.ToUser(noLookup))}, notify.EventSinkConfig{}, "mail them twice"},
		{"account's action to the user, custom template", &audit.MemorySink{}, q, []notify.Rule{{Action: "account.email_change.confirmed", To: notify.ToUser(noLookup), Template: tmplFor(t, "x")}}, notify.EventSinkConfig{}, "mail them twice"},
		{"no recipients", &audit.MemorySink{}, q, []notify.Rule{notify.Alert(actRoleGranted, "x", nil)}, notify.EventSinkConfig{}, "(To) are required"},
		{"no contacts", &audit.MemorySink{}, q, []notify.Rule{notify.Alert(actRoleGranted, "x", notify.ToAddresses())}, notify.EventSinkConfig{}, "no address"},
		{"header injection in a contact", &audit.MemorySink{}, q, []notify.Rule{notify.Alert(actRoleGranted, "x", notify.ToAddresses("a@example.com\r\nBcc: x@evil.example"))}, notify.EventSinkConfig{}, "control character"},
		{"no template", &audit.MemorySink{}, q, []notify.Rule{{Action: actRoleGranted, To: to}}, notify.EventSinkConfig{}, "Template is required"},
		{"sentence on two lines", &audit.MemorySink{}, q, []notify.Rule{notify.Alert(actRoleGranted, "x\ny", to)}, notify.EventSinkConfig{}, "one line"},
		{"sentence too long", &audit.MemorySink{}, q, []notify.Rule{notify.Alert(actRoleGranted, strings.Repeat("x", 201), to)}, notify.EventSinkConfig{}, "one line"},
		{"action unfit for a kind", &audit.MemorySink{}, q, []notify.Rule{notify.Alert("App.Role-Granted", "x", to)}, notify.EventSinkConfig{}, "lower-case"},
		{"action too long for a kind", &audit.MemorySink{}, q, []notify.Rule{notify.Alert(audit.Action(strings.Repeat("k", 65)), "x", to)}, notify.EventSinkConfig{}, "longer than 64"},
		{"negative dedup", &audit.MemorySink{}, q, rules(), notify.EventSinkConfig{Dedup: -1}, "negative"},
		{"negative timeout", &audit.MemorySink{}, q, rules(), notify.EventSinkConfig{Timeout: -1}, "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := notify.NewEventSink(tt.next, tt.q, tt.rules, tt.cfg)
			assert.ErrorContains(t, err, tt.want)
		})
	}
	assert.Panics(t, func() { notify.ToUser(nil) })

	// An app's own action that happens to start with "account." is not
	// one of package account's.
	_, err := notify.NewEventSink(&audit.MemorySink{}, q, []notify.Rule{
		notify.Notice("account.disabled", "Your account was disabled.", notify.ToUser(noLookup))}, notify.EventSinkConfig{})
	require.NoError(t, err)
	// Alerting the security contacts about an account action is allowed.
	_, err = notify.NewEventSink(&audit.MemorySink{}, q, []notify.Rule{
		notify.Alert("account.email_change.undone", "An address change was undone", to)}, notify.EventSinkConfig{})
	require.NoError(t, err)

	// The caller's rules are not written back to.
	rs := []notify.Rule{notify.Alert(actRoleGranted, "x", to)}
	_, err = notify.NewEventSink(&audit.MemorySink{}, q, rs, notify.EventSinkConfig{})
	require.NoError(t, err)
	assert.Nil(t, rs[0].Template)
}

func slogTo(w *strings.Builder) *slog.Logger {
	return slog.New(slog.NewTextHandler(lockedWriter{&sync.Mutex{}, w}, nil))
}

// FuzzEventSinkRender writes events whose client-chosen fields are
// arbitrary: Write never panics, never fails, and every message queued has
// the fixed subject and no markup from the event in its HTML.
func FuzzEventSinkRender(f *testing.F) {
	f.Add("Firefox/140", "alice", "reason", "v")
	f.Add("<script>alert(1)</script>\r\n", "\x00\u2028", "\xff\xfe", `"><a href=javascript:x>`)
	f.Add(strings.Repeat("é", 400), "{{.To}}", "%s%q%!", "\n\n\n")
	render := func(t testing.TB, ua, target, reason, meta string) []notify.Message {
		q := &memOutbox{}
		store := &audit.MemorySink{}
		s := newSink(t, store, q, notify.EventSinkConfig{})
		e := factorAdded("u1", "r")
		e.UserAgent = ua
		a := stuffing(0, target)
		a.Reason, a.UserAgent, a.Meta["m"] = reason, ua, meta
		require.NoError(t, s.Write(context.Background(), e))
		require.NoError(t, s.Write(context.Background(), a))
		msgs := q.messages()
		assert.Len(t, msgs, 3, "%v", actionsOf(store.Events(), notify.ActionQueueFailed))
		return msgs
	}
	// The messages of plain values: markup they hold anyway (their own
	// tags) says nothing about escaping.
	plain := render(f, "x", "x", "x", "x")
	f.Fuzz(func(t *testing.T, ua, target, reason, meta string) {
		msgs := render(t, ua, target, reason, meta)
		for i, m := range msgs {
			assert.True(t, strings.HasPrefix(m.Subject, "Security "), m.Subject)
			for _, v := range []string{ua, target, reason, meta} {
				if strings.ContainsAny(v, "<>") && !strings.Contains(plain[i].HTML, v) {
					assert.NotContains(t, m.HTML, v)
				}
			}
		}
	})
}

// A hung user table holds Write no longer than the Timeout.
func TestEventSinkHungRecipients(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := &audit.MemorySink{}
		s, err := notify.NewEventSink(store, &memOutbox{}, []notify.Rule{
			notify.Notice(actFactorAdded, "A factor was added.", notify.ToUser(func(ctx context.Context, _ string) (string, error) {
				<-ctx.Done()
				return "", ctx.Err()
			})),
		}, notify.EventSinkConfig{Timeout: 300 * time.Millisecond})
		require.NoError(t, err)
		start := time.Now()
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // the request is over: the notice is still due, and bounded
		require.NoError(t, s.Write(ctx, factorAdded("u1", "r")))
		assert.Equal(t, 300*time.Millisecond, time.Since(start))
		failed := actionsOf(store.Events(), notify.ActionQueueFailed)
		require.Len(t, failed, 1)
		assert.Equal(t, "recipients", failed[0].Meta["step"])
	})
}

// brokenLimiter cannot decide; its Decision carries its failure policy.
type brokenLimiter struct{ open bool }

func (l brokenLimiter) Allow(context.Context, string) (ratelimit.Decision, error) {
	return ratelimit.Decision{Allowed: l.open}, fmt.Errorf("redis down: %w", ratelimit.ErrUnavailable)
}

// A limiter that cannot decide is recorded and its policy followed.
func TestEventSinkLimiterDown(t *testing.T) {
	for _, open := range []bool{true, false} {
		t.Run(fmt.Sprint("fails open ", open), func(t *testing.T) {
			store := &audit.MemorySink{}
			q := &memOutbox{}
			s := newSink(t, store, q, notify.EventSinkConfig{Limiter: brokenLimiter{open}})
			require.NoError(t, s.Write(context.Background(), factorAdded("u1", "r")))
			failed := actionsOf(store.Events(), notify.ActionQueueFailed)
			require.Len(t, failed, 1)
			assert.Equal(t, "limiter", failed[0].Meta["step"])
			if open {
				assert.Len(t, q.messages(), 1)
			} else {
				assert.Empty(t, q.messages())
				assert.Len(t, actionsOf(store.Events(), notify.ActionHeldBack), 1)
			}
		})
	}
}

// A long error is cut at a rune boundary: the Reason of ActionQueueFailed
// stays within its 500 bytes and ends on no replacement character, even
// when byte 500 falls inside a multi-byte character.
func TestEventSinkFailureReasonCutAtRune(t *testing.T) {
	store := &audit.MemorySink{}
	long := strings.Repeat("a", 499) + strings.Repeat("é", 10)
	s := newSink(t, store, &memOutbox{fail: errors.New(long)}, notify.EventSinkConfig{})
	require.NoError(t, s.Write(context.Background(), factorAdded("u1", "r")))
	failed := actionsOf(store.Events(), notify.ActionQueueFailed)
	require.Len(t, failed, 1)
	r := failed[0].Reason
	assert.LessOrEqual(t, len(r), 500)
	assert.True(t, utf8.ValidString(r))
	assert.NotContains(t, r, "\uFFFD", "a character split by the cut is dropped, not replaced")
	assert.True(t, strings.HasPrefix(long, r), "the Reason is a prefix of the error")
}

func noLookup(context.Context, string) (string, error) { return "", nil }

func tmplFor(t *testing.T, kind string) *notify.Template {
	t.Helper()
	tm, err := notify.NewTemplate(kind, "s", "t", "")
	require.NoError(t, err)
	return tm
}

// batchStore is a BatchSink that stores a prefix of each batch (all of it
// unless told otherwise) and counts its calls.
type batchStore struct {
	audit.MemorySink
	mu      sync.Mutex
	batches []int
	keep    int // <0: all
	fail    error
}

func (b *batchStore) WriteBatch(ctx context.Context, events []audit.Event) (int, error) {
	b.mu.Lock()
	b.batches = append(b.batches, len(events))
	keep, fail := b.keep, b.fail
	b.keep, b.fail = -1, nil
	b.mu.Unlock()
	if keep < 0 || keep > len(events) {
		keep = len(events)
	}
	for _, e := range events[:keep] {
		_ = b.MemorySink.Write(ctx, e)
	}
	return keep, fail
}

// An AsyncSink above an EventSink over a BatchSink stores in batches, and
// every event's notice is queued once, even when a batch is stored in
// part and retried.
func TestEventSinkWriteBatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := &batchStore{keep: 1, fail: errors.New("store: connection reset")}
		q := &memOutbox{}
		sink := newSink(t, store, q, notify.EventSinkConfig{})
		var _ audit.BatchSink = sink
		events := []audit.Event{factorAdded("u1", "r1"), factorAdded("u2", "r2"), stuffing(0, "carol")}
		n, err := sink.WriteBatch(context.Background(), events)
		assert.Equal(t, 1, n, "the next sink's count")
		assert.ErrorContains(t, err, "connection reset", "the next sink's error")
		n, err = sink.WriteBatch(context.Background(), events[n:])
		require.NoError(t, err)
		assert.Equal(t, 2, n)
		assert.Equal(t, []int{3, 2}, store.batches, "one WriteBatch per batch")
		assert.Len(t, store.Events(), 3, "each event stored once")
		assert.Len(t, q.to("alice@example.com"), 1)
		assert.Len(t, q.to("bob@example.com"), 1, "queued with the failed batch, not again on its retry")
		assert.Len(t, q.to("sec@example.com"), 1)

		// Through an AsyncSink: it batches into the EventSink.
		store2 := &batchStore{keep: -1}
		q2 := &memOutbox{}
		async, err := audit.NewAsyncSink(newSink(t, store2, q2, notify.EventSinkConfig{}), audit.AsyncConfig{})
		require.NoError(t, err)
		for i := range 10 {
			require.NoError(t, async.Write(context.Background(), factorAdded("u1", fmt.Sprint("req-", i))))
		}
		require.NoError(t, async.Close(context.Background()))
		assert.Len(t, actionsOf(store2.Events(), actFactorAdded), 10)
		assert.NotEmpty(t, store2.batches, "the AsyncSink used WriteBatch")
		assert.Len(t, q2.to("alice@example.com"), 5, "ten notices, five let through by the default limit")
	})
}

// Over a sink without WriteBatch, WriteBatch writes each event and stops
// at the first failure.
func TestEventSinkWriteBatchPlainSink(t *testing.T) {
	store := &failFirst{}
	q := &memOutbox{}
	sink := newSink(t, writeOnly{store}, q, notify.EventSinkConfig{})
	n, err := sink.WriteBatch(context.Background(), []audit.Event{factorAdded("u1", "r1"), factorAdded("u2", "r2")})
	assert.Equal(t, 0, n)
	assert.Error(t, err)
	n, err = sink.WriteBatch(context.Background(), []audit.Event{factorAdded("u1", "r1"), factorAdded("u2", "r2")})
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	assert.Len(t, store.Events(), 2)
	assert.Len(t, q.messages(), 2, "one notice per event")
}

// writeOnly hides every method of a sink but Write.
type writeOnly struct{ audit.Sink }
