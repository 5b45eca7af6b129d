package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Errors callers branch on.
var (
	// ErrLimited reports that a request was refused because its key has
	// used up its limit. [Middleware.Check] and [LoginThrottle.Check]
	// return a [*LimitedError] that wraps it and says when to retry.
	ErrLimited = errors.New("ratelimit: limit exceeded")

	// ErrUnavailable reports that a limiter's backend (Redis, say) could not
	// be reached. Errors returned by a [Limiter] on a backend failure wrap
	// it; the Decision returned with them carries the limiter's failure
	// policy in its Allowed field.
	ErrUnavailable = errors.New("ratelimit: backend unavailable")

	// ErrClosed reports a call on a limiter after its Close.
	ErrClosed = errors.New("ratelimit: limiter closed")
)

// LimitedError is the one "limited" error of every Rampart package: a
// request, a login attempt or a code check refused by a limit. It wraps
// [ErrLimited], so errors.Is(err, ratelimit.ErrLimited) matches it
// wherever it comes from; errors.As gives the wait.
type LimitedError struct {
	// RetryAfter is how long to wait before trying again; zero when the
	// limiter could not say (it failed closed).
	RetryAfter time.Duration
}

// Error names the wait, rounded up to the second.
func (e *LimitedError) Error() string {
	if e.RetryAfter <= 0 {
		return ErrLimited.Error()
	}
	return fmt.Sprintf("%s: retry after %ds", ErrLimited, retryAfterSeconds(e.RetryAfter))
}

// Unwrap returns [ErrLimited].
func (e *LimitedError) Unwrap() error { return ErrLimited }

// retryAfterSeconds is d rounded up to whole seconds, at least 1: the value
// of a Retry-After header (RFC 9110 §10.2.3).
func retryAfterSeconds(d time.Duration) int64 {
	return max(int64((d+time.Second-1)/time.Second), 1)
}

// Limit is a token-bucket limit: Events per Per on average, and at most
// Burst at once. The zero value is not a valid limit.
//
// A key starts with Burst tokens; each request takes one, and one comes
// back every Per/Events, up to Burst. Limit{Events: 100, Per: time.Second}
// allows 100 requests at once and then 100 a second.
type Limit struct {
	// Events is how many requests a key may make per Per, on average.
	// It must be at least 1.
	Events int

	// Per is the period Events are counted over. It must be at least one
	// nanosecond per event.
	Per time.Duration

	// Burst is how many requests a key may make at once. Default (0):
	// Events. At most 1<<24.
	Burst int
}

// maxBurst bounds Limit.Burst so that a bucket's state fits the compact
// encoding of [Memory] with good precision.
const maxBurst = 1 << 24

// WithDefaults returns l with Burst filled in when it is zero, or an error
// naming the field that is wrong. Backends call it to validate a limit.
func (l Limit) WithDefaults() (Limit, error) {
	if l.Burst == 0 {
		l.Burst = l.Events
	}
	switch {
	case l.Events < 1:
		return l, fmt.Errorf("ratelimit: Limit.Events is %d: it must be at least 1", l.Events)
	case l.Per <= 0 || l.Per/time.Duration(l.Events) == 0:
		return l, fmt.Errorf("ratelimit: Limit.Per is %v for %d events: it must be at least 1ns per event", l.Per, l.Events)
	case l.Burst < 1 || l.Burst > maxBurst:
		return l, fmt.Errorf("ratelimit: Limit.Burst is %d: it must be between 1 and %d (0 means Events)", l.Burst, maxBurst)
	}
	return l, nil
}

// Interval is the time one token takes to come back: Per/Events, rounded
// up to the nanosecond.
func (l Limit) Interval() time.Duration {
	if l.Events < 1 {
		return 0
	}
	return (l.Per + time.Duration(l.Events) - 1) / time.Duration(l.Events)
}

// String formats l as "100/1s burst 100".
func (l Limit) String() string {
	b := l.Burst
	if b == 0 {
		b = l.Events
	}
	return fmt.Sprintf("%d/%v burst %d", l.Events, l.Per, b)
}

// Decision is a limiter's answer for one request.
type Decision struct {
	// Allowed reports whether the request may proceed. After a backend
	// failure it carries the limiter's failure policy: true when the limiter
	// fails open, false when it fails closed.
	Allowed bool

	// Limit is the limit that decided. [LoginThrottle.Check] reports the one of its
	// limits that is closest to running out.
	Limit Limit

	// Remaining is how many more requests the key may make right now.
	Remaining int

	// RetryAfter is how long to wait before the next request can be
	// allowed. It is zero when Allowed is true.
	RetryAfter time.Duration

	// ResetAfter is how long until the key's bucket is full again, that is
	// until Remaining is back to Limit.Burst.
	ResetAfter time.Duration
}

// Limiter decides whether the request identified by key may proceed, and
// counts it if so. Implementations are safe for concurrent use.
//
// A refused request is not an error: Allow returns Allowed false and a nil
// error. A non-nil error means the limiter could not decide (its backend is
// down, it is closed); it wraps [ErrUnavailable] or [ErrClosed], and the
// Decision's Allowed field then carries the limiter's failure policy, which
// callers should follow.
type Limiter interface {
	Allow(ctx context.Context, key string) (Decision, error)
}

// Store is a [Limiter] that can also look at a key without spending a token
// and forget a key. [LoginThrottle] keeps its counters in Stores; [Memory] and
// redisstore.Store are Stores.
type Store interface {
	Limiter
	// Peek returns the Decision Allow would return, without counting a
	// request. Its Remaining is the tokens available now.
	Peek(ctx context.Context, key string) (Decision, error)
	// Reset forgets key: its bucket is full again.
	Reset(ctx context.Context, key string) error
}

// Backend makes Stores, one per limit. [LoginThrottle] takes one so that
// the same throttle runs in memory on one instance ([MemoryBackend]) or in
// Redis across many (redisstore.Backend).
type Backend interface {
	// NewStore returns a Store that enforces l. name tells the stores of
	// one Backend apart; stores with the same name and limit on a shared
	// backend share their counters. If the store has a goroutine or
	// connection, it has a Close(context.Context) error method.
	NewStore(name string, l Limit) (Store, error)
}
