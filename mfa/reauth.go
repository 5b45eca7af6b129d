package mfa

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/deployedworks/rampart/identity"
	"github.com/deployedworks/rampart/internal/reauth"
)

// DefaultReauthAge is how recent the proof must be before a factor is
// added (TOTPConfig.ReauthAge, the ReauthAge of package mfa/passkey):
// 10 minutes, as session.DefaultReauthAge, so that the sign-out of the
// other sessions that follows passes the session layer's own check.
const DefaultReauthAge = 10 * time.Minute

// Sessions signs a user's other sessions out when a factor is added or
// removed (OWASP ASVS 5.0 §7.4.3): whoever held a session from before the
// change must sign in again, with the factors as they now are.
// *session.Manager implements it.
type Sessions interface {
	// RevokeOthers ends the signed-in user's sessions but the request's
	// own, whose token it renews.
	RevokeOthers(ctx context.Context) error
	// RevokeUser ends every session of userID (a factor removed by an
	// administrator, or outside any request).
	RevokeUser(ctx context.Context, userID string) error
}

// CheckReauth is the check made before a factor is added (OWASP ASVS 5.0
// §7.5.1): the signed-in principal of ctx must be userID and have proved
// itself within maxAge: with a factor it has (hasFactor), by a
// second-factor verification (principal.MFATime); without one, by its
// sign-in or a re-authentication (principal.AuthTime), so that a session
// stolen after sign-in cannot register its own factor and keep access
// after a password change. It returns [ErrUnauthenticated],
// [ErrStepUpRequired] or [ErrReauthRequired]. [TOTP.Enrol], [TOTP.Confirm]
// and passkey registration call it; apps need it only for a factor of
// their own.
func CheckReauth(ctx context.Context, userID string, hasFactor bool, maxAge time.Duration, now time.Time) error {
	p, ok := identity.FromContext(ctx)
	switch {
	case !ok || p.UserID != userID:
		return ErrUnauthenticated
	case reauth.Recent(p, now, maxAge, hasFactor):
		return nil
	case hasFactor:
		return ErrStepUpRequired
	}
	return ErrReauthRequired
}

// SignOutOthers ends userID's other sessions after a factor was added or
// removed: [Sessions.RevokeOthers] when ctx is userID's own request (the
// request's session survives, renewed), [Sessions.RevokeUser] otherwise
// (an administrator's request, or none). [TOTP] and passkey registration
// and removal call it.
func SignOutOthers(ctx context.Context, s Sessions, userID string) error {
	var err error
	if p, ok := identity.FromContext(ctx); ok && p.UserID == userID {
		err = s.RevokeOthers(ctx)
	} else {
		err = s.RevokeUser(ctx, userID)
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrSessionsNotRevoked, err)
	}
	return nil
}

// ErrSessionsNotRevoked wraps the failure to sign out the other sessions
// after a factor was added or removed: the change itself is done. Tell
// the user to sign out everywhere else from the sessions page.
var ErrSessionsNotRevoked = errors.New("mfa: the factor was changed, but other sessions were not signed out")
