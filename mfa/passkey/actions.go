package passkey

import "github.com/deployedworks/rampart/audit"

// Audit actions of this package. The values keep the "mfa.webauthn."
// prefix they had when passkeys lived in package mfa, so that stored
// audit trails and queries keep matching.
const (
	// ActionRegisterBegin: a registration was begun (failures only).
	ActionRegisterBegin audit.Action = "mfa.webauthn.register.begin"
	// ActionRegister: a passkey was registered, or its registration failed.
	ActionRegister audit.Action = "mfa.webauthn.register"
	// ActionVerifyBegin: a second-factor verification was begun (failures
	// only).
	ActionVerifyBegin audit.Action = "mfa.webauthn.verify.begin"
	// ActionVerify: a second-factor verification succeeded or failed.
	ActionVerify audit.Action = "mfa.webauthn.verify"
	// ActionLoginBegin: a passwordless login was begun (failures only).
	ActionLoginBegin audit.Action = "mfa.webauthn.login.begin"
	// ActionLogin: a passwordless login succeeded or failed.
	ActionLogin audit.Action = "mfa.webauthn.login"
	// ActionCloneWarning: a sign counter went backwards (category
	// security alert).
	ActionCloneWarning audit.Action = "mfa.webauthn.clone_warning"
	// ActionRename: a passkey was renamed.
	ActionRename audit.Action = "mfa.webauthn.rename"
	// ActionRemove: a passkey was removed, or its removal refused.
	ActionRemove audit.Action = "mfa.webauthn.remove"
)
