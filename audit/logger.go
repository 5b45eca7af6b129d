package audit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/deployedworks/rampart/clientip"
)

// Sink stores events. Write must be safe for concurrent use. A Sink that
// can store several events at once more cheaply also implements
// [BatchSink].
//
// Sinks store what they are given: redaction and size limits are applied by
// [Logger.Log] before any sink sees the event, so write through a Logger.
type Sink interface {
	Write(ctx context.Context, e Event) error
}

// BatchSink is the optional ability of a [Sink] to store several events in
// one operation. [Async] uses it when the sink it wraps has it.
//
// WriteBatch returns the number of leading events that were stored. On
// error, events[n:] were not stored and may be retried without creating
// duplicates; a transactional sink returns 0 or len(events).
type BatchSink interface {
	WriteBatch(ctx context.Context, events []Event) (n int, err error)
}

// ErrInvalidEvent is returned by [Logger.Log] for an event without a
// Category or Action, or with a Time outside years 0–9999.
var ErrInvalidEvent = errors.New("audit: invalid event")

var errTimeRange = fmt.Errorf("%w: time outside years 0-9999", ErrInvalidEvent)

// Config tunes a [Logger]. The zero value is ready to use.
type Config struct {
	// Now returns the current time. Default: time.Now. Tests inject a clock.
	Now func() time.Time

	// Actor returns who is acting in ctx; Log calls it for events that name
	// no actor. Default: [ActorFromContext], which reads what the
	// application's authentication layer stored with [WithActor].
	Actor func(ctx context.Context) Actor

	// ErrorLog receives the events that the HTTP middleware (which cannot
	// return an error) could not write, with the error, which includes the
	// failures of any [Detector] alerts they raised. They are logged at
	// level ERROR with their fields, redacted, so they are not lost
	// silently. Default: a text handler on os.Stderr (never the global slog
	// logger, which an application may have silenced).
	ErrorLog *slog.Logger
}

// Logger records audit events to a [Sink]. It is safe for concurrent use.
// A nil *Logger discards every event, so components can take an optional
// one.
type Logger struct {
	sink     Sink
	now      func() time.Time
	actor    func(context.Context) Actor
	errorLog *slog.Logger
}

// New returns a Logger writing to sink. Panics if sink is nil.
func New(sink Sink, cfg Config) *Logger {
	if sink == nil {
		panic("audit: New with nil Sink")
	}
	l := &Logger{sink: sink, now: cfg.Now, actor: cfg.Actor, errorLog: cfg.ErrorLog}
	if l.now == nil {
		l.now = time.Now
	}
	if l.actor == nil {
		l.actor = func(ctx context.Context) Actor { a, _ := ActorFromContext(ctx); return a }
	}
	if l.errorLog == nil {
		l.errorLog = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return l
}

// Log records e. It fills Time (UTC) when it is zero and, when they are
// empty, the request-scoped fields from ctx: Actor (Config.Actor),
// RequestID, ClientIP and UserAgent (from [Middleware.Handler] or
// [WithRequest], the client IP also from [clientip.FromContext]). It then
// redacts Meta entries whose key or value looks sensitive (see
// [SensitiveKey]) and cuts oversized fields (see [MaxMetaValue] and the other
// limits), without modifying the caller's map.
//
// The sink is called with ctx stripped of its cancellation (its values are
// kept): a client that disconnects must not erase the record of what it
// did. Behind an [AsyncSink] with the default [OverflowBlock], Log
// therefore waits for room in the queue however long the sink takes to
// recover; choose [OverflowFallback] to bound that wait. Log returns an error wrapping [ErrInvalidEvent] for an event without
// Category or Action, and the sink's error otherwise.
func (l *Logger) Log(ctx context.Context, e Event) error {
	if l == nil {
		return nil
	}
	if err := l.prepare(ctx, &e); err != nil {
		return err
	}
	if ctx.Done() != nil {
		ctx = context.WithoutCancel(ctx)
	}
	if err := l.sink.Write(ctx, e); err != nil {
		return fmt.Errorf("audit: write %s: %w", e.Action, err)
	}
	return nil
}

// logOrReport logs e and, when that fails, reports it to ErrorLog.
func (l *Logger) logOrReport(ctx context.Context, e Event) {
	if l == nil {
		return
	}
	if err := l.prepare(ctx, &e); err != nil {
		l.report(ctx, e, err)
		return
	}
	if err := l.sink.Write(context.WithoutCancel(ctx), e); err != nil && !errors.Is(err, ErrDropped) {
		l.report(ctx, e, err) // a drop is already counted and audited by the AsyncSink
	}
}

// report logs an event that could not be written, redacted and cut like a
// written one: prepare stops before doing that when it rejects the event.
func (l *Logger) report(ctx context.Context, e Event, err error) {
	limitEvent(&e)
	l.errorLog.LogAttrs(ctx, slog.LevelError, "audit: event not recorded",
		slog.String("error", err.Error()), slog.Any("event", eventValue{&e}))
}

// eventValue lets slog print an event as its stable JSON.
type eventValue struct{ e *Event }

// LogValue implements slog.LogValuer.
func (v eventValue) LogValue() slog.Value {
	if y := v.e.Time.Year(); y < 0 || y > 9999 {
		v.e.Time = time.Time{}
	}
	return slog.StringValue(string(appendEvent(nil, v.e)))
}

// prepare validates e and fills, redacts and truncates it in place.
func (l *Logger) prepare(ctx context.Context, e *Event) error {
	if e.Category == "" || e.Action == "" {
		return fmt.Errorf("%w: Category and Action are required (action %q)", ErrInvalidEvent, truncate(string(e.Action), MaxField))
	}
	if e.Time.IsZero() {
		e.Time = l.now()
	}
	e.Time = e.Time.UTC()
	if y := e.Time.Year(); y < 0 || y > 9999 {
		return errTimeRange
	}
	if e.RequestID == "" || !e.ClientIP.IsValid() || e.UserAgent == "" {
		if rq, ok := RequestFromContext(ctx); ok {
			if e.RequestID == "" {
				e.RequestID = rq.ID
			}
			if !e.ClientIP.IsValid() {
				e.ClientIP = rq.ClientIP
			}
			if e.UserAgent == "" {
				e.UserAgent = rq.UserAgent
			}
		}
		if !e.ClientIP.IsValid() {
			if info, ok := clientip.FromContext(ctx); ok {
				e.ClientIP = info.Addr
			}
		}
	}
	if e.Actor.IsZero() {
		e.Actor = l.actor(ctx)
	}
	limitEvent(e)
	return nil
}

// limitEvent cuts e's fields to their limits and redacts its Meta.
func limitEvent(e *Event) {
	e.Category = Category(truncate(string(e.Category), MaxField))
	e.Action = Action(truncate(string(e.Action), MaxField))
	e.Outcome = Outcome(truncate(string(e.Outcome), MaxField))
	e.Actor.UserID = truncate(e.Actor.UserID, MaxField)
	e.Target.Kind = truncate(e.Target.Kind, MaxField)
	e.Target.ID = truncate(e.Target.ID, MaxField)
	e.RequestID = truncate(e.RequestID, MaxField)
	e.SessionRef = truncate(e.SessionRef, MaxField)
	e.UserAgent = truncate(e.UserAgent, MaxUserAgent)
	e.Reason = truncate(e.Reason, MaxReason)
	e.Meta = cleanMeta(e.Meta)
	if len(e.Actor.Roles) > MaxMeta {
		e.Actor.Roles = e.Actor.Roles[:MaxMeta:MaxMeta]
	}
	cloned := false
	for i, r := range e.Actor.Roles {
		if len(r) > MaxField {
			if !cloned {
				e.Actor.Roles, cloned = slices.Clone(e.Actor.Roles), true
			}
			e.Actor.Roles[i] = truncate(r, MaxField)
		}
	}
}

// SessionRef returns the reference to put in [Event.SessionRef] for a
// session token: the first 128 bits of a domain-separated SHA-256 of the
// token, in hex. It identifies the session in the log without letting a
// reader of the log use it. Session tokens must be high-entropy random
// values, which makes the hash irreversible.
func SessionRef(token string) string {
	if token == "" {
		return ""
	}
	h := sha256.New()
	h.Write([]byte("rampart audit session ref\x00"))
	h.Write([]byte(token))
	var sum [sha256.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0])[:16])
}

// MemorySink keeps events in memory. It is meant for tests; the zero value
// is ready to use.
type MemorySink struct {
	mu     sync.Mutex
	events []Event
}

var (
	_ Sink      = (*MemorySink)(nil)
	_ BatchSink = (*MemorySink)(nil)
)

// Write appends e.
func (m *MemorySink) Write(_ context.Context, e Event) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.events = append(m.events, e)
	return nil
}

// WriteBatch appends events. It implements [BatchSink].
func (m *MemorySink) WriteBatch(_ context.Context, events []Event) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.events = append(m.events, events...)
	return len(events), nil
}

// Events returns a copy of the events written so far.
func (m *MemorySink) Events() []Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.events)
}
