package auth

import "github.com/deployedworks/rampart/audit"

// Audit actions of package auth. A login's success and failure are
// [audit.ActionLoginSucceeded] and [audit.ActionLoginFailed], the shared
// vocabulary the audit detector keys on; the others are these.
const (
	// ActionLoginThrottled (CategorySuspicious, OutcomeDenied): the
	// [Throttle] refused a login before any password was checked;
	// Meta["retry_after"].
	ActionLoginThrottled audit.Action = "login.throttled"

	// ActionLoginError (CategoryError): a login failed on the user store,
	// the throttle, the session layer or a missing client address, or a
	// step that does not change the outcome failed (a rehash, a throttle
	// report); Reason names the step.
	ActionLoginError audit.Action = "login.error"

	// ActionPasswordHashInvalid (CategoryError): a user's stored hash is
	// unusable (malformed, unsupported, unknown pepper); the login fails
	// like a wrong password.
	ActionPasswordHashInvalid audit.Action = "password.hash_invalid"

	// ActionPasswordChanged (CategoryAuthentication, OutcomeSuccess): a
	// password change; Meta["sessions_revoked"] says whether the user's
	// other sessions were ended.
	ActionPasswordChanged audit.Action = "password.changed"

	// ActionPasswordChangeFailed (CategoryAuthentication, OutcomeFailure):
	// a refused password change; Reason says why (bad_password,
	// policy:<code>, conflict, …).
	ActionPasswordChangeFailed audit.Action = "password.change.failed"

	// ActionPasswordChangeThrottled (CategorySuspicious, OutcomeDenied):
	// the throttle or the user's budget of changes refused a password
	// change (Meta["limit"] is "per_user" for the budget). Paced like
	// [ActionHashingBusy].
	ActionPasswordChangeThrottled audit.Action = "password.change.throttled"

	// ActionPasswordChangeError (CategoryError): a password change failed
	// on a dependency, as [ActionLoginError] for logins.
	ActionPasswordChangeError audit.Action = "password.change.error"

	// ActionReauthFailed (CategoryAuthentication, OutcomeFailure): a
	// signed-in user's re-entered password was refused
	// ([Authenticator.Reauthenticate]); Reason says why. A success is the
	// session layer's event.
	ActionReauthFailed audit.Action = "reauth.failed"

	// ActionReauthThrottled (CategorySuspicious, OutcomeDenied): a
	// re-authentication was refused by the [Throttle] before hashing.
	ActionReauthThrottled audit.Action = "reauth.throttled"

	// ActionReauthError (CategoryError): a re-authentication failed on a
	// dependency, as [ActionLoginError] for logins.
	ActionReauthError audit.Action = "reauth.error"

	// ActionHashingBusy (CategorySuspicious, OutcomeDenied): a request
	// refused with a [*password.BusyError]. Meta["step"] names the flow
	// ("login", "password.change", "password.new"). The audit Logger
	// paces them: unless the application sets its own pace, at most 20
	// at once and 2 a second after that; the next one written carries the
	// number held back in Meta["suppressed"].
	ActionHashingBusy audit.Action = "auth.hashing_busy"

	// ActionAccessDenied (CategoryAccess, OutcomeDenied): [Guard.RequireRole]
	// refused a signed-in user without the role; Target is the route,
	// Meta["required_roles"] the roles asked for.
	ActionAccessDenied audit.Action = "access.denied"
)
