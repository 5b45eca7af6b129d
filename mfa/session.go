package mfa

import (
	"context"
	"slices"
	"time"
)

// Identity is the signed-in user as the session layer reports it: who the
// user is, their roles, and when and how the session was last verified with
// a second factor (MFATime, zero if never; MFAMethod).
//
// TODO(issue13-merge): package session no longer has an Identity type (it
// puts an identity.Principal in the request context); this copy of its
// fields keeps mfa compiling until mfa moves to identity.Principal.
type Identity struct {
	UserID     string
	Roles      []string
	AuthTime   time.Time
	Methods    []string
	MFATime    time.Time
	MFAMethod  string
	SessionRef string
}

// HasRole reports whether the identity holds role.
func (id Identity) HasRole(role string) bool { return slices.Contains(id.Roles, role) }

// Factor names passed to [Sessions.MarkMFA] and written to audit.
const (
	MethodTOTP     = "totp"
	MethodRecovery = "recovery"
	MethodWebAuthn = "webauthn"
)

// IdentityReader reads the signed-in user from a request context.
// *session.Manager implements it. [Policy] needs only this.
type IdentityReader interface {
	// Identity returns the signed-in user, and false when there is none.
	Identity(ctx context.Context) (Identity, bool)
}

// Sessions is what the WebAuthn handlers need from the session layer:
// who is signed in, and a way to record a completed MFA verification
// (which renews the session token and sets MFATime). *session.Manager
// implements it.
type Sessions interface {
	IdentityReader
	// MarkMFA records that this session was just verified with method.
	MarkMFA(ctx context.Context, method string) error
}

// ChallengeStore keeps per-session ceremony state (a WebAuthn challenge)
// between the begin and finish requests. *session.Manager implements it
// (on the server for a signed-in session, sealed in the cookie before
// sign-in). Both methods act on the session of ctx.
type ChallengeStore interface {
	// PutChallenge stores data under key, replacing any earlier value.
	PutChallenge(ctx context.Context, key string, data []byte) error
	// TakeChallenge returns the data stored under key and removes it, so
	// that a challenge is used at most once. Of concurrent calls for one
	// session (one assertion replayed in parallel with the same cookie),
	// on one instance or on several, exactly one may get the data: the
	// removal must be atomic in the store the instances share, not only in
	// the request's copy of the session. When there is none it returns an
	// error (session.ErrNoChallenge) or nil data; mfa treats either, and
	// any other error, as no challenge (fail closed).
	TakeChallenge(ctx context.Context, key string) ([]byte, error)
}
