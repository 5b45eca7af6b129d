package ratelimit_test

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/internal/testenv"
	"github.com/deployedworks/rampart/ratelimit"
)

func newClock() *testenv.Clock {
	return testenv.NewClock(time.Date(2026, 6, 25, 12, 0, 0, 0, time.UTC))
}

func newMemory(t *testing.T, l ratelimit.Limit, cfg ratelimit.MemoryConfig) *ratelimit.Memory {
	t.Helper()
	m, err := ratelimit.NewMemory(l, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = m.Close(context.Background()) })
	return m
}

// allowN calls Allow n times and returns how many were allowed.
func allowN(t *testing.T, lim ratelimit.Limiter, key string, n int) int {
	t.Helper()
	ok := 0
	for range n {
		d, err := lim.Allow(context.Background(), key)
		require.NoError(t, err)
		if d.Allowed {
			ok++
		}
	}
	return ok
}

func TestNewMemoryRejectsBadConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		l    ratelimit.Limit
		cfg  ratelimit.MemoryConfig
	}{
		{"zero limit", ratelimit.Limit{}, ratelimit.MemoryConfig{}},
		{"no events", ratelimit.Limit{Per: time.Second}, ratelimit.MemoryConfig{}},
		{"negative per", ratelimit.Limit{Events: 1, Per: -time.Second}, ratelimit.MemoryConfig{}},
		{"below 1ns per event", ratelimit.Limit{Events: 10, Per: 5}, ratelimit.MemoryConfig{}},
		{"negative burst", ratelimit.Limit{Events: 1, Per: time.Second, Burst: -1}, ratelimit.MemoryConfig{}},
		{"huge burst", ratelimit.Limit{Events: 1, Per: time.Second, Burst: 1<<24 + 1}, ratelimit.MemoryConfig{}},
		{"negative MaxKeys", ratelimit.Limit{Events: 1, Per: time.Second}, ratelimit.MemoryConfig{MaxKeys: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ratelimit.NewMemory(tc.l, tc.cfg)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "ratelimit: ")
		})
	}
}

func TestMemoryBurstAndRefill(t *testing.T) {
	for _, tc := range []struct {
		name  string
		limit ratelimit.Limit
		exact bool // the interval is a multiple of the tick: no rounding at all
	}{
		{"100 per second", ratelimit.Limit{Events: 100, Per: time.Second}, true},
		{"10 per second, burst 1", ratelimit.Limit{Events: 10, Per: time.Second, Burst: 1}, true},
		{"5 per 15 minutes", ratelimit.Limit{Events: 5, Per: 15 * time.Minute}, true},
		{"1000 per millisecond", ratelimit.Limit{Events: 1000, Per: time.Millisecond}, true},
		{"3 per second", ratelimit.Limit{Events: 3, Per: time.Second}, false},
		{"1 per day, burst 3", ratelimit.Limit{Events: 1, Per: 24 * time.Hour, Burst: 3}, false},
		{"burst 1<<20", ratelimit.Limit{Events: 1 << 20, Per: time.Minute, Burst: 1 << 20}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock()
			m := newMemory(t, tc.limit, ratelimit.MemoryConfig{Now: clk.Now, SweepInterval: -1})
			burst := m.Limit().Burst
			iv := tc.limit.Interval()
			// Documented precision: a token comes back less than iv/65536
			// late for bursts up to 1<<14, less than iv/(2^30/burst-1)
			// above, never early.
			slack := time.Duration(0)
			if !tc.exact {
				slack = iv/65536 + 1
				if burst > 1<<14 {
					slack = iv/time.Duration(1<<30/burst-1) + 1
				}
			}

			// A full bucket: exactly Burst at once.
			for i := range burst {
				d, err := m.Allow(context.Background(), "k")
				require.NoError(t, err)
				require.True(t, d.Allowed, "request %d", i)
				require.Equal(t, burst-1-i, d.Remaining)
			}
			d, err := m.Allow(context.Background(), "k")
			require.NoError(t, err)
			require.False(t, d.Allowed)
			assert.Zero(t, d.Remaining)
			assert.InDelta(t, float64(iv), float64(d.RetryAfter), float64(slack))
			assert.InDelta(t, float64(time.Duration(burst)*iv), float64(d.ResetAfter), float64(time.Duration(burst)*slack))

			// One nanosecond before one interval: still refused. At it (give
			// or take the documented rounding): exactly one more.
			clk.Add(iv - 1)
			assert.Equal(t, 0, allowN(t, m, "k", 1), "just before the interval")
			clk.Add(1 + slack)
			assert.Equal(t, 1, allowN(t, m, "k", 3), "after one interval")

			// After a long idle time: a full bucket, never more.
			clk.Add(1000 * tc.limit.Per)
			if burst <= 1000 {
				assert.Equal(t, burst, allowN(t, m, "k", burst+5))
			}
			// Other keys are not affected.
			assert.Equal(t, 1, allowN(t, m, "other", 1))
		})
	}
}

// Over any span, a key gets at most Burst + span/Interval requests, and
// (rounding aside) at least that many when it asks often enough.
func TestMemorySustainedRate(t *testing.T) {
	clk := newClock()
	l := ratelimit.Limit{Events: 3, Per: time.Second, Burst: 2}
	m := newMemory(t, l, ratelimit.MemoryConfig{Now: clk.Now, SweepInterval: -1})
	allowed := 0
	step := 7 * time.Millisecond
	span := time.Duration(0)
	for span < 100*time.Second {
		allowed += allowN(t, m, "k", 1)
		clk.Add(step)
		span += step
	}
	upper := 2 + int(span/l.Interval())
	assert.LessOrEqual(t, allowed, upper)
	assert.GreaterOrEqual(t, allowed, upper-2)
}

func TestMemoryPeekAndReset(t *testing.T) {
	clk := newClock()
	m := newMemory(t, ratelimit.Limit{Events: 3, Per: time.Minute}, ratelimit.MemoryConfig{Now: clk.Now, SweepInterval: -1})
	ctx := context.Background()

	d, err := m.Peek(ctx, "k")
	require.NoError(t, err)
	assert.True(t, d.Allowed)
	assert.Equal(t, 3, d.Remaining)
	assert.Equal(t, 0, m.Len(), "Peek does not track a key")

	require.Equal(t, 3, allowN(t, m, "k", 3))
	d, err = m.Peek(ctx, "k")
	require.NoError(t, err)
	assert.False(t, d.Allowed)
	assert.Equal(t, 20*time.Second, d.RetryAfter.Round(time.Millisecond))

	require.NoError(t, m.Reset(ctx, "k"))
	assert.Equal(t, 0, m.Len())
	d, err = m.Peek(ctx, "k")
	require.NoError(t, err)
	assert.Equal(t, 3, d.Remaining)
	require.NoError(t, m.Reset(ctx, "never seen"))
}

// Many goroutines hammering the same keys with the clock stopped: exactly
// Burst requests per key get through.
func TestMemoryExactUnderConcurrency(t *testing.T) {
	clk := newClock()
	const burst, keys, workers, perWorker = 50, 20, 8, 400
	m := newMemory(t, ratelimit.Limit{Events: burst, Per: time.Hour}, ratelimit.MemoryConfig{Now: clk.Now, SweepInterval: -1})
	var allowed [keys]atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				k := (i + w) % keys
				d, err := m.Allow(context.Background(), "key-"+strconv.Itoa(k))
				if err == nil && d.Allowed {
					allowed[k].Add(1)
				}
			}
		})
	}
	wg.Wait()
	for k := range allowed {
		assert.Equal(t, int64(burst), allowed[k].Load(), "key %d", k)
	}
}

// An attacker with a million source addresses cannot grow the table past
// MaxKeys.
func TestMemoryEvictionBound(t *testing.T) {
	clk := newClock()
	const maxKeys = 10_000
	m := newMemory(t, ratelimit.Limit{Events: 10, Per: time.Minute}, ratelimit.MemoryConfig{Now: clk.Now, MaxKeys: maxKeys, SweepInterval: -1})
	ctx := context.Background()
	buf := make([]byte, 0, 16)
	for i := range 1_000_000 {
		buf = strconv.AppendInt(buf[:0], int64(i), 36)
		_, err := m.Allow(ctx, string(buf))
		require.NoError(t, err)
		if i%100_000 == 0 {
			require.LessOrEqual(t, m.Len(), maxKeys)
			clk.Add(time.Millisecond)
		}
	}
	assert.LessOrEqual(t, m.Len(), maxKeys)
	assert.Greater(t, m.Len(), maxKeys*9/10, "the table is used, not emptied")
}

// Attack: flooding the table with fresh keys must not evict a key that is
// being throttled, which would give its owner a fresh bucket.
func TestMemoryEvictionSparesThrottledKeys(t *testing.T) {
	clk := newClock()
	m := newMemory(t, ratelimit.Limit{Events: 5, Per: time.Minute}, ratelimit.MemoryConfig{Now: clk.Now, MaxKeys: 1000, SweepInterval: -1})
	ctx := context.Background()
	const victims = 50
	for v := range victims {
		require.Equal(t, 5, allowN(t, m, "throttled-"+strconv.Itoa(v), 10))
	}
	for i := range 200_000 {
		_, err := m.Allow(ctx, "flood-"+strconv.Itoa(i))
		require.NoError(t, err)
	}
	for v := range victims {
		d, err := m.Peek(ctx, "throttled-"+strconv.Itoa(v))
		require.NoError(t, err)
		assert.False(t, d.Allowed, "throttled key %d was evicted", v)
	}
}

// Attack: a flood of fresh keys (one request each) beyond MaxKeys only
// evicts other fresh keys, so it cannot give back to a key that is not
// throttled yet the requests it has spent (the package doc's promise): a
// key with a debt of two requests keeps it through a flood twenty times
// the table, while the table stays within its bound.
func TestMemoryFloodSparesKeysInDebt(t *testing.T) {
	clk := newClock()
	const maxKeys = 10_000
	m := newMemory(t, ratelimit.Limit{Events: 5, Per: time.Minute}, ratelimit.MemoryConfig{Now: clk.Now, MaxKeys: maxKeys, SweepInterval: -1})
	ctx := context.Background()
	const victims = 500
	for v := range victims {
		require.Equal(t, 2, allowN(t, m, "victim-"+strconv.Itoa(v), 2))
	}
	for i := range 20 * maxKeys {
		d, err := m.Allow(ctx, "flood-"+strconv.Itoa(i))
		require.NoError(t, err)
		require.True(t, d.Allowed, "a fresh key has a full bucket")
		if i%1000 == 0 {
			require.LessOrEqual(t, m.Len(), maxKeys)
		}
	}
	assert.LessOrEqual(t, m.Len(), maxKeys)
	assert.Greater(t, m.Len(), maxKeys*99/100, "full (MaxKeys is shared among shards, rounded down)")
	for v := range victims {
		d, err := m.Peek(ctx, "victim-"+strconv.Itoa(v))
		require.NoError(t, err)
		assert.Equal(t, 3, d.Remaining, "victim %d got back what it had spent", v)
	}
}

// The table keeps state across re-basing, which happens every 2^31 ticks.
func TestMemoryLongRunningClock(t *testing.T) {
	clk := newClock()
	l := ratelimit.Limit{Events: 1, Per: time.Second, Burst: 2}
	m := newMemory(t, l, ratelimit.MemoryConfig{Now: clk.Now, SweepInterval: -1})
	for day := range 40 {
		require.Equal(t, 2, allowN(t, m, "k", 5), "day %d", day)
		clk.Add(500 * time.Millisecond)
		require.Equal(t, 0, allowN(t, m, "k", 1), "day %d: half an interval later", day)
		clk.Add(500 * time.Millisecond)
		require.Equal(t, 1, allowN(t, m, "k", 2), "day %d: one interval later", day)
		clk.Add(24 * time.Hour)
	}
}

// A clock that steps backwards holds time still: no extra requests.
func TestMemoryClockBackwards(t *testing.T) {
	clk := newClock()
	m := newMemory(t, ratelimit.Limit{Events: 1, Per: time.Second, Burst: 2}, ratelimit.MemoryConfig{Now: clk.Now, SweepInterval: -1})
	clk.Add(time.Hour)
	require.Equal(t, 2, allowN(t, m, "k", 3))
	clk.Add(-30 * time.Minute)
	assert.Equal(t, 0, allowN(t, m, "k", 3))
	clk.Add(30*time.Minute + time.Second)
	assert.Equal(t, 1, allowN(t, m, "k", 3))
}

func TestMemoryJanitorForgetsRefilledKeys(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m, err := ratelimit.NewMemory(ratelimit.Limit{Events: 10, Per: time.Second}, ratelimit.MemoryConfig{SweepInterval: time.Minute})
		require.NoError(t, err)
		for i := range 10_000 {
			_, err := m.Allow(context.Background(), strconv.Itoa(i))
			require.NoError(t, err)
		}
		require.Equal(t, 10_000, m.Len())
		time.Sleep(time.Minute + time.Second) // synctest: fake time
		synctest.Wait()
		assert.Equal(t, 0, m.Len())
		require.NoError(t, m.Close(context.Background()))
		require.NoError(t, m.Close(context.Background()), "Close is idempotent")
		// synctest.Test fails if the janitor goroutine outlives the bubble.
	})
}

func TestMemoryClosed(t *testing.T) {
	m, err := ratelimit.NewMemory(ratelimit.Limit{Events: 1, Per: time.Second}, ratelimit.MemoryConfig{})
	require.NoError(t, err)
	require.NoError(t, m.Close(context.Background()))
	d, err := m.Allow(context.Background(), "k")
	require.ErrorIs(t, err, ratelimit.ErrClosed)
	assert.False(t, d.Allowed, "a closed limiter fails closed")
	_, err = m.Peek(context.Background(), "k")
	require.ErrorIs(t, err, ratelimit.ErrClosed)
	require.ErrorIs(t, m.Reset(context.Background(), "k"), ratelimit.ErrClosed)
}

// A refused key is answered from the shard's lock-free cache: its
// decisions must be those of the table, for it and for its neighbours.
func TestMemoryRefusedKeyCache(t *testing.T) {
	clk := newClock()
	ctx := context.Background()
	// MaxKeys 64: one shard, so every key shares the cache.
	m := newMemory(t, ratelimit.Limit{Events: 2, Per: time.Minute}, ratelimit.MemoryConfig{Now: clk.Now, MaxKeys: 64, SweepInterval: -1})

	require.Equal(t, 2, allowN(t, m, "a", 2))
	for range 3 { // the first refusal fills the cache, the others read it
		d, err := m.Allow(ctx, "a")
		require.NoError(t, err)
		assert.False(t, d.Allowed)
		assert.Equal(t, 30*time.Second, d.RetryAfter)
		assert.Equal(t, time.Minute, d.ResetAfter)
	}
	assert.Equal(t, 2, allowN(t, m, "b", 3), "a's refusal does not touch b")

	clk.Add(10 * time.Second)
	d, err := m.Peek(ctx, "a")
	require.NoError(t, err)
	assert.False(t, d.Allowed)
	assert.Equal(t, 20*time.Second, d.RetryAfter)
	assert.Equal(t, 50*time.Second, d.ResetAfter)

	clk.Add(20 * time.Second) // exactly when one token is back
	assert.Equal(t, 1, allowN(t, m, "a", 2))

	// Reset gives a fresh bucket at once, though the key was cached.
	require.Equal(t, 0, allowN(t, m, "a", 1))
	require.NoError(t, m.Reset(ctx, "a"))
	assert.Equal(t, 2, allowN(t, m, "a", 3))
}

// Eviction gives a fresh bucket at once, even to the key the cache holds.
func TestMemoryRefusedKeyCacheEviction(t *testing.T) {
	clk := newClock()
	ctx := context.Background()
	// MaxKeys 8: one shard of 8 keys in 10 slots, so eviction compares
	// every key and takes the one with the earliest TAT.
	m := newMemory(t, ratelimit.Limit{Events: 2, Per: time.Minute}, ratelimit.MemoryConfig{Now: clk.Now, MaxKeys: 8, SweepInterval: -1})

	require.Equal(t, 2, allowN(t, m, "a", 3)) // refused: in the cache
	clk.Add(time.Second)
	for i := range 7 { // later TATs than a's, no refusal to replace it in the cache
		require.Equal(t, 2, allowN(t, m, "k"+strconv.Itoa(i), 2))
	}
	require.Equal(t, 8, m.Len())
	require.Equal(t, 0, allowN(t, m, "a", 1), "a is still refused")

	require.Equal(t, 1, allowN(t, m, "new", 1)) // evicts a
	require.Equal(t, 8, m.Len())
	d, err := m.Peek(ctx, "a")
	require.NoError(t, err)
	assert.True(t, d.Allowed, "an evicted key starts over, cached or not")
	assert.Equal(t, 2, d.Remaining)
}
