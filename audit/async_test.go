package audit

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// flakySink fails about half of its writes until it has failed failures
// times, then recovers. As a BatchSink it stores a random prefix of a batch
// before failing, to exercise partial writes.
type flakySink struct {
	mu       sync.Mutex
	rng      *rand.Rand
	failures int
	stored   map[string]int // event ID -> times stored
	calls    int
}

func newFlakySink(failures int) *flakySink {
	return &flakySink{rng: rand.New(rand.NewPCG(1, 2)), failures: failures, stored: map[string]int{}}
}

var errFlaky = errors.New("flaky: unavailable")

func (f *flakySink) Write(_ context.Context, e Event) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.failures > 0 && f.rng.IntN(2) == 0 {
		f.failures--
		return errFlaky
	}
	f.stored[e.Meta["id"]]++
	return nil
}

func (f *flakySink) count() (total int, dupes int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, n := range f.stored {
		total += n
		if n > 1 {
			dupes++
		}
	}
	return total, dupes
}

type flakyBatchSink struct{ *flakySink }

func (f flakyBatchSink) WriteBatch(_ context.Context, events []Event) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	n := len(events)
	var err error
	if f.failures > 0 && f.rng.IntN(2) == 0 {
		f.failures--
		n, err = f.rng.IntN(len(events)), errFlaky
	}
	for _, e := range events[:n] {
		f.stored[e.Meta["id"]]++
	}
	return n, err
}

func idEvent(i int) Event {
	return Event{Time: sampleTime, Category: CategoryAuthentication, Action: "login.failed",
		Meta: map[string]string{"id": strconv.Itoa(i)}}
}

func TestAsyncLosesNothingWhileSinkFlaps(t *testing.T) {
	tests := []struct {
		name  string
		batch bool
	}{
		{"batch sink", true},
		{"plain sink", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				flaky := newFlakySink(300)
				var sink Sink = flaky
				if tt.batch {
					sink = flakyBatchSink{flaky}
				}
				a, err := NewAsyncSink(sink, AsyncConfig{QueueSize: 64, BatchSize: 16})
				require.NoError(t, err)
				const writers, perWriter = 4, 1000
				var wg sync.WaitGroup
				for w := range writers {
					wg.Go(func() {
						for i := range perWriter {
							assert.NoError(t, a.Write(context.Background(), idEvent(w*perWriter+i)))
						}
					})
				}
				wg.Wait()
				require.NoError(t, a.Close(context.Background()))

				total, dupes := flaky.count()
				assert.Equal(t, writers*perWriter, total, "every event stored")
				assert.Len(t, flaky.stored, writers*perWriter, "each event stored")
				assert.Zero(t, dupes, "partial batches are not stored twice")
				st := a.Stats()
				assert.Equal(t, uint64(writers*perWriter), st.Written)
				assert.Equal(t, uint64(300-flaky.failures), st.Retries, "every failure retried")
				assert.Greater(t, st.Retries, uint64(100), "the sink failed often")
				assert.Zero(t, st.Lost+st.Dropped+st.Fallback)
			})
		})
	}
}

// gateSink blocks every write until the gate opens. It is not a
// BatchSink.
type gateSink struct {
	mem  MemorySink
	gate chan struct{}
}

func (g *gateSink) Write(ctx context.Context, e Event) error {
	select {
	case <-g.gate:
	case <-ctx.Done():
		return ctx.Err()
	}
	return g.mem.Write(ctx, e)
}

func (g *gateSink) Events() []Event { return g.mem.Events() }

func TestAsyncCloseFlushes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sink := &gateSink{gate: make(chan struct{})}
		a, err := NewAsyncSink(sink, AsyncConfig{QueueSize: 1000})
		require.NoError(t, err)
		for i := range 500 {
			require.NoError(t, a.Write(context.Background(), idEvent(i)))
		}
		synctest.Wait()
		assert.Empty(t, sink.Events(), "nothing written while the sink is stuck")
		close(sink.gate)
		require.NoError(t, a.Close(context.Background()))
		assert.Len(t, sink.Events(), 500)
		assert.ErrorIs(t, a.Write(context.Background(), idEvent(0)), ErrClosed)
		assert.NoError(t, a.Close(context.Background()), "Close twice is fine")
	})
}

func TestAsyncCloseGivesUp(t *testing.T) {
	tests := []struct {
		name     string
		fallback *MemorySink
	}{
		{"to the fallback", &MemorySink{}},
		{"counted as lost", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cfg := AsyncConfig{QueueSize: 100}
				if tt.fallback != nil {
					cfg.Fallback = tt.fallback
				}
				a, err := NewAsyncSink(failSink{errors.New("down")}, cfg)
				require.NoError(t, err)
				for i := range 10 {
					require.NoError(t, a.Write(context.Background(), idEvent(i)))
				}
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				err = a.Close(ctx)
				st := a.Stats()
				if tt.fallback != nil {
					assert.NoError(t, err)
					assert.Len(t, tt.fallback.Events(), 10)
					assert.Equal(t, uint64(10), st.Fallback)
					return
				}
				assert.ErrorIs(t, err, context.DeadlineExceeded)
				assert.ErrorContains(t, err, "10 events were not written")
				assert.Equal(t, uint64(10), st.Lost)
				assert.Positive(t, st.Retries)
			})
		})
	}
}

func TestAsyncOverflow(t *testing.T) {
	t.Run("block waits for room", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			sink := &gateSink{gate: make(chan struct{})}
			a, err := NewAsyncSink(sink, AsyncConfig{QueueSize: 2, BatchSize: 1})
			require.NoError(t, err)
			for i := range 3 { // one taken by the writer, two queued
				require.NoError(t, a.Write(context.Background(), idEvent(i)))
				synctest.Wait()
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			err = a.Write(ctx, idEvent(3))
			cancel()
			assert.ErrorIs(t, err, context.DeadlineExceeded, "a full queue blocks until the caller gives up")

			done := make(chan error)
			go func() { done <- a.Write(context.Background(), idEvent(4)) }()
			synctest.Wait()
			close(sink.gate)
			assert.NoError(t, <-done)
			require.NoError(t, a.Close(context.Background()))
			assert.Len(t, sink.Events(), 4)
		})
	})
	t.Run("fallback", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			sink := &gateSink{gate: make(chan struct{})}
			fb := &MemorySink{}
			a, err := NewAsyncSink(sink, AsyncConfig{QueueSize: 1, BatchSize: 1, Overflow: OverflowFallback, Fallback: fb})
			require.NoError(t, err)
			for i := range 5 {
				require.NoError(t, a.Write(context.Background(), idEvent(i)))
				synctest.Wait()
			}
			assert.Len(t, fb.Events(), 3)
			close(sink.gate)
			require.NoError(t, a.Close(context.Background()))
			assert.Len(t, sink.Events(), 2)
			assert.Equal(t, uint64(3), a.Stats().Fallback)
		})
	})
	t.Run("drop is counted and audited", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			sink := &gateSink{gate: make(chan struct{})}
			a, err := NewAsyncSink(sink, AsyncConfig{QueueSize: 1, BatchSize: 1, Overflow: OverflowDrop})
			require.NoError(t, err)
			var dropped int
			for i := range 10 {
				if err := a.Write(context.Background(), idEvent(i)); err != nil {
					require.ErrorIs(t, err, ErrDropped)
					dropped++
				}
				synctest.Wait()
			}
			assert.Equal(t, 8, dropped)
			close(sink.gate)
			require.NoError(t, a.Close(context.Background()))
			events := sink.Events()
			require.Len(t, events, 3, "two events and the report of the drops")
			i := slices.IndexFunc(events, func(e Event) bool { return e.Action == ActionEventsDropped })
			require.GreaterOrEqual(t, i, 0)
			last := events[i]
			assert.Equal(t, CategorySecurityAlert, last.Category)
			assert.Equal(t, "8", last.Meta["dropped"])
			assert.Equal(t, uint64(8), a.Stats().Dropped)
		})
	})
}

func TestAsyncCopiesEvents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sink := &gateSink{gate: make(chan struct{})}
		a, err := NewAsyncSink(sink, AsyncConfig{})
		require.NoError(t, err)
		e := idEvent(1)
		e.Actor.Roles = []string{"admin"}
		require.NoError(t, a.Write(context.Background(), e))
		e.Meta["id"] = "changed"
		e.Actor.Roles[0] = "changed"
		close(sink.gate)
		require.NoError(t, a.Close(context.Background()))
		got := sink.Events()[0]
		assert.Equal(t, "1", got.Meta["id"])
		assert.Equal(t, []string{"admin"}, got.Actor.Roles)
	})
}

func TestNewAsyncSinkValidates(t *testing.T) {
	_, err := NewAsyncSink(&MemorySink{}, AsyncConfig{Overflow: OverflowFallback})
	assert.ErrorContains(t, err, "Fallback")
	_, err = NewAsyncSink(&MemorySink{}, AsyncConfig{Overflow: 9})
	assert.ErrorContains(t, err, "unknown")
	_, err = NewAsyncSink(nil, AsyncConfig{})
	assert.ErrorContains(t, err, "nil Sink")
}

// A full disk is surfaced: Stats.Err holds the sink's ENOSPC (from the
// kernel: the JSONL sink writes to /dev/full, which fails every write with
// ENOSPC) while the events wait, and is cleared once a write succeeds.
func TestAsyncReportsFullDisk(t *testing.T) {
	full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Skip("/dev/full, which fails every write with ENOSPC, is Linux-only: " + err.Error())
	}
	defer full.Close()
	w := &switchWriter{w: full}
	js, err := NewJSONLSink(w)
	require.NoError(t, err)
	a, err := NewAsyncSink(js, AsyncConfig{MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond})
	require.NoError(t, err)
	assert.NoError(t, a.Stats().Err)
	for i := range 3 {
		require.NoError(t, a.Write(context.Background(), idEvent(i)))
	}
	require.Eventually(t, func() bool { return a.Stats().Err != nil }, 30*time.Second, time.Millisecond)
	st := a.Stats()
	assert.ErrorIs(t, st.Err, syscall.ENOSPC)
	assert.Zero(t, st.Written, "nothing written, nothing lost: the events wait")

	var buf bytes.Buffer
	w.set(&buf) // space again
	require.Eventually(t, func() bool { return a.Stats().Written == 3 }, 30*time.Second, time.Millisecond)
	assert.NoError(t, a.Stats().Err, "cleared by a successful write")
	assert.Equal(t, 3, strings.Count(buf.String(), "\n"))
	require.NoError(t, a.Close(context.Background()))
}

// switchWriter writes to w, which a test can replace.
type switchWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *switchWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func (s *switchWriter) set(w io.Writer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.w = w
}
