package stack

import (
	"crypto/rand"
	"fmt"
	"html/template"
	"net/http"
	"sync"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/go-chi/httprate"
	"github.com/unrolled/secure"
)

// loginPage is the quickstart's page; every contestant renders it for the
// anonymous GET, with its own nonce (the floors with a fixed one).
var loginPage = template.Must(template.New("").Parse(`<!doctype html><title>Rampart</title>
<style nonce="{{.Nonce}}">body { font-family: sans-serif }</style>
<form method="post" action="/login"><input name="login" autocomplete="username" required>
<input name="password" type="password" autocomplete="current-password" required><button>Log in</button></form>`))

// fixedNonce has the length of a real one, so the floors' pages are as
// long as the others'.
const fixedNonce = "AAAAAAAAAAAAAAAAAAAAAA=="

// alaCarteServer is the stack a Go developer would assemble from popular
// packages for the quickstart's protections, in the same order:
//
//   - client address: chi's middleware.ClientIPFromRemoteAddr (the TCP
//     peer, as Rampart's clientip with no trusted proxy; chi v5.5.0
//     deprecates middleware.RealIP as spoofable and points here);
//   - request IDs and panic recovery: chi's RequestID and Recoverer;
//   - headers: unrolled/secure sending the headers Rampart's defaults send,
//     with a nonce CSP;
//   - CSRF: net/http's CrossOriginProtection (Fetch Metadata);
//   - rate limit: go-chi/httprate keyed by the client address (IPv6 by
//     /64), at benchLimit;
//   - sessions: scs with its memstore, tokens hashed in the store as
//     Rampart's are, Secure cookies;
//   - a role check: signed in or 401, as Rampart's Guard.RequireAuth.
//
// It audits nothing: it has no place to record security events.
func alaCarteServer() http.Handler {
	sm := scs.New()
	sm.HashTokenInStore = true
	sm.Cookie.Secure = true
	sec := secure.New(secure.Options{
		STSSeconds:                63072000,
		STSIncludeSubdomains:      true,
		ContentSecurityPolicy:     "default-src 'self'; script-src $NONCE 'strict-dynamic'; style-src 'self' $NONCE; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
		ContentTypeNosniff:        true,
		ReferrerPolicy:            "same-origin",
		CrossOriginOpenerPolicy:   "same-origin",
		CrossOriginResourcePolicy: "same-origin",
		PermissionsPolicy:         "accelerometer=(), camera=(), display-capture=(), geolocation=(), gyroscope=(), magnetometer=(), microphone=(), midi=(), payment=(), usb=()",
		FrameDeny:                 true,
	})
	cop := http.NewCrossOriginProtection()
	limit := httprate.LimitBy(benchLimit.Events, benchLimit.Per, func(r *http.Request) (string, error) {
		return httprate.CanonicalizeIP(middleware.GetClientIP(r.Context())), nil
	})
	requireUser := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if sm.GetString(r.Context(), "userID") == "" {
				http.Error(w, "Sign in.", http.StatusUnauthorized)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	hello := requireUser(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "Hello, %s.\n", sm.GetString(r.Context(), "userID"))
	}))

	mux := http.NewServeMux()
	mux.HandleFunc("GET /login", func(w http.ResponseWriter, r *http.Request) {
		_ = loginPage.Execute(w, struct{ Nonce string }{secure.CSPNonce(r.Context())})
	})
	// Setup only: signs in without a password check.
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		if err := sm.RenewToken(r.Context()); err != nil {
			http.Error(w, "Something went wrong.", http.StatusInternalServerError)
			return
		}
		sm.Put(r.Context(), "userID", "u1")
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})
	mux.Handle("GET /{$}", hello)
	mux.Handle("POST /{$}", hello)

	return middleware.ClientIPFromRemoteAddr(middleware.RequestID(middleware.Recoverer(
		sec.Handler(cop.Handler(limit(sm.LoadAndSave(mux)))))))
}

// muxServer is the first floor: the routes on a bare http.ServeMux, no
// middleware, no session (the user is a constant).
func muxServer() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login", func(w http.ResponseWriter, r *http.Request) {
		_ = loginPage.Execute(w, struct{ Nonce string }{fixedNonce})
	})
	hello := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "Hello, %s.\n", "u1")
	})
	mux.Handle("GET /{$}", hello)
	mux.Handle("POST /{$}", hello)
	return mux
}

// sessionMapServer is the second floor: the mux and a session that is a
// random cookie keyed into a sync.Map of user IDs, nothing else.
func sessionMapServer() http.Handler {
	var sessions sync.Map // token → user ID
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login", func(w http.ResponseWriter, r *http.Request) {
		_ = loginPage.Execute(w, struct{ Nonce string }{fixedNonce})
	})
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		token := rand.Text()
		sessions.Store(token, "u1")
		http.SetCookie(w, &http.Cookie{Name: "session", Value: token, Path: "/", Secure: true, HttpOnly: true,
			SameSite: http.SameSiteLaxMode, Expires: time.Now().Add(24 * time.Hour)})
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})
	hello := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie("session")
		if err != nil {
			http.Error(w, "Sign in.", http.StatusUnauthorized)
			return
		}
		user, ok := sessions.Load(c.Value)
		if !ok {
			http.Error(w, "Sign in.", http.StatusUnauthorized)
			return
		}
		fmt.Fprintf(w, "Hello, %s.\n", user) // #nosec G705 -- the user ID is one this handler stored at login ("u1"), not request input
	})
	mux.Handle("GET /{$}", hello)
	mux.Handle("POST /{$}", hello)
	return mux
}
