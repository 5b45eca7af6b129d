package backup

import "github.com/deployedworks/rampart/audit"

// Audit actions written by this package.
const (
	// ActionCreated: a backup was created (CategoryAdmin).
	ActionCreated audit.Action = "backup.created"
	// ActionVerified: a backup was verified (CategoryAdmin).
	ActionVerified audit.Action = "backup.verified"
	// ActionRejected: a backup failed authentication (CategorySecurityAlert).
	ActionRejected audit.Action = "backup.rejected"
	// ActionRestored: a backup was restored (CategoryAdmin).
	ActionRestored audit.Action = "backup.restored"
)
