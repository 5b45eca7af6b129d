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
		next.ServeHTTP(w, a.currentPrincipal(r))
	})
}

// currentPrincipal returns r with the session's signed-in user as it is
// now in its context: after a sign-in in this request, the context of the
// request still holds the user (or no user) it started with.
func (a *App) currentPrincipal(r *http.Request) *http.Request {
	id, ok := a.sessions.Identity(r.Context())
	if !ok {
		return r
	}
	p := identity.Principal{UserID: id.UserID, Roles: id.Roles, AuthTime: id.AuthTime, MFATime: id.MFATime, SessionRef: id.SessionRef}
	for _, m := range id.Methods {
		p = p.With(identity.Method(m))
	}
	return r.WithContext(identity.NewContext(r.Context(), p))
}
