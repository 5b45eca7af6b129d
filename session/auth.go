package session

import (
	"net/http"

	"github.com/deployedworks/rampart/auth"
)

var (
	_ auth.IdentitySource = AuthSource{}
	_ auth.SessionRevoker = (*Manager)(nil)
)

// AuthSource is the Manager seen as an auth.IdentitySource, for
// auth.NewGuard's RequireAuth and RequireRole middleware. Get one from
// [Manager.AuthSource].
type AuthSource struct{ m *Manager }

// AuthSource returns the Manager as an auth.IdentitySource. (Manager's own
// Identity method takes a context, so Manager cannot be one itself.)
func (m *Manager) AuthSource() AuthSource { return AuthSource{m} }

// Identity implements auth.IdentitySource: the request's signed-in user,
// with MFA true once [Manager.MarkMFA] has run in the session, and
// SessionRef set to the session's handle (random, stable across token
// renewals, never the token). It returns an error wrapping
// auth.ErrUnauthenticated for an anonymous request, and [ErrNoSession]
// (so that the guard fails closed with 500) when r did not pass through
// [Manager.Handler]: a wiring mistake, not an anonymous user.
func (s AuthSource) Identity(r *http.Request) (auth.Identity, error) {
	st, md := s.m.meta(r.Context())
	switch {
	case st == nil:
		return auth.Identity{}, ErrNoSession
	case md == nil || md.UserID == "":
		return auth.Identity{}, auth.ErrUnauthenticated
	}
	return auth.Identity{
		UserID:     md.UserID,
		Roles:      append([]string(nil), md.Roles...),
		MFA:        !md.MFATime.IsZero(),
		SessionRef: md.Handle,
	}, nil
}
