package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// routeCase is one row of the access matrix: a request for a route
// pattern, and the status each kind of client gets.
type routeCase struct {
	pattern string
	method  string
	path    string
	// body is a form body (Content-Type application/x-www-form-urlencoded)
	// unless json is set, then a JSON body sent as webauthn.js sends it.
	body string
	json bool
	ct   string // another Content-Type, when set
	// Status for a signed-out client, a signed-in user (no role, no
	// factor) and a signed-in administrator with a verified second factor.
	anon, user, admin int
}

// TestRoutes_AccessMatrix requests every route pattern the app registers
// as a signed-out client, a user and an administrator, and checks the
// status each gets. A route missing from the table fails the test, so a
// new route cannot go in without saying who may use it.
func TestRoutes_AccessMatrix(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t)
	// Record the patterns that serve each row, to check that the row's
	// request reaches its route and not another that shadows it. (Set
	// before the first request; the hook runs before the guards.)
	var mu sync.Mutex
	seen := map[string]bool{}
	record := ta.observe
	ta.observe = func(p string) {
		record(p)
		mu.Lock()
		defer mu.Unlock()
		seen[p] = true
	}
	seer := func(p string) bool {
		mu.Lock()
		defer mu.Unlock()
		return seen[p]
	}
	seller := ta.createUser("seller@example.com", "Seller")
	l := ta.addListing(seller.ID, "Matrix lamp", 100)
	target := ta.createUser("target@example.com", "Target")
	cases := routeCases(l, target)

	// Every registered route is in the table, and nothing else.
	var inTable []string
	for _, c := range cases {
		inTable = append(inTable, c.pattern)
	}
	for _, p := range ta.routes {
		assert.Contains(t, inTable, p, "route %q has no row in the access matrix: add one, with the status each client gets", p)
	}
	for _, p := range inTable {
		assert.Contains(t, ta.routes, p, "the access matrix has a row for %q, which is not a route", p)
	}

	var n atomic.Int64
	newClients := func() (*client, *client) {
		i := n.Add(1)
		// Two accounts new to this address sign in: stay under the login
		// throttle's per-address limit (10 a minute, 100 an hour).
		ta.Clock.Add(2 * time.Minute)
		user, _ := ta.userClient(fmt.Sprintf("user%d@example.com", i), "User")
		admin, _, _ := ta.adminClient(fmt.Sprintf("admin%d@example.com", i))
		return user, admin
	}
	user, admin := newClients()
	for _, c := range cases {
		t.Run(strings.ReplaceAll(c.pattern, "/", "_"), func(t *testing.T) {
			// Rows run in order and share the clients; a row that signs
			// them out gets new ones afterwards.
			if signsOut(c.pattern) {
				defer func() { user, admin = newClients() }()
			}
			for _, who := range []struct {
				name string
				c    *client
				want int
			}{{"signed out", ta.client(), c.anon}, {"user", user, c.user}, {"admin", admin, c.admin}} {
				r := c.do(t, who.c)
				assert.Equal(t, who.want, r.Status, "%s %s as %s: %s", c.method, c.path, who.name, r.Body)
				assert.Less(t, r.Status, 500, "never a server error")
				if who.want == http.StatusSeeOther && who.name == "signed out" && c.pattern != "POST /logout" {
					assert.True(t, strings.HasPrefix(r.Location, "/login"), "%s: %s", c.path, r.Location)
				}
				assertNoInternals(t, r, c.path)
			}
			assert.True(t, seer(c.pattern), "%s %s is not served by %q", c.method, c.path, c.pattern)
		})
	}
	// The listing of the rows that tried to change it is untouched.
	ta.requireUnchanged(l)
	ta.assertNoErrorsLogged()
}

// TestRoutes_GarbageInput sends malformed bodies to every POST route as a
// user and as an administrator: every answer is a 4xx or a redirect,
// never a server error, and nothing is logged as an error.
func TestRoutes_GarbageInput(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t)
	seller := ta.createUser("seller@example.com", "Seller")
	l := ta.addListing(seller.ID, "Garbage lamp", 100)
	target := ta.createUser("target@example.com", "Target")
	bodies := []struct{ name, ct, body string }{
		{"no content type", "", "title=x"},
		{"JSON", "application/json", `{"title":["x"],"price":{"$gt":0},"reason":null,"code":123456}`},
		{"form with JSON type", "application/json", "code=123456&reason=spam"},
		{"broken JSON", "application/json", `{"id":`},
		{"XML", "text/xml", `<?xml version="1.0"?><a>&lt;</a>`},
		{"bad media type", "application/x-www-form-urlencoded; =bad", "a=b"},
		{"bad escapes", "application/x-www-form-urlencoded", "title=%&price=%G0&reason=%"},
		{"invalid UTF-8", "application/x-www-form-urlencoded", "title=%C3%28&description=%FF&price=1&reason=%E2%82&code=%FF%FE&id=%FF&role=%FF&op=%FF&email=%FF&password=%FF"},
		{"NUL bytes", "application/x-www-form-urlencoded", "title=a%00b&description=%00&price=%00&reason=%00%00%00&code=%00&id=%00&role=%00&op=%00&next=%00"},
		{"repeated keys", "application/x-www-form-urlencoded", "price=1&price=abc&role=admin&role=moderator&op=grant&op=revoke&id=A&id=B"},
		{"huge field", "application/x-www-form-urlencoded", "reason=" + strings.Repeat("%41", 30_000)},
		{"oversized", "application/x-www-form-urlencoded", "reason=" + strings.Repeat("x", 200<<10)},
		{"binary", "application/octet-stream", "\x00\x01\x02\xff\xfe"},
	}
	var n atomic.Int64
	newClients := func() (*client, *client) {
		i := n.Add(1)
		// Two accounts new to this address sign in: stay under the login
		// throttle's per-address limit (10 a minute, 100 an hour).
		ta.Clock.Add(2 * time.Minute)
		user, _ := ta.userClient(fmt.Sprintf("user%d@example.com", i), "User")
		admin, _, _ := ta.adminClient(fmt.Sprintf("admin%d@example.com", i))
		return user, admin
	}
	user, admin := newClients()
	for _, c := range routeCases(l, target) {
		if c.method != http.MethodPost {
			continue
		}
		t.Run(strings.ReplaceAll(c.pattern, "/", "_"), func(t *testing.T) {
			for _, b := range bodies {
				if signsOut(c.pattern) {
					user, admin = newClients()
				}
				for _, cl := range []*client{user, admin} {
					r := cl.postRaw(c.path, b.ct, b.body)
					assert.Less(t, r.Status, 500, "%s with %s: %s", c.path, b.name, r.Body)
					assert.GreaterOrEqual(t, r.Status, 200, "%s with %s", c.path, b.name)
					assertNoInternals(t, r, c.path, b.name)
				}
			}
		})
	}
	// And junk query strings on every GET route.
	queries := []string{
		"next=%00&q=%FF&page=%00&cursor=%00&category=%00&action=%00&actor=%00&target=%00&outcome=%00&since=%00&until=%00&ip=%00&role=%00",
		"next=javascript:alert(1)&q=" + strings.Repeat("%E2%80%AE", 40) + "&page=-0&cursor=" + strings.Repeat("A", 5000),
		"next=//evil.example&page=1e3&since=2024-02-30&until=0000-00-00&ip=999.1.1.1&actor=a@b@c&cursor=eyJ9",
		"q=%25%5F%5C&page=+1&action=login.&outcome=SUCCESS&category=ACCESS&role=ADMIN",
	}
	for _, c := range routeCases(l, target) {
		if c.method != http.MethodGet {
			continue
		}
		for _, q := range queries {
			for _, cl := range []*client{ta.client(), user, admin} {
				r := cl.get(c.path + "?" + q)
				assert.Less(t, r.Status, 500, "%s?%s: %s", c.path, q, r.Body)
				assertNoInternals(t, r, c.path, q)
				if loc := r.Location; loc != "" {
					assert.True(t, strings.HasPrefix(loc, "/") && !strings.HasPrefix(loc, "//"), "%s?%s redirects off-site to %q", c.path, q, loc)
				}
			}
		}
	}
	ta.requireUnchanged(l)
	ta.assertNoErrorsLogged()
}

// TestRoutes_CrossSitePostsRefused: every POST route but the CSP report
// endpoint refuses a request a browser marks as cross-site, before it
// reaches the route, with the user's and the admin's sessions.
func TestRoutes_CrossSitePostsRefused(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t)
	seller := ta.createUser("seller@example.com", "Seller")
	l := ta.addListing(seller.ID, "Cross lamp", 100)
	target := ta.createUser("target@example.com", "Target")
	user, _ := ta.userClient("user@example.com", "User")
	admin, _, _ := ta.adminClient("admin@example.com")
	for _, c := range routeCases(l, target) {
		if c.method != http.MethodPost || c.pattern == "POST /csp-report" {
			continue
		}
		for _, cl := range []*client{user, admin} {
			req, err := http.NewRequest(http.MethodPost, ta.URL+c.path, strings.NewReader(c.body))
			require.NoError(t, err)
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Sec-Fetch-Site", "cross-site")
			req.Header.Set("Origin", "https://evil.example")
			r := cl.do(req)
			assertClearRefusal(t, r, http.StatusForbidden, "came from another site", c.path)
		}
	}
	assert.True(t, user.signedIn(), "not even logout worked cross-site")
	assert.True(t, admin.signedIn())
	ta.requireUnchanged(l)
}

// signsOut reports whether a request to pattern signs the client out.
func signsOut(pattern string) bool {
	return pattern == "POST /logout" || pattern == "POST /logout/everywhere"
}

// do sends the row's request with cl.
func (c routeCase) do(t *testing.T, cl *client) resp {
	t.Helper()
	switch {
	case c.method == http.MethodGet:
		return cl.get(c.path)
	case c.json:
		return cl.postJSON(c.path, c.body)
	case c.ct != "":
		return cl.postRaw(c.path, c.ct, c.body)
	}
	form, err := url.ParseQuery(c.body)
	require.NoError(t, err)
	return cl.post(c.path, form)
}

// routeCases is the access matrix: a request for every route pattern, with
// the status each client gets. l is a listing of another user; target is
// a user without roles.
func routeCases(l listing, target user) []routeCase {
	nobody := newID() // a well-formed ID of no user or listing

	const (
		ok       = http.StatusOK
		none     = http.StatusNoContent
		see      = http.StatusSeeOther // redirect: to the login page when signed out
		bad      = http.StatusBadRequest
		unauth   = http.StatusUnauthorized
		forbid   = http.StatusForbidden
		notFound = http.StatusNotFound
		conflict = http.StatusConflict
		unproc   = http.StatusUnprocessableEntity
	)
	cspReport := `{"csp-report":{"document-uri":"http://localhost/x","violated-directive":"script-src-elem","effective-directive":"script-src-elem","blocked-uri":"inline","original-policy":"x","disposition":"enforce","status-code":200}}`
	listingForm := listingValues("Mine now", "Taken over", "1").Encode()
	return []routeCase{
		// Outside sessions.
		{pattern: "GET /static/", method: "GET", path: "/static/style.css", anon: ok, user: ok, admin: ok},
		{pattern: "GET /healthz", method: "GET", path: "/healthz", anon: ok, user: ok, admin: ok},
		{pattern: "GET /livez", method: "GET", path: "/livez", anon: ok, user: ok, admin: ok},
		{pattern: "GET /.well-known/security.txt", method: "GET", path: "/.well-known/security.txt", anon: ok, user: ok, admin: ok},
		{pattern: "POST /csp-report", method: "POST", path: "/csp-report", body: cspReport, ct: "application/csp-report", anon: none, user: none, admin: none},
		// Public pages.
		{pattern: "GET /{$}", method: "GET", path: "/", anon: ok, user: ok, admin: ok},
		{pattern: "GET /security", method: "GET", path: "/security", anon: ok, user: ok, admin: ok},
		{pattern: "GET /listings", method: "GET", path: "/listings", anon: ok, user: ok, admin: ok},
		{pattern: "GET /listings/{id}", method: "GET", path: "/listings/" + l.ID, anon: ok, user: ok, admin: ok},
		// Signing up, in and out.
		{pattern: "GET /signup", method: "GET", path: "/signup", anon: ok, user: see, admin: see},
		{pattern: "POST /signup", method: "POST", path: "/signup", anon: unproc, user: unproc, admin: unproc},
		{pattern: "GET /login", method: "GET", path: "/login", anon: ok, user: see, admin: see},
		{pattern: "POST /login", method: "POST", path: "/login", anon: bad, user: bad, admin: bad},
		{pattern: "POST /login/passkey/begin", method: "POST", path: "/login/passkey/begin", json: true, anon: ok, user: ok, admin: ok},
		{pattern: "POST /login/passkey/finish", method: "POST", path: "/login/passkey/finish", json: true, body: "{}", anon: bad, user: bad, admin: bad},
		{pattern: "POST /logout", method: "POST", path: "/logout", anon: see, user: see, admin: see},
		{pattern: "GET /forgot", method: "GET", path: "/forgot", anon: ok, user: ok, admin: ok},
		{pattern: "POST /forgot", method: "POST", path: "/forgot", anon: unproc, user: unproc, admin: unproc},
		{pattern: "GET /reset", method: "GET", path: "/reset?token=forged", anon: bad, user: bad, admin: bad},
		{pattern: "GET /reset/continue", method: "GET", path: "/reset/continue", anon: ok, user: ok, admin: ok},
		{pattern: "POST /reset", method: "POST", path: "/reset", body: "token=forged&password=x&password2=x", anon: bad, user: bad, admin: bad},
		{pattern: "GET /verify", method: "GET", path: "/verify?token=forged", anon: ok, user: ok, admin: ok},
		{pattern: "POST /verify", method: "POST", path: "/verify", body: "token=forged", anon: bad, user: bad, admin: bad},
		{pattern: "GET /account/email/confirm", method: "GET", path: "/account/email/confirm?token=forged", anon: ok, user: ok, admin: ok},
		{pattern: "POST /account/email/confirm", method: "POST", path: "/account/email/confirm", body: "token=forged", anon: bad, user: bad, admin: bad},
		{pattern: "GET /account/email/undo", method: "GET", path: "/account/email/undo?token=forged", anon: ok, user: ok, admin: ok},
		{pattern: "POST /account/email/undo", method: "POST", path: "/account/email/undo", body: "token=forged", anon: bad, user: bad, admin: bad},
		{pattern: "GET /setup", method: "GET", path: "/setup", anon: notFound, user: notFound, admin: notFound},
		{pattern: "POST /setup", method: "POST", path: "/setup", anon: notFound, user: notFound, admin: notFound},
		// The MFA challenge.
		{pattern: "GET /mfa", method: "GET", path: "/mfa", anon: see, user: ok, admin: ok},
		{pattern: "POST /mfa/totp", method: "POST", path: "/mfa/totp", anon: see, user: bad, admin: bad},
		{pattern: "POST /mfa/recovery", method: "POST", path: "/mfa/recovery", anon: see, user: bad, admin: bad},
		{pattern: "POST /mfa/passkey/begin", method: "POST", path: "/mfa/passkey/begin", json: true, anon: unauth, user: notFound, admin: notFound},
		{pattern: "POST /mfa/passkey/finish", method: "POST", path: "/mfa/passkey/finish", json: true, body: "{}", anon: unauth, user: bad, admin: bad},
		// The account.
		{pattern: "GET /account", method: "GET", path: "/account", anon: see, user: ok, admin: ok},
		{pattern: "GET /account/password", method: "GET", path: "/account/password", anon: see, user: ok, admin: ok},
		{pattern: "POST /account/password", method: "POST", path: "/account/password", anon: see, user: bad, admin: bad},
		{pattern: "GET /account/outbox", method: "GET", path: "/account/outbox", anon: see, user: ok, admin: ok},
		{pattern: "GET /account/email", method: "GET", path: "/account/email", anon: see, user: ok, admin: ok},
		{pattern: "POST /account/email", method: "POST", path: "/account/email", body: "email=new%40example.com&current=wrong", anon: see, user: unauth, admin: unauth},
		{pattern: "POST /account/verify", method: "POST", path: "/account/verify", anon: see, user: see, admin: see},
		{pattern: "GET /account/sessions", method: "GET", path: "/account/sessions", anon: see, user: ok, admin: ok},
		{pattern: "POST /account/sessions/{handle}/revoke", method: "POST", path: "/account/sessions/no-such-handle/revoke", anon: see, user: notFound, admin: notFound},
		{pattern: "POST /account/sessions/revoke-others", method: "POST", path: "/account/sessions/revoke-others", anon: see, user: see, admin: see},
		{pattern: "POST /logout/everywhere", method: "POST", path: "/logout/everywhere", anon: see, user: see, admin: see},
		// Second factors, and the password re-entry that adding a first one asks for.
		{pattern: "GET /account/reauth", method: "GET", path: "/account/reauth?next=/account/mfa", anon: see, user: ok, admin: ok},
		{pattern: "POST /account/reauth", method: "POST", path: "/account/reauth", body: "current=wrong", anon: see, user: unauth, admin: unauth},
		{pattern: "GET /account/mfa", method: "GET", path: "/account/mfa", anon: see, user: ok, admin: ok},
		{pattern: "POST /account/mfa/totp", method: "POST", path: "/account/mfa/totp", anon: see, user: ok, admin: ok},
		{pattern: "POST /account/mfa/totp/confirm", method: "POST", path: "/account/mfa/totp/confirm", anon: see, user: bad, admin: bad},
		{pattern: "POST /account/mfa/totp/disable", method: "POST", path: "/account/mfa/totp/disable", anon: see, user: conflict, admin: conflict},
		{pattern: "POST /account/mfa/recovery", method: "POST", path: "/account/mfa/recovery", anon: see, user: conflict, admin: ok},
		{pattern: "POST /account/mfa/passkeys/begin", method: "POST", path: "/account/mfa/passkeys/begin", json: true, anon: unauth, user: ok, admin: ok},
		{pattern: "POST /account/mfa/passkeys/finish", method: "POST", path: "/account/mfa/passkeys/finish", json: true, body: "{}", anon: unauth, user: bad, admin: bad},
		{pattern: "POST /account/mfa/passkeys/delete", method: "POST", path: "/account/mfa/passkeys/delete", body: "id=AAAA", anon: see, user: notFound, admin: notFound},
		// Selling: the listing is someone else's.
		{pattern: "GET /my/listings", method: "GET", path: "/my/listings", anon: see, user: ok, admin: ok},
		{pattern: "GET /listings/new", method: "GET", path: "/listings/new", anon: see, user: ok, admin: ok},
		{pattern: "POST /listings", method: "POST", path: "/listings", anon: see, user: unproc, admin: unproc},
		{pattern: "GET /listings/{id}/edit", method: "GET", path: "/listings/" + l.ID + "/edit", anon: see, user: forbid, admin: forbid},
		{pattern: "POST /listings/{id}/edit", method: "POST", path: "/listings/" + l.ID + "/edit", body: listingForm, anon: see, user: forbid, admin: forbid},
		{pattern: "POST /listings/{id}/delete", method: "POST", path: "/listings/" + l.ID + "/delete", anon: see, user: forbid, admin: forbid},
		{pattern: "POST /listings/{id}/report", method: "POST", path: "/listings/" + l.ID + "/report", anon: see, user: unproc, admin: unproc},
		// Moderation.
		{pattern: "GET /moderation", method: "GET", path: "/moderation", anon: see, user: forbid, admin: ok},
		{pattern: "POST /moderation/listings/{id}/{action}", method: "POST", path: "/moderation/listings/" + l.ID + "/restore", body: "reason=matrix+test", anon: see, user: forbid, admin: conflict},
		// Administration.
		{pattern: "GET /admin", method: "GET", path: "/admin", anon: see, user: forbid, admin: ok},
		{pattern: "GET /admin/users", method: "GET", path: "/admin/users", anon: see, user: forbid, admin: ok},
		{pattern: "GET /admin/users/{id}", method: "GET", path: "/admin/users/" + target.ID, anon: see, user: forbid, admin: ok},
		{pattern: "POST /admin/users/{id}/roles", method: "POST", path: "/admin/users/" + target.ID + "/roles", anon: see, user: forbid, admin: unproc},
		{pattern: "POST /admin/users/{id}/disable", method: "POST", path: "/admin/users/" + nobody + "/disable", anon: see, user: forbid, admin: notFound},
		{pattern: "POST /admin/users/{id}/enable", method: "POST", path: "/admin/users/" + nobody + "/enable", anon: see, user: forbid, admin: notFound},
		{pattern: "POST /admin/users/{id}/sessions/revoke", method: "POST", path: "/admin/users/" + nobody + "/sessions/revoke", anon: see, user: forbid, admin: notFound},
		{pattern: "POST /admin/users/{id}/reset", method: "POST", path: "/admin/users/" + nobody + "/reset", anon: see, user: forbid, admin: notFound},
		{pattern: "GET /admin/audit", method: "GET", path: "/admin/audit", anon: see, user: forbid, admin: ok},
		{pattern: "POST /admin/audit/verify", method: "POST", path: "/admin/audit/verify", anon: see, user: forbid, admin: ok},
		// Anything else.
		{pattern: "/", method: "GET", path: "/no/such/page", anon: notFound, user: notFound, admin: notFound},
	}
}

// TestRoutes_MFAReachabilityIsPerRoute: which routes a user reaches
// before MFA was a list of paths in the policy's configuration, so a new
// route under /account/mfa/ silently became reachable by an administrator
// who had not enrolled a factor (and, by the same path, by whoever held a
// password). Now each route's registration says so: a new route under
// /account/mfa/ registered like any signed-in route is refused before MFA,
// and only one registered with AllowEnrolment is reachable.
func TestRoutes_MFAReachabilityIsPerRoute(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t)
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("reached")) })
	h := ta.buildRoutes(func(mux *http.ServeMux) {
		mux.Handle("GET /account/mfa/export", ta.signedInRoute(ok))
		mux.Handle("GET /account/mfa/devices", ta.enrolmentRoute(ok))
		mux.Handle("GET /mfa/help", ta.signedInRoute(ok))
		mux.Handle("GET /mfa/other-factor", ta.challengeRoute(ok))
	})
	// on sends a client's GETs, with its cookies, to the app built with
	// the extra routes.
	type getter struct{ get func(path string) resp }
	on := func(c *client) getter {
		return getter{func(path string) resp {
			req := httptest.NewRequest(http.MethodGet, ta.URL+path, nil)
			req.Header.Set("Accept", "text/html,application/xhtml+xml")
			for _, ck := range c.hc.Jar.Cookies(req.URL) {
				req.AddCookie(ck)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			return resp{Status: rec.Code, Body: rec.Body.String(), Header: rec.Header(), Location: rec.Header().Get("Location")}
		}}
	}

	// An administrator with no factor: only the enrolment routes.
	newAdmin, _ := ta.userClient("new-admin@example.com", "New Admin", roleAdmin)
	r := on(newAdmin).get("/account/mfa/export")
	assert.Equal(t, http.StatusSeeOther, r.Status, r.Body)
	assert.True(t, strings.HasPrefix(r.Location, "/account/mfa?"), r.Location)
	assert.NotContains(t, r.Body, "reached")
	r = on(newAdmin).get("/account/mfa/devices")
	assert.Equal(t, http.StatusOK, r.Status)
	assert.Equal(t, "reached", r.Body)
	r = on(newAdmin).get("/mfa/other-factor")
	assert.Equal(t, http.StatusSeeOther, r.Status, "the challenge is not for a user who must enrol")

	// An administrator with a factor, not verified in this session: only
	// the challenge routes.
	admin, _, _ := ta.adminClient("admin@example.com")
	again, _ := ta.login("admin@example.com")
	_ = admin
	for _, path := range []string{"/account/mfa/export", "/account/mfa/devices", "/mfa/help"} {
		r = on(again).get(path)
		assert.Equal(t, http.StatusSeeOther, r.Status, path)
		assert.True(t, strings.HasPrefix(r.Location, "/mfa?"), "%s: %s", path, r.Location)
	}
	r = on(again).get("/mfa/other-factor")
	assert.Equal(t, http.StatusOK, r.Status)
	assert.Equal(t, "reached", r.Body)
}
