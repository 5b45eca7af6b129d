package audit

import (
	"net/netip"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/deployedworks/rampart/identity"
)

// Category groups events by the kind of record: what an investigation
// looks for, and how long it is kept (see [Retention]).
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
	// CategorySecurityAlert: signs of attack or compromise (cloned
	// authenticators, tampered logs, a login that succeeds right after a
	// burst of failures).
	CategorySecurityAlert Category = "security_alert"
	// CategorySuspicious: suspicious activity (throttling, credential
	// stuffing, password spraying).
	CategorySuspicious Category = "suspicious_activity"
	// CategoryBrowserReport: reports that browsers send on their own, such
	// as CSP violations. Any web page can make its visitors send them, so
	// they are kept briefly (see [DefaultRetentionBrowserReport]) and apart
	// from the records an investigation relies on.
	CategoryBrowserReport Category = "browser_report"
)

// Categories returns the categories defined by this package, in a fixed
// order. Applications may log events under other categories; those are kept
// for the default retention period.
func Categories() []Category {
	return []Category{
		CategoryAuthentication, CategoryAccess, CategoryAdmin, CategoryModeration,
		CategoryError, CategorySecurityAlert, CategorySuspicious, CategoryBrowserReport,
	}
}

// Outcome says how the action ended.
type Outcome string

// Outcomes. Their string values are part of the stable encoding.
const (
	OutcomeSuccess Outcome = "success"
	OutcomeFailure Outcome = "failure"
	OutcomeDenied  Outcome = "denied"
)

// Target is what the action was performed on.
type Target struct {
	Kind string `json:"kind,omitempty"`
	ID   string `json:"id,omitempty"`
}

// Action names what an event records, as a dotted lower-case name such as
// "login.failed". Every package exports the actions it emits as Action
// constants, and the detector (package audit/detect) and queries match on
// those constants, never on string literals that two packages must spell
// alike.
type Action string

// Event is one audit record. Its JSON field names are stable: logs written
// by one version are read by every later one. The encoding is described in
// the package documentation under "Encoding".
//
// Build events with the fields that say what happened (Category, Action,
// Outcome, Target, Reason, Meta); [Logger.Log] fills Time and the
// request-scoped fields (Actor, ClientIP, UserAgent, RequestID, SessionRef)
// from the context when they are empty, and redacts sensitive Meta entries
// (see [Redact]).
type Event struct {
	// Time is when the event happened, in UTC. Default: the Logger's clock.
	Time time.Time `json:"time"`
	// Category is the kind of record. Required.
	Category Category `json:"category"`
	// Action is what happened, a dotted lower-case name such as
	// "login.failed"; each package exports its actions as constants.
	// Required.
	Action Action `json:"action"`
	// Outcome says how the action ended.
	Outcome Outcome `json:"outcome,omitempty"`
	// Actor is who acted. Default: the principal in the context
	// ([identity.FromContext]), which package session puts there. It is
	// encoded as {"user_id", "roles", "amr"}: the principal's times and
	// session reference are not part of it.
	Actor identity.Principal `json:"actor,omitzero"`
	// Target is what was acted on.
	Target Target `json:"target,omitzero"`
	// ClientIP is the client's address. Default: from the request facts
	// stored by [Logger.Handler], or clientip.FromContext.
	ClientIP netip.Addr `json:"client_ip,omitzero"`
	// UserAgent is the client's User-Agent header, truncated to 512 bytes.
	UserAgent string `json:"user_agent,omitempty"`
	// RequestID identifies the HTTP request (see [RequestID]).
	RequestID string `json:"request_id,omitempty"`
	// SessionRef identifies the session without revealing its token: a
	// hash of the token (build it with [SessionRef]) or a random handle
	// that outlives token renewal, such as the one package session keeps.
	// Never the token itself. Default: the actor's SessionRef.
	SessionRef string `json:"session,omitempty"`
	// Reason is a short human-readable explanation.
	Reason string `json:"reason,omitempty"`
	// Meta holds further string facts. Entries whose key looks sensitive
	// are redacted by [Logger.Log] (see [Redact] and [SensitiveKey]).
	Meta map[string]string `json:"meta,omitempty"`

	// Pace is the budget the emitter sets for events of this action that a
	// flood can trigger (refusals of a rate limit, rejected cross-origin
	// requests); the Logger creates it on the first such event and shares
	// it by all emitters of the action. Config.Paces overrides it. The zero
	// Pace records every event. It is not recorded: sinks see it zero.
	Pace Pace `json:"-"`
}

// MarshalJSON encodes e in the stable format described in the package
// documentation. It gives the same bytes as encoding/json would from the
// struct tags (map keys sorted, HTML characters escaped), only faster.
func (e Event) MarshalJSON() ([]byte, error) {
	if y := e.Time.Year(); y < 0 || y > 9999 {
		return nil, errTimeRange
	}
	return appendEvent(make([]byte, 0, 256), &e), nil
}

// AppendJSON appends the encoding of e that [Event.MarshalJSON] returns to
// b, for sinks that encode many events into one buffer. On error b is
// returned unchanged.
func (e *Event) AppendJSON(b []byte) ([]byte, error) {
	if y := e.Time.Year(); y < 0 || y > 9999 {
		return b, errTimeRange
	}
	return appendEvent(b, e), nil
}

// appendEvent appends the JSON encoding of e to b. The time must be in
// range (years 0–9999); Logger.Log guarantees it.
func appendEvent(b []byte, e *Event) []byte {
	b = append(b, `{"time":"`...)
	b = e.Time.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","category":`...)
	b = appendString(b, string(e.Category))
	b = append(b, `,"action":`...)
	b = appendString(b, string(e.Action))
	if e.Outcome != "" {
		b = append(b, `,"outcome":`...)
		b = appendString(b, string(e.Outcome))
	}
	if hasActor(&e.Actor) {
		b = append(b, `,"actor":{`...)
		comma := false
		if e.Actor.UserID != "" {
			b = append(b, `"user_id":`...)
			b = appendString(b, e.Actor.UserID)
			comma = true
		}
		if len(e.Actor.Roles) > 0 {
			if comma {
				b = append(b, ',')
			}
			b = append(b, `"roles":[`...)
			for i, r := range e.Actor.Roles {
				if i > 0 {
					b = append(b, ',')
				}
				b = appendString(b, r)
			}
			b = append(b, ']')
			comma = true
		}
		if len(e.Actor.Methods) > 0 {
			if comma {
				b = append(b, ',')
			}
			b = append(b, `"amr":[`...)
			for i, m := range e.Actor.Methods {
				if i > 0 {
					b = append(b, ',')
				}
				b = appendString(b, string(m))
			}
			b = append(b, ']')
		}
		b = append(b, '}')
	}
	if e.Target != (Target{}) {
		b = append(b, `,"target":{`...)
		if e.Target.Kind != "" {
			b = append(b, `"kind":`...)
			b = appendString(b, e.Target.Kind)
			if e.Target.ID != "" {
				b = append(b, ',')
			}
		}
		if e.Target.ID != "" {
			b = append(b, `"id":`...)
			b = appendString(b, e.Target.ID)
		}
		b = append(b, '}')
	}
	if e.ClientIP.IsValid() {
		b = append(b, `,"client_ip":"`...)
		b = e.ClientIP.AppendTo(b)
		b = append(b, '"')
	}
	b = appendField(b, `,"user_agent":`, e.UserAgent)
	b = appendField(b, `,"request_id":`, e.RequestID)
	b = appendField(b, `,"session":`, e.SessionRef)
	b = appendField(b, `,"reason":`, e.Reason)
	if len(e.Meta) > 0 {
		b = append(b, `,"meta":{`...)
		var stack [16]string
		keys := stack[:0]
		for k := range e.Meta {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, k)
			b = append(b, ':')
			b = appendString(b, e.Meta[k])
		}
		b = append(b, '}')
	}
	return append(b, '}')
}

// hasActor reports whether p is encoded: as encoding/json's omitzero
// decides, so that MarshalJSON gives the same bytes. Only the user, roles
// and methods are written.
func hasActor(p *identity.Principal) bool {
	return p.UserID != "" || p.Roles != nil || p.Methods != nil ||
		p.AuthTime != (time.Time{}) || p.MFATime != (time.Time{}) || p.SessionRef != ""
}

func appendField(b []byte, name, v string) []byte {
	if v == "" {
		return b
	}
	b = append(b, name...)
	return appendString(b, v)
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string exactly as encoding/json does
// with HTML escaping on: control characters, <, >, & and U+2028/U+2029 are
// escaped and invalid UTF-8 becomes U+FFFD. Because newlines are always
// escaped, an attacker-supplied value cannot start a new line in a JSON
// Lines log.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
