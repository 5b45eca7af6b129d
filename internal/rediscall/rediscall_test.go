package rediscall

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// A call that ignores its context (a client without
// ContextTimeoutEnabled) still returns by the timeout.
func TestDoBoundsACallThatIgnoresItsDeadline(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	start := time.Now()
	v, err := Do(context.Background(), 20*time.Millisecond, false, func(context.Context) (int, error) {
		<-release // hung: never looks at its context
		return 1, nil
	})
	if !errors.Is(err, context.DeadlineExceeded) || v != 0 {
		t.Fatalf("Do = %d, %v; want 0, DeadlineExceeded", v, err)
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("Do took %v, want about the 20ms timeout", took)
	}
}

// A call that obeys deadlines runs on the caller's goroutine with the
// timeout in its context, and its answer comes back.
func TestDoPassesTheDeadline(t *testing.T) {
	v, err := Do(context.Background(), time.Minute, true, func(ctx context.Context) (string, error) {
		if d, ok := ctx.Deadline(); !ok || time.Until(d) > time.Minute {
			t.Errorf("deadline %v, %v; want within a minute", d, ok)
		}
		return "ok", nil
	})
	if v != "ok" || err != nil {
		t.Fatalf("Do = %q, %v", v, err)
	}
}

func TestObeysDeadlines(t *testing.T) {
	on := redis.NewClient(&redis.Options{Addr: "127.0.0.1:0", ContextTimeoutEnabled: true})
	off := redis.NewClient(&redis.Options{Addr: "127.0.0.1:0"})
	defer on.Close()
	defer off.Close()
	if !ObeysDeadlines(on) || ObeysDeadlines(off) {
		t.Fatalf("ObeysDeadlines: with %v, without %v; want true, false", ObeysDeadlines(on), ObeysDeadlines(off))
	}
}
