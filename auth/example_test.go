package auth_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/auth"
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

// A login handler: one generic message for every failure, 429 when
// throttled, 503 with Retry-After when hashing is busy, 500 without
// details when a dependency fails.
func ExampleAuthenticator_Login() {
	h, _ := auth.NewHasher(auth.HasherConfig{Params: auth.Params{Memory: 256, Time: 1, Threads: 1}, AllowWeakParams: true})
	hash, _ := h.Hash(context.Background(), "velvet lantern orbit")
	sink := &audit.MemorySink{}
	a, err := auth.NewAuthenticator(&users{auth.User{ID: "u1", Login: "alice", PasswordHash: hash}}, auth.SessionRevokerFunc(func(context.Context) error { return nil }),
		auth.AuthenticatorConfig{Hasher: h, Audit: audit.New(sink, audit.Config{})})
	if err != nil {
		panic(err)
	}
	login := func(name, password string) {
		r := httptest.NewRequest("POST", "/login", nil)
		res, err := a.Login(r, name, password)
		var te *auth.ThrottledError
		var busy *auth.BusyError
		switch {
		case errors.Is(err, auth.ErrInvalidCredentials):
			fmt.Println("401 Wrong user name or password.")
		case errors.As(err, &te):
			fmt.Println("429 Too many attempts.")
		case errors.As(err, &busy):
			// Retry-After: busy.RetryAfter rounded up to whole seconds.
			fmt.Println("503 Busy, try again in a few seconds.")
		case err != nil:
			fmt.Println("500")
		default:
			// Renew the session token, store res.UserID, then ask for the
			// second factor if res.MFARequired.
			fmt.Println("200 welcome", res.UserID, "mfa:", res.MFARequired)
		}
	}
	login("alice", "velvet lantern orbit")
	login("alice", "guess")
	login("bob", "guess")
	for _, e := range sink.Events() {
		fmt.Println(strings.TrimSpace(string(e.Action) + " " + e.Reason))
	}
	// Output:
	// 200 welcome u1 mfa: false
	// 401 Wrong user name or password.
	// 401 Wrong user name or password.
	// login.succeeded
	// login.failed bad_password
	// login.failed unknown_user
}

// Guard pages and APIs: browsers are sent to the login page, API clients
// get 401 JSON, users without the role get 403 (and an audit event).
func ExampleGuard_RequireRole() {
	sessions := auth.IdentitySourceFunc(func(r *http.Request) (auth.Identity, error) {
		if r.Header.Get("Cookie") == "session=alice" {
			return auth.Identity{UserID: "u1", Roles: []string{"seller"}}, nil
		}
		return auth.Identity{}, auth.ErrUnauthenticated
	})
	g, err := auth.NewGuard(sessions, auth.GuardConfig{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /orders", g.RequireAuth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := auth.IdentityFrom(r.Context())
		fmt.Fprintln(w, "orders of", id.UserID)
	})))
	mux.Handle("GET /admin", g.RequireRole("admin")(http.NotFoundHandler()))

	do := func(path, cookie, accept string) {
		r := httptest.NewRequest("GET", path, nil)
		r.Header.Set("Cookie", cookie)
		r.Header.Set("Accept", accept)
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
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
