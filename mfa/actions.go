package mfa

import "github.com/deployedworks/rampart/audit"

// Audit actions of this package. Every event mfa writes names one of them;
// outcomes (success, failure, denied) and reasons tell the cases apart.
const (
	// ActionTOTPEnrol: a TOTP enrolment was started ([TOTP.Enrol]).
	ActionTOTPEnrol audit.Action = "mfa.totp.enrol"
	// ActionTOTPConfirm: a pending TOTP enrolment was checked with a first
	// code ([TOTP.Confirm]).
	ActionTOTPConfirm audit.Action = "mfa.totp.confirm"
	// ActionTOTPVerify: a TOTP code was checked ([TOTP.Verify]); a
	// throttled attempt is denied.
	ActionTOTPVerify audit.Action = "mfa.totp.verify"
	// ActionTOTPDisable: a TOTP secret was removed, or its removal refused
	// ([TOTP.Disable]).
	ActionTOTPDisable audit.Action = "mfa.totp.disable"

	// ActionRecoveryGenerate: a new set of recovery codes was issued
	// ([Recovery.Generate]).
	ActionRecoveryGenerate audit.Action = "mfa.recovery.generate"
	// ActionRecoveryUse: a recovery code was checked ([Recovery.Use]); a
	// success is a security alert.
	ActionRecoveryUse audit.Action = "mfa.recovery.use"
	// ActionRecoveryRevoke: a user's recovery codes were deleted
	// ([Recovery.Revoke]).
	ActionRecoveryRevoke audit.Action = "mfa.recovery.revoke"

	// ActionPolicyDenied: [Policy] refused a request (category access).
	ActionPolicyDenied audit.Action = "mfa.policy.denied"
	// ActionLimiterReset: a limiter failed to forget a session's failed
	// attempts after a success (category error).
	ActionLimiterReset audit.Action = "mfa.limiter.reset"
)
