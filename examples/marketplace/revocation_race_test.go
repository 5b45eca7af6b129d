package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/auth"
)

// heldUsers holds password logins: the next login of an armed e-mail
// address reads the user, then waits for the test.
type heldUsers struct {
	mu    sync.Mutex
	gates map[string]*userGate
}

// heldTable is one instance's user table, held by h.
type heldTable struct {
	auth.UserStore
	h *heldUsers
}

type userGate struct{ read, release chan struct{} }

func (h *heldUsers) hold(email string) *userGate {
	g := &userGate{read: make(chan struct{}), release: make(chan struct{})}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.gates == nil {
		h.gates = map[string]*userGate{}
	}
	h.gates[email] = g
	return g
}

func (t heldTable) UserByLogin(ctx context.Context, login string) (auth.User, error) {
	u, err := t.UserStore.UserByLogin(ctx, login)
	h := t.h
	h.mu.Lock()
	g := h.gates[login]
	delete(h.gates, login)
	h.mu.Unlock()
	if g != nil {
		close(g.read)
		<-g.release
	}
	return u, err
}

// withHeldUsers has h hold the logins of an instance.
func withHeldUsers(h *heldUsers) func(*Config) {
	return func(c *Config) {
		c.wrapUsers = func(s auth.UserStore) auth.UserStore { return heldTable{s, h} }
	}
}

// TestLoginRacesRevocation is the regression test for issue 12, point 1:
// a password login that read the user before an administrator disabled
// the account or removed a role, or before the user changed the password
// or logged out everywhere, hashed on and came back with a session that
// survived the revocation, with the old roles. Now the session is refused:
// the login answers as usual, but the next request is anonymous. On SQLite
// with one instance, and on PostgreSQL and Redis with the login on one
// instance and the revocation on another.
func TestLoginRacesRevocation(t *testing.T) {
	t.Parallel()
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		held := &heldUsers{}
		ta := newTestApp(t, withHeldUsers(held))
		loginRaces(t, held, ta, ta)
	})
	t.Run("postgres+redis", func(t *testing.T) {
		t.Parallel()
		held := &heldUsers{}
		tas := newInstances(t, 2, withHeldUsers(held))
		// One clock for both instances (tests move it); in production,
		// NTP keeps them within a skew that a racing login could use.
		tas[1].Clock.Set(tas[0].Clock.Now())
		loginRaces(t, held, tas[0], tas[1])
	})
}

// loginRaces runs each kind of revocation against a login held on
// instance a after it read the user; b makes the revocation. held holds
// the logins of both.
func loginRaces(t *testing.T, held *heldUsers, a, b *testApp) {
	adm, _, _ := b.adminClient("admin@example.com")
	for i, kind := range []string{"disable", "role removal", "password change", "logout everywhere"} {
		email := fmt.Sprintf("victim%d@example.com", i)
		victimBrowser, victim := b.userClient(email, "Victim", roleModerator)
		require.Equal(t, http.StatusOK, victimBrowser.get("/moderation").Status)

		// An attacker who knows the password logs in on a; the login
		// reads the user and is held there, as if hashing.
		g := held.hold(email)
		type result struct{ login, next *http.Response }
		racing := make(chan result, 1)
		go func() {
			var out result
			defer func() { racing <- out }()
			hc := a.client().hc // its own cookie jar
			send := func(method, path, body string) *http.Response {
				req, _ := http.NewRequest(method, a.URL+path, strings.NewReader(body))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.Header.Set("Accept", "text/html")
				res, err := hc.Do(req)
				if err != nil {
					return nil
				}
				_ = res.Body.Close()
				return res
			}
			if out.login = send(http.MethodPost, "/login", url.Values{"email": {email}, "password": {goodPassword}}.Encode()); out.login != nil {
				// The attacker's next request, with whatever cookie the login set.
				out.next = send(http.MethodGet, "/moderation", "")
			}
		}()
		select {
		case <-g.read:
		case res := <-racing:
			t.Fatalf("%s: the login did not read the user: %+v", kind, res)
		}
		for _, ta := range []*testApp{a, b} {
			ta.Clock.Add(time.Second) // hashing takes time
		}

		switch kind {
		case "disable":
			r := adm.post("/admin/users/"+victim.ID+"/disable", nil)
			require.Equal(t, http.StatusSeeOther, r.Status, r.Body)
		case "role removal":
			r := adm.post("/admin/users/"+victim.ID+"/roles", url.Values{"role": {roleModerator}, "op": {"revoke"}})
			require.Equal(t, http.StatusSeeOther, r.Status, r.Body)
		case "password change":
			const newPassword = "saffron tunnel meadow circuit 417"
			r := victimBrowser.post("/account/password", url.Values{"current": {goodPassword}, "password": {newPassword}, "password2": {newPassword}})
			require.Equal(t, http.StatusSeeOther, r.Status, r.Body)
			assert.Equal(t, http.StatusOK, victimBrowser.get("/moderation").Status, "%s: the user's own session is kept", kind)
		case "logout everywhere":
			r := victimBrowser.post("/logout/everywhere", nil)
			require.Equal(t, http.StatusSeeOther, r.Status, r.Body)
		}
		close(g.release)
		res := <-racing
		require.NotNil(t, res.next, kind)
		assert.Equal(t, http.StatusSeeOther, res.login.StatusCode, "%s: the login itself succeeded", kind)
		assert.Equal(t, http.StatusSeeOther, res.next.StatusCode, "%s: the racing login's next request must be anonymous", kind)
		assert.Equal(t, "/login?next=%2Fmoderation", res.next.Header.Get("Location"), "%s: sent to the login page, not served", kind)
	}
}
