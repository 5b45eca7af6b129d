package session_test

import (
	"net/http"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/auth"
	"github.com/deployedworks/rampart/identity"
	"github.com/deployedworks/rampart/session"
	st "github.com/deployedworks/rampart/session/internal/storetest"
)

// TestGuardWiring runs auth's guard on the Manager's identity: the
// session decides who is signed in, the guard decides what they may do.
func TestGuardWiring(t *testing.T) {
	e := newEnv(t, nil)
	g, err := auth.NewGuard(auth.GuardConfig{})
	require.NoError(t, err)
	admin := e.M.Handler(principal(e.M, g.RequireRole("admin")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := identity.FromContext(r.Context())
		_, _ = w.Write([]byte("hello " + p.UserID))
	}))))
	assert.Equal(t, http.StatusUnauthorized, st.Do(t, admin, "/admin", "").Code, "anonymous")
	assert.Equal(t, http.StatusForbidden, st.Do(t, admin, "/admin", e.Login(t, "seller", "seller")).Code)
	tok := e.Login(t, "root", "admin")
	r := st.Do(t, admin, "/admin", tok)
	assert.Equal(t, http.StatusOK, r.Code)
	assert.Equal(t, "hello root", r.Body)

	require.NoError(t, e.M.RevokeUser(t.Context(), "root"))
	assert.Equal(t, http.StatusUnauthorized, st.Do(t, admin, "/admin", tok).Code, "revoked")
}

// principal puts the Manager's identity in the request context as an
// identity.Principal.
//
// TODO(issue13-merge): the Manager's Handler does this itself on the
// session branch; drop this adapter.
func principal(m *session.Manager, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if id, ok := m.Identity(r.Context()); ok {
			r = r.WithContext(identity.NewContext(r.Context(), identity.Principal{UserID: id.UserID, Roles: id.Roles, SessionRef: id.SessionRef}))
		}
		next.ServeHTTP(w, r)
	})
}

// TestNoDriverDependencies keeps database drivers out of package session:
// they belong in the leaf store packages.
func TestNoDriverDependencies(t *testing.T) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go command is not on PATH")
	}
	out, err := exec.Command(goCmd, "list", "-deps", ".").Output()
	require.NoError(t, err, "go list -deps")
	deps := strings.Fields(string(out))
	require.Contains(t, deps, "github.com/alexedwards/scs/v2", "go list listed session's dependencies")
	for _, dep := range deps {
		for _, heavy := range []string{"redis", "jackc/pgx", "modernc.org/sqlite", "mattn/go-sqlite3", "lib/pq"} {
			assert.NotContains(t, dep, heavy, "package session must not import %s", dep)
		}
	}
}
