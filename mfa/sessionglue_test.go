package mfa_test

import (
	"context"
	"time"

	"github.com/deployedworks/rampart/identity"
	"github.com/deployedworks/rampart/mfa"
	"github.com/deployedworks/rampart/session"
)

// TODO(issue13-merge): package session puts an identity.Principal in the
// request context and no longer implements mfa's Sessions; glue adapts it
// until mfa reads identity.FromContext itself.
type glue struct{ *session.Manager }

func (glue) Identity(ctx context.Context) (mfa.Identity, bool) {
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

func (g glue) MarkMFA(ctx context.Context, method string) error {
	return g.Manager.MarkMFA(ctx, amr(method))
}

func (g glue) login(ctx context.Context, user string, roles []string, at time.Time, method string) error {
	return g.Manager.Login(ctx, identity.Principal{UserID: user, Roles: roles, Methods: []identity.Method{amr(method)}, AuthTime: at})
}

func amr(method string) identity.Method {
	switch method {
	case mfa.MethodTOTP, mfa.MethodRecovery:
		return identity.MethodOTP
	case mfa.MethodWebAuthn, "passkey":
		return identity.MethodHardwareKey
	case "password":
		return identity.MethodPassword
	}
	return identity.Method(method)
}
