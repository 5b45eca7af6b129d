package mfa

import (
	"context"
	"fmt"
	"time"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/identity"
	"github.com/deployedworks/rampart/ratelimit"
)

// Budgets of the built-in limiters used when a config leaves Limiter or
// UserLimiter nil. Five guesses at once per session, then one every three
// minutes (twenty an hour), let a real user who mistypes get through. The
// per-user ceiling admits a burst of 20 and then one attempt every 45
// seconds (20 per quarter hour) from all the user's sessions together,
// four times what one session may make, so that one attacker session never
// touches it: an attacker who knows the password must keep four sessions
// guessing to slow the owner at all, and gets at most about 1,900 guesses
// a day at a 6-digit TOTP (three codes valid at a time: four months for
// even odds), every one audited. Production apps with several instances
// should pass shared limiters instead (ratelimit/redisstore), since these
// count per process.
var (
	defaultSessionLimit = ratelimit.Limit{Events: 5, Per: 15 * time.Minute}
	defaultUserLimit    = ratelimit.Limit{Events: 1, Per: 45 * time.Second, Burst: 20}
)

const defaultMaxKeys = 10_000

// resetter is the optional ability of a session limiter to forget a key
// (ratelimit.Store has it: [ratelimit.Memory], redisstore.Store). [TOTP]
// and [Recovery] reset the session's key after a success, so that the
// session limit counts consecutive failures (NIST SP 800-63B §5.2.2) and a
// user who verifies often, such as an administrator stepping up, is never
// throttled by their own successes. The user limiter is never reset: it
// refills with time only, so that the owner's successes do not hand an
// attacker a fresh budget.
type resetter interface {
	Reset(ctx context.Context, key string) error
}

// The built-in limiter, and every ratelimit.Store, can reset.
var (
	_ resetter = (*ratelimit.Memory)(nil)
	_ resetter = ratelimit.Store(nil)
)

// newMemoryLimiter returns a [ratelimit.Memory] enforcing l, bounded to
// defaultMaxKeys keys, that starts no goroutine (nothing to close).
func newMemoryLimiter(l ratelimit.Limit, now func() time.Time) (*ratelimit.Memory, error) {
	return ratelimit.NewMemory(l, ratelimit.MemoryConfig{MaxKeys: defaultMaxKeys, SweepInterval: -1, Now: now})
}

// throttle is the two-level attempt limit of TOTP and Recovery.
type throttle struct {
	factor  string            // "totp" or "recovery", in keys
	session ratelimit.Limiter // per user and session
	user    ratelimit.Limiter // per user, across sessions
	audit   *audit.Logger
}

// newThrottle returns the throttle of factor, with the built-in limiters
// for those not given.
func newThrottle(factor string, session, user ratelimit.Limiter, lg *audit.Logger, now func() time.Time) (throttle, error) {
	if session == nil {
		m, err := newMemoryLimiter(defaultSessionLimit, now)
		if err != nil {
			return throttle{}, fmt.Errorf("mfa: the built-in per-session limiter: %w", err)
		}
		session = m
	}
	if user == nil {
		m, err := newMemoryLimiter(defaultUserLimit, now)
		if err != nil {
			return throttle{}, fmt.Errorf("mfa: the built-in per-user limiter: %w", err)
		}
		user = m
	}
	return throttle{factor: factor, session: session, user: user, audit: lg}, nil
}

// allow asks the session limiter and then, unless the request's session
// already passed MFA as userID, the user limiter. The session is the one
// of the principal in ctx ([identity.FromContext]). It returns the session
// key, to reset after a success. The session limit comes first, so that
// attempts it refuses cost the ceiling nothing.
func (t *throttle) allow(ctx context.Context, userID string) (string, error) {
	p, ok := identity.FromContext(ctx)
	key := "mfa:" + t.factor + ":s:" + p.SessionRef + ":" + userID
	if err := allowAttempt(ctx, t.session, key); err != nil {
		return "", err
	}
	if ok && p.UserID == userID && p.MFA() {
		return key, nil // this session proved a factor already: the ceiling is for the others
	}
	if err := allowAttempt(ctx, t.user, "mfa:"+t.factor+":u:"+userID); err != nil {
		return "", fmt.Errorf("%w (limit over all the user's sessions)", err)
	}
	return key, nil
}

// reset forgets the session's failures after a success, if the session
// limiter can. A failure is recorded in audit and otherwise ignored: the
// check succeeded, and the worst outcome is a user throttled a little
// early.
func (t *throttle) reset(ctx context.Context, userID, key string) {
	r, ok := t.session.(resetter)
	if !ok {
		return
	}
	if err := r.Reset(ctx, key); err != nil {
		t.audit.Log(ctx, audit.Event{
			Category: audit.CategoryError, Action: ActionLimiterReset, Outcome: audit.OutcomeFailure,
			Actor: actor(userID), Target: audit.Target{Kind: audit.TargetKindUser, ID: userID},
			Reason: "attempt limiter: " + err.Error(),
		})
	}
}

// allowAttempt asks lim and turns its answer into an error: nil when the
// attempt may proceed, a *ratelimit.LimitedError when refused, and the
// limiter's own error (the attempt refused: fail closed, whatever the
// decision says) when it could not decide.
func allowAttempt(ctx context.Context, lim ratelimit.Limiter, key string) error {
	d, err := lim.Allow(ctx, key)
	if err != nil {
		return fmt.Errorf("mfa: attempt limiter failed, attempt refused: %w", err)
	}
	if !d.Allowed {
		return &ratelimit.LimitedError{RetryAfter: d.RetryAfter}
	}
	return nil
}

// actor is the audit actor naming userID.
func actor(userID string) identity.Principal {
	return identity.Principal{UserID: userID}
}
