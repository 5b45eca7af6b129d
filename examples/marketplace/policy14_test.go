package main

import (
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/audit/detect"
	"github.com/deployedworks/rampart/ratelimit"
)

// headerNames returns the names of r's headers that differ per request
// only in value, sorted, and whether it sets a cookie.
func headerNames(r resp) ([]string, bool) {
	var names []string
	for k := range r.Header {
		names = append(names, k)
	}
	slices.Sort(names)
	return names, r.Header.Get("Set-Cookie") != ""
}

// TestAttack_EnumerationThroughHeadersAndLimits: /forgot and /signup
// answer a known and an unknown address with the same status, headers and
// cookies, and the per-address mail limit refuses both at the same count.
func TestAttack_EnumerationThroughHeadersAndLimits(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t, func(c *Config) { c.Limits.AccountPerMailbox = ratelimit.Limit{Events: 3, Per: time.Hour, Burst: 3} })
	ta.createUser("sara@example.com", "Sara")
	for _, path := range []string{"/forgot", "/signup"} {
		form := func(e string) url.Values {
			if path == "/signup" {
				return signupForm(e, "Someone", goodPassword, goodPassword)
			}
			return url.Values{"email": {e}}
		}
		var known, unknown []int
		for i := range 5 {
			k := ta.client().post(path, form("sara@example.com"))
			u := ta.client().post(path, form("nobody"+path[1:]+"@example.com"))
			known, unknown = append(known, k.Status), append(unknown, u.Status)
			kn, kc := headerNames(k)
			un, uc := headerNames(u)
			assert.Equal(t, kn, un, "%s request %d: header names", path, i)
			assert.Equal(t, kc, uc, "%s request %d: cookie", path, i)
			if i == 0 {
				samePage(t, k, resp{Status: u.Status, Body: strings.ReplaceAll(u.Body, "nobody"+path[1:]+"@example.com", "sara@example.com")})
			}
		}
		assert.Equal(t, known, unknown, "%s: the limits refuse both alike", path)
		assert.Contains(t, known, http.StatusTooManyRequests, "%s: the per-address mail limit acts", path)
	}
}

// TestPolicy_ResetNeverToAPendingAddress: an address a change is waiting
// to be confirmed for is not the account's: /forgot for it mails nothing,
// and the reset link goes to the confirmed address.
func TestPolicy_ResetNeverToAPendingAddress(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t)
	c, _ := ta.userClient("tina@example.com", "Tina")
	r := c.post("/account/email", url.Values{"email": {"tina.new@example.com"}, "current": {goodPassword}})
	require.Equal(t, http.StatusOK, r.Status, r.Body)
	ta.mailTo("tina.new@example.com", "email_change_confirm")
	require.Equal(t, http.StatusOK, ta.client().post("/forgot", url.Values{"email": {"tina.new@example.com"}}).Status)
	require.Equal(t, http.StatusOK, ta.client().post("/forgot", url.Values{"email": {"tina@example.com"}}).Status)
	ta.mailTo("tina@example.com", "password_reset")
	assert.Equal(t, 0, ta.countKind("tina.new@example.com", "password_reset"))
}

// TestPolicy_FirstSignInIsNotANewLocation: a new account's first sign-in
// mails no "new device or address" notice (it is learnt silently); a
// later one from another address does.
func TestPolicy_FirstSignInIsNotANewLocation(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t, func(c *Config) { c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")} })
	ta.signUp(ta.client(), "uma@example.com", "Uma")
	assert.Equal(t, 0, ta.countKind("uma@example.com", string(detect.ActionNewLocation)), "the first sign-in")

	req, err := http.NewRequest(http.MethodPost, ta.URL+"/login", strings.NewReader(url.Values{"email": {"uma@example.com"}, "password": {goodPassword}}.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-For", "203.0.113.77")
	require.Equal(t, http.StatusSeeOther, ta.client().do(req).Status)
	ta.mailTo("uma@example.com", string(detect.ActionNewLocation))
}

// TestPolicy_UnconfirmedAccountsSignIn: a new account may sign in before
// its address is confirmed (to ask for the link again); its account page
// says the address is not confirmed and offers a new link.
func TestPolicy_UnconfirmedAccountsSignIn(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t)
	c := ta.client()
	r := c.post("/signup", signupForm("vera@example.com", "Vera", goodPassword, goodPassword))
	require.Equal(t, http.StatusOK, r.Status, r.Body)
	ta.mailTo("vera@example.com", "email_verify")
	r = c.post("/login", url.Values{"email": {"vera@example.com"}, "password": {goodPassword}})
	require.Equal(t, http.StatusSeeOther, r.Status, r.Body)
	r = c.get("/account")
	require.Equal(t, http.StatusOK, r.Status)
	assert.NotContains(t, r.Body, "(confirmed)")
	assert.Contains(t, r.Body, `action="/account/verify"`)
}
