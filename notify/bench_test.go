package notify_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/notify"
)

// BenchmarkEnqueue queues one message (the cost a request pays).
func BenchmarkEnqueue(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			o, _ := be.new(b).outbox(b, notify.OutboxConfig{})
			ctx := context.Background()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				i++
				if err := o.Enqueue(ctx, msg(fmt.Sprint("bench-", i))); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDeliverBatch claims a batch of 10 messages, sends them through
// a Sender that does nothing, and marks them sent: the outbox's own cost
// per round.
func BenchmarkDeliverBatch(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			o, _ := be.new(b).outbox(b, notify.OutboxConfig{Batch: 10})
			ctx := context.Background()
			nop := senderFunc(func(context.Context, notify.Message) error { return nil })
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				b.StopTimer()
				for range 10 {
					i++
					require.NoError(b, o.Enqueue(ctx, msg(fmt.Sprint("bench-", i))))
				}
				b.StartTimer()
				if n, err := o.DeliverOnce(ctx, nop); err != nil || n != 10 {
					b.Fatal(n, err)
				}
			}
		})
	}
}
