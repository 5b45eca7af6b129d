package auth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/auth/password"
	"github.com/deployedworks/rampart/ratelimit"
)

// admit admits the hashing of ev's request before any other work, so
// that a refusal costs neither a lookup nor a throttle token and does not
// depend on the account. It returns the context to hash with and the func
// that ends the admission, or the refusal, already audited.
func (a *Authenticator) admit(ctx context.Context, fl *flow, ev audit.Event) (context.Context, func(), error) {
	ctx, done, err := a.hasher.Admit(ctx)
	if err != nil {
		return ctx, nil, a.hashFailed(ctx, fl, ev, "admission", err)
	}
	return ctx, done, nil
}

// hashFailed turns a hashing error into what the flows return: a
// *BusyError as it is (audited, paced), the context's error when the
// request has ended (nothing failed: no audit, no error log), and
// anything else as an internal error of step.
func (a *Authenticator) hashFailed(ctx context.Context, fl *flow, ev audit.Event, step string, err error) error {
	var be *password.BusyError
	switch {
	case errors.As(err, &be):
		a.recordBusy(ctx, fl, ev, be)
		return err
	case ctx.Err() != nil:
		return fmt.Errorf("auth: %s: %s: %w", fl.step, step, err)
	}
	return a.internal(ctx, fl, ev, step, err)
}

// recordBusy audits a refusal; the Logger paces it.
func (a *Authenticator) recordBusy(ctx context.Context, fl *flow, ev audit.Event, be *password.BusyError) {
	a.audit.Log(ctx, audit.Event{Category: audit.CategorySuspicious, Action: ActionHashingBusy, Outcome: audit.OutcomeDenied,
		Actor: ev.Actor, ClientIP: ev.ClientIP, UserAgent: ev.UserAgent, SessionRef: ev.SessionRef, Reason: be.Error(),
		Meta: map[string]string{"step": fl.step, "retry_after": be.RetryAfter.String()}, Pace: floodPace})
}

// checkChangeBudget spends one of userID's password-change attempts
// (AuthenticatorConfig.PasswordChanges), failing closed when the limiter
// cannot decide and says so.
func (a *Authenticator) checkChangeBudget(ctx context.Context, fl *flow, ev audit.Event, userID string) error {
	d, err := a.changes.Allow(ctx, userID)
	if err != nil {
		if !d.Allowed {
			return a.internal(ctx, fl, ev, "password change limit", err)
		}
		a.internalNote(ctx, fl, ev, "password change limit", err)
	}
	if d.Allowed {
		return nil
	}
	wait := max(d.RetryAfter, time.Nanosecond)
	ev.Category, ev.Action, ev.Outcome, ev.Pace = audit.CategorySuspicious, fl.throttled, audit.OutcomeDenied, floodPace
	ev.Reason = "password changes per user used up"
	ev.Meta = map[string]string{"retry_after": wait.String(), "limit": "per_user"}
	a.audit.Log(ctx, ev) // paced by the Logger
	return &ratelimit.LimitedError{RetryAfter: wait}
}
