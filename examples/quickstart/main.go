// Command quickstart is the README's quickstart: one login page behind
// every Rampart middleware, with a user kept in memory.
//
//	go run ./examples/quickstart   # then open http://localhost:8080 and log in as alice
package main

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/auth"
	"github.com/deployedworks/rampart/auth/password"
	"github.com/deployedworks/rampart/clientip"
	"github.com/deployedworks/rampart/headers"
	"github.com/deployedworks/rampart/identity"
	"github.com/deployedworks/rampart/ratelimit"
	"github.com/deployedworks/rampart/session"
)

func main() {
	srv := &http.Server{
		Addr:    "localhost:8080",
		Handler: newServer(os.Stderr),
		// Slow clients cannot hold connections open (Slowloris).
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
	log.Println("listening on http://localhost:8080")
	log.Fatal(srv.ListenAndServe())
}

// newServer wires the middleware around the routes; audit events go to
// auditOut as JSON lines.
func newServer(auditOut io.Writer) http.Handler {
	// The client's address: with no trusted proxies, the TCP peer. Behind a
	// load balancer, list its networks so X-Forwarded-For is believed from
	// it and only from it.
	ips := clientip.MustNew(nil, clientip.Config{})
	// Every security event as one JSON line. Components find the Logger in
	// the request context: none is given it.
	events := must(audit.New(must(audit.NewJSONLSink(auditOut)), audit.Config{}))
	// Strict headers with a per-request CSP nonce, and cross-origin (CSRF)
	// protection from Fetch Metadata.
	sec := must(headers.New(headers.Config{}))
	csrf := must(headers.NewCrossOrigin(headers.CrossOriginConfig{}))
	// Sessions with __Host- cookies; plain http://localhost needs the
	// explicit development option.
	sessions := must(session.New(session.Config{AllowInsecureCookie: true}))
	// 10 requests a second per client address (IPv6 by /64) on every route.
	limit := must(ratelimit.PerIP(ratelimit.Limit{Events: 10, Per: time.Second}, ratelimit.MiddlewareConfig{}))
	// A password check that does not reveal which accounts exist, with
	// login throttling per account, per address and per pair.
	login := must(auth.NewAuthenticator(newUsers("alice", "correct horse battery staple"), sessions, auth.AuthenticatorConfig{}))
	guard := must(auth.NewGuard(auth.GuardConfig{}))

	page := template.Must(template.New("").Parse(`<!doctype html><title>Rampart</title>
<style nonce="{{.Nonce}}">body { font-family: sans-serif }</style>
<form method="post" action="/login"><input name="login" autocomplete="username" required>
<input name="password" type="password" autocomplete="current-password" required><button>Log in</button></form>`))

	mux := http.NewServeMux()
	mux.HandleFunc("GET /login", func(w http.ResponseWriter, r *http.Request) {
		_ = page.Execute(w, struct{ Nonce string }{headers.Nonce(r.Context())})
	})
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 4<<10) // a login form is small
		if err := r.ParseForm(); err != nil {
			http.Error(w, "Send the login form.", http.StatusBadRequest)
			return
		}
		// Login signs the user in on the session; only the error matters.
		_, err := login.Login(r, r.PostForm.Get("login"), r.PostForm.Get("password"))
		var busy *password.BusyError
		switch {
		case errors.Is(err, ratelimit.ErrLimited):
			http.Error(w, "Too many attempts; try again later.", http.StatusTooManyRequests)
		case errors.As(err, &busy): // too many logins at once: hashing is bounded
			w.Header().Set("Retry-After", strconv.Itoa(int((busy.RetryAfter+time.Second-1)/time.Second)))
			http.Error(w, "Busy; try again in a few seconds.", http.StatusServiceUnavailable)
		case errors.Is(err, auth.ErrInvalidCredentials):
			http.Error(w, "Wrong user name or password.", http.StatusUnauthorized)
		case err != nil:
			http.Error(w, "Something went wrong.", http.StatusInternalServerError)
		default:
			http.Redirect(w, r, "/", http.StatusSeeOther)
		}
	})
	mux.Handle("GET /{$}", guard.RequireAuth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := identity.FromContext(r.Context())
		fmt.Fprintf(w, "Hello, %s.\n", p.UserID)
	})))

	// Outermost first: client address, audit (request IDs, panic recovery),
	// headers, CSRF, rate limit, sessions, routes.
	return ips.Handler(events.Handler(sec.Handler(csrf.Handler(limit.Handler(sessions.Handler(mux))))))
}

// users is an auth.UserStore in memory; a real app reads its database.
type users map[string]auth.User

func newUsers(login, pw string) users {
	hasher := must(password.NewHasher(password.HasherConfig{}))
	hash := must(hasher.Hash(context.Background(), pw))
	return users{login: {ID: "u1", Login: login, PasswordHash: hash}}
}

func (u users) UserByLogin(_ context.Context, login string) (auth.User, error) {
	if user, ok := u[login]; ok {
		return user, nil
	}
	return auth.User{}, auth.ErrUserNotFound
}

func (u users) UserByID(_ context.Context, id string) (auth.User, error) {
	for _, user := range u {
		if user.ID == id {
			return user, nil
		}
	}
	return auth.User{}, auth.ErrUserNotFound
}

func (u users) SetPasswordHash(_ context.Context, id, oldHash, newHash string) error {
	return auth.ErrHashConflict // read-only in this example
}

func must[T any](v T, err error) T {
	if err != nil {
		log.Fatal(err)
	}
	return v
}
