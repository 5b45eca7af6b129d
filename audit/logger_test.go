package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/deployedworks/rampart/clientip"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/identity"
	"github.com/deployedworks/rampart/internal/gate"
)

type failSink struct{ err error }

func (f failSink) Write(context.Context, Event) error { return f.err }

// ctxSink records the context error each Write sees.
type ctxSink struct {
	MemorySink
	errs []error
}

func (c *ctxSink) Write(ctx context.Context, e Event) error {
	c.errs = append(c.errs, ctx.Err())
	return c.MemorySink.Write(ctx, e)
}

func fixedClock(t time.Time) func() time.Time { return func() time.Time { return t } }

func TestLogFillsFromContext(t *testing.T) {
	local := time.FixedZone("X", 3600)
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, local)
	tests := []struct {
		name string
		ctx  context.Context
		in   Event
		want Event
	}{
		{
			name: "bare context",
			ctx:  context.Background(),
			in:   Event{Category: CategoryError, Action: "x"},
			want: Event{Time: now.UTC(), Category: CategoryError, Action: "x"},
		},
		{
			name: "request facts and actor",
			ctx: identity.NewContext(WithRequest(context.Background(), Request{
				ID: "rid", ClientIP: netip.MustParseAddr("192.0.2.1"), UserAgent: "ua",
			}), identity.Principal{UserID: "u1", Roles: []string{"admin"}}),
			in: Event{Category: CategoryAdmin, Action: "x"},
			want: Event{Time: now.UTC(), Category: CategoryAdmin, Action: "x", RequestID: "rid",
				ClientIP: netip.MustParseAddr("192.0.2.1"), UserAgent: "ua", Actor: identity.Principal{UserID: "u1", Roles: []string{"admin"}}},
		},
		{
			name: "event fields win over context",
			ctx: identity.NewContext(WithRequest(context.Background(), Request{
				ID: "rid", ClientIP: netip.MustParseAddr("192.0.2.1"), UserAgent: "ua",
			}), identity.Principal{UserID: "u1"}),
			in: Event{Time: now, Category: "c", Action: "x", RequestID: "mine", UserAgent: "mine",
				ClientIP: netip.MustParseAddr("198.51.100.1"), Actor: identity.Principal{UserID: "u2"}},
			want: Event{Time: now.UTC(), Category: "c", Action: "x", RequestID: "mine", UserAgent: "mine",
				ClientIP: netip.MustParseAddr("198.51.100.1"), Actor: identity.Principal{UserID: "u2"}},
		},
		{
			name: "client IP from clientip",
			ctx:  clientip.WithInfo(context.Background(), clientip.Info{Addr: netip.MustParseAddr("203.0.113.9")}),
			in:   Event{Category: "c", Action: "x"},
			want: Event{Time: now.UTC(), Category: "c", Action: "x", ClientIP: netip.MustParseAddr("203.0.113.9")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sink := &MemorySink{}
			MustNew(sink, Config{Now: fixedClock(now)}).Log(tt.ctx, tt.in)
			got := sink.Events()
			require.Len(t, got, 1)
			assert.Equal(t, tt.want, got[0])
			assert.Equal(t, time.UTC, got[0].Time.Location())
		})
	}
}

// The actor comes from the principal that package session puts in the
// context, session reference included; an anonymous principal is none.
func TestLogActorFromIdentity(t *testing.T) {
	sink := &MemorySink{}
	l := MustNew(sink, Config{})
	p := identity.Principal{UserID: "u1", Roles: []string{"admin"}, Methods: []identity.Method{identity.MethodPassword, identity.MethodOTP},
		AuthTime: time.Unix(1, 0), SessionRef: "handle-1"}
	l.Log(identity.NewContext(context.Background(), p), Event{Category: "c", Action: "a"})
	l.Log(identity.NewContext(context.Background(), identity.Principal{Roles: []string{"admin"}}), Event{Category: "c", Action: "b"})
	l.Log(identity.NewContext(context.Background(), p), Event{Category: "c", Action: "c", SessionRef: "mine"})
	ev := sink.Events()
	require.Len(t, ev, 3)
	assert.Equal(t, p, ev[0].Actor)
	assert.Equal(t, "handle-1", ev[0].SessionRef)
	assert.Equal(t, identity.Principal{}, ev[1].Actor, "an anonymous principal names nobody")
	assert.Equal(t, "mine", ev[2].SessionRef, "the event's own reference wins")

	b, err := ev[0].MarshalJSON()
	require.NoError(t, err)
	assert.Contains(t, string(b), `"actor":{"user_id":"u1","roles":["admin"],"amr":["pwd","otp"]}`,
		"the actor is encoded as before, with amr; times are not part of it")
}

func TestLogRejectsInvalidEvents(t *testing.T) {
	tests := []struct {
		name string
		e    Event
	}{
		{"no category", Event{Action: "a"}},
		{"no action", Event{Category: "c"}},
		{"year out of range", Event{Category: "c", Action: "a", Time: time.Date(10001, 1, 1, 0, 0, 0, 0, time.UTC)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sink := &MemorySink{}
			var buf bytes.Buffer
			MustNew(sink, Config{ErrorLog: slog.New(slog.NewTextHandler(&buf, nil))}).Log(context.Background(), tt.e)
			assert.Empty(t, sink.Events())
			assert.Contains(t, buf.String(), ErrInvalidEvent.Error(), "reported, not dropped silently")
		})
	}
}

func TestLogLimitsFieldSizes(t *testing.T) {
	sink := &MemorySink{}
	long := strings.Repeat("a", 10000)
	MustNew(sink, Config{}).Log(context.Background(), Event{
		Category: Category(long), Action: Action(long), Outcome: Outcome(long), UserAgent: long, Reason: long, RequestID: long,
		Actor:  identity.Principal{UserID: long, Roles: []string{long}, Methods: []identity.Method{identity.Method(long)}},
		Target: Target{Kind: long, ID: long},
	})
	e := sink.Events()[0]
	assert.LessOrEqual(t, len(e.Category), MaxField)
	assert.LessOrEqual(t, len(e.Action), MaxField)
	assert.LessOrEqual(t, len(e.Outcome), MaxField)
	assert.LessOrEqual(t, len(e.UserAgent), MaxUserAgent)
	assert.LessOrEqual(t, len(e.Reason), MaxReason)
	assert.LessOrEqual(t, len(e.RequestID), MaxField)
	assert.LessOrEqual(t, len(e.Actor.UserID), MaxField)
	assert.LessOrEqual(t, len(e.Actor.Roles[0]), MaxField)
	assert.LessOrEqual(t, len(e.Actor.Methods[0]), MaxField)
	assert.LessOrEqual(t, len(e.Target.ID), MaxField)
}

// A nil Logger with no Logger in the context drops the event, but not
// silently: a warning goes to standard error, one a minute, with the
// count dropped meanwhile.
func TestLogNilLoggerWarns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		unrouted = gate.New(time.Minute, 1)
		r, w, err := os.Pipe()
		require.NoError(t, err)
		stderr := os.Stderr
		os.Stderr = w
		var l *Logger
		l.Log(context.Background(), Event{Category: "c", Action: "first.dropped"})
		l.Log(WithRequest(context.Background(), Request{ID: "r"}), Event{Category: "c", Action: "a"})
		l.Log(context.Background(), Event{Category: "c", Action: "a"})
		time.Sleep(time.Minute)
		l.Log(context.Background(), Event{Category: "c", Action: "after.a.minute"})
		os.Stderr = stderr
		require.NoError(t, w.Close())
		out, err := io.ReadAll(r)
		require.NoError(t, err)
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		require.Len(t, lines, 2, "%s", out)
		assert.Contains(t, lines[0], "level=WARN")
		assert.Contains(t, lines[0], "action=first.dropped")
		assert.Contains(t, lines[0], "no audit.Logger")
		assert.Contains(t, lines[1], "action=after.a.minute dropped_before=2")
	})
}

// A nil Logger inside Logger.Handler records with the Handler's Logger:
// components need not be given it. Outside, it discards.
func TestNilLoggerUsesTheRequestsLogger(t *testing.T) {
	sink := &MemorySink{}
	l := MustNew(sink, Config{})
	var component *Logger // a component's unset Config.Audit
	h := l.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		component.Log(r.Context(), Event{Category: CategoryAdmin, Action: "from.component"})
		// WithRequest inside the Handler keeps the Handler's Logger.
		component.Log(WithRequest(r.Context(), Request{ID: "job"}), Event{Category: CategoryAdmin, Action: "from.job"})
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	events := sink.Events()
	require.Len(t, events, 2)
	assert.Equal(t, Action("from.component"), events[0].Action)
	assert.NotEmpty(t, events[0].RequestID, "the request facts are filled as for any event")
	assert.Equal(t, "job", events[1].RequestID)

	// An explicit Logger wins over the one in the context.
	other := &MemorySink{}
	explicit := MustNew(other, Config{})
	l.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		explicit.Log(r.Context(), Event{Category: CategoryAdmin, Action: "explicit"})
	})).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	assert.Len(t, sink.Events(), 2)
	assert.Len(t, other.Events(), 1)

	// A nil Logger's Handler puts no Logger in the context.
	var none *Logger
	none.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		component.Log(r.Context(), Event{Category: CategoryAdmin, Action: "nowhere"})
	})).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	assert.Len(t, sink.Events(), 2)
}

func TestNewValidates(t *testing.T) {
	_, err := New(nil, Config{})
	assert.ErrorContains(t, err, "nil Sink")
	_, err = New(&MemorySink{}, Config{Paces: map[Action]Pace{"a": {Every: -1}}})
	assert.ErrorContains(t, err, "must not be negative")
	assert.Panics(t, func() { MustNew(nil, Config{}) })
}

// A client that disconnects cancels the request context; the record of
// what it did must still be written.
func TestLogIgnoresCancellation(t *testing.T) {
	sink := &ctxSink{}
	ctx, cancel := context.WithCancel(WithRequest(context.Background(), Request{ID: "r"}))
	cancel()
	MustNew(sink, Config{}).Log(ctx, Event{Category: "c", Action: "a"})
	assert.NoError(t, sink.errs[0])
	assert.Equal(t, "r", sink.Events()[0].RequestID, "context values are kept")
}

// Log never fails the caller: a sink failure goes to ErrorLog, redacted,
// with the sink's error.
func TestLogReportsSinkErrorToErrorLog(t *testing.T) {
	var buf bytes.Buffer
	l := MustNew(failSink{errors.New("disk full")}, Config{ErrorLog: slog.New(slog.NewTextHandler(&buf, nil))})
	l.Log(context.Background(), Event{Category: CategoryAdmin, Action: "user.disabled", Meta: map[string]string{"token": "t0ps3cret"}})
	out := buf.String()
	assert.Contains(t, out, "disk full")
	assert.Contains(t, out, "user.disabled")
	assert.NotContains(t, out, "t0ps3cret", "reported events are redacted too")

	// An event the Logger rejects is reported too, and redacted all the same.
	buf.Reset()
	l = MustNew(&MemorySink{}, Config{ErrorLog: slog.New(slog.NewTextHandler(&buf, nil))})
	l.Log(context.Background(), Event{Action: "no.category", Meta: map[string]string{"password": "hunter2", "note": "Bearer abc.def"}})
	out = buf.String()
	assert.Contains(t, out, "no.category")
	assert.Contains(t, out, "invalid event")
	assert.NotContains(t, out, "hunter2")
	assert.NotContains(t, out, "abc.def")

	// A drop by an AsyncSink is counted and audited there: not reported twice.
	buf.Reset()
	l = MustNew(failSink{ErrDropped}, Config{ErrorLog: slog.New(slog.NewTextHandler(&buf, nil))})
	l.Log(context.Background(), Event{Category: "c", Action: "a"})
	assert.Empty(t, buf.String())
}

// A paced action is recorded Burst times at once, then once per Every;
// the next one recorded carries the number held back. Config.Paces wins
// over the emitter's Event.Pace, and other actions are never held back.
func TestLogPacesNoisyActions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sink := &MemorySink{}
		l := MustNew(sink, Config{Paces: map[Action]Pace{"app.noisy": {Every: time.Second, Burst: 2}, "off": {}}})
		ctx := context.Background()
		count := func(a Action) (n int, suppressed []string) {
			for _, e := range sink.Events() {
				if e.Action == a {
					n++
					if s, ok := e.Meta["suppressed"]; ok {
						suppressed = append(suppressed, s)
					}
				}
			}
			return n, suppressed
		}
		pkgPace := Pace{Every: time.Minute, Burst: 3}
		for range 50 {
			l.Log(ctx, Event{Category: CategorySuspicious, Action: "pkg.refused", Pace: pkgPace})
			// The application's setting wins over the emitter's.
			l.Log(ctx, Event{Category: CategoryBrowserReport, Action: "app.noisy", Pace: Pace{Every: time.Hour, Burst: 100}})
			l.Log(ctx, Event{Category: CategoryAdmin, Action: "user.disabled"})
			l.Log(ctx, Event{Category: CategoryAdmin, Action: "off", Pace: Pace{Every: time.Hour, Burst: 1}})
		}
		for _, e := range sink.Events() {
			require.Zero(t, e.Pace, "sinks never see the budget")
		}
		n, _ := count("pkg.refused")
		assert.Equal(t, 3, n)
		n, _ = count("app.noisy")
		assert.Equal(t, 2, n)
		n, _ = count("user.disabled")
		assert.Equal(t, 50, n, "unpaced actions are all recorded")
		n, _ = count("off")
		assert.Equal(t, 50, n, "a zero Pace in Config turns pacing off")

		time.Sleep(time.Second)
		l.Log(ctx, Event{Category: CategoryBrowserReport, Action: "app.noisy", Meta: map[string]string{"k": "v"}})
		n, sup := count("app.noisy")
		assert.Equal(t, 3, n)
		assert.Equal(t, []string{"48"}, sup, "the count of held-back events is recorded")

		time.Sleep(time.Minute)
		l.Log(ctx, Event{Category: CategorySuspicious, Action: "pkg.refused", Pace: pkgPace})
		_, sup = count("pkg.refused")
		assert.Equal(t, []string{"47"}, sup)
	})
}

func TestLogPaceConcurrent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sink := &MemorySink{}
		l := MustNew(sink, Config{})
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() {
				for range 100 {
					l.Log(context.Background(), Event{Category: "c", Action: Action(fmt.Sprint("a", i%2)),
						Pace: Pace{Every: time.Second, Burst: 5}})
				}
			})
		}
		wg.Wait()
		assert.Len(t, sink.Events(), 10, "5 of each of the two actions, however the goroutines interleave")
	})
}

// Budgets created from Event.Pace are bounded: an application minting
// action names does not grow the Logger, and the actions beyond the bound
// share one budget rather than going unpaced.
func TestLogPaceBounded(t *testing.T) {
	sink := &MemorySink{}
	l := MustNew(sink, Config{})
	for i := range maxGates + 10 {
		for range 2 {
			l.Log(context.Background(), Event{Category: "c", Action: Action(fmt.Sprint("a", i)), Pace: Pace{Every: time.Hour, Burst: 1}})
		}
	}
	assert.Len(t, *l.gates.Load(), maxGates+1)
	assert.Len(t, sink.Events(), maxGates+1, "one event of each budget: the actions beyond the bound share one")
}

func TestSessionRef(t *testing.T) {
	token := "s3cr3t-session-token-value"
	ref := SessionRef(token)
	assert.Len(t, ref, 32)
	assert.Equal(t, ref, SessionRef(token))
	assert.NotEqual(t, ref, SessionRef(token+"x"))
	assert.NotContains(t, ref, token)
	assert.Empty(t, SessionRef(""))
}

func TestMemorySinkConcurrent(t *testing.T) {
	sink := &MemorySink{}
	l := MustNew(sink, Config{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				l.Log(context.Background(), Event{Category: "c", Action: "a"})
			}
		})
	}
	wg.Wait()
	assert.Len(t, sink.Events(), 800)
}

type discardSink struct{}

func (discardSink) Write(context.Context, Event) error { return nil }

func BenchmarkLog(b *testing.B) {
	l := MustNew(discardSink{}, Config{})
	ctx := identity.NewContext(WithRequest(context.Background(), Request{
		ID: "01J0ABCDEF", ClientIP: netip.MustParseAddr("192.0.2.1"), UserAgent: "Mozilla/5.0",
	}), identity.Principal{UserID: "u1", Roles: []string{"admin"}})
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	meta := map[string]string{"method": "password", "route": "/login"}
	b.Run("bare", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			l.Log(context.Background(), Event{Category: CategoryAuthentication, Action: "login.failed"})
		}
	})
	b.Run("request context", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			l.Log(ctx, Event{Category: CategoryAuthentication, Action: "login.failed", Meta: meta})
		}
	})
	b.Run("cancellable request context", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			l.Log(cctx, Event{Category: CategoryAuthentication, Action: "login.failed", Meta: meta})
		}
	})
}
