package auth_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/auth"
	"github.com/deployedworks/rampart/auth/password"
	"github.com/deployedworks/rampart/clientip"
	"github.com/deployedworks/rampart/identity"
	"github.com/deployedworks/rampart/ratelimit"
)

// users is a one-user UserStore for the examples.
type users struct{ alice auth.User }

func (u *users) UserByLogin(_ context.Context, login string) (auth.User, error) {
	if login == u.alice.Login {
		return u.alice, nil
	}
	return auth.User{}, auth.ErrUserNotFound
}

func (u *users) UserByID(_ context.Context, id string) (auth.User, error) {
	if id == u.alice.ID {
		return u.alice, nil
	}
	return auth.User{}, auth.ErrUserNotFound
}

func (u *users) SetPasswordHash(_ context.Context, id, oldHash, newHash string) error {
	if id != u.alice.ID || u.alice.PasswordHash != oldHash {
		return auth.ErrHashConflict
	}
	u.alice.PasswordHash = newHash
	return nil
}

// sessions stands in for the session package's Manager, which implements
// auth.Sessions.
type sessions struct{}

func (sessions) Login(_ context.Context, p identity.Principal) error {
	fmt.Println("session signed in:", p.UserID, p.Methods)
	return nil
}

func (sessions) RevokeOthers(context.Context) error { return nil }

func (sessions) Reauthenticate(context.Context, identity.Method) error { return nil }

// A login handler: Login signs the user in on the session itself, so the
// handler only branches on the error: one generic message for every
// failure, 429 when throttled, 503 when hashing is busy, 500 without
// details when a dependency fails. (The cheap hashing parameters keep the
// example fast; leave HasherConfig.Params zero in production.)
func ExampleAuthenticator_Login() {
	h, _ := password.NewHasher(password.HasherConfig{Params: password.Params{Memory: 256, Time: 1, Threads: 1}, AllowWeakParams: true})
	hash, _ := h.Hash(context.Background(), "velvet lantern orbit")
	sink := &audit.MemorySink{}
	login, err := auth.NewAuthenticator(&users{auth.User{ID: "u1", Login: "alice", PasswordHash: hash}}, sessions{},
		auth.AuthenticatorConfig{Hasher: h, Audit: audit.MustNew(sink, audit.Config{})})
	if err != nil {
		panic(err)
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := login.Login(r, r.PostFormValue("login"), r.PostFormValue("password"))
		var busy *password.BusyError
		switch {
		case errors.Is(err, auth.ErrInvalidCredentials):
			http.Error(w, "Wrong user name or password.", http.StatusUnauthorized)
		case errors.Is(err, ratelimit.ErrLimited):
			http.Error(w, "Too many attempts.", http.StatusTooManyRequests)
		case errors.As(err, &busy):
			// Retry-After: busy.RetryAfter rounded up to whole seconds.
			http.Error(w, "Busy, try again in a few seconds.", http.StatusServiceUnavailable)
		case err != nil:
			http.Error(w, "Something went wrong.", http.StatusInternalServerError)
		default:
			http.Redirect(w, r, "/", http.StatusSeeOther)
		}
	})
	// The clientip middleware, outermost, gives Login the client address.
	app := clientip.MustNew(nil, clientip.Config{}).Handler(handler)

	post := func(name, pw string) {
		r := httptest.NewRequest("POST", "/login", strings.NewReader("login="+name+"&password="+pw))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := httptest.NewRecorder()
		app.ServeHTTP(w, r)
		if loc := w.Header().Get("Location"); loc != "" {
			fmt.Println(w.Code, "to", loc)
			return
		}
		fmt.Println(w.Code, strings.TrimSpace(w.Body.String()))
	}
	post("alice", "velvet+lantern+orbit")
	post("alice", "guess")
	post("bob", "guess")
	for _, e := range sink.Events() {
		fmt.Println(strings.TrimSpace(string(e.Action) + " " + e.Reason))
	}
	// Output:
	// session signed in: u1 [pwd]
	// 303 to /
	// 401 Wrong user name or password.
	// 401 Wrong user name or password.
	// login.succeeded
	// login.failed bad_password
	// login.failed unknown_user
}

// Guard pages and APIs: browsers are sent to the login page, API clients
// get 401 JSON, users without the role get 403 (and an audit event). The
// guard reads the principal that the session layer put in the context.
func ExampleGuard_RequireRole() {
	g, err := auth.NewGuard(auth.GuardConfig{})
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /orders", g.RequireAuth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := identity.FromContext(r.Context())
		fmt.Fprintln(w, "orders of", p.UserID)
	})))
	mux.Handle("GET /admin", g.RequireRole("admin")(http.NotFoundHandler()))

	// Standing in for the session package, which does this for every
	// request with a signed-in user.
	sessions := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Cookie") == "session=alice" {
				r = r.WithContext(identity.NewContext(r.Context(), identity.Principal{UserID: "u1", Roles: []string{"seller"}}))
			}
			next.ServeHTTP(w, r)
		})
	}
	app := sessions(mux)

	do := func(path, cookie, accept string) {
		r := httptest.NewRequest("GET", path, nil)
		r.Header.Set("Cookie", cookie)
		r.Header.Set("Accept", accept)
		w := httptest.NewRecorder()
		app.ServeHTTP(w, r)
		fmt.Println(strings.TrimSpace(fmt.Sprint(w.Code, " ", w.Header().Get("Location"))))
	}
	do("/orders", "session=alice", "text/html")
	do("/orders", "", "text/html")
	do("/orders", "", "application/json")
	do("/admin", "session=alice", "text/html")
	// Output:
	// 200
	// 303 /login?next=%2Forders
	// 401
	// 403
}
