package mfa

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/deployedworks/rampart/audit"
)

// AttemptLimiter throttles code-guessing: it is asked before every TOTP or
// recovery-code check, with a key naming the user and the factor
// ("mfa:totp:" + userID, "mfa:recovery:" + userID), and counts the attempt
// when it allows it. Implementations must be safe for concurrent use.
//
// A non-nil error means the limiter could not decide; the check then fails
// closed (the attempt is refused) whatever allowed says. Wrap a
// ratelimit.Limiter with [AttemptLimiterFunc]:
//
//	mfa.AttemptLimiterFunc(func(ctx context.Context, key string) (bool, time.Duration, error) {
//		d, err := lim.Allow(ctx, key)
//		return d.Allowed, d.RetryAfter, err
//	})
type AttemptLimiter interface {
	AllowAttempt(ctx context.Context, key string) (allowed bool, retryAfter time.Duration, err error)
}

// AttemptResetter is implemented by limiters that can forget a key's
// attempts. [TOTP] and [Recovery] call it after a successful check, so the
// limit counts consecutive failures (NIST SP 800-63B §5.2.2) and a user who
// verifies often, such as an administrator stepping up, is never throttled
// by their own successes. Limiters without it count every attempt. The
// built-in limiter implements it; wrap a ratelimit.Store to get it:
//
//	type attempts struct{ ratelimit.Store }
//
//	func (a attempts) AllowAttempt(ctx context.Context, key string) (bool, time.Duration, error) {
//		d, err := a.Allow(ctx, key)
//		return d.Allowed, d.RetryAfter, err
//	}
//
//	func (a attempts) ResetAttempts(ctx context.Context, key string) error { return a.Reset(ctx, key) }
type AttemptResetter interface {
	ResetAttempts(ctx context.Context, key string) error
}

// AttemptLimiterFunc adapts a function to [AttemptLimiter].
type AttemptLimiterFunc func(ctx context.Context, key string) (allowed bool, retryAfter time.Duration, err error)

// AllowAttempt calls f.
func (f AttemptLimiterFunc) AllowAttempt(ctx context.Context, key string) (bool, time.Duration, error) {
	return f(ctx, key)
}

// Defaults of the built-in attempt limiter used when a config leaves its
// Limiter nil. Five guesses per quarter hour give an attacker who knows the
// password about 480 guesses a day at a 6-digit TOTP (three codes valid at
// a time): enough to notice in audit, and a real user who mistypes gets
// through. Production apps with several instances should pass a shared
// ratelimit limiter instead, since this one counts per process.
const (
	defaultAttempts = 5
	defaultWindow   = 15 * time.Minute
	defaultMaxKeys  = 10_000
)

// windowLimiter is a fixed-window attempt counter held in memory, bounded
// to maxKeys keys. When full it drops expired windows first, then the
// oldest window: an attacker would need that many accounts' passwords to
// reset another user's count that way.
type windowLimiter struct {
	attempts int
	window   time.Duration
	maxKeys  int
	now      func() time.Time

	mu   sync.Mutex
	keys map[string]*windowCount
}

type windowCount struct {
	start time.Time
	n     int
}

var _ AttemptLimiter = (*windowLimiter)(nil)

func newWindowLimiter(now func() time.Time) *windowLimiter {
	return &windowLimiter{
		attempts: defaultAttempts,
		window:   defaultWindow,
		maxKeys:  defaultMaxKeys,
		now:      now,
		keys:     make(map[string]*windowCount),
	}
}

// AllowAttempt implements [AttemptLimiter].
func (l *windowLimiter) AllowAttempt(_ context.Context, key string) (bool, time.Duration, error) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	c, ok := l.keys[key]
	if ok && now.Sub(c.start) >= l.window {
		c.start, c.n = now, 0
	}
	if !ok {
		if len(l.keys) >= l.maxKeys {
			l.evict(now)
		}
		c = &windowCount{start: now}
		l.keys[key] = c
	}
	if c.n >= l.attempts {
		return false, c.start.Add(l.window).Sub(now), nil
	}
	c.n++
	return true, 0, nil
}

// ResetAttempts implements [AttemptResetter].
func (l *windowLimiter) ResetAttempts(_ context.Context, key string) error {
	l.mu.Lock()
	delete(l.keys, key)
	l.mu.Unlock()
	return nil
}

// evict makes room for one key. Called with l.mu held.
func (l *windowLimiter) evict(now time.Time) {
	var oldestKey string
	var oldest time.Time
	for k, c := range l.keys {
		if now.Sub(c.start) >= l.window {
			delete(l.keys, k)
			continue
		}
		if oldestKey == "" || c.start.Before(oldest) {
			oldestKey, oldest = k, c.start
		}
	}
	if len(l.keys) >= l.maxKeys && oldestKey != "" {
		delete(l.keys, oldestKey)
	}
}

// allowAttempt asks lim and turns its answer into an error: nil when the
// attempt may proceed, a *ThrottledError when refused, and the limiter's own
// error (the attempt refused: fail closed) when it could not decide.
func allowAttempt(ctx context.Context, lim AttemptLimiter, key string) error {
	ok, retry, err := lim.AllowAttempt(ctx, key)
	if err != nil {
		return fmt.Errorf("mfa: attempt limiter failed, attempt refused: %w", err)
	}
	if !ok {
		return &ThrottledError{RetryAfter: retry}
	}
	return nil
}

// resetAttempts forgets key's attempts after a success, if lim can. A
// failure is recorded in audit and otherwise ignored: the check succeeded,
// and the worst outcome is a user throttled a little early.
func resetAttempts(ctx context.Context, lim AttemptLimiter, lg *audit.Logger, userID, key string) {
	r, ok := lim.(AttemptResetter)
	if !ok {
		return
	}
	if err := r.ResetAttempts(ctx, key); err != nil {
		logEvent(ctx, lg, audit.Event{
			Category: audit.CategoryError, Action: "mfa.limiter.reset", Outcome: audit.OutcomeFailure,
			Actor: audit.Actor{UserID: userID}, Target: audit.Target{Kind: "user", ID: userID},
			Reason: "attempt limiter: " + err.Error(),
		})
	}
}
