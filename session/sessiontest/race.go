package sessiontest

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/deployedworks/rampart/identity"
	"github.com/deployedworks/rampart/session"
	"github.com/deployedworks/rampart/session/internal/storetest"
)

// raceUser is an account of raceApp.
type raceUser struct {
	password string
	roles    []string
	disabled bool
}

// raceUsers holds raceApp's accounts in memory. The next read of a user
// can be held (see Hold), so that a test can run a revocation between a
// login's read of the user and its session being saved.
type raceUsers struct {
	mu    sync.Mutex
	users map[string]raceUser
	gate  *gate
}

// gate holds one read of a user: Read is closed once the read is done,
// and the read returns when the test closes Release.
type gate struct {
	Read    chan struct{}
	Release chan struct{}
}

// Hold makes the next read of a user wait for the gate's Release.
func (s *raceUsers) Hold() *gate {
	g := &gate{Read: make(chan struct{}), Release: make(chan struct{})}
	s.mu.Lock()
	s.gate = g
	s.mu.Unlock()
	return g
}

func (s *raceUsers) update(id string, f func(*raceUser)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[id]
	f(&u)
	u.roles = slices.Clone(u.roles)
	s.users[id] = u
}

// read returns the user, after the hold if any.
func (s *raceUsers) read(id string) (raceUser, bool) {
	s.mu.Lock()
	u, ok := s.users[id]
	g := s.gate
	s.gate = nil
	s.mu.Unlock()
	if g != nil {
		close(g.Read)
		<-g.Release
	}
	return u, ok
}

const (
	racePassword    = "quartz lantern orbit 1987"
	raceNewPassword = "velvet harbour cipher 2044"
)

// loginRace runs a password login that reads the user, then waits (as if
// hashing the password) while the user's sessions are revoked in one of
// the four ways an app does it; the login must not leave a usable
// session, whatever the store, while a login after the revocation works.
func loginRace(t *testing.T, h Backend) {
	for _, kind := range []string{"disable", "role removal", "password change", "logout everywhere"} {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			e := storetest.NewEnv(t, h.New(t), storetest.NewClock(), nil)
			users := &raceUsers{users: map[string]raceUser{"alice": {password: racePassword, roles: []string{"admin"}}}}
			app := raceApp(e.M, users, e.Clock.Now)

			// Alice is signed in in her own browser.
			r := storetest.Do(t, app, "/login?"+url.Values{"login": {"alice"}, "password": {racePassword}}.Encode(), "")
			requireEqual(t, "ok", r.Body)
			own := r.Token
			requireEqual(t, "alice|admin|pwd|-", e.WhoAmI(t, own))

			// Someone who knows the password logs in; the login reads the
			// user and is held there, as if hashing.
			g := users.Hold()
			racing := make(chan storetest.Resp, 1)
			go func() {
				racing <- storetest.Do(t, app, "/login?"+url.Values{"login": {"alice"}, "password": {racePassword}}.Encode(), "")
			}()
			select {
			case <-g.Read:
			case r := <-racing:
				t.Fatalf("the login did not read the user: %d %s", r.Code, r.Body)
			}
			e.Clock.Add(time.Second) // hashing takes time

			newPassword := racePassword
			switch kind {
			case "disable":
				users.update("alice", func(u *raceUser) { u.disabled = true })
				requireNoError(t, e.M.RevokeUser(ctx, "alice"))
				own = ""
			case "role removal":
				users.update("alice", func(u *raceUser) { u.roles = nil })
				requireNoError(t, e.M.RevokeUser(ctx, "alice"))
				own = ""
			case "password change":
				newPassword = raceNewPassword
				r := storetest.Do(t, app, "/password?"+url.Values{"current": {racePassword}, "next": {newPassword}}.Encode(), own)
				requireEqual(t, http.StatusOK, r.Code, r.Body)
				requireNotEqual(t, own, r.Token, "the changer's session is renewed")
				own = r.Token
			case "logout everywhere":
				r := storetest.Do(t, e.H, "/revoke-user?user=alice", own)
				requireEqual(t, http.StatusOK, r.Code, r.Body)
				own = ""
			}
			close(g.Release)
			r = <-racing

			// The racing login checked the password against what it read,
			// and the app signed it in; but its session was not saved.
			assertEqual(t, "ok", r.Body, "the login itself succeeded")
			if r.Cookie != nil && r.Cookie.MaxAge >= 0 {
				assertEqual(t, "anonymous", e.WhoAmI(t, r.Cookie.Value), "the racing login's session must not be usable")
			}
			assertEmpty(t, r.Token, "the racing login's cookie is deleted")
			storetest.AssertEvent(t, e.Audit, string(session.ActionEndedInFlight), "")
			list, err := e.M.Sessions(ctx, "alice")
			requireNoError(t, err)
			if own != "" {
				assertEqual(t, "alice|admin|pwd|-", e.WhoAmI(t, own), "the session that changed the password is kept")
				assertLen(t, list, 1, "only the changer's session is left")
			} else {
				assertEmpty(t, list, "no session of alice is left")
			}

			// A login after the revocation, on the same clock, works, with
			// the new state.
			r = storetest.Do(t, app, "/login?"+url.Values{"login": {"alice"}, "password": {newPassword}}.Encode(), "")
			switch kind {
			case "disable":
				assertEqual(t, http.StatusUnauthorized, r.Code)
			case "role removal":
				assertEqual(t, "alice||pwd|-", e.WhoAmI(t, r.Token))
			default:
				assertEqual(t, "alice|admin|pwd|-", e.WhoAmI(t, r.Token))
			}
		})
	}
}

// raceApp signs users in over m as a login package would, reading the
// time before reading the user:
//
//	/login?login=&password=   /password?current=&next=
func raceApp(m *session.Manager, users *raceUsers, now func() time.Time) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		readAt := now()
		id := r.FormValue("login")
		u, ok := users.read(id)
		if !ok || u.disabled || u.password != r.FormValue("password") {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		p := identity.Principal{UserID: id, Roles: u.roles, Methods: []identity.Method{identity.MethodPassword}, AuthTime: readAt}
		if err := m.Login(r.Context(), p); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		_, _ = w.Write([]byte("ok"))
	})
	mux.HandleFunc("/password", func(w http.ResponseWriter, r *http.Request) {
		p, ok := identity.FromContext(r.Context())
		if !ok {
			http.Error(w, "anonymous", http.StatusForbidden)
			return
		}
		u, _ := users.read(p.UserID)
		if u.password != r.FormValue("current") {
			http.Error(w, "wrong password", http.StatusForbidden)
			return
		}
		users.update(p.UserID, func(u *raceUser) { u.password = r.FormValue("next") })
		if err := m.RevokeOthers(r.Context()); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		_, _ = w.Write([]byte("ok"))
	})
	return m.Handler(mux)
}
