package main

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAccount_SignedOutRedirectsToLogin(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t)
	c := ta.client()
	for _, path := range []string{"/account", "/account/password", "/account/sessions", "/account/mfa", "/my/listings", "/listings/new", "/mfa", "/moderation", "/admin"} {
		r := c.get(path)
		assert.Equal(t, http.StatusSeeOther, r.Status, path)
		assert.Equal(t, "/login?next="+url.QueryEscape(path), r.Location, path)
	}
	// A script (no text/html in Accept) gets 401 JSON instead.
	req, _ := http.NewRequest(http.MethodGet, ta.URL+"/account", nil)
	req.Header.Set("Accept", "application/json")
	r := c.do(req)
	assert.Equal(t, http.StatusUnauthorized, r.Status)
	assert.Contains(t, r.Body, "unauthenticated")
	// Signed-out POSTs to signed-in routes change nothing and go to login.
	r = c.post("/account/password", url.Values{"current": {goodPassword}, "password": {"x"}, "password2": {"x"}})
	assert.Equal(t, http.StatusSeeOther, r.Status)
	assert.True(t, strings.HasPrefix(r.Location, "/login"))
}

func TestAccount_Page(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t)
	c, u := ta.userClient("seller@example.com", "Sam Seller")
	r := c.get("/account")
	require.Equal(t, http.StatusOK, r.Status)
	assert.Contains(t, r.Body, `id="account-name">Sam Seller<`)
	assert.Contains(t, r.Body, `id="account-email">seller@example.com<`)
	assert.Contains(t, r.Body, `id="account-factors">none<`)
	assert.Contains(t, r.Body, `<dt>Listings</dt><dd>0</dd>`)
	ta.addListing(u.ID, "Lamp", 1200)
	hidden := ta.addListing(u.ID, "Chair", 3400)
	_, err := ta.db.moderate(t.Context(), hidden.ID, "mod", modHide, "counterfeit")
	require.NoError(t, err)
	ta.addListing(ta.createUser("other@example.com", "Other").ID, "Table", 5600)
	assert.Contains(t, c.get("/account").Body, `<dt>Listings</dt><dd>2</dd>`, "the user's listings, hidden ones included")
	for _, id := range []string{"manage-mfa", "change-password", "manage-sessions", "logout-everywhere"} {
		assert.Contains(t, r.Body, `id="`+id+`"`)
	}
	assert.NotContains(t, r.Body, u.Hash)
	// Audit names the actor of requests made in the session.
	c.post("/logout", nil)
	assert.Positive(t, ta.waitAudit("session.logout"))
	assert.Positive(t, ta.count(`SELECT COUNT(*) FROM audit_events WHERE actor_id = ?`, u.ID))
}

func TestChangePassword(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t)
	c, u := ta.userClient("seller@example.com", "Seller")
	other, _ := ta.login("seller@example.com") // a second session, say a stolen one

	require.Equal(t, http.StatusOK, c.get("/account/password").Status)
	const newPassword = "saffron tunnel meadow circuit 417"
	tests := []struct {
		name string
		form url.Values
		want int
		msg  string
	}{
		{"missing fields", url.Values{}, http.StatusBadRequest, "Enter your current password"},
		{"mismatch", url.Values{"current": {goodPassword}, "password": {newPassword}, "password2": {newPassword + "!"}}, http.StatusUnprocessableEntity, "do not match"},
		{"wrong current", url.Values{"current": {"not my password at all"}, "password": {newPassword}, "password2": {newPassword}}, http.StatusUnprocessableEntity, "current password is not right"},
		{"weak new", url.Values{"current": {goodPassword}, "password": {"password"}, "password2": {"password"}}, http.StatusUnprocessableEntity, "at least 15"},
		{"unchanged", url.Values{"current": {goodPassword}, "password": {goodPassword}, "password2": {goodPassword}}, http.StatusUnprocessableEntity, "password"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := c.post("/account/password", tt.form)
			assert.Equal(t, tt.want, r.Status, r.Body)
			assert.Contains(t, r.Body, tt.msg)
			got, err := ta.db.userByID(t.Context(), u.ID)
			require.NoError(t, err)
			assert.Equal(t, u.Hash, got.Hash, "the password did not change")
		})
	}

	r := c.post("/account/password", url.Values{"current": {goodPassword}, "password": {newPassword}, "password2": {newPassword}})
	require.Equal(t, http.StatusSeeOther, r.Status, r.Body)
	assert.Contains(t, c.follow(r).Body, "other sessions are signed out")
	// The other session is gone; this one lives on.
	assert.Equal(t, http.StatusSeeOther, other.get("/account").Status)
	assert.Equal(t, http.StatusOK, c.get("/account").Status)
	// The old password no longer works, the new one does.
	b := ta.client()
	assert.Equal(t, http.StatusUnauthorized, b.post("/login", url.Values{"email": {"seller@example.com"}, "password": {goodPassword}}).Status)
	assert.Equal(t, http.StatusSeeOther, b.post("/login", url.Values{"email": {"seller@example.com"}, "password": {newPassword}}).Status)
}

var handleRE = regexp.MustCompile(`/account/sessions/([A-Za-z0-9_-]+)/revoke`)

func TestSessions(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t)
	c, _ := ta.userClient("seller@example.com", "Seller")
	other, _ := ta.login("seller@example.com")
	third, _ := ta.login("seller@example.com")
	mallory, _ := ta.userClient("mallory@example.com", "Mallory")

	r := c.get("/account/sessions")
	require.Equal(t, http.StatusOK, r.Status)
	assert.Contains(t, r.Body, "(this browser)")
	handles := handleRE.FindAllStringSubmatch(r.Body, -1)
	require.Len(t, handles, 2, "two other sessions, each with a sign-out button")

	// Another user cannot end my sessions with my handles: 404, nothing ends.
	for _, h := range handles {
		r := mallory.post("/account/sessions/"+h[1]+"/revoke", nil)
		assert.Equal(t, http.StatusNotFound, r.Status)
		assert.Contains(t, r.Body, "no such session")
	}
	assert.Equal(t, http.StatusOK, other.get("/account").Status)
	assert.Equal(t, http.StatusOK, third.get("/account").Status)
	// Malformed handles are refused before the store.
	assert.Equal(t, http.StatusNotFound, c.post("/account/sessions/"+url.PathEscape("x y")+"/revoke", nil).Status)

	// End one: exactly one of the other two is signed out.
	r = c.post("/account/sessions/"+handles[0][1]+"/revoke", nil)
	require.Equal(t, http.StatusSeeOther, r.Status, r.Body)
	signedOut := 0
	for _, b := range []*client{other, third} {
		if b.get("/account").Status != http.StatusOK {
			signedOut++
		}
	}
	assert.Equal(t, 1, signedOut)
	// Revoking it again: it is gone.
	assert.Equal(t, http.StatusNotFound, c.post("/account/sessions/"+handles[0][1]+"/revoke", nil).Status)

	// Sign out every other session.
	r = c.post("/account/sessions/revoke-others", nil)
	require.Equal(t, http.StatusSeeOther, r.Status)
	assert.Equal(t, http.StatusSeeOther, other.get("/account").Status)
	assert.Equal(t, http.StatusSeeOther, third.get("/account").Status)
	assert.Equal(t, http.StatusOK, c.get("/account").Status)
	assert.Empty(t, handleRE.FindAllString(c.get("/account/sessions").Body, -1))
	assert.Equal(t, http.StatusOK, mallory.get("/account").Status, "other users are untouched")
}

func TestLogoutEverywhere(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t)
	c, _ := ta.userClient("seller@example.com", "Seller")
	other, _ := ta.login("seller@example.com")
	r := c.post("/logout/everywhere", nil)
	require.Equal(t, http.StatusSeeOther, r.Status)
	assert.Equal(t, "/login", r.Location)
	assert.Contains(t, c.follow(r).Body, "logged out on every device")
	assert.Equal(t, http.StatusSeeOther, c.get("/account").Status)
	assert.Equal(t, http.StatusSeeOther, other.get("/account").Status)
	// Signed out, the route only redirects to login.
	assert.True(t, strings.HasPrefix(ta.client().post("/logout/everywhere", nil).Location, "/login"))
}
