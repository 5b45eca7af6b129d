package redisstore_test

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/internal/testenv"
	"github.com/deployedworks/rampart/ratelimit"
	"github.com/deployedworks/rampart/ratelimit/redisstore"
)

// TestFaultsFollowPolicy puts Redis behind a proxy and drops, hangs,
// resets and slows it while limits are being checked. Each limit follows
// its declared policy: a Store fails closed (refuses) by default and open
// with Config.FailOpen; the LoginThrottle fails closed unless its own
// FailOpen, whatever the store's. Every failure is an error wrapping
// ErrUnavailable and is audited; no call outlasts Config.Timeout by more
// than a margin for a loaded machine; after recovery the limits count
// again, without new clients.
func TestFaultsFollowPolicy(t *testing.T) {
	p := testenv.NewProxy(t, testenv.RedisAddr(t))
	c := redis.NewClient(&redis.Options{Addr: p.Addr(), ContextTimeoutEnabled: true, DialTimeout: 200 * time.Millisecond, DialerRetries: 1})
	t.Cleanup(func() { p.Recover(); _ = c.Close() })
	const timeout = 250 * time.Millisecond // the default
	events := &audit.MemorySink{}
	cfg := func(failOpen bool) redisstore.Config {
		return redisstore.Config{Prefix: prefix(t), Timeout: timeout, FailOpen: failOpen, Audit: audit.MustNew(events, audit.Config{})}
	}
	lots := ratelimit.Limit{Events: 100_000, Per: 365 * 24 * time.Hour} // not reached, and refilled too slowly to matter
	closed := newStore(t, c, "closed", lots, cfg(false))
	open := newStore(t, c, "open", lots, cfg(true))
	b, err := redisstore.NewBackend(c, cfg(true)) // the store would let attempts through…
	require.NoError(t, err)
	login, err := ratelimit.NewLoginThrottle(b, ratelimit.LoginThrottleConfig{Audit: audit.MustNew(events, audit.Config{})}) // …the throttle does not
	require.NoError(t, err)
	t.Cleanup(func() { _ = login.Close(context.Background()) })
	client := at(netip.MustParseAddr("203.0.113.9"))

	// check makes one call of each limit and asserts its answer: a decision
	// (counted) or the policy on failure. It reports whether all failed.
	var mu sync.Mutex
	check := func(t assert.TestingT) (failed int) {
		for _, s := range []struct {
			st       *redisstore.Store
			failOpen bool
		}{{closed, false}, {open, true}} {
			start := time.Now()
			d, err := s.st.Allow(context.Background(), "k")
			assert.Less(t, time.Since(start), timeout+5*time.Second, "bounded by Config.Timeout")
			if err != nil {
				assert.ErrorIs(t, err, ratelimit.ErrUnavailable)
				assert.Equal(t, s.failOpen, d.Allowed, "the store's policy decides")
				failed++
			} else {
				assert.True(t, d.Allowed)
			}
		}
		start := time.Now()
		err := login.Check(client, "alice")
		assert.Less(t, time.Since(start), timeout+5*time.Second, "bounded by Config.Timeout")
		if err != nil && !errors.Is(err, ratelimit.ErrLimited) { // a refusal is a decision
			assert.ErrorIs(t, err, ratelimit.ErrUnavailable, "fails closed: an error, not a pass")
			failed++
		}
		return failed
	}
	require.Eventually(t, func() bool { return check(quietT{}) == 0 }, 30*time.Second, time.Millisecond, "Redis answers (a loaded machine may miss the first timeouts)")

	for _, tc := range testenv.Faults() {
		t.Run(tc.Name, func(t *testing.T) {
			before := len(events.Events())
			testenv.DuringTraffic(4, 2, func() { tc.Inject(p) }, func(_ int, faulted bool) {
				n := check(t)
				mu.Lock()
				defer mu.Unlock()
				if faulted && tc.Fails {
					assert.Equal(t, 3, n, "every limit failed, each by its policy")
				}
			})
			if tc.Fails {
				var outcomes []audit.Outcome
				for _, e := range events.Events()[before:] {
					outcomes = append(outcomes, e.Outcome)
				}
				assert.Contains(t, outcomes, audit.OutcomeDenied, "fail-closed failures audited as denied")
				assert.Contains(t, outcomes, audit.OutcomeFailure, "fail-open failures audited as failures")
			}
			p.Recover()
			d, err := closed.Peek(context.Background(), "k")
			for err != nil { // the first call after recovery may still meet a reset connection
				d, err = closed.Peek(context.Background(), "k")
			}
			require.Eventually(t, func() bool { return check(quietT{}) == 0 }, 30*time.Second, time.Millisecond, "counts again after recovery")
			after, err := closed.Peek(context.Background(), "k")
			require.NoError(t, err)
			assert.Less(t, after.Remaining, d.Remaining, "counted")
		})
	}
}

// quietT lets a condition polled by require.Eventually run assertions
// that only count.
type quietT struct{}

func (quietT) Errorf(string, ...any) {}
