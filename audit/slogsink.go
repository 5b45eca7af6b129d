package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
)

// SlogConfig tunes a [SlogSink]. The zero value is ready to use.
type SlogConfig struct {
	// Level returns the level of the record for e. Default: WARN for
	// CategoryError, CategorySecurityAlert and CategorySuspicious, INFO for
	// the rest.
	Level func(e Event) slog.Level
}

// SlogSink writes events as log/slog records to any slog.Handler, for
// applications that ship their logs through slog. Each record has the
// event's time, the message "audit", and the event's fields as attributes
// named as in the stable JSON encoding (actor, target and meta as groups).
// It is safe for concurrent use if the handler is.
type SlogSink struct {
	h     slog.Handler
	level func(Event) slog.Level
}

var _ Sink = (*SlogSink)(nil)

// NewSlogSink returns a sink writing to logger's handler (any slog.Handler:
// wrap it with slog.New). It never falls back to the global logger: it
// returns an error if logger is nil.
func NewSlogSink(logger *slog.Logger, cfg SlogConfig) (*SlogSink, error) {
	if logger == nil {
		return nil, errors.New("audit: NewSlogSink with a nil *slog.Logger: pass the logger to write to")
	}
	s := &SlogSink{h: logger.Handler(), level: cfg.Level}
	if s.level == nil {
		s.level = defaultSlogLevel
	}
	return s, nil
}

func defaultSlogLevel(e Event) slog.Level {
	switch e.Category {
	case CategoryError, CategorySecurityAlert, CategorySuspicious:
		return slog.LevelWarn
	}
	return slog.LevelInfo
}

// Write hands e to the handler. If the handler is not enabled at the
// event's level, Write returns an error rather than lose the event
// silently: lower the handler's level or set SlogConfig.Level.
func (s *SlogSink) Write(ctx context.Context, e Event) error {
	lvl := s.level(e)
	if !s.h.Enabled(ctx, lvl) {
		return fmt.Errorf("audit: slog sink: handler not enabled at level %s, event %s would be lost: lower the handler's level or set SlogConfig.Level", lvl, e.Action)
	}
	r := slog.NewRecord(e.Time, lvl, "audit", 0)
	r.AddAttrs(
		slog.String("category", string(e.Category)),
		slog.String("action", string(e.Action)),
	)
	if e.Outcome != "" {
		r.AddAttrs(slog.String("outcome", string(e.Outcome)))
	}
	if hasActor(&e.Actor) {
		attrs := make([]slog.Attr, 0, 3)
		if e.Actor.UserID != "" {
			attrs = append(attrs, slog.String("user_id", e.Actor.UserID))
		}
		if len(e.Actor.Roles) > 0 {
			attrs = append(attrs, slog.Any("roles", e.Actor.Roles))
		}
		if len(e.Actor.Methods) > 0 {
			attrs = append(attrs, slog.Any("amr", e.Actor.Methods))
		}
		r.AddAttrs(slog.Attr{Key: "actor", Value: slog.GroupValue(attrs...)})
	}
	if e.Target != (Target{}) {
		r.AddAttrs(slog.Group("target", slog.String("kind", e.Target.Kind), slog.String("id", e.Target.ID)))
	}
	if e.ClientIP.IsValid() {
		r.AddAttrs(slog.String("client_ip", e.ClientIP.String()))
	}
	for _, f := range [...]struct{ k, v string }{
		{"user_agent", e.UserAgent}, {"request_id", e.RequestID},
		{"session", e.SessionRef}, {"reason", e.Reason},
	} {
		if f.v != "" {
			r.AddAttrs(slog.String(f.k, f.v))
		}
	}
	if len(e.Meta) > 0 {
		attrs := make([]slog.Attr, 0, len(e.Meta))
		for k, v := range e.Meta {
			attrs = append(attrs, slog.String(k, v))
		}
		r.AddAttrs(slog.Attr{Key: "meta", Value: slog.GroupValue(attrs...)})
	}
	if err := s.h.Handle(ctx, r); err != nil {
		return fmt.Errorf("audit: slog sink: %w", err)
	}
	return nil
}
