package mfa

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/ratelimit"
)

// AttemptLimiter throttles code-guessing: it is asked before a TOTP or
// recovery-code check with a key, and counts the attempt when it allows
// it. [TOTP] and [Recovery] ask two of them (see "Throttling" in the
// package doc): the session limiter with a key naming the factor, the
// session and the user ("mfa:totp:s:" + session + ":" + userID), and the
// user limiter, a ceiling over all the user's sessions ("mfa:totp:u:" +
// userID); "recovery" replaces "totp" for recovery codes. Implementations
// must be safe for concurrent use.
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
// attempts. [TOTP] and [Recovery] call it on the session limiter after a
// successful check, so that limit counts the session's consecutive
// failures (NIST SP 800-63B §5.2.2) and a user who verifies often, such as
// an administrator stepping up, is never throttled by their own
// successes. The user limiter is never reset: it refills with time only,
// so that the owner's successes do not hand an attacker a fresh budget.
// Limiters without it count every attempt. The built-in limiter
// implements it; wrap a ratelimit.Store to get it:
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

// Defaults of the built-in limiters used when a config leaves Limiter or
// UserLimiter nil. Five guesses per quarter hour per session let a real
// user who mistypes get through. The per-user ceiling admits a burst of 20
// and then one attempt every 45 seconds (20 per quarter hour) from all the
// user's sessions together, four times what one session may make, so that
// one attacker session never touches it: an attacker who knows the
// password must keep four sessions guessing to slow the owner at all, and
// gets at most about 1,900 guesses a day at a 6-digit TOTP (three codes
// valid at a time: four months for even odds), every one audited.
// Production apps with several instances should pass shared ratelimit
// limiters instead, since these count per process.
const (
	defaultAttempts     = 5
	defaultWindow       = 15 * time.Minute
	defaultUserBurst    = 20
	defaultUserInterval = 45 * time.Second
	defaultMaxKeys      = 10_000
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

// newUserLimiter returns the built-in per-user ceiling: a token bucket of
// defaultUserBurst tokens, one coming back every defaultUserInterval, so
// that once spent it delays attempts by at most one interval and never
// locks. It is a [ratelimit.Memory] bounded to defaultMaxKeys keys that
// starts no goroutine.
func newUserLimiter(now func() time.Time) (AttemptLimiter, error) {
	m, err := ratelimit.NewMemory(
		ratelimit.Limit{Events: 1, Per: defaultUserInterval, Burst: defaultUserBurst},
		ratelimit.MemoryConfig{MaxKeys: defaultMaxKeys, SweepInterval: -1, Now: now},
	)
	if err != nil {
		return nil, err
	}
	return AttemptLimiterFunc(func(ctx context.Context, key string) (bool, time.Duration, error) {
		d, err := m.Allow(ctx, key)
		return d.Allowed, d.RetryAfter, err
	}), nil
}

// throttle is the two-level attempt limit of TOTP and Recovery.
type throttle struct {
	factor   string // "totp" or "recovery", in keys
	sessions IdentityReader
	session  AttemptLimiter // per user and session
	user     AttemptLimiter // per user, across sessions
	audit    *audit.Logger
}

// newThrottle returns the throttle of factor, with the built-in limiters
// for those not given.
func newThrottle(factor string, sessions IdentityReader, session, user AttemptLimiter, lg *audit.Logger, now func() time.Time) (throttle, error) {
	if session == nil {
		session = newWindowLimiter(now)
	}
	if user == nil {
		var err error
		if user, err = newUserLimiter(now); err != nil {
			return throttle{}, fmt.Errorf("mfa: the built-in per-user limiter: %w", err)
		}
	}
	return throttle{factor: factor, sessions: sessions, session: session, user: user, audit: lg}, nil
}

// allow asks the session limiter and then, unless the request's session
// already passed MFA as userID, the user limiter. It returns the session
// key, to reset after a success. The session limit comes first, so that
// attempts it refuses cost the ceiling nothing.
func (t *throttle) allow(ctx context.Context, userID string) (string, error) {
	id, ok := t.sessions.Identity(ctx)
	ref := ""
	if ok {
		ref = id.SessionRef
	}
	key := "mfa:" + t.factor + ":s:" + ref + ":" + userID
	if err := allowAttempt(ctx, t.session, key); err != nil {
		return "", err
	}
	if ok && id.UserID == userID && !id.MFATime.IsZero() {
		return key, nil // this session proved the factor already: the ceiling is for the others
	}
	if err := allowAttempt(ctx, t.user, "mfa:"+t.factor+":u:"+userID); err != nil {
		return "", fmt.Errorf("%w (limit over all the user's sessions)", err)
	}
	return key, nil
}

// reset forgets the session's failures after a success.
func (t *throttle) reset(ctx context.Context, userID, key string) {
	resetAttempts(ctx, t.session, t.audit, userID, key)
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
