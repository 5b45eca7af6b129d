// Package identity is the signed-in user of a request, as every Rampart
// package sees it: one [Principal], set in the request context by the
// session layer and read by the guard, the MFA policy and the audit log.
//
// The package holds facts only. It authenticates nobody: package session
// sets the principal after loading a session, and handlers and middleware
// read it with [FromContext]. A request without a principal is anonymous.
//
// Authentication methods are the "amr" values of RFC 8176 §2 ([Method]), so
// that a principal can be handed to an OpenID Connect or JWT layer as is.
package identity

import (
	"context"
	"slices"
	"time"

	"github.com/deployedworks/rampart/internal/reqstate"
)

// Method is an authentication method, named by its RFC 8176 "amr" value.
type Method string

// Authentication methods (RFC 8176 §2). A recovery code is a one-time
// password ([MethodOTP]); the audit event of its use says which it was.
const (
	// MethodPassword is a password or passphrase ("pwd").
	MethodPassword Method = "pwd"
	// MethodOTP is a one-time password: a TOTP code or a recovery code
	// ("otp").
	MethodOTP Method = "otp"
	// MethodHardwareKey is proof of possession of a hardware-secured key,
	// such as a WebAuthn security key or a device-bound passkey ("hwk").
	MethodHardwareKey Method = "hwk"
	// MethodSoftwareKey is proof of possession of a software-secured key,
	// such as a synced passkey ("swk").
	MethodSoftwareKey Method = "swk"
	// MethodUserPresence is a test of user presence, such as touching a
	// security key ("user").
	MethodUserPresence Method = "user"
	// MethodPIN is a PIN or pattern unlocking a key, such as WebAuthn user
	// verification ("pin").
	MethodPIN Method = "pin"
	// MethodMultiFactor says that more than one factor was used ("mfa").
	MethodMultiFactor Method = "mfa"
)

// Principal is the signed-in user of a request. The zero Principal is
// anonymous. Its JSON form, used as the actor of audit events, has the
// user's ID, roles and methods only.
type Principal struct {
	// UserID is the application's stable ID for the user; empty for an
	// anonymous principal.
	UserID string `json:"user_id,omitempty"`

	// Roles are the roles granted at sign-in, compared exactly.
	Roles []string `json:"roles,omitempty"`

	// Methods are the authentication methods used in this session, in
	// order, without repeats.
	Methods []Method `json:"amr,omitempty"`

	// AuthTime is when the user's credentials were checked, or more
	// exactly when the account data they were checked against was read.
	// Package session refuses a sign-in whose AuthTime precedes a
	// revocation of the user's sessions.
	AuthTime time.Time `json:"-"`

	// MFATime is the last time a second factor was verified in this
	// session; zero if never.
	MFATime time.Time `json:"-"`

	// SessionRef names the session in audit records: random, stable
	// across token renewals, never the session token.
	SessionRef string `json:"-"`
}

// IsAnonymous reports whether p names no user.
func (p Principal) IsAnonymous() bool { return p.UserID == "" }

// HasRole reports whether p holds role, compared exactly.
func (p Principal) HasRole(role string) bool { return slices.Contains(p.Roles, role) }

// Has reports whether m is one of p's authentication methods.
func (p Principal) Has(m Method) bool { return slices.Contains(p.Methods, m) }

// MFA reports whether p signed in with more than one factor: a second
// factor was verified in this session (MFATime is set), or the methods
// include [MethodMultiFactor].
func (p Principal) MFA() bool { return !p.MFATime.IsZero() || p.Has(MethodMultiFactor) }

// With returns a copy of p with m appended to its methods unless already
// there. The copy shares nothing with p.
func (p Principal) With(m Method) Principal {
	p.Roles = slices.Clone(p.Roles)
	p.Methods = slices.Clone(p.Methods)
	if !p.Has(m) {
		p.Methods = append(p.Methods, m)
	}
	return p
}

// NewContext returns a copy of ctx that carries p, in place of any
// principal ctx carried. Package session's Handler puts the signed-in
// principal in each request's context; applications call NewContext in
// tests, and where work done for a user runs outside a request.
func NewContext(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, reqstate.Principal, p)
}

// FromContext returns the principal in ctx, and false when there is none
// or it is anonymous.
func FromContext(ctx context.Context) (Principal, bool) {
	var p Principal
	switch v := ctx.Value(reqstate.Principal).(type) {
	case Principal: // NewContext's
		p = v
	case *Principal: // package session's, in the request state
		if v == nil {
			return Principal{}, false
		}
		p = *v
	default:
		return Principal{}, false
	}
	if p.IsAnonymous() {
		return Principal{}, false
	}
	return p, true
}
