package account

import "github.com/deployedworks/rampart/audit"

// Audit actions of package account, one or more for each step of each
// flow. Events name a user as Target (kind [audit.TargetKindUser]); an
// address typed by a client that matched no account is named only by a
// keyed digest (Meta["email_digest"], 64 bits of HMAC-SHA-256 under a
// random key of the [Flows], which matches within one process only),
// never in clear, and no event carries a token. Meta["flow"] names the
// flow of shared actions: "reset", "verify", "signup", "email_change".
//
// The flows mail the user about their steps themselves, so
// notify.NewEventSink refuses a rule that would mail the event's user
// (notify.ToUser) again about ActionResetMailed, ActionResetCompleted,
// ActionVerificationMailed, ActionSignUpExisting,
// ActionEmailChangeRequested, ActionEmailChanged or
// ActionEmailChangeUndone; rules that alert the security contacts
// (notify.ToAddresses) are fine.
const (
	// ActionResetRequested (CategoryAuthentication, OutcomeSuccess): a
	// reset request was accepted and queued, whether or not an account
	// has the address (Meta["email_digest"]).
	ActionResetRequested audit.Action = "account.reset.requested"

	// ActionResetMailed (CategoryAuthentication, OutcomeSuccess): a reset
	// link was queued for the user's address.
	ActionResetMailed audit.Action = "account.reset.mailed"

	// ActionResetNotMailed (CategoryAuthentication, OutcomeFailure): a
	// queued reset request sent nothing; Reason says why (unknown_address,
	// disabled, no_password). The client got the same answer as for a
	// mailed link.
	ActionResetNotMailed audit.Action = "account.reset.not_mailed"

	// ActionResetBegun (CategoryAuthentication, OutcomeSuccess): a reset
	// link was opened; Meta["mfa"] is "required" when the user has a
	// factor (the session was signed in, without methods, to pass the
	// challenge) and "none" otherwise.
	ActionResetBegun audit.Action = "account.reset.begun"

	// ActionResetCompleted (CategoryAuthentication, OutcomeSuccess): a
	// password was reset; Meta["sessions_revoked"] says whether every
	// session of the user was ended.
	ActionResetCompleted audit.Action = "account.reset.completed"

	// ActionResetFailed (CategoryAuthentication, OutcomeFailure): a reset
	// link was refused or a reset did not take effect; Reason says why
	// (invalid_token, password_changed, disabled, mfa_required,
	// policy:<code>, conflict).
	ActionResetFailed audit.Action = "account.reset.failed"

	// ActionVerificationMailed (CategoryAuthentication, OutcomeSuccess):
	// an e-mail verification link was queued.
	ActionVerificationMailed audit.Action = "account.verification.mailed"

	// ActionEmailVerified (CategoryAuthentication, OutcomeSuccess): a user
	// proved they read their address.
	ActionEmailVerified audit.Action = "account.email.verified"

	// ActionVerificationFailed (CategoryAuthentication, OutcomeFailure):
	// a verification link was refused; Reason says why (invalid_token,
	// address_changed).
	ActionVerificationFailed audit.Action = "account.verification.failed"

	// ActionSignUpCreated (CategoryAccess, OutcomeSuccess): a sign-up
	// created an account (Target) and queued its verification link.
	ActionSignUpCreated audit.Action = "account.signup.created"

	// ActionSignUpExisting (CategoryAuthentication, OutcomeFailure): a
	// sign-up gave the address of an existing account (Target): nothing
	// was created, and the owner was told. The client got the same answer
	// as for a new address.
	ActionSignUpExisting audit.Action = "account.signup.existing"

	// ActionEmailChangeRequested (CategoryAuthentication, OutcomeSuccess):
	// a signed-in user re-authenticated and asked to change their
	// address; the confirmation link goes to the new address
	// (Meta["email_digest"]) and a notice with an undo link to the old.
	ActionEmailChangeRequested audit.Action = "account.email_change.requested"

	// ActionEmailChangeFailed (CategoryAuthentication, OutcomeFailure): a
	// change of address was refused; Reason says why (bad_password,
	// invalid_token, address_taken, conflict, disabled,
	// other_user_signed_in, …).
	ActionEmailChangeFailed audit.Action = "account.email_change.failed"

	// ActionEmailChanged (CategoryAuthentication, OutcomeSuccess): a
	// change of address was confirmed from the new address.
	ActionEmailChanged audit.Action = "account.email_change.confirmed"

	// ActionEmailChangeUndone (CategorySecurityAlert, OutcomeSuccess): the
	// owner of the old address undid a change (Meta["state"]: "reverted"
	// after it was confirmed, "cancelled" before): someone who knew the
	// password may have made it, so every session of the user was ended.
	ActionEmailChangeUndone audit.Action = "account.email_change.undone"

	// ActionThrottled (CategorySuspicious, OutcomeDenied): a request was
	// refused by a limit; Meta["flow"], Meta["limit"] ("per_address",
	// "per_account", "queue" when the worker queue is full, "password"
	// for the re-authentication throttle). Paced: at most 20 at once,
	// then 2 a second, per flow.
	ActionThrottled audit.Action = "account.throttled"

	// ActionError (CategoryError, OutcomeFailure): a step failed on a
	// dependency (the user table, the token store, the notifier, the
	// session layer), or the client address was missing; Reason names
	// the step.
	ActionError audit.Action = "account.error"
)
