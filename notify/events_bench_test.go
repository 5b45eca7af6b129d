package notify_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/notify"
	"github.com/deployedworks/rampart/ratelimit"
)

type discardSink struct{}

func (discardSink) Write(context.Context, audit.Event) error { return nil }

type discardOutbox struct{}

func (discardOutbox) Enqueue(context.Context, notify.Message) error { return nil }

// BenchmarkEventSinkWrite measures what the EventSink adds to the audit
// pipeline: nothing measurable for the events that match no rule (nearly
// all of them), and the render of a message for those that do.
func BenchmarkEventSinkWrite(b *testing.B) {
	lim, err := ratelimit.NewMemory(ratelimit.Limit{Events: 1 << 20, Per: time.Second}, ratelimit.MemoryConfig{SweepInterval: -1})
	require.NoError(b, err)
	s, err := notify.NewEventSink(discardSink{}, discardOutbox{}, rules(), notify.EventSinkConfig{Limiter: lim})
	require.NoError(b, err)
	ctx := context.Background()
	other := factorAdded("u1", "r")
	other.Action = audit.ActionLoginSucceeded

	b.Run("no matching rule", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = s.Write(ctx, other)
		}
	})
	b.Run("notice", func(b *testing.B) {
		events := make([]audit.Event, 4096)
		for i := range events {
			events[i] = factorAdded("u1", fmt.Sprint("req", i))
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			e := events[i%len(events)]
			e.Time = e.Time.Add(time.Duration(i)) // a new event each time
			_ = s.Write(ctx, e)
			i++
		}
	})
	b.Run("alert repeated within the window", func(b *testing.B) {
		e := stuffing(0, "carol")
		b.ReportAllocs()
		for b.Loop() {
			_ = s.Write(ctx, e)
		}
	})
}
