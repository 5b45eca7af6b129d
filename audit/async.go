package audit

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/deployedworks/rampart/internal/nilarg"
)

// ErrDropped is returned by [AsyncSink.Write] for an event dropped under
// [OverflowDrop]. The drop is counted and audited.
var ErrDropped = errors.New("audit: event dropped: async queue full")

// OverflowPolicy says what [AsyncSink.Write] does when the queue is full.
type OverflowPolicy uint8

// Overflow policies.
const (
	// OverflowBlock makes Write wait for room (or for its context to end,
	// returning the context's error). It is the default: nothing is lost,
	// at the price of slowing callers when the sink cannot keep up.
	OverflowBlock OverflowPolicy = iota
	// OverflowFallback writes the event synchronously to
	// AsyncConfig.Fallback (say, a JSONL sink on stderr) and returns its
	// error.
	OverflowFallback
	// OverflowDrop drops the event and returns [ErrDropped]. Drops are
	// counted (AsyncStats.Dropped) and reported by an [ActionEventsDropped]
	// event in the log itself. Choose it only if losing events is better
	// than slowing down.
	OverflowDrop
)

// AsyncConfig tunes an [AsyncSink]. The zero value is ready to use.
type AsyncConfig struct {
	// QueueSize is the number of events that can wait. Default: 8192.
	QueueSize int
	// BatchSize is the most events handed to the sink at once (as one
	// WriteBatch when it is a [BatchSink]). Default: 512.
	BatchSize int
	// Overflow is the policy when the queue is full. Default: OverflowBlock.
	Overflow OverflowPolicy
	// Fallback receives the events that cannot be queued under
	// OverflowFallback (required then), and under any policy the events
	// still undelivered when Close gives up. Default: none.
	Fallback Sink
	// MinBackoff and MaxBackoff bound the wait between retries of a failed
	// write, which doubles from one to the other with jitter. The sink is
	// retried until it succeeds or Close gives up. Defaults: 10ms and 5s.
	MinBackoff, MaxBackoff time.Duration
	// Now returns the current time, for the drop events. Default: time.Now.
	// Tests in a testing/synctest bubble leave it nil (the bubble's fake
	// clock drives time.Now); set it only to drive one clock through a
	// whole application outside a bubble (against a real database).
	Now func() time.Time
}

// AsyncStats are an [AsyncSink]'s counters since it started.
type AsyncStats struct {
	Queued   int    // events waiting now
	Written  uint64 // events the sink accepted
	Retries  uint64 // failed writes that were retried
	Fallback uint64 // events written to the fallback sink
	Dropped  uint64 // events dropped under OverflowDrop
	Lost     uint64 // events neither written nor handed to a fallback when Close gave up
	// Err is the error of the latest write to the sink if it failed (a
	// full disk, a database that is down): events wait while it is set.
	// It is nil before the first failure and again once a write succeeds.
	// Report it in a health check or a log.
	Err error
}

// AsyncSink queues events and writes them to another sink from one
// goroutine, in batches, retrying failures with exponential backoff, so
// that logging costs a request a channel send. It is safe for concurrent
// use.
//
// Nothing is lost silently: a full queue blocks by default (see
// [OverflowPolicy]), a failing sink is retried until it recovers, and
// [AsyncSink.Close] writes everything queued. Events are copied (Meta, Roles
// and Methods included) before Write returns.
//
// It starts a goroutine: call Close on shutdown.
type AsyncSink struct {
	sink     Sink
	batch    BatchSink // sink's BatchSink, or nil
	fallback Sink
	policy   OverflowPolicy
	size     int
	minB     time.Duration
	maxB     time.Duration
	now      func() time.Time

	q         chan Event
	state     atomic.Int64 // writers in Write, plus closedBit
	closeQ    sync.Once
	abort     chan struct{}
	abortOnce sync.Once
	ctx       context.Context // passed to the sink; cancelled on abort
	cancel    context.CancelFunc
	done      chan struct{}

	pendingDrops                atomic.Uint64
	written, retries, fallbackN atomic.Uint64
	dropped, lost               atomic.Uint64
	lastErr                     atomic.Pointer[error] // Stats.Err; nil once a write succeeds
}

const closedBit = 1 << 62

var _ Sink = (*AsyncSink)(nil)

// NewAsyncSink starts writing to sink in the background. It returns an
// error for OverflowFallback without a Fallback or an unknown policy.
// It returns an error if sink is nil.
func NewAsyncSink(sink Sink, cfg AsyncConfig) (*AsyncSink, error) {
	if nilarg.Is(sink) {
		return nil, errors.New("audit: NewAsyncSink with a nil Sink: pass the sink to write to")
	}
	switch cfg.Overflow {
	case OverflowBlock, OverflowDrop:
	case OverflowFallback:
		if nilarg.Is(cfg.Fallback) {
			return nil, errors.New("audit: async sink: OverflowFallback needs AsyncConfig.Fallback: pass the sink that takes events when the queue is full, or choose OverflowBlock")
		}
	default:
		return nil, fmt.Errorf("audit: async sink: unknown OverflowPolicy %d", cfg.Overflow)
	}
	a := &AsyncSink{
		sink: sink, fallback: cfg.Fallback, policy: cfg.Overflow, size: cfg.BatchSize,
		minB: cfg.MinBackoff, maxB: cfg.MaxBackoff, now: cfg.Now,
		abort: make(chan struct{}), done: make(chan struct{}),
	}
	a.batch, _ = sink.(BatchSink)
	qs := cfg.QueueSize
	if qs <= 0 {
		qs = 8192
	}
	if a.size <= 0 {
		a.size = 512
	}
	if a.minB <= 0 {
		a.minB = 10 * time.Millisecond
	}
	if a.maxB < a.minB {
		a.maxB = max(5*time.Second, a.minB)
	}
	if a.now == nil {
		a.now = time.Now
	}
	a.q = make(chan Event, qs)
	a.ctx, a.cancel = context.WithCancel(context.Background())
	go a.run()
	return a, nil
}

// Write queues a copy of e. What happens when the queue is full depends on
// the [OverflowPolicy]. After Close it returns [ErrClosed].
func (a *AsyncSink) Write(ctx context.Context, e Event) error {
	if a.state.Add(1)&closedBit != 0 {
		a.exit()
		return ErrClosed
	}
	defer a.exit()
	if len(e.Meta) > 0 {
		e.Meta = maps.Clone(e.Meta)
	}
	if e.Actor.Roles != nil {
		e.Actor.Roles = slices.Clone(e.Actor.Roles)
	}
	if e.Actor.Methods != nil {
		e.Actor.Methods = slices.Clone(e.Actor.Methods)
	}
	select {
	case a.q <- e:
		return nil
	default:
	}
	switch a.policy {
	case OverflowDrop:
		a.dropped.Add(1)
		a.pendingDrops.Add(1)
		return ErrDropped
	case OverflowFallback:
		if err := a.fallback.Write(ctx, e); err != nil {
			return fmt.Errorf("audit: async sink: queue full, fallback: %w", err)
		}
		a.fallbackN.Add(1)
		return nil
	}
	select {
	case a.q <- e:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("audit: async sink: queue full: %w", context.Cause(ctx))
	case <-a.abort:
		return ErrClosed
	}
}

// exit leaves Write; the last writer out after Close closes the queue.
func (a *AsyncSink) exit() {
	if a.state.Add(-1) == closedBit {
		a.closeQ.Do(func() { close(a.q) })
	}
}

// Stats returns the sink's counters.
func (a *AsyncSink) Stats() AsyncStats {
	st := AsyncStats{
		Queued: len(a.q), Written: a.written.Load(), Retries: a.retries.Load(),
		Fallback: a.fallbackN.Load(), Dropped: a.dropped.Load(), Lost: a.lost.Load(),
	}
	if err := a.lastErr.Load(); err != nil {
		st.Err = *err
	}
	return st
}

// Close stops accepting events and waits until every queued event is
// written. If ctx ends first, it stops retrying, hands what is left to
// AsyncConfig.Fallback (if set) and returns an error saying how many events
// were lost. Close is safe to call more than once.
func (a *AsyncSink) Close(ctx context.Context) error {
	if a.state.Or(closedBit) == 0 { // no Write in flight: close the queue now
		a.closeQ.Do(func() { close(a.q) })
	}
	select {
	case <-a.done:
	case <-ctx.Done():
		a.abortOnce.Do(func() { close(a.abort); a.cancel() })
		<-a.done
	}
	a.cancel()
	if n := a.lost.Load(); n > 0 {
		err := ctx.Err()
		if err == nil {
			err = errors.New("close aborted")
		}
		return fmt.Errorf("audit: async sink: close: %w: %d events were not written", err, n)
	}
	return nil
}

func (a *AsyncSink) aborted() bool {
	select {
	case <-a.abort:
		return true
	default:
		return false
	}
}

// run is the writer goroutine.
func (a *AsyncSink) run() {
	defer close(a.done)
	batch := make([]Event, 0, a.size)
	for {
		e, ok := <-a.q
		if !ok {
			a.reportDrops()
			return
		}
		batch = append(batch[:0], e)
		open := true
	fill:
		for len(batch) < a.size {
			select {
			case e, ok := <-a.q:
				if !ok {
					open = false
					break fill
				}
				batch = append(batch, e)
			default:
				break fill
			}
		}
		a.deliver(batch)
		clear(batch) // let the events' strings and maps be collected
		a.reportDrops()
		if !open {
			return
		}
	}
}

// deliver writes batch, retrying until it succeeds or Close gives up.
func (a *AsyncSink) deliver(batch []Event) {
	backoff := a.minB
	for len(batch) > 0 {
		if a.aborted() {
			a.giveUp(batch)
			for e := range a.q {
				a.giveUp([]Event{e})
			}
			return
		}
		n, err := a.write(batch)
		a.written.Add(uint64(n)) // #nosec G115 -- n is a byte count returned by write, never negative
		batch = batch[n:]
		if err == nil {
			a.lastErr.Store(nil)
			continue
		}
		a.lastErr.Store(&err)
		a.retries.Add(1)
		wait := backoff/2 + rand.N(backoff/2+1) // #nosec G404 -- retry jitter: spreads retries, needs no unpredictability
		backoff = min(2*backoff, a.maxB)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-a.abort:
			t.Stop()
		}
	}
}

func (a *AsyncSink) write(batch []Event) (int, error) {
	if a.batch != nil {
		n, err := a.batch.WriteBatch(a.ctx, batch)
		n = max(0, min(n, len(batch)))
		if err == nil && n == 0 {
			err = errors.New("audit: async sink: WriteBatch wrote nothing")
		}
		return n, err
	}
	for i := range batch {
		if err := a.sink.Write(a.ctx, batch[i]); err != nil {
			return i, err
		}
	}
	return len(batch), nil
}

// giveUp hands undelivered events to the fallback, or counts them lost.
func (a *AsyncSink) giveUp(events []Event) {
	for i := range events {
		if a.fallback != nil && a.fallback.Write(context.Background(), events[i]) == nil {
			a.fallbackN.Add(1)
			continue
		}
		a.lost.Add(1)
	}
}

// reportDrops writes an ActionEventsDropped event when events were dropped.
func (a *AsyncSink) reportDrops() {
	n := a.pendingDrops.Swap(0)
	if n == 0 {
		return
	}
	a.deliver([]Event{{
		Time: a.now().UTC(), Category: CategorySecurityAlert, Action: ActionEventsDropped,
		Outcome: OutcomeFailure,
		Reason:  "the audit queue was full and OverflowDrop is set: events were dropped",
		Meta:    map[string]string{"dropped": strconv.FormatUint(n, 10)},
	}})
}
