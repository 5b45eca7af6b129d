package password

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/deployedworks/rampart/clientip"
	"github.com/deployedworks/rampart/ratelimit"
)

// ErrBusy is wrapped by [*BusyError].
var ErrBusy = errors.New("password: hashing is busy")

// BusyError means a [Hasher] refused to hash, or stopped waiting to,
// because more hashing is asked of it than it can do in time: its queue
// is full (HasherConfig.MaxQueue), the client already has
// HasherConfig.MaxPerClient requests admitted, the hashing admitted ahead
// of it would take longer than HasherConfig.MaxWait by the recent hashes'
// durations, or no slot came free within HasherConfig.MaxWait or before
// the context's deadline. No password was
// checked. A login flow that admits its request ([Hasher.Admit]) before
// looking the user up, and hashes once for known and unknown accounts
// alike, refuses the same way whatever the account, so the refusal says
// nothing about which accounts exist; it is not a failed attempt.
//
// It wraps [ErrBusy] and, when the context's deadline ended the wait, the
// context's error. Send HTTP 503 with a Retry-After header of RetryAfter
// rounded up to whole seconds.
type BusyError struct {
	// RetryAfter estimates when the hashing admitted now will be done: at
	// least a second and at most HasherConfig.MaxWait.
	RetryAfter time.Duration

	reason string // why, for Error and audit
	cause  error  // the context's error when its deadline ended the wait
}

// Error says why, and the wait rounded to the second.
func (e *BusyError) Error() string {
	return fmt.Sprintf("password: hashing is busy (%s): retry after %s", e.reason, e.RetryAfter.Round(time.Second))
}

// Unwrap returns [ErrBusy], and the context's error when its deadline
// ended the wait.
func (e *BusyError) Unwrap() []error {
	if e.cause != nil {
		return []error{ErrBusy, e.cause}
	}
	return []error{ErrBusy}
}

// Reasons of a BusyError.
const (
	busyQueue    = "queue full"
	busyClient   = "too many requests from this client"
	busyWait     = "no slot within the maximum wait"
	busyDeadline = "no slot before the request's deadline"
	busyLate     = "no slot expected within the maximum wait"
)

// admission is a Hasher's admission control. At most slots hashes run at
// once; at most slots+queue requests are admitted (running, queued for a
// slot, or holding a ticket between two hashes), at most perClient of
// them per client; no hash waits for a slot longer than maxWait. Slots go
// to waiters first come, first served.
type admission struct {
	slots, maxAdmitted, perClient int
	maxWait                       time.Duration

	mu       sync.Mutex
	running  int            // slots taken
	admitted int            // tickets not yet done
	clients  map[string]int // tickets per client key
	queue    list.List      // of *waiter, oldest first; non-empty only while every slot is taken

	hashNanos atomic.Int64 // moving average of one hash's duration, for RetryAfter
}

// waiter is a request queued for a slot.
type waiter struct {
	ready   chan struct{} // closed when granted
	granted bool          // guarded by admission.mu: the slot is the waiter's
}

// ticket is one admitted request. It may hash several times (a login's
// check and rehash, a password change's two hashes) without being
// admitted again; done ends it.
type ticket struct {
	a      *admission
	key    string
	closed bool // guarded by a.mu
}

// ticketKey is the context key under which [Hasher.Admit] passes its
// ticket down to the hashes of the request.
type ticketKey struct{}

func (a *admission) init(cfg HasherConfig) {
	a.slots = cfg.MaxConcurrent
	if a.slots == 0 {
		a.slots = runtime.GOMAXPROCS(0)
	}
	queue := cfg.MaxQueue
	if queue == 0 {
		queue = 8 * a.slots
	}
	a.maxAdmitted = a.slots + queue
	a.perClient = cfg.MaxPerClient
	if a.perClient == 0 {
		a.perClient = max(a.slots, 2)
	}
	a.maxWait = cfg.MaxWait
	if a.maxWait == 0 {
		a.maxWait = 5 * time.Second
	}
	a.clients = map[string]int{}
}

// admit admits a request from the client key ("" for none: only the
// global bound applies), or refuses it at once with a *BusyError. It
// returns ctx's error if ctx has ended.
func (a *admission) admit(ctx context.Context, key string) (*ticket, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("password: waiting to hash: %w", err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case a.admitted >= a.maxAdmitted:
		return nil, a.busy(busyQueue, nil)
	case key != "" && a.clients[key] >= a.perClient:
		return nil, a.busy(busyClient, nil)
	case a.expectedWait() > a.maxWait:
		return nil, a.busy(busyLate, nil)
	}
	a.admitted++
	if key != "" {
		a.clients[key]++
	}
	return &ticket{a: a, key: key}, nil
}

// done ends the ticket's admission. It may be called more than once.
func (t *ticket) done() {
	a := t.a
	a.mu.Lock()
	defer a.mu.Unlock()
	if t.closed {
		return
	}
	t.closed = true
	a.admitted--
	if t.key != "" {
		if n := a.clients[t.key] - 1; n > 0 {
			a.clients[t.key] = n
		} else {
			delete(a.clients, t.key)
		}
	}
}

func (t *ticket) open() bool {
	t.a.mu.Lock()
	defer t.a.mu.Unlock()
	return !t.closed
}

// slot waits for a hashing slot, at most maxWait and while ctx lasts, and
// returns the func that frees it. It never returns a slot to an ended
// context: a slot granted as ctx ended goes to the next waiter.
func (a *admission) slot(ctx context.Context) (release func(), err error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("password: waiting to hash: %w", err)
	}
	a.mu.Lock()
	if a.running < a.slots && a.queue.Len() == 0 {
		a.running++
		a.mu.Unlock()
		return a.release, nil
	}
	w := &waiter{ready: make(chan struct{})}
	e := a.queue.PushBack(w)
	a.mu.Unlock()

	timer := time.NewTimer(a.maxWait)
	defer timer.Stop()
	reason := ""
	select {
	case <-w.ready:
		if ctx.Err() == nil {
			return a.release, nil
		}
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			reason = busyDeadline
		}
	case <-timer.C:
		reason = busyWait
	}
	a.mu.Lock()
	granted := w.granted
	if !granted {
		a.queue.Remove(e)
	}
	if reason != "" {
		err = a.busy(reason, ctx.Err())
	} else {
		err = fmt.Errorf("password: waiting to hash: %w", ctx.Err())
	}
	a.mu.Unlock()
	if granted {
		a.release()
	}
	return nil, err
}

// release frees a slot: it goes to the oldest waiter, if any.
func (a *admission) release() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if e := a.queue.Front(); e != nil {
		w := a.queue.Remove(e).(*waiter)
		w.granted = true
		close(w.ready)
		return
	}
	a.running--
}

// expectedWait estimates how long a request admitted now would wait for a
// slot: 0 while a slot is free, else a hash's moving average for each
// round of slots admitted ahead of it, counting those ahead as if they had
// just started (a pessimistic guess, so that a refusal errs early rather
// than after MaxWait). It is 0 until a hash has been timed. a.mu must be
// held.
func (a *admission) expectedWait() time.Duration {
	if a.admitted < a.slots {
		return 0
	}
	return time.Duration(a.admitted/a.slots) * time.Duration(a.hashNanos.Load())
}

// busy returns the refusal for reason, with an estimate of when the
// admitted requests will be done. a.mu must be held.
func (a *admission) busy(reason string, cause error) *BusyError {
	rounds := (a.admitted + a.slots) / a.slots
	wait := min(time.Duration(rounds)*time.Duration(a.hashNanos.Load()), a.maxWait)
	return &BusyError{RetryAfter: max(wait, time.Second), reason: reason, cause: cause}
}

// observe folds one hash's duration into the moving average. Concurrent
// calls may lose an update, which only makes the estimate coarser.
func (a *admission) observe(d time.Duration) {
	old := a.hashNanos.Load()
	if old == 0 {
		a.hashNanos.Store(int64(d))
		return
	}
	a.hashNanos.Store(old + (int64(d)-old)/8)
}

// acquire takes a hashing slot for ctx's request: within its ticket
// ([Hasher.Admit]) if ctx carries one of h's, else admitting it first as a
// request of the client that the clientip middleware recorded in ctx.
func (h *Hasher) acquire(ctx context.Context) (release func(), err error) {
	if t, ok := ctx.Value(ticketKey{}).(*ticket); ok && t.a == &h.adm && t.open() {
		return h.adm.slot(ctx)
	}
	t, err := h.adm.admit(ctx, clientKey(ctx))
	if err != nil {
		return nil, err
	}
	free, err := h.adm.slot(ctx)
	if err != nil {
		t.done()
		return nil, err
	}
	return func() { free(); t.done() }, nil
}

// clientKey groups ctx's client as the ratelimit package does ("" when
// the clientip middleware recorded no client).
func clientKey(ctx context.Context) string {
	if info, ok := clientip.FromContext(ctx); ok {
		return ratelimit.AddrKey(info.Addr)
	}
	return ""
}

// Admit admits one request's hashing before the request does any other
// work, and returns the context to hash with and the func that ends the
// admission (call it when the request is done; calling it twice is
// harmless). Every Hash and Verify under the returned context, and
// [Hasher.VerifyDummy], runs within this one admission: a login that
// verifies and then rehashes is admitted once. The client is the one the
// clientip middleware recorded in ctx (see HasherConfig.MaxPerClient);
// without one, only MaxQueue bounds the request.
//
// It refuses at once with a [*BusyError] when HasherConfig.MaxConcurrent +
// MaxQueue requests are admitted already, the client has MaxPerClient, or
// the requests admitted ahead would keep this one from a slot for longer
// than MaxWait (estimated from the recent hashes' durations, each request
// ahead counted as one hash), and returns ctx's error if ctx has ended. A login flow admits before
// looking its user up, so that a refusal costs neither a lookup nor a
// throttle token and is the same for every account.
func (h *Hasher) Admit(ctx context.Context) (context.Context, func(), error) {
	t, err := h.adm.admit(ctx, clientKey(ctx))
	if err != nil {
		return ctx, nil, err
	}
	return context.WithValue(ctx, ticketKey{}, t), t.done, nil
}
