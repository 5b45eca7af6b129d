package stack

import (
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/printer"
	"go/token"
	"html/template"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/auth"
	"github.com/deployedworks/rampart/auth/password"
	"github.com/deployedworks/rampart/clientip"
	"github.com/deployedworks/rampart/headers"
	"github.com/deployedworks/rampart/identity"
	"github.com/deployedworks/rampart/ratelimit"
	"github.com/deployedworks/rampart/session"
)

// benchLimit replaces the quickstart's 10 requests a second per address:
// a benchmark sends a million a second from one address, and must measure
// the path of an allowed request, not of a refusal. Burst is the package's
// maximum, so the bucket never empties during a run.
var benchLimit = ratelimit.Limit{Events: 1 << 24, Per: time.Second}

// quickstartServer is examples/quickstart's newServer, statement for
// statement (TestQuickstartCopy keeps the two the same), with two
// differences: the rate limit is benchLimit, and one route is added, the
// signed-in POST (POST /, behind the guard, answering as GET / does).
// The quickstart is package main, and its README quotes main.go verbatim,
// so it cannot export its wiring; this copy is checked instead.
func quickstartServer(auditOut io.Writer) http.Handler {
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
	limit := must(ratelimit.PerIP(benchLimit, ratelimit.MiddlewareConfig{}))
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
	mux.Handle("POST /{$}", guard.RequireAuth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := identity.FromContext(r.Context())
		fmt.Fprintf(w, "Hello, %s.\n", p.UserID)
	})))

	// Outermost first: client address, audit (request IDs, panic recovery),
	// headers, CSRF, rate limit, sessions, routes.
	return ips.Handler(events.Handler(sec.Handler(csrf.Handler(limit.Handler(sessions.Handler(mux))))))
}

// users is an auth.UserStore in memory, as in the quickstart.
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

func (u users) SetPasswordHash(context.Context, string, string, string) error {
	return auth.ErrHashConflict
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestQuickstartCopy checks that quickstartServer is the quickstart's
// newServer but for the two stated differences, so that the benchmark
// measures the chain the README shows, constructor for constructor.
func TestQuickstartCopy(t *testing.T) {
	theirs := funcStatements(t, "../../examples/quickstart/main.go", "newServer")
	ours := funcStatements(t, "quickstart_test.go", "quickstartServer")
	var kept []string
	for _, s := range ours {
		if strings.Contains(s, `"POST /{$}"`) {
			continue // the added route
		}
		kept = append(kept, s)
	}
	for i, s := range theirs {
		theirs[i] = strings.Replace(s, "ratelimit.Limit{Events: 10, Per: time.Second}", "benchLimit", 1)
	}
	require.Equal(t, theirs, kept, "quickstartServer must stay examples/quickstart's newServer: copy it over")
	require.Len(t, ours, len(kept)+1, "one added route")
}

// funcStatements returns the statements of the function name in file,
// each printed in canonical form.
func funcStatements(t *testing.T, file, name string) []string {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, file, nil, 0)
	require.NoError(t, err)
	for _, d := range f.Decls {
		fn, ok := d.(*ast.FuncDecl)
		if !ok || fn.Name.Name != name {
			continue
		}
		var out []string
		for _, s := range fn.Body.List {
			var b strings.Builder
			require.NoError(t, printer.Fprint(&b, fset, s))
			out = append(out, b.String())
		}
		return out
	}
	t.Fatalf("no func %s in %s", name, file)
	return nil
}
