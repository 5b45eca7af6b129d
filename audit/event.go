package audit

import (
	"net/netip"
	"time"
)

// Category groups events by the kind of record policy section 7 asks for.
// Retention is set per category.
type Category string

// Categories of events. Their string values are part of the stable encoding.
const (
	// CategoryAuthentication: logins, logouts, MFA, password changes.
	CategoryAuthentication Category = "authentication"
	// CategoryAccess: roles granted or removed, accounts disabled, access denied.
	CategoryAccess Category = "access"
	// CategoryAdmin: state-changing actions by administrators.
	CategoryAdmin Category = "admin"
	// CategoryModeration: content hidden, restored or removed by moderators.
	CategoryModeration Category = "moderation"
	// CategoryError: server errors and recovered panics.
	CategoryError Category = "error"
	// CategorySecurityAlert: signs of attack or compromise (CSP violations,
	// cloned authenticators, tampered logs).
	CategorySecurityAlert Category = "security_alert"
	// CategorySuspicious: suspicious activity (throttling, credential
	// stuffing, password spraying).
	CategorySuspicious Category = "suspicious_activity"
)

// Outcome says how the action ended.
type Outcome string

// Outcomes. Their string values are part of the stable encoding.
const (
	OutcomeSuccess Outcome = "success"
	OutcomeFailure Outcome = "failure"
	OutcomeDenied  Outcome = "denied"
)

// Actor is who performed the action.
type Actor struct {
	UserID string   `json:"user_id,omitempty"`
	Roles  []string `json:"roles,omitempty"`
}

// Target is what the action was performed on.
type Target struct {
	Kind string `json:"kind,omitempty"`
	ID   string `json:"id,omitempty"`
}

// Event is one audit record. Its JSON field names are stable: logs written
// by one version are read by every later one.
type Event struct {
	Time       time.Time         `json:"time"`
	Category   Category          `json:"category"`
	Action     string            `json:"action"` // dotted, e.g. "login.failed"
	Outcome    Outcome           `json:"outcome,omitempty"`
	Actor      Actor             `json:"actor,omitzero"`
	Target     Target            `json:"target,omitzero"`
	ClientIP   netip.Addr        `json:"client_ip,omitzero"`
	UserAgent  string            `json:"user_agent,omitempty"`
	RequestID  string            `json:"request_id,omitempty"`
	SessionRef string            `json:"session,omitempty"` // a hash of the session token, never the token
	Reason     string            `json:"reason,omitempty"`
	Meta       map[string]string `json:"meta,omitempty"`
}
