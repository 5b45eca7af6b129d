package audit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/deployedworks/rampart/clientip"
	"github.com/deployedworks/rampart/identity"
	"github.com/deployedworks/rampart/internal/gate"
	"github.com/deployedworks/rampart/internal/nilarg"
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
// one operation. [AsyncSink] uses it when the sink it wraps has it.
//
// WriteBatch returns the number of leading events that were stored. On
// error, events[n:] were not stored and may be retried without creating
// duplicates; a transactional sink returns 0 or len(events).
type BatchSink interface {
	WriteBatch(ctx context.Context, events []Event) (n int, err error)
}

// ErrInvalidEvent is what [Logger.Log] reports to Config.ErrorLog for an
// event without a Category or Action, or with a Time outside years
// 0–9999.
var ErrInvalidEvent = errors.New("audit: invalid event")

var errTimeRange = fmt.Errorf("%w: time outside years 0-9999", ErrInvalidEvent)

// Config tunes a [Logger]. The zero value is ready to use.
type Config struct {
	// Now returns the current time, for events without a Time and for
	// pacing. Default: time.Now.
	// Tests in a testing/synctest bubble leave it nil (the bubble's fake
	// clock drives time.Now); set it only to drive one clock through a
	// whole application outside a bubble (against a real database).
	Now func() time.Time

	// ErrorLog receives the events that could not be recorded (an invalid
	// event, a failing sink), with the error, at level ERROR, redacted and
	// cut like a recorded one, so that none is lost silently. Default: a
	// text handler on os.Stderr (never the global slog logger, which an
	// application may have silenced).
	ErrorLog *slog.Logger

	// Paces sets the budget of actions: at most Burst events of the action
	// at once, then one per Every; the Logger holds back the rest and the
	// next event of the action that it records carries the number held
	// back in Meta["suppressed"]. It overrides the budget that the emitting
	// package sets on the actions a flood can trigger (refusals of a rate
	// limit, browser reports, rejected cross-origin requests: see
	// [Event.Pace]); a zero Pace records every event of that action.
	Paces map[Action]Pace
}

// Pace is the budget of one action: Burst events at once, then one per
// Every. The zero Pace records every event.
type Pace struct {
	Every time.Duration
	Burst int
	// Scope, set by the emitter in [Event.Pace], gives each scope of the
	// action its own budget (a rate limit's policy name, a route pattern),
	// so that a cheap flood on one scope cannot use up the budget that
	// records refusals on another. It must come from the program, never
	// from the request (the Logger keeps at most 1024 budgets). It is
	// ignored in Config.Paces, whose budget applies to every scope.
	Scope string
}

// Logger records audit events to a [Sink]. It is safe for concurrent use.
//
// Components find the Logger in the request's context: [Logger.Handler]
// puts it there, and a nil *Logger's [Logger.Log] records to it. So a
// component's optional Config.Audit field can be left nil when the
// component runs inside the Handler (install the Handler outside every
// component, next to clientip's); set it for a component installed
// outside the Handler, for events recorded outside a request (a
// background job, an admin command, a shutdown flush), or to send a
// component's events elsewhere. An event with no Logger at all is dropped
// with a warning on standard error (at most one a minute, with the count
// dropped meanwhile), never silently; to record nothing on purpose, give
// the component a Logger on audit.NewJSONLSink(io.Discard).
type Logger struct {
	sink     Sink
	now      func() time.Time
	errorLog *slog.Logger
	paces    map[Action]Pace                        // from Config: they win over Event.Pace
	gates    atomic.Pointer[map[gateKey]*gate.Gate] // copy on write
	mu       sync.Mutex                             // serialises writers of gates
}

// gateKey names one budget: an action, and the emitter's scope of it.
type gateKey struct {
	action Action
	scope  string
}

// maxGates bounds the budgets created from Event.Pace, so that an
// application minting action names cannot grow the Logger without limit;
// the actions and scopes beyond it share one more budget (overflowGate)
// rather than going unpaced, so that a flood stays paced.
const maxGates = 1024

// overflowGate names the budget shared by the actions and scopes beyond
// maxGates: no event has an empty Action.
var overflowGate = gateKey{}

// New returns a Logger writing to sink. It returns an error if sink is nil
// or a Pace in cfg is negative.
func New(sink Sink, cfg Config) (*Logger, error) {
	if nilarg.Is(sink) {
		return nil, errors.New("audit: New with a nil Sink: pass a sink, such as audit.NewJSONLSink(os.Stderr)")
	}
	l := &Logger{sink: sink, now: cfg.Now, errorLog: cfg.ErrorLog, paces: maps.Clone(cfg.Paces)}
	if l.now == nil {
		l.now = time.Now
	}
	if l.errorLog == nil {
		l.errorLog = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	for a, p := range cfg.Paces {
		if p.Every < 0 || p.Burst < 0 {
			return nil, fmt.Errorf("audit: Config.Paces[%q] is %+v: Every and Burst must not be negative", a, p)
		}
	}
	gates := make(map[gateKey]*gate.Gate)
	l.gates.Store(&gates)
	return l, nil
}

// MustNew is like [New] but panics on error, for package-level loggers.
func MustNew(sink Sink, cfg Config) *Logger {
	l, err := New(sink, cfg)
	if err != nil {
		panic(err)
	}
	return l
}

// Log records e. It fills Time (UTC) when it is zero and, when they are
// empty, the request-scoped fields from ctx: Actor ([identity.FromContext]),
// SessionRef (the actor's), RequestID, ClientIP and UserAgent (from
// [Logger.Handler] or [WithRequest], the client IP also from
// clientip.FromContext). It then redacts Meta entries whose key or value
// looks sensitive and cuts oversized fields (see [Redact]), without
// modifying the caller's map.
//
// A nil Logger records e with the Logger whose [Logger.Handler] serves
// the request of ctx; when there is none, it drops e with a warning on
// standard error (see [Logger]).
//
// Log never fails the caller's request and returns nothing: an event it
// cannot record (one without Category or Action, or one the sink refuses)
// goes to Config.ErrorLog with the error. An event of a paced action over
// its budget (Config.Paces, else [Event.Pace]) is held back and counted. The sink is
// called with ctx stripped of its cancellation (its values are kept): a
// client that disconnects must not erase the record of what it did. Behind
// an [AsyncSink] with the default [OverflowBlock], Log therefore waits for
// room in the queue however long the sink takes to recover; choose
// [OverflowFallback] to bound that wait.
func (l *Logger) Log(ctx context.Context, e Event) {
	if l == nil {
		if l = FromContext(ctx); l == nil {
			warnUnrouted(ctx, e.Action)
			return
		}
	}
	pace := e.Pace
	e.Pace = Pace{} // the budget is the Logger's business, not the sinks'
	if err := l.stamp(&e); err != nil {
		l.report(ctx, e, err)
		return
	}
	// The budget is checked before the event is filled in and cut, so that
	// an event held back in a flood costs little.
	var g *gate.Gate
	if pace != (Pace{}) || len(l.paces) > 0 {
		g = l.gate(e.Action, pace)
	}
	suppressed := 0
	if g != nil {
		var ok bool
		if ok, suppressed = g.Allow(e.Time); !ok {
			return
		}
	}
	l.fill(ctx, &e)
	if suppressed > 0 {
		e.Meta = maps.Clone(e.Meta)
		if e.Meta == nil {
			e.Meta = make(map[string]string, 1)
		}
		e.Meta["suppressed"] = strconv.Itoa(suppressed)
	}
	if ctx.Done() != nil {
		ctx = context.WithoutCancel(ctx)
	}
	if err := l.sink.Write(ctx, e); err != nil && !errors.Is(err, ErrDropped) {
		// A drop is already counted and audited by the AsyncSink.
		l.report(ctx, e, fmt.Errorf("audit: write %s: %w", e.Action, err))
	}
}

// gate returns the budget of action a in the emitter's scope p.Scope: the
// one Config.Paces sets for a, else p. It returns nil when a is not to be
// paced.
func (l *Logger) gate(a Action, p Pace) *gate.Gate {
	if cp, set := l.paces[a]; set {
		if cp.Every == 0 && cp.Burst == 0 {
			return nil // the application records every event of a
		}
		p.Every, p.Burst = cp.Every, cp.Burst
	} else if p.Every <= 0 && p.Burst <= 0 || p.Every < 0 || p.Burst < 0 {
		return nil
	}
	k := gateKey{a, p.Scope}
	if g := (*l.gates.Load())[k]; g != nil {
		return g
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	old := *l.gates.Load()
	if g, ok := old[k]; ok {
		return g // the first budget wins: emitters of one action and scope share it
	}
	if len(old) >= maxGates {
		if g, ok := old[overflowGate]; ok {
			return g
		}
		k = overflowGate
	}
	gates := make(map[gateKey]*gate.Gate, len(old)+1)
	maps.Copy(gates, old)
	g := gate.New(p.Every, max(p.Burst, 1))
	gates[k] = g
	l.gates.Store(&gates)
	return g
}

// unrouted paces the warnings about events that had no Logger to go to:
// one a minute for the whole process, with the count held back. It is
// package state because such an event, by definition, has no Logger to
// keep it in.
var unrouted = gate.New(time.Minute, 1)

// warnUnrouted tells the operator, on standard error (paced), that an
// event was dropped for want of a Logger: a component outside the audit
// Handler, or work outside any request, with no Config.Audit set.
func warnUnrouted(ctx context.Context, a Action) {
	ok, held := unrouted.Allow(time.Now())
	if !ok {
		return
	}
	slog.New(slog.NewTextHandler(os.Stderr, nil)).LogAttrs(ctx, slog.LevelWarn,
		"audit: event dropped: no audit.Logger: install the Logger's Handler outside the component, or set the component's Config.Audit for work outside a request; to record nothing, give it audit.New(audit.NewJSONLSink(io.Discard))",
		slog.String("action", truncate(string(a), MaxField)), slog.Int("dropped_before", held))
}

// report logs an event that could not be written, redacted and cut like a
// written one: stamp rejects an event before fill does that.
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

// stamp validates e's Category, Action and Time, filling the time.
func (l *Logger) stamp(e *Event) error {
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
	return nil
}

// fill completes a stamped e from ctx, then redacts and cuts it.
func (l *Logger) fill(ctx context.Context, e *Event) {
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
	if e.Actor.UserID == "" && len(e.Actor.Roles) == 0 && len(e.Actor.Methods) == 0 {
		if p, ok := identity.FromContext(ctx); ok {
			e.Actor = p
		}
	}
	if e.SessionRef == "" {
		e.SessionRef = e.Actor.SessionRef
	}
	limitEvent(e)
}

// Redact returns e as [Logger.Log] hands it to sinks: Meta entries whose
// key looks sensitive ([SensitiveKey]) or whose value looks like a
// credential (an Authorization value, a JSON Web Token) replaced by
// [Redacted], and every field cut to its limit ([MaxField] and the other
// Max constants). The caller's map and slices are not modified. Sinks that
// may be given events directly, not through a Logger, use it to bound
// what they store.
func Redact(e Event) Event {
	limitEvent(&e)
	return e
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
	if len(e.Actor.Methods) > MaxMeta {
		e.Actor.Methods = e.Actor.Methods[:MaxMeta:MaxMeta]
	}
	cloned = false
	for i, m := range e.Actor.Methods {
		if len(m) > MaxField {
			if !cloned {
				e.Actor.Methods, cloned = slices.Clone(e.Actor.Methods), true
			}
			e.Actor.Methods[i] = identity.Method(truncate(string(m), MaxField))
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
