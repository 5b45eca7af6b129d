package auth_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/auth"
)

// tokenSource reads a test token from the X-Test-User header: "alice",
// "admin", "empty" (an identity without a user ID), "broken" (a store
// failure); anything else or nothing is anonymous.
type tokenSource struct{ calls atomic.Int32 }

func (s *tokenSource) Identity(r *http.Request) (auth.Identity, error) {
	s.calls.Add(1)
	switch r.Header.Get("X-Test-User") {
	case "alice":
		return auth.Identity{UserID: "u1", Roles: []string{"seller"}, SessionRef: "sess-1"}, nil
	case "admin":
		return auth.Identity{UserID: "u5", Roles: []string{"admin", "seller"}, MFA: true}, nil
	case "empty":
		return auth.Identity{}, nil
	case "broken":
		return auth.Identity{}, errors.New("redis: dial tcp 10.0.0.7:6379: connection refused")
	}
	return auth.Identity{}, fmt.Errorf("session: no cookie: %w", auth.ErrUnauthenticated)
}

func newGuard(t *testing.T, cfg auth.GuardConfig) (*auth.Guard, *tokenSource, *audit.MemorySink) {
	t.Helper()
	src := &tokenSource{}
	sink := &audit.MemorySink{}
	cfg.Audit = audit.New(sink, audit.Config{})
	cfg.Logger = slog.New(slog.DiscardHandler)
	g, err := auth.NewGuard(src, cfg)
	require.NoError(t, err)
	return g, src, sink
}

// whoami echoes the identity the middleware stored.
var whoami = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	id, ok := auth.IdentityFrom(r.Context())
	if !ok {
		http.Error(w, "no identity in context", http.StatusTeapot)
		return
	}
	fmt.Fprint(w, "hello "+id.UserID)
})

const (
	acceptBrowser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
	acceptJSON    = "application/json"
)

func TestRequireAuth(t *testing.T) {
	tests := []struct {
		name, method, target, user, accept string
		wantStatus                         int
		wantLocation                       string
		wantBody                           string
	}{
		{"authenticated", "GET", "/orders", "alice", acceptBrowser, 200, "", "hello u1"},
		{"authenticated API", "GET", "/api/orders", "alice", acceptJSON, 200, "", "hello u1"},
		{"anonymous browser: redirect with next", "GET", "/orders?page=2", "", acceptBrowser, 303, "/login?next=%2Forders%3Fpage%3D2", ""},
		{"anonymous HEAD", "HEAD", "/orders", "", acceptBrowser, 303, "/login?next=%2Forders", ""},
		{"anonymous form post: no next", "POST", "/orders", "", acceptBrowser, 303, "/login", ""},
		{"anonymous API: 401 JSON", "GET", "/api/orders", "", acceptJSON, 401, "", `{"error":"unauthenticated","message":"Sign in to continue."}`},
		{"anonymous fetch (*/*): 401 JSON", "GET", "/api/orders", "", "*/*", 401, "", `"unauthenticated"`},
		{"no Accept: 401 JSON", "GET", "/api/orders", "", "", 401, "", `"unauthenticated"`},
		{"html refused with q=0", "GET", "/api/orders", "", "text/html;q=0, application/json", 401, "", `"unauthenticated"`},
		{"attack: open redirect via //host path", "GET", "//evil.example/phish", "", acceptBrowser, 303, "/login", ""},
		{"empty identity is anonymous", "GET", "/orders", "empty", acceptJSON, 401, "", `"unauthenticated"`},
		{"store failure: 500 JSON without internals", "GET", "/api/orders", "broken", acceptJSON, 500, "", `{"error":"internal_error","message":"Something went wrong. Try again later."}`},
		{"store failure: 500 HTML", "GET", "/orders", "broken", acceptBrowser, 500, "", "Something went wrong"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, _, _ := newGuard(t, auth.GuardConfig{})
			r := httptest.NewRequest(tt.method, "/", nil)
			r.URL = &url.URL{Path: tt.target}
			if p, q, ok := strings.Cut(tt.target, "?"); ok {
				r.URL = &url.URL{Path: p, RawQuery: q}
			}
			r.RequestURI = tt.target
			if tt.user != "" {
				r.Header.Set("X-Test-User", tt.user)
			}
			if tt.accept != "" {
				r.Header.Set("Accept", tt.accept)
			}
			w := httptest.NewRecorder()
			g.RequireAuth(whoami).ServeHTTP(w, r)
			assert.Equal(t, tt.wantStatus, w.Code)
			assert.Equal(t, tt.wantLocation, w.Header().Get("Location"))
			assert.Contains(t, w.Body.String(), tt.wantBody)
			assert.NotContains(t, w.Body.String(), "redis")
			assert.NotContains(t, w.Body.String(), "10.0.0.7")
			if tt.wantStatus != 200 {
				assert.Equal(t, "no-store", w.Header().Get("Cache-Control"))
				assert.Equal(t, "Accept", w.Header().Get("Vary"))
			}
			if tt.wantStatus == 401 || (tt.wantStatus == 500 && tt.accept == acceptJSON) {
				assert.Equal(t, "application/json", w.Header().Get("Content-Type"))
				assert.True(t, json.Valid(w.Body.Bytes()))
			}
		})
	}
}

func TestRequireAuthStoreFailureIsAudited(t *testing.T) {
	g, _, sink := newGuard(t, auth.GuardConfig{})
	r := httptest.NewRequest("GET", "/orders", nil)
	r.RemoteAddr = "198.51.100.4:1234"
	r.Header.Set("X-Test-User", "broken")
	g.RequireAuth(whoami).ServeHTTP(httptest.NewRecorder(), r)
	ev := sink.Events()
	require.Len(t, ev, 1)
	assert.Equal(t, audit.CategoryError, ev[0].Category)
	assert.Equal(t, "identity.error", ev[0].Action)
	assert.Equal(t, "GET /orders", ev[0].Target.ID)
	assert.Contains(t, ev[0].Reason, "connection refused", "details go to audit, not to the client")
	assert.Equal(t, "198.51.100.4", ev[0].ClientIP.String())
}

func TestRequireRole(t *testing.T) {
	g, src, sink := newGuard(t, auth.GuardConfig{})
	mux := http.NewServeMux()
	mux.Handle("GET /admin/users", g.RequireRole("admin", "support")(whoami))

	serve := func(user, accept string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", "/admin/users", nil)
		r.RemoteAddr = "203.0.113.9:4444"
		r.Header.Set("X-Test-User", user)
		r.Header.Set("Accept", accept)
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		return w
	}

	w := serve("admin", acceptJSON)
	assert.Equal(t, 200, w.Code)
	assert.Equal(t, "hello u5", w.Body.String())

	w = serve("alice", acceptJSON)
	assert.Equal(t, 403, w.Code)
	assert.JSONEq(t, `{"error":"forbidden","message":"You do not have access to this page."}`, w.Body.String())
	ev := sink.Events()
	require.Len(t, ev, 1)
	assert.Equal(t, audit.CategoryAccess, ev[0].Category)
	assert.Equal(t, "access.denied", ev[0].Action)
	assert.Equal(t, audit.OutcomeDenied, ev[0].Outcome)
	assert.Equal(t, audit.Actor{UserID: "u1", Roles: []string{"seller"}}, ev[0].Actor)
	assert.Equal(t, audit.Target{Kind: "route", ID: "GET /admin/users"}, ev[0].Target)
	assert.Equal(t, "admin,support", ev[0].Meta["required_roles"])
	assert.Equal(t, "sess-1", ev[0].SessionRef)
	assert.Equal(t, "203.0.113.9", ev[0].ClientIP.String())

	w = serve("alice", acceptBrowser)
	assert.Equal(t, 403, w.Code)
	assert.Contains(t, w.Header().Get("Content-Type"), "text/html")

	w = serve("", acceptBrowser)
	assert.Equal(t, 303, w.Code, "anonymous: login first, no access-denied event")
	assert.Equal(t, "/login?next=%2Fadmin%2Fusers", w.Header().Get("Location"))
	w = serve("", acceptJSON)
	assert.Equal(t, 401, w.Code)
	assert.Len(t, sink.Events(), 2)

	// After RequireAuth, the identity in the context is reused.
	src.calls.Store(0)
	h := g.RequireAuth(g.RequireRole("seller")(whoami))
	r := httptest.NewRequest("GET", "/shop", nil)
	r.Header.Set("X-Test-User", "alice")
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	assert.Equal(t, 200, w.Code)
	assert.Equal(t, int32(1), src.calls.Load())

	assert.Panics(t, func() { g.RequireRole() })
	assert.Panics(t, func() { g.RequireRole("admin", "") })
}

func TestGuardCheck(t *testing.T) {
	g, _, _ := newGuard(t, auth.GuardConfig{})
	r := httptest.NewRequest("GET", "/", nil)
	_, err := g.Check(r)
	assert.ErrorIs(t, err, auth.ErrUnauthenticated)

	r.Header.Set("X-Test-User", "alice")
	id, err := g.Check(r)
	require.NoError(t, err)
	assert.Equal(t, "u1", id.UserID)
	_, err = g.Check(r, "admin")
	var fe *auth.ForbiddenError
	require.ErrorAs(t, err, &fe)
	assert.ErrorIs(t, err, auth.ErrForbidden)
	assert.Equal(t, []string{"admin"}, fe.Required)

	r.Header.Set("X-Test-User", "broken")
	_, err = g.Check(r)
	assert.ErrorContains(t, err, "auth: identity source: redis")
	assert.NotErrorIs(t, err, auth.ErrUnauthenticated)

	ctx := auth.WithIdentity(r.Context(), auth.Identity{UserID: "u7", Roles: []string{"admin"}})
	id, err = g.Check(r.WithContext(ctx), "admin")
	require.NoError(t, err)
	assert.Equal(t, "u7", id.UserID)
}

func TestGuardConfig(t *testing.T) {
	var denied error
	g, _, _ := newGuard(t, auth.GuardConfig{
		LoginPath: "/account/sign-in?lang=en",
		NextParam: "return_to",
		WantsHTML: func(r *http.Request) bool { return !strings.HasPrefix(r.URL.Path, "/api/") },
	})
	r := httptest.NewRequest("GET", "/orders", nil)
	w := httptest.NewRecorder()
	g.RequireAuth(whoami).ServeHTTP(w, r)
	assert.Equal(t, "/account/sign-in?lang=en&return_to=%2Forders", w.Header().Get("Location"))

	r = httptest.NewRequest("GET", "/api/orders", nil)
	r.Header.Set("Accept", acceptBrowser)
	w = httptest.NewRecorder()
	g.RequireAuth(whoami).ServeHTTP(w, r)
	assert.Equal(t, 401, w.Code)

	g, _, _ = newGuard(t, auth.GuardConfig{Deny: func(w http.ResponseWriter, r *http.Request, err error) {
		denied = err
		w.WriteHeader(http.StatusNotFound)
	}})
	w = httptest.NewRecorder()
	g.RequireAuth(whoami).ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	assert.Equal(t, 404, w.Code)
	assert.ErrorIs(t, denied, auth.ErrUnauthenticated)

	for _, bad := range []string{"https://evil.example/login", "//evil.example/login", "login"} {
		_, err := auth.NewGuard(&tokenSource{}, auth.GuardConfig{LoginPath: bad})
		assert.Error(t, err, bad)
	}
	_, err := auth.NewGuard(nil, auth.GuardConfig{})
	assert.Error(t, err)
}

func TestIsLocalPath(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"/", true},
		{"/orders", true},
		{"/orders?page=2#top", true},
		{"/search?q=a%20b&next=https://x", true},
		{"/%2F%2Fevil.example", true},
		{"", false},
		{"orders", false},
		{"//evil.example", false},
		{"///evil.example", false},
		{"/\\evil.example", false},
		{"\\\\evil.example", false},
		{"/ok\\..\\..", false},
		{"https://evil.example/", false},
		{"javascript:alert(1)", false},
		{"/\t/evil.example", false},
		{"/\n/evil.example", false},
		{"/\r\n/evil.example", false},
		{" /orders", false},
		{"/orders x", false},
		{"/\x00", false},
		{"/" + strings.Repeat("a", 2048), false},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, auth.IsLocalPath(tt.in), "%q", tt.in)
	}
}

// FuzzIsLocalPath: whatever IsLocalPath accepts stays on the site when a
// browser resolves it against the current page.
func FuzzIsLocalPath(f *testing.F) {
	for _, s := range []string{"/", "/a?b#c", "//evil", "/\\evil", "/\t/evil", "https://evil", "/%2f/evil", "/.//evil", "/@evil"} {
		f.Add(s)
	}
	base, _ := url.Parse("https://shop.example/account/page")
	f.Fuzz(func(t *testing.T, s string) {
		if !auth.IsLocalPath(s) {
			return
		}
		u, err := url.Parse(s)
		if err != nil {
			t.Fatalf("accepted unparseable %q", s)
		}
		got := base.ResolveReference(u)
		if got.Scheme != "https" || got.Host != "shop.example" || got.User != nil {
			t.Fatalf("%q leaves the site: %v", s, got)
		}
	})
}
