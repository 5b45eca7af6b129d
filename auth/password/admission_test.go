package password_test

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/auth/password"
	"github.com/deployedworks/rampart/clientip"
)

// TestHasherQueueBoundRefusesAtOnce: once MaxConcurrent + MaxQueue hashes
// are admitted, the next one is refused with a BusyError at once (no time
// passes in the bubble), and hashes nothing. The old Hasher queued without
// bound: the third hash waited for ever.
func TestHasherQueueBoundRefusesAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHasher(t, password.HasherConfig{MaxConcurrent: 1, MaxQueue: 1})
		release, err := h.HoldSlot(context.Background())
		require.NoError(t, err)
		var wg sync.WaitGroup
		wg.Go(func() {
			_, err := h.Hash(context.Background(), "queued")
			assert.NoError(t, err)
		})
		synctest.Wait() // queued

		start := time.Now()
		_, err = h.Hash(context.Background(), "one too many")
		var be *password.BusyError
		require.ErrorAs(t, err, &be)
		assert.ErrorIs(t, err, password.ErrBusy)
		assert.Zero(t, time.Since(start), "refused at once")
		assert.Equal(t, time.Second, be.RetryAfter, "at least a second")
		assert.Contains(t, err.Error(), "queue full")
		assert.Zero(t, h.Computations())

		release()
		wg.Wait()
		assert.Equal(t, uint64(1), h.Computations(), "the queued hash ran")
		_, err = h.Hash(context.Background(), "after the burst")
		assert.NoError(t, err, "the queue has room again")
	})
}

// TestHasherMaxWait: a hash waits for a slot at most MaxWait (default 5 s),
// or until its context's deadline if that comes first, and then is refused
// with a BusyError without hashing. The old Hasher waited for ever without
// a deadline.
func TestHasherMaxWait(t *testing.T) {
	for _, tc := range []struct {
		name     string
		maxWait  time.Duration
		deadline time.Duration // 0: none
		want     time.Duration
	}{
		{"default", 0, 0, 5 * time.Second},
		{"configured", 2 * time.Second, 0, 2 * time.Second},
		{"context deadline first", 0, time.Second, time.Second},
		{"MaxWait before the context deadline", 2 * time.Second, time.Minute, 2 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newHasher(t, password.HasherConfig{MaxConcurrent: 1, MaxWait: tc.maxWait})
				release, err := h.HoldSlot(context.Background())
				require.NoError(t, err)
				defer release()
				ctx := context.Background()
				if tc.deadline > 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, tc.deadline)
					defer cancel()
				}
				start := time.Now()
				_, err = h.Verify(ctx, "pw", h.Dummy())
				assert.Equal(t, tc.want, time.Since(start))
				var be *password.BusyError
				require.ErrorAs(t, err, &be)
				assert.GreaterOrEqual(t, be.RetryAfter, time.Second)
				assert.Equal(t, tc.deadline > 0 && tc.deadline < tc.want+time.Nanosecond, errors.Is(err, context.DeadlineExceeded),
					"a BusyError caused by the deadline wraps it too")
				assert.Zero(t, h.Computations())
			})
		})
	}
}

// endingCtx is a context whose Err reports Canceled once ended is set,
// while its Done channel stays open: the moment when a request has ended
// but the waiter has not seen Done yet, and a slot is handed to it.
type endingCtx struct {
	context.Context
	ended atomic.Bool
}

func (c *endingCtx) Err() error {
	if c.ended.Load() {
		return context.Canceled
	}
	return nil
}

// TestHasherCanceledContextNeverHashes: a request that ends while queued
// leaves the queue, gives its place back and never hashes, even when a slot
// is handed to it as it ends; the slot goes to the next hash. The old
// Hasher hashed for a request that had ended as its slot came.
func TestHasherCanceledContextNeverHashes(t *testing.T) {
	t.Run("ends while queued", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			h := newHasher(t, password.HasherConfig{MaxConcurrent: 1, MaxQueue: 1})
			release, err := h.HoldSlot(context.Background())
			require.NoError(t, err)
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			wg.Go(func() {
				_, err := h.Hash(ctx, "gone")
				assert.ErrorIs(t, err, context.Canceled)
				assert.NotErrorIs(t, err, password.ErrBusy)
			})
			synctest.Wait()
			cancel()
			wg.Wait()
			wg.Go(func() {
				_, err := h.Hash(context.Background(), "next")
				assert.NoError(t, err, "the place in the queue was given back")
			})
			synctest.Wait()
			release()
			wg.Wait()
			assert.Equal(t, uint64(1), h.Computations(), "only the live request hashed")
		})
	})
	t.Run("ends as its slot comes", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			h := newHasher(t, password.HasherConfig{MaxConcurrent: 1})
			release, err := h.HoldSlot(context.Background())
			require.NoError(t, err)
			ctx := &endingCtx{Context: context.Background()}
			var wg sync.WaitGroup
			wg.Go(func() {
				_, err := h.Hash(ctx, "gone")
				assert.ErrorIs(t, err, context.Canceled)
			})
			synctest.Wait()
			ctx.ended.Store(true)
			release()
			wg.Wait()
			assert.Zero(t, h.Computations(), "never hashed for an ended request")
			_, err = h.Hash(context.Background(), "next")
			assert.NoError(t, err, "the slot was passed on")
		})
	})
	t.Run("already ended", func(t *testing.T) {
		h := newHasher(t, password.HasherConfig{})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := h.Hash(ctx, "gone")
		assert.ErrorIs(t, err, context.Canceled)
		assert.Zero(t, h.Computations())
	})
}

// TestAdmit: one admission covers every hash of a request (a verify and a
// rehash), counts against the client recorded by the clientip middleware,
// and refuses at once beyond MaxPerClient or the queue; done gives the
// place back and may be called twice.
func TestAdmit(t *testing.T) {
	from := func(addr string) context.Context {
		return clientip.WithInfo(context.Background(), clientip.Info{Addr: netip.MustParseAddr(addr)})
	}
	h := newHasher(t, password.HasherConfig{MaxConcurrent: 1, MaxQueue: 2, MaxPerClient: 2})

	a1, done1, err := h.Admit(from("2001:db8:1:2::1"))
	require.NoError(t, err)
	_, done2, err := h.Admit(from("2001:db8:1:2::ffff")) // the same /64
	require.NoError(t, err)
	_, _, err = h.Admit(from("2001:db8:1:2::7"))
	var be *password.BusyError
	require.ErrorAs(t, err, &be, "a third request from one /64")
	assert.Contains(t, err.Error(), "too many requests from this client")

	enc, err := h.Hash(a1, "pw")
	require.NoError(t, err, "hashes within the admission take no new place")
	_, err = h.Verify(a1, "pw", enc)
	require.NoError(t, err)
	assert.Equal(t, uint64(2), h.Computations())

	_, done3, err := h.Admit(from("192.0.2.1"))
	require.NoError(t, err, "another client")
	_, _, err = h.Admit(from("192.0.2.2"))
	require.ErrorAs(t, err, &be, "MaxConcurrent + MaxQueue admitted")
	assert.Contains(t, err.Error(), "queue full")

	done1()
	done1() // harmless
	_, done4, err := h.Admit(from("2001:db8:1:2::7"))
	require.NoError(t, err, "the place came back once")
	_, _, err = h.Admit(from("192.0.2.2"))
	require.ErrorAs(t, err, &be, "and only once")
	for _, done := range []func(){done2, done3, done4} {
		done()
	}

	ctx, cancel := context.WithCancel(from("192.0.2.3"))
	cancel()
	_, _, err = h.Admit(ctx)
	assert.ErrorIs(t, err, context.Canceled)
	assert.NotErrorIs(t, err, password.ErrBusy)
}

// TestHasherRefusesAtOnceWhatWouldWaitPastMaxWait: with hashes taking 2 s
// (by the moving average) and one slot, a request with two hashes
// admitted ahead of it would wait about 4 s and is queued; one with three
// ahead would wait 6 s, past MaxWait (5 s), and is refused at admission,
// at once, with nothing hashed, instead of after waiting 5 s. The queue
// (MaxQueue, default 8) is far from full. Issue 16: a login storm's excess
// waited out MaxWait before its 503.
func TestHasherRefusesAtOnceWhatWouldWaitPastMaxWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHasher(t, password.HasherConfig{MaxConcurrent: 1, MaxWait: 5 * time.Second})
		h.ObserveHash(2 * time.Second)
		release, err := h.HoldSlot(context.Background())
		require.NoError(t, err)
		var wg sync.WaitGroup
		for range 2 {
			wg.Go(func() {
				_, err := h.Hash(context.Background(), "queued")
				assert.NoError(t, err, "admitted: expected within MaxWait")
			})
			synctest.Wait() // admitted, queued for the slot
		}

		start := time.Now()
		_, err = h.Hash(context.Background(), "would wait 6 s")
		var be *password.BusyError
		require.ErrorAs(t, err, &be)
		assert.ErrorIs(t, err, password.ErrBusy)
		assert.Zero(t, time.Since(start), "refused at once")
		assert.Contains(t, err.Error(), "no slot expected within the maximum wait")
		assert.GreaterOrEqual(t, be.RetryAfter, time.Second)
		assert.LessOrEqual(t, be.RetryAfter, 5*time.Second)
		_, _, err = h.Admit(context.Background())
		require.ErrorAs(t, err, &be, "Admit refuses alike")
		assert.Zero(t, h.Computations())

		release()
		wg.Wait()
		assert.Equal(t, uint64(2), h.Computations(), "the admitted hashes ran")
		_, err = h.Hash(context.Background(), "after the storm")
		assert.NoError(t, err, "a free slot means no wait")
	})
}
