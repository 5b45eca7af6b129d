package session

import "github.com/deployedworks/rampart/audit"

// Audit actions of the events a [Manager] records.
const (
	// ActionLogin: [Manager.Login] signed a user in (Meta "methods").
	ActionLogin audit.Action = "session.login"
	// ActionMFA: [Manager.MarkMFA] recorded a second factor (Meta
	// "method").
	ActionMFA audit.Action = "session.mfa"
	// ActionReauth: [Manager.Reauthenticate] recorded that the user
	// proved a credential again (Meta "method").
	ActionReauth audit.Action = "session.reauth"
	// ActionLogout: [Manager.Logout] ended a signed-in session.
	ActionLogout audit.Action = "session.logout"
	// ActionExpired: a session reached its idle timeout or absolute
	// lifetime (Reason says which).
	ActionExpired audit.Action = "session.expired"
	// ActionEndedInFlight: a session revoked or expired while a request
	// ran was not written back.
	ActionEndedInFlight audit.Action = "session.ended_in_flight"
	// ActionRevoke: [Manager.Revoke] ended one session of a user.
	ActionRevoke audit.Action = "session.revoke"
	// ActionRevokeAll: [Manager.RevokeUser] ended every session of a user.
	ActionRevokeAll audit.Action = "session.revoke_all"
	// ActionRevokeOthers: [Manager.RevokeOthers] ended the user's other
	// sessions.
	ActionRevokeOthers audit.Action = "session.revoke_others"
	// ActionEvicted: a login over Config.MaxSessions revoked one of the
	// user's least recently used sessions (SessionRef names it).
	ActionEvicted audit.Action = "session.evicted"
	// ActionCookieRejected: a request carried a session cookie of the
	// wrong shape (not a token, not sealed state, or oversized), which was
	// ignored (category suspicious, paced: anyone can send one).
	ActionCookieRejected audit.Action = "session.cookie_rejected"
	// ActionCorrupt: stored session data could not be decoded or
	// decrypted (a retired key, an older format); the session ended.
	ActionCorrupt audit.Action = "session.corrupt"
	// ActionLoadFailed: the session could not be loaded (the store
	// failed, or AllowInsecureCookie met a host other than localhost);
	// the request was refused.
	ActionLoadFailed audit.Action = "session.load"
	// ActionSaveFailed: the session could not be saved; the response was
	// replaced by an error.
	ActionSaveFailed audit.Action = "session.save"
)
