package main

import "github.com/deployedworks/rampart/audit"

// Audit actions written by this package.
const (
	// ActionSessionsRevoked: an administrator revoked a user's sessions.
	ActionSessionsRevoked audit.Action = "sessions.revoked"
	// ActionChainVerified: an administrator verified the audit chain.
	ActionChainVerified audit.Action = "audit.chain_verified"
	// ActionAuditPruned: the janitor pruned the audit table.
	ActionAuditPruned audit.Action = "audit.pruned"
	// ActionAccountCreated: an account was created.
	ActionAccountCreated audit.Action = "account.created"
	// ActionSetupTokenRejected: a wrong setup token was presented.
	ActionSetupTokenRejected audit.Action = "setup.token_rejected" // #nosec G101 -- an audit action name, not a credential
	// ActionRoleGranted: a role was granted.
	ActionRoleGranted audit.Action = "role.granted"
	// ActionRoleRevoked: a role was taken away.
	ActionRoleRevoked audit.Action = "role.revoked"
	// ActionAccountDisabled: an administrator disabled an account.
	ActionAccountDisabled audit.Action = "account.disabled"
	// ActionResetLinkSent: an administrator had a password-reset link
	// mailed to a user (package account records the link itself).
	ActionResetLinkSent audit.Action = "admin.reset_link_sent"
	// ActionAccountEnabled: an administrator enabled an account.
	ActionAccountEnabled audit.Action = "account.enabled"
	// ActionFactorRefusedUnconfirmed: a user whose address was never
	// confirmed tried to add a second factor (a sign of account
	// pre-hijacking: someone signed up with another person's address).
	ActionFactorRefusedUnconfirmed audit.Action = "mfa.factor_refused_unconfirmed"
	// ActionListingCreated: a listing was created.
	ActionListingCreated audit.Action = "listing.created"
	// ActionListingUpdated: a listing was updated.
	ActionListingUpdated audit.Action = "listing.updated"
	// ActionListingDeleted: a listing was deleted.
	ActionListingDeleted audit.Action = "listing.deleted"
	// ActionListingReported: a listing was reported to the moderators.
	ActionListingReported audit.Action = "listing.reported"
	// ActionListingEditDenied: someone other than the seller opened a
	// listing's edit form, or the seller a listing under moderation
	// (outcome denied).
	ActionListingEditDenied audit.Action = "listing.edit"
	// ActionListingUpdateDenied: a change to a listing was refused: not
	// the seller, or the listing is under moderation (outcome denied).
	ActionListingUpdateDenied audit.Action = "listing.update"
	// ActionListingDeleteDenied: a deletion of a listing was refused: not
	// the seller, or the listing is under moderation (outcome denied).
	ActionListingDeleteDenied audit.Action = "listing.delete"
	// ActionListingHidden: a moderator hid a listing (success), or was
	// refused on their own listing (denied).
	ActionListingHidden audit.Action = "listing.hidden"
	// ActionListingRestored: a moderator made a hidden listing visible
	// again (success), or was refused on their own listing (denied).
	ActionListingRestored audit.Action = "listing.restored"
	// ActionReportsDismissed: a moderator dismissed the reports on a
	// listing (success), or was refused on their own listing (denied).
	ActionReportsDismissed audit.Action = "reports.dismissed"
)
