package audit

import (
	"context"
	"slices"
	"sync"
	"time"
)

// Sink stores events. Write must be safe for concurrent use.
type Sink interface {
	Write(ctx context.Context, e Event) error
}

// Config tunes a [Logger]. The zero value is ready to use.
type Config struct {
	// Now returns the current time. Default: time.Now. Tests inject a clock.
	Now func() time.Time
}

// Logger records audit events to a [Sink]. It is safe for concurrent use.
// A nil *Logger discards every event, so components can take an optional
// one.
type Logger struct {
	sink Sink
	now  func() time.Time
}

// New returns a Logger writing to sink. Panics if sink is nil.
func New(sink Sink, cfg Config) *Logger {
	if sink == nil {
		panic("audit: New with nil Sink")
	}
	l := &Logger{sink: sink, now: cfg.Now}
	if l.now == nil {
		l.now = time.Now
	}
	return l
}

// Log records e, filling Time (UTC) when it is zero. It returns the sink's
// error, if any.
func (l *Logger) Log(ctx context.Context, e Event) error {
	if l == nil {
		return nil
	}
	if e.Time.IsZero() {
		e.Time = l.now()
	}
	e.Time = e.Time.UTC()
	return l.sink.Write(ctx, e)
}

// MemorySink keeps events in memory. It is meant for tests; the zero value
// is ready to use.
type MemorySink struct {
	mu     sync.Mutex
	events []Event
}

// Write appends e.
func (m *MemorySink) Write(_ context.Context, e Event) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.events = append(m.events, e)
	return nil
}

// Events returns a copy of the events written so far.
func (m *MemorySink) Events() []Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.events)
}
