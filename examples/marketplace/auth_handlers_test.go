package main

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/ratelimit"
)

func signupForm(email, name, pw, pw2 string) url.Values {
	return url.Values{"email": {email}, "name": {name}, "password": {pw}, "password2": {pw2}}
}

func TestSignup(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t)
	ta.createUser("taken@example.com", "Taken")
	c := ta.client()

	r := c.get("/signup")
	require.Equal(t, http.StatusOK, r.Status)
	for _, id := range []string{`id="email"`, `id="name"`, `id="password"`, `id="password2"`, `id="signup"`} {
		assert.Contains(t, r.Body, id)
	}

	tests := []struct {
		name string
		form url.Values
		want int
		msg  string
	}{
		{"missing fields", url.Values{}, http.StatusUnprocessableEntity, "Fill in your e-mail address"},
		{"missing password", signupForm("a@example.com", "A", "", ""), http.StatusUnprocessableEntity, "Fill in"},
		{"bad e-mail", signupForm("not-an-email", "A", goodPassword, goodPassword), http.StatusUnprocessableEntity, "valid e-mail"},
		{"e-mail with display name", signupForm("Eve <eve@example.com>", "A", goodPassword, goodPassword), http.StatusUnprocessableEntity, "valid e-mail"},
		{"name with control character", signupForm("a@example.com", "A\x00B", goodPassword, goodPassword), http.StatusUnprocessableEntity, "1 to 60 characters"},
		{"name too long", signupForm("a@example.com", strings.Repeat("n", 61), goodPassword, goodPassword), http.StatusUnprocessableEntity, "1 to 60 characters"},
		{"passwords differ", signupForm("a@example.com", "A", goodPassword, goodPassword+"x"), http.StatusUnprocessableEntity, "do not match"},
		{"password too short", signupForm("a@example.com", "A", "short pass", "short pass"), http.StatusUnprocessableEntity, "at least 15"},
		{"common password", signupForm("a@example.com", "A", "123456789012345", "123456789012345"), http.StatusUnprocessableEntity, "password"},
		{"password built on the e-mail", signupForm("lanternfish@example.com", "A", "lanternfish@example.com1", "lanternfish@example.com1"), http.StatusUnprocessableEntity, "password"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := ta.count(`SELECT COUNT(*) FROM users`)
			r := c.post("/signup", tt.form)
			assert.Equal(t, tt.want, r.Status, r.Body)
			assert.Contains(t, r.Body, tt.msg)
			assert.Contains(t, r.Body, `id="error"`)
			assert.NotContains(t, r.Body, goodPassword, "passwords are never echoed")
			assert.Equal(t, before, ta.count(`SELECT COUNT(*) FROM users`), "nothing was created")
		})
	}

	// Wrong media type and oversized bodies are refused before parsing.
	req, _ := http.NewRequest(http.MethodPost, ta.URL+"/signup", strings.NewReader(`{"email":"x"}`))
	req.Header.Set("Content-Type", "application/json")
	r = c.do(req)
	assert.Equal(t, http.StatusUnsupportedMediaType, r.Status)
	assert.Contains(t, r.Body, "x-www-form-urlencoded")
	r = c.post("/signup", url.Values{"name": {strings.Repeat("x", maxFormBytes)}})
	assert.Equal(t, http.StatusRequestEntityTooLarge, r.Status)
	assert.Contains(t, r.Body, "too large")
	r = c.post("/signup", url.Values{"email": {"%zz"}})
	assert.Equal(t, http.StatusUnprocessableEntity, r.Status)

	// A new address and a taken one get the same page, and nobody is
	// signed in; the new user gets a verification link, the owner of the
	// taken address a notice.
	r = c.post("/signup", signupForm("New.Seller@Example.com", "New Seller", goodPassword, goodPassword))
	require.Equal(t, http.StatusOK, r.Status, r.Body)
	assert.Contains(t, r.Body, `id="check-inbox"`)
	taken := ta.client().post("/signup", signupForm("New.Taken@Example.com", "New Seller", goodPassword, goodPassword))
	existing := ta.client().post("/signup", signupForm("TAKEN@example.com", "New Seller", goodPassword, goodPassword))
	samePage(t, taken, resp{Status: existing.Status, Body: strings.ReplaceAll(existing.Body, "taken@example.com", "new.taken@example.com")})
	assert.Equal(t, http.StatusSeeOther, c.get("/account").Status, "nobody is signed in")
	verify := ta.mailTo("new.seller@example.com", "email_verify")
	ta.mailTo("taken@example.com", "signup_existing")
	assert.Equal(t, 1, ta.count(`SELECT COUNT(*) FROM users WHERE email = ?`, "taken@example.com"), "nothing was created for a taken address")

	assert.Equal(t, 1, ta.count(`SELECT COUNT(*) FROM users WHERE email = ?`, "new.seller@example.com"), "e-mail addresses are stored in lower case")
	var hash string
	require.NoError(t, ta.db.queryRow(context.Background(), `SELECT password_hash FROM users WHERE email = ?`, "new.seller@example.com").Scan(&hash))
	assert.True(t, strings.HasPrefix(hash, "$argon2id$"), hash)
	assert.Contains(t, hash, "keyid=p-", "hashes are peppered")

	// The user logs in, unconfirmed, then confirms from the link.
	r = c.post("/login", url.Values{"email": {"new.seller@example.com"}, "password": {goodPassword}})
	require.Equal(t, http.StatusSeeOther, r.Status, r.Body)
	r = c.get("/account")
	assert.Contains(t, r.Body, "(not confirmed)")
	link := ta.linkIn(verify)
	r = c.get(link)
	require.Contains(t, r.Body, `id="link-form"`)
	tok := must(url.ParseQuery(must(url.Parse(link)).RawQuery)).Get("token")
	r = c.post("/verify", url.Values{"token": {tok}})
	require.Equal(t, http.StatusSeeOther, r.Status, r.Body)
	assert.Equal(t, "/account", r.Location)
	assert.Contains(t, c.get("/account").Body, "(confirmed)")
	assert.Equal(t, http.StatusBadRequest, c.post("/verify", url.Values{"token": {tok}}).Status, "a link works once")

	// Signed in, the form sends the user to their account.
	assert.Equal(t, "/account", c.get("/signup").Location)
}

func TestSignup_RateLimited(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t, func(c *Config) { c.Limits.Signup = ratelimit.Limit{Events: 2, Per: time.Hour} })
	c := ta.client()
	for i := range 2 {
		r := c.post("/signup", signupForm("bad", "x", "", ""))
		require.Equal(t, http.StatusUnprocessableEntity, r.Status, i)
	}
	r := c.post("/signup", signupForm("bad", "x", "", ""))
	assert.Equal(t, http.StatusTooManyRequests, r.Status)
	assert.Contains(t, r.Body, "Too many requests")
	assert.NotEmpty(t, r.Header.Get("Retry-After"))
}

func TestLogin(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t)
	ta.createUser("seller@example.com", "Seller")
	disabled := ta.createUser("gone@example.com", "Gone")
	_, err := ta.db.setDisabled(context.Background(), disabled.ID, true)
	require.NoError(t, err)

	c := ta.client()
	r := c.get("/login")
	require.Equal(t, http.StatusOK, r.Status)
	for _, id := range []string{`id="email"`, `id="password"`, `id="login"`, `id="passkey-login"`} {
		assert.Contains(t, r.Body, id)
	}

	// Every failure looks the same: no account enumeration.
	tests := []struct {
		name        string
		email, pass string
		want        int
		msg         string
	}{
		{"missing fields", "", "", http.StatusBadRequest, "Enter your e-mail address and your password"},
		{"missing password", "seller@example.com", "", http.StatusBadRequest, "Enter your e-mail address"},
		{"wrong password", "seller@example.com", "wrong password entirely", http.StatusUnauthorized, "Wrong e-mail address or password."},
		{"unknown account", "nobody@example.com", goodPassword, http.StatusUnauthorized, "Wrong e-mail address or password."},
		{"disabled account", "gone@example.com", goodPassword, http.StatusUnauthorized, "Wrong e-mail address or password."},
		{"password over the limit", "seller@example.com", strings.Repeat("p", 2000), http.StatusUnauthorized, "Wrong e-mail address or password."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := c.post("/login", url.Values{"email": {tt.email}, "password": {tt.pass}})
			assert.Equal(t, tt.want, r.Status)
			assert.Contains(t, r.Body, tt.msg)
			if tt.pass != "" {
				assert.NotContains(t, r.Body, tt.pass, "the password is not echoed")
			}
			assert.Equal(t, http.StatusSeeOther, c.get("/account").Status, "still signed out")
		})
	}

	// Success, with a safe next; an off-site next is ignored.
	for _, tt := range []struct{ next, want string }{
		{"/listings?q=lamp", "/listings?q=lamp"},
		{"//evil.example/", "/account"},
		{"https://evil.example/", "/account"},
		{"/\\evil.example", "/account"},
	} {
		b := ta.client()
		r := b.post("/login", url.Values{"email": {"Seller@Example.com"}, "password": {goodPassword}, "next": {tt.next}})
		require.Equal(t, http.StatusSeeOther, r.Status, r.Body)
		assert.Equal(t, tt.want, r.Location, tt.next)
	}

	// The session is renewed at login: a cookie planted before is dead.
	b := ta.client()
	b.get("/login")
	u, _ := url.Parse(ta.URL)
	before := b.hc.Jar.Cookies(u)
	r = b.post("/login", url.Values{"email": {"seller@example.com"}, "password": {goodPassword}})
	require.Equal(t, http.StatusSeeOther, r.Status)
	after := b.hc.Jar.Cookies(u)
	require.NotEmpty(t, after)
	for _, old := range before {
		for _, nw := range after {
			if old.Name == nw.Name {
				assert.NotEqual(t, old.Value, nw.Value, "token renewed at login")
			}
		}
	}
	r = b.get("/account")
	require.Equal(t, http.StatusOK, r.Status)
	assert.Contains(t, r.Body, `id="account-email">seller@example.com<`)
	// The cookie is HttpOnly and SameSite=Lax (development: not Secure on http://localhost).
	setCookie := strings.Join(r.Header.Values("Set-Cookie"), "\n") + strings.Join(ta.client().post("/login", url.Values{"email": {"seller@example.com"}, "password": {goodPassword}}).Header.Values("Set-Cookie"), "\n")
	assert.Contains(t, setCookie, "HttpOnly")
	assert.Contains(t, setCookie, "SameSite=Lax")

	// Signed in, the login form redirects.
	assert.Equal(t, "/account", b.get("/login").Location)
}

func TestLogin_Throttled(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t)
	ta.createUser("target@example.com", "Target")
	c := ta.client()
	var r resp
	for range 6 { // the pair ladder allows 5 at once
		r = c.post("/login", url.Values{"email": {"target@example.com"}, "password": {"guess guess guess guess"}})
	}
	assert.Equal(t, http.StatusTooManyRequests, r.Status)
	assert.Contains(t, r.Body, "Too many sign-in attempts")
	assert.NotEmpty(t, r.Header.Get("Retry-After"))
	// Even the right password is refused until the wait is over.
	r = c.post("/login", url.Values{"email": {"target@example.com"}, "password": {goodPassword}})
	assert.Equal(t, http.StatusTooManyRequests, r.Status)
	// Throttling is audited.
	assert.Positive(t, ta.waitAudit("ratelimit.login.throttled"))
}

func TestLogout(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t)
	c, _ := ta.userClient("seller@example.com", "Seller")
	require.Equal(t, http.StatusOK, c.get("/account").Status)
	r := c.post("/logout", nil)
	require.Equal(t, http.StatusSeeOther, r.Status)
	assert.Equal(t, "/", r.Location)
	assert.Contains(t, c.follow(r).Body, "You are logged out.")
	r = c.get("/account")
	assert.Equal(t, http.StatusSeeOther, r.Status)
	assert.True(t, strings.HasPrefix(r.Location, "/login"), r.Location)
	// Logging out while signed out is harmless.
	assert.Equal(t, http.StatusSeeOther, ta.client().post("/logout", nil).Status)
}

func TestSetupToken(t *testing.T) {
	t.Parallel()
	console := &syncBuffer{}
	ta := newTestApp(t, func(c *Config) {
		c.DisableSetupToken = false
		c.Console = console
		c.Limits.Setup = ratelimit.Limit{Events: 100, Per: time.Hour}
	})
	m := regexp.MustCompile(`setup token:\s+([A-Z2-7]+)`).FindStringSubmatch(console.String())
	require.Len(t, m, 2, console.String())
	token := m[1]
	c := ta.client()
	r := c.get("/setup")
	require.Equal(t, http.StatusOK, r.Status)
	assert.Contains(t, r.Body, `id="token"`)

	form := func(tok, email, pw string) url.Values {
		return url.Values{"token": {tok}, "email": {email}, "name": {"Root"}, "password": {pw}, "password2": {pw}}
	}
	tests := []struct {
		name string
		form url.Values
		want int
		msg  string
	}{
		{"wrong token", form("AAAAAAAAAAAAAAAAAAAAAAAAAA", "root@example.com", goodPassword), http.StatusForbidden, "setup token is not right"},
		{"missing token", form("", "root@example.com", goodPassword), http.StatusForbidden, "setup token is not right"},
		{"bad e-mail", form(token, "root", goodPassword), http.StatusUnprocessableEntity, "valid e-mail"},
		{"weak password", form(token, "root@example.com", "password"), http.StatusUnprocessableEntity, "at least 15"},
	}
	for _, tt := range tests {
		r := c.post("/setup", tt.form)
		assert.Equal(t, tt.want, r.Status, tt.name)
		assert.Contains(t, r.Body, tt.msg, tt.name)
		assert.Equal(t, 0, ta.count(`SELECT COUNT(*) FROM users`), tt.name)
	}

	r = c.post("/setup", form(token, "root@example.com", goodPassword))
	require.Equal(t, http.StatusSeeOther, r.Status, r.Body)
	assert.Equal(t, "/account/mfa", r.Location, "administrators set up a second factor first")
	assert.Equal(t, 1, ta.count(`SELECT COUNT(*) FROM user_roles WHERE role = 'admin'`))

	// The token works once.
	assert.Equal(t, http.StatusNotFound, ta.client().get("/setup").Status)
	r = ta.client().post("/setup", form(token, "second@example.com", goodPassword))
	assert.Equal(t, http.StatusNotFound, r.Status)
	assert.Contains(t, r.Body, "Setup is complete")
	assert.Equal(t, 1, ta.count(`SELECT COUNT(*) FROM users`))

	// Without a token (an admin exists, or none was minted) /setup is gone.
	ta2 := newTestApp(t)
	assert.Equal(t, http.StatusNotFound, ta2.client().get("/setup").Status)
}

// waitAudit waits until the audit table holds an event with action (the
// queues write in the background) and returns how many it holds.
func (ta *testApp) waitAudit(action string) int {
	ta.t.Helper()
	var n int
	require.Eventually(ta.t, func() bool {
		n = ta.count(`SELECT COUNT(*) FROM audit_events WHERE action = ?`, action)
		return n > 0
	}, 10*time.Second, 5*time.Millisecond, "no audit event %q", action)
	return n
}
