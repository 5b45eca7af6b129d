package main

import (
	"context"
	"strings"

	"github.com/deployedworks/rampart/identity"
	"github.com/deployedworks/rampart/mfa"
	"github.com/deployedworks/rampart/session"
)

// TODO(issue13-merge): package session now puts an identity.Principal in
// the request context, while mfa still takes its own identity type on
// this branch. This adapter goes away when mfa reads identity.FromContext
// itself.

// mfaSessions is the session Manager as mfa's Sessions and ChallengeStore.
type mfaSessions struct{ *session.Manager }

func (mfaSessions) Identity(ctx context.Context) (mfa.Identity, bool) {
	p, ok := identity.FromContext(ctx)
	if !ok {
		return mfa.Identity{}, false
	}
	id := mfa.Identity{UserID: p.UserID, Roles: p.Roles, AuthTime: p.AuthTime, MFATime: p.MFATime, SessionRef: p.SessionRef}
	for _, m := range p.Methods {
		id.Methods = append(id.Methods, string(m))
	}
	return id, true
}

func (s mfaSessions) MarkMFA(ctx context.Context, method string) error {
	return s.Manager.MarkMFA(ctx, amr(method))
}

// amr maps mfa's method names to RFC 8176 values.
func amr(method string) identity.Method {
	switch method {
	case mfa.MethodTOTP, mfa.MethodRecovery:
		return identity.MethodOTP
	case mfa.MethodWebAuthn:
		return identity.MethodHardwareKey
	}
	return identity.Method(method)
}

// methodNames names authentication methods for people.
func methodNames(ms []identity.Method) string {
	names := make([]string, len(ms))
	for i, m := range ms {
		switch m {
		case identity.MethodPassword:
			names[i] = "password"
		case identity.MethodOTP:
			names[i] = "one-time code"
		case identity.MethodHardwareKey, identity.MethodSoftwareKey:
			names[i] = "passkey"
		default:
			names[i] = string(m)
		}
	}
	return strings.Join(names, ", ")
}
