package audit

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deployedworks/rampart/clientip"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
			ctx: WithActor(WithRequest(context.Background(), Request{
				ID: "rid", ClientIP: netip.MustParseAddr("192.0.2.1"), UserAgent: "ua",
			}), Actor{UserID: "u1", Roles: []string{"admin"}}),
			in: Event{Category: CategoryAdmin, Action: "x"},
			want: Event{Time: now.UTC(), Category: CategoryAdmin, Action: "x", RequestID: "rid",
				ClientIP: netip.MustParseAddr("192.0.2.1"), UserAgent: "ua", Actor: Actor{UserID: "u1", Roles: []string{"admin"}}},
		},
		{
			name: "event fields win over context",
			ctx: WithActor(WithRequest(context.Background(), Request{
				ID: "rid", ClientIP: netip.MustParseAddr("192.0.2.1"), UserAgent: "ua",
			}), Actor{UserID: "u1"}),
			in: Event{Time: now, Category: "c", Action: "x", RequestID: "mine", UserAgent: "mine",
				ClientIP: netip.MustParseAddr("198.51.100.1"), Actor: Actor{UserID: "u2"}},
			want: Event{Time: now.UTC(), Category: "c", Action: "x", RequestID: "mine", UserAgent: "mine",
				ClientIP: netip.MustParseAddr("198.51.100.1"), Actor: Actor{UserID: "u2"}},
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
			require.NoError(t, New(sink, Config{Now: fixedClock(now)}).Log(tt.ctx, tt.in))
			got := sink.Events()
			require.Len(t, got, 1)
			assert.Equal(t, tt.want, got[0])
			assert.Equal(t, time.UTC, got[0].Time.Location())
		})
	}
}

func TestLogConfigActor(t *testing.T) {
	sink := &MemorySink{}
	l := New(sink, Config{Actor: func(ctx context.Context) Actor { return Actor{UserID: "from-config"} }})
	require.NoError(t, l.Log(context.Background(), Event{Category: "c", Action: "a"}))
	assert.Equal(t, "from-config", sink.Events()[0].Actor.UserID)
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
			err := New(sink, Config{}).Log(context.Background(), tt.e)
			assert.ErrorIs(t, err, ErrInvalidEvent)
			assert.Empty(t, sink.Events())
		})
	}
}

func TestLogLimitsFieldSizes(t *testing.T) {
	sink := &MemorySink{}
	long := strings.Repeat("a", 10000)
	require.NoError(t, New(sink, Config{}).Log(context.Background(), Event{
		Category: Category(long), Action: Action(long), Outcome: Outcome(long), UserAgent: long, Reason: long, RequestID: long,
		Actor: Actor{UserID: long, Roles: []string{long}}, Target: Target{Kind: long, ID: long},
	}))
	e := sink.Events()[0]
	assert.LessOrEqual(t, len(e.Category), MaxField)
	assert.LessOrEqual(t, len(e.Action), MaxField)
	assert.LessOrEqual(t, len(e.Outcome), MaxField)
	assert.LessOrEqual(t, len(e.UserAgent), MaxUserAgent)
	assert.LessOrEqual(t, len(e.Reason), MaxReason)
	assert.LessOrEqual(t, len(e.RequestID), MaxField)
	assert.LessOrEqual(t, len(e.Actor.UserID), MaxField)
	assert.LessOrEqual(t, len(e.Actor.Roles[0]), MaxField)
	assert.LessOrEqual(t, len(e.Target.ID), MaxField)
}

func TestLogNilLoggerDiscards(t *testing.T) {
	var l *Logger
	assert.NoError(t, l.Log(context.Background(), Event{Category: "c", Action: "a"}))
}

func TestNewPanicsOnNilSink(t *testing.T) {
	assert.Panics(t, func() { New(nil, Config{}) })
}

// A client that disconnects cancels the request context; the record of
// what it did must still be written.
func TestLogIgnoresCancellation(t *testing.T) {
	sink := &ctxSink{}
	ctx, cancel := context.WithCancel(WithRequest(context.Background(), Request{ID: "r"}))
	cancel()
	require.NoError(t, New(sink, Config{}).Log(ctx, Event{Category: "c", Action: "a"}))
	assert.NoError(t, sink.errs[0])
	assert.Equal(t, "r", sink.Events()[0].RequestID, "context values are kept")
}

func TestLogWrapsSinkError(t *testing.T) {
	boom := errors.New("boom")
	err := New(failSink{boom}, Config{}).Log(context.Background(), Event{Category: "c", Action: "a"})
	assert.ErrorIs(t, err, boom)
}

func TestLogOrReportUsesErrorLog(t *testing.T) {
	var buf bytes.Buffer
	l := New(failSink{errors.New("disk full")}, Config{ErrorLog: slog.New(slog.NewTextHandler(&buf, nil))})
	l.logOrReport(context.Background(), Event{Category: CategoryAdmin, Action: "user.disabled", Meta: map[string]string{"token": "t0ps3cret"}})
	out := buf.String()
	assert.Contains(t, out, "disk full")
	assert.Contains(t, out, "user.disabled")
	assert.NotContains(t, out, "t0ps3cret", "reported events are redacted too")

	// An event the Logger rejects is reported too, and redacted all the same.
	buf.Reset()
	l = New(&MemorySink{}, Config{ErrorLog: slog.New(slog.NewTextHandler(&buf, nil))})
	l.logOrReport(context.Background(), Event{Action: "no.category", Meta: map[string]string{"password": "hunter2", "note": "Bearer abc.def"}})
	out = buf.String()
	assert.Contains(t, out, "no.category")
	assert.Contains(t, out, "invalid event")
	assert.NotContains(t, out, "hunter2")
	assert.NotContains(t, out, "abc.def")
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
	l := New(sink, Config{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				assert.NoError(t, l.Log(context.Background(), Event{Category: "c", Action: "a"}))
			}
		})
	}
	wg.Wait()
	assert.Len(t, sink.Events(), 800)
}

type discardSink struct{}

func (discardSink) Write(context.Context, Event) error { return nil }

func BenchmarkLog(b *testing.B) {
	l := New(discardSink{}, Config{})
	ctx := WithActor(WithRequest(context.Background(), Request{
		ID: "01J0ABCDEF", ClientIP: netip.MustParseAddr("192.0.2.1"), UserAgent: "Mozilla/5.0",
	}), Actor{UserID: "u1", Roles: []string{"admin"}})
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	meta := map[string]string{"method": "password", "route": "/login"}
	b.Run("bare", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = l.Log(context.Background(), Event{Category: CategoryAuthentication, Action: "login.failed"})
		}
	})
	b.Run("request context", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = l.Log(ctx, Event{Category: CategoryAuthentication, Action: "login.failed", Meta: meta})
		}
	})
	b.Run("cancellable request context", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = l.Log(cctx, Event{Category: CategoryAuthentication, Action: "login.failed", Meta: meta})
		}
	})
}
