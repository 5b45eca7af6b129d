package auth_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/auth"
	"github.com/deployedworks/rampart/identity"
)

// testSessions stands in for the session layer: it puts the principal
// named by the X-Test-User header in the request context: "alice",
// "admin", "empty" (a principal without a user ID, which is anonymous);
// anything else or nothing is anonymous. The clientip middleware runs
// first, as in an app.
func testSessions(next http.Handler) http.Handler {
	return peers.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p identity.Principal
		switch r.Header.Get("X-Test-User") {
		case "alice":
			p = identity.Principal{UserID: "u1", Roles: []string{"seller"}, SessionRef: "sess-1"}
		case "admin":
			p = identity.Principal{UserID: "u5", Roles: []string{"admin", "seller"}, MFATime: time.Unix(1, 0)}
		case "empty":
			p = identity.Principal{Roles: []string{"admin"}}
		default:
			next.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r.WithContext(identity.NewContext(r.Context(), p)))
	}))
}

func newGuard(t *testing.T, cfg auth.GuardConfig) (*auth.Guard, *audit.MemorySink) {
	t.Helper()
	sink := &audit.MemorySink{}
	cfg.Audit = audit.MustNew(sink, audit.Config{})
	g, err := auth.NewGuard(cfg)
	require.NoError(t, err)
	return g, sink
}

// whoami echoes the principal in the request context.
var whoami = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	p, ok := identity.FromContext(r.Context())
	if !ok {
		http.Error(w, "no principal in context", http.StatusTeapot)
		return
	}
	fmt.Fprint(w, "hello "+p.UserID)
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
		{"principal without a user ID is anonymous, whatever its roles", "GET", "/orders", "empty", acceptJSON, 401, "", `"unauthenticated"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, _ := newGuard(t, auth.GuardConfig{})
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
			testSessions(g.RequireAuth(whoami)).ServeHTTP(w, r)
			assert.Equal(t, tt.wantStatus, w.Code)
			assert.Equal(t, tt.wantLocation, w.Header().Get("Location"))
			assert.Contains(t, w.Body.String(), tt.wantBody)
			if tt.wantStatus != 200 {
				assert.Equal(t, "no-store", w.Header().Get("Cache-Control"))
				assert.Equal(t, "Accept", w.Header().Get("Vary"))
			}
			if tt.wantStatus == 401 {
				assert.Equal(t, "application/json", w.Header().Get("Content-Type"))
				assert.True(t, json.Valid(w.Body.Bytes()))
			}
		})
	}
}

// TestDefaultDenyOtherErrors: an error that is neither unauthenticated
// nor forbidden (from an app calling DefaultDeny itself) is a 500 without
// its text.
func TestDefaultDenyOtherErrors(t *testing.T) {
	g, _ := newGuard(t, auth.GuardConfig{})
	for _, accept := range []string{acceptJSON, acceptBrowser} {
		r := httptest.NewRequest("GET", "/orders", nil)
		r.Header.Set("Accept", accept)
		w := httptest.NewRecorder()
		g.DefaultDeny(w, r, errors.New("redis: dial tcp 10.0.0.7:6379: connection refused"))
		assert.Equal(t, 500, w.Code)
		assert.Contains(t, w.Body.String(), "Something went wrong")
		assert.NotContains(t, w.Body.String(), "10.0.0.7")
	}
}

func TestRequireRole(t *testing.T) {
	g, sink := newGuard(t, auth.GuardConfig{})
	mux := http.NewServeMux()
	mux.Handle("GET /admin/users", g.RequireRole("admin", "support")(whoami))

	serve := func(user, accept string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", "/admin/users", nil)
		r.RemoteAddr = "203.0.113.9:4444"
		r.Header.Set("X-Test-User", user)
		r.Header.Set("Accept", accept)
		w := httptest.NewRecorder()
		testSessions(mux).ServeHTTP(w, r)
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
	assert.Equal(t, auth.ActionAccessDenied, ev[0].Action)
	assert.Equal(t, audit.OutcomeDenied, ev[0].Outcome)
	assert.Equal(t, identity.Principal{UserID: "u1", Roles: []string{"seller"}}, ev[0].Actor)
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

	// Stacked: both read the one principal.
	h := testSessions(g.RequireAuth(g.RequireRole("seller")(whoami)))
	r := httptest.NewRequest("GET", "/shop", nil)
	r.Header.Set("X-Test-User", "alice")
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	assert.Equal(t, 200, w.Code)
	assert.Equal(t, "hello u1", w.Body.String())

	assert.Panics(t, func() { g.RequireRole() })
	assert.Panics(t, func() { g.RequireRole("admin", "") })
}

func TestGuardCheck(t *testing.T) {
	g, _ := newGuard(t, auth.GuardConfig{})
	r := httptest.NewRequest("GET", "/", nil)
	_, err := g.Check(r)
	assert.ErrorIs(t, err, auth.ErrUnauthenticated)

	r = r.WithContext(identity.NewContext(r.Context(), identity.Principal{UserID: "u1", Roles: []string{"seller"}}))
	id, err := g.Check(r)
	require.NoError(t, err)
	assert.Equal(t, "u1", id.UserID)
	_, err = g.Check(r, "admin")
	var fe *auth.ForbiddenError
	require.ErrorAs(t, err, &fe)
	assert.ErrorIs(t, err, auth.ErrForbidden)
	assert.Equal(t, []string{"admin"}, fe.Required)

	ctx := identity.NewContext(r.Context(), identity.Principal{UserID: "u7", Roles: []string{"admin"}})
	id, err = g.Check(r.WithContext(ctx), "admin")
	require.NoError(t, err)
	assert.Equal(t, "u7", id.UserID)
}

func TestGuardConfig(t *testing.T) {
	var denied error
	g, _ := newGuard(t, auth.GuardConfig{
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

	g, _ = newGuard(t, auth.GuardConfig{OnDeny: func(w http.ResponseWriter, r *http.Request, err error) {
		denied = err
		w.WriteHeader(http.StatusNotFound)
	}})
	w = httptest.NewRecorder()
	g.RequireAuth(whoami).ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	assert.Equal(t, 404, w.Code)
	assert.ErrorIs(t, denied, auth.ErrUnauthenticated)

	for _, bad := range []string{"https://evil.example/login", "//evil.example/login", "login"} {
		_, err := auth.NewGuard(auth.GuardConfig{LoginPath: bad})
		assert.Error(t, err, bad)
	}
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
