package audit

// Actions that package audit writes itself.
const (
	// ActionPanic (CategoryError) is written by [Logger.Handler] when a
	// handler panics.
	ActionPanic Action = "http.panic"
	// ActionAdminRequest (CategoryAdmin) is written by
	// [Logger.AdminActions] for every state-changing request.
	ActionAdminRequest Action = "admin.request"
	// ActionEventsDropped (CategorySecurityAlert) is written by an
	// [AsyncSink] with [OverflowDrop] after it dropped events, with the
	// count in Meta["dropped"]: losing audit records is itself a security
	// event.
	ActionEventsDropped Action = "audit.events_dropped"
)

// The shared vocabulary of login events: the actions and target kinds that
// the login packages write and the detector (package audit/detect) reads.
// They are defined here, below both, so that the two cannot spell them
// differently. Applications that log their own login events (a passkey
// sign-in, say) use them too, so that the detector counts those.
const (
	// ActionLoginSucceeded (CategoryAuthentication, OutcomeSuccess): a
	// successful login.
	ActionLoginSucceeded Action = "login.succeeded"
	// ActionLoginFailed (CategoryAuthentication, OutcomeFailure or
	// OutcomeDenied): a failed login.
	ActionLoginFailed Action = "login.failed"

	// TargetKindUser: Target.ID is a user ID.
	TargetKindUser = "user"
	// TargetKindAccount: Target.ID is an account name as the user typed
	// it (an application that logs logins by name rather than user ID).
	TargetKindAccount = "account"
	// TargetKindLogin: Target.ID stands for a login name that matched no
	// account, as a keyed digest rather than the name itself (users type
	// their password into the name field). The detector counts each such
	// name as an account, so spraying over unknown names is seen too.
	TargetKindLogin = "login"
)
