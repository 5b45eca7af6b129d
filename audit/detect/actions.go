package detect

import "github.com/deployedworks/rampart/audit"

// Actions of the alerts a [Detector] writes.
const (
	// ActionCredentialStuffing (CategorySuspicious): failed logins on one
	// account from many addresses.
	ActionCredentialStuffing audit.Action = "alert.credential_stuffing" // #nosec G101 -- an audit action name, not a credential
	// ActionPasswordSpraying (CategorySuspicious): one address failing on
	// many accounts.
	ActionPasswordSpraying audit.Action = "alert.password_spraying"
	// ActionLoginAfterFailures (CategorySecurityAlert): a successful login
	// right after a burst of failures on the same account: the attacker may
	// have found the password.
	ActionLoginAfterFailures audit.Action = "alert.login_after_failures"
	// ActionPrivilegedNewLocation (CategorySecurityAlert): a privileged user
	// logged in from an address or device not seen for them before.
	ActionPrivilegedNewLocation audit.Action = "alert.privileged_new_location"
	// ActionNewLocation (CategoryAuthentication, OutcomeSuccess): a user,
	// privileged or not, logged in from an address (IPv6 by /64) or
	// device not among the last 16 seen for them within 90 days;
	// Meta["new_ip"] and Meta["new_device"] say which. It is no alert: it
	// is what a notice to the user ("was this you?") hangs off. A user's
	// first login, or the first after the detector forgot them, is learnt
	// silently.
	ActionNewLocation audit.Action = "login.new_location"
	// ActionStateError (CategoryError): Config.State failed; the detector
	// counted that event in its own memory only. Meta holds the "op",
	// the "kind" of table and the "error".
	ActionStateError audit.Action = "detect.state_error"
)

// TargetKindAddress is the Target.Kind of a password-spraying alert:
// Target.ID is the client address.
const TargetKindAddress = "address"
