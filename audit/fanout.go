package audit

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/deployedworks/rampart/internal/nilarg"
)

// FanoutSink writes every event to several sinks, for example a
// tamper-evident file and a database for the admin UI. It is safe for
// concurrent use if its sinks are.
//
// A failing sink does not stop the others; Write reports every failure. To
// retry failures without writing duplicates to the sinks that succeeded,
// give each sink its own [AsyncSink] and fan out to those.
type FanoutSink struct {
	sinks []Sink
}

var _ Sink = (*FanoutSink)(nil)

// NewFanoutSink returns a sink writing to each of sinks in order. It
// returns an error if sinks is empty or holds a nil Sink.
func NewFanoutSink(sinks ...Sink) (*FanoutSink, error) {
	if len(sinks) == 0 {
		return nil, errors.New("audit: NewFanoutSink with no sinks: pass at least one")
	}
	for i, s := range sinks {
		if nilarg.Is(s) {
			return nil, fmt.Errorf("audit: NewFanoutSink: sinks[%d] is a nil Sink: pass only sinks that were built", i)
		}
	}
	return &FanoutSink{sinks: slices.Clone(sinks)}, nil
}

// Write writes e to every sink and returns their errors joined, each
// naming the sink's position.
func (f *FanoutSink) Write(ctx context.Context, e Event) error {
	var errs []error
	for i, s := range f.sinks {
		if err := s.Write(ctx, e); err != nil {
			errs = append(errs, fmt.Errorf("audit: fanout sink %d (%T): %w", i, s, err))
		}
	}
	return errors.Join(errs...)
}
