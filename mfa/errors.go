package mfa

import "errors"

// Errors callers branch on. Functions return them wrapped with detail, so
// test with [errors.Is].
var (
	// ErrInvalidCode means a TOTP or recovery code is malformed or does not
	// match. It counts as a failed attempt.
	ErrInvalidCode = errors.New("mfa: invalid code")

	// ErrCodeReused means a TOTP code was valid but its time step was
	// already accepted for this user (RFC 6238 §5.2): a replay, or the
	// user typed the same code twice. Ask for the next code.
	ErrCodeReused = errors.New("mfa: code already used; wait for the next code")

	// ErrNotEnrolled means the user has no confirmed factor of this kind
	// (no TOTP secret, no recovery codes, no passkey).
	ErrNotEnrolled = errors.New("mfa: factor not enrolled")

	// ErrNoPendingEnrolment means [TOTP.Confirm] was called without a
	// pending enrolment: call [TOTP.Enrol] first.
	ErrNoPendingEnrolment = errors.New("mfa: no pending TOTP enrolment; call Enrol first")

	// ErrNotFound means a passkey credential does not exist or does not
	// belong to the user.
	ErrNotFound = errors.New("mfa: credential not found")

	// ErrExists means a passkey credential ID is already registered.
	ErrExists = errors.New("mfa: credential already registered")

	// ErrLastFactor means a factor was not removed because it is the last
	// one of a user who must keep one ([Policy.Required]): enrol another
	// factor first.
	ErrLastFactor = errors.New("mfa: this is the user's last second factor and their role requires one; enrol another factor first")

	// ErrStoreFull means a bounded in-memory store or limit is full
	// (the limits of package mfa/memstore, or a user's maximum number of
	// passkeys).
	ErrStoreFull = errors.New("mfa: store full")

	// ErrUnauthenticated means a request that needs a signed-in user has
	// none.
	ErrUnauthenticated = errors.New("mfa: not signed in")

	// ErrEnrolmentRequired means the user's role requires MFA and the user
	// has no factor yet: only the enrolment routes are reachable.
	ErrEnrolmentRequired = errors.New("mfa: MFA enrolment required")

	// ErrMFARequired means the user has a factor but this session has not
	// been verified with it: send the user to the challenge.
	ErrMFARequired = errors.New("mfa: MFA verification required")

	// ErrStepUpRequired means the action needs an MFA verification more
	// recent than the session's last one.
	ErrStepUpRequired = errors.New("mfa: recent MFA verification required")

	// ErrReauthRequired means the action (adding a factor, a sensitive
	// action of a user with no factor) needs a recent sign-in: ask for
	// the password again (auth's Authenticator.Reauthenticate), then
	// retry. A user who has a factor gets [ErrStepUpRequired] instead.
	ErrReauthRequired = errors.New("mfa: recent sign-in required; enter your password again")
)
