package main

import (
	"context"
	"net/http"

	"github.com/deployedworks/rampart/identity"
	"github.com/deployedworks/rampart/session"
)

// TODO(issue13-merge): session.Manager gets MarkMFA(ctx, identity.Method)
// and puts the signed-in principal in the request context itself (issue
// 13, "one principal"). Until then this file adapts it for package mfa;
// delete it then, pass a.sessions as passkey.Config.Sessions, call
// a.sessions.MarkMFA directly, and drop withPrincipal from buildRoutes.

// mfaSessions is *session.Manager as passkey.Sessions.
type mfaSessions struct{ *session.Manager }

// MarkMFA records a verification with method m.
func (s mfaSessions) MarkMFA(ctx context.Context, m identity.Method) error {
	return s.Manager.MarkMFA(ctx, string(m))
}

// markMFA records a completed second-factor verification in the session.
func (a *App) markMFA(ctx context.Context, m identity.Method) error {
	return mfaSessions{a.sessions}.MarkMFA(ctx, m)
}

// withPrincipal puts the session's signed-in user in the request context
// (identity.FromContext), where the MFA policy and passkeys read it.
func (a *App) withPrincipal(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if id, ok := a.sessions.Identity(r.Context()); ok {
			p := identity.Principal{UserID: id.UserID, Roles: id.Roles, AuthTime: id.AuthTime, MFATime: id.MFATime, SessionRef: id.SessionRef}
			for _, m := range id.Methods {
				p = p.With(identity.Method(m))
			}
			r = r.WithContext(identity.NewContext(r.Context(), p))
		}
		next.ServeHTTP(w, r)
	})
}
