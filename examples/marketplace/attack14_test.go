package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAttack_LinkTokensLeaveTheURL: a mailed link's token must not stay
// in a URL the page's subresources send as Referer (to a CDN, a log): the
// reset link moves it into the session and redirects; the pages of the
// other links, which cannot, send no Referer at all.
func TestAttack_LinkTokensLeaveTheURL(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t)
	ta.createUser("lena@example.com", "Lena")

	c := ta.client()
	require.Equal(t, http.StatusOK, c.post("/forgot", url.Values{"email": {"lena@example.com"}}).Status)
	link := ta.linkIn(ta.mailTo("lena@example.com", "password_reset"))
	tok := tokenOf(link)
	r := c.get(link)
	require.Equal(t, http.StatusSeeOther, r.Status, r.Body)
	assert.Equal(t, "/reset/continue", r.Location)
	assert.NotContains(t, r.Body, tok)
	assert.Equal(t, "no-referrer", r.Header.Get("Referrer-Policy"))
	r = c.get("/reset/continue")
	require.Equal(t, http.StatusOK, r.Status)
	require.Contains(t, r.Body, `id="reset-form"`)
	r = c.post("/reset", url.Values{"token": {tok}, "password": {newPassword}, "password2": {newPassword}})
	require.Equal(t, http.StatusSeeOther, r.Status, r.Body)
	// Another browser without the session has no form: it asks for a link.
	assert.Contains(t, ta.client().get("/reset/continue").Body, `id="forgot-form"`)

	for _, p := range []string{"/verify?token=x", "/account/email/confirm?token=x", "/account/email/undo?token=x", "/reset?token=x"} {
		r := ta.client().get(p)
		assert.Equal(t, "no-referrer", r.Header.Get("Referrer-Policy"), p)
	}
}

// TestAttack_HalfFinishedReset: opening the reset link of a user with a
// second factor signs the browser in without MFA: nothing but the
// challenge, the reset and logging out may be reached with it.
func TestAttack_HalfFinishedReset(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t)
	owner, _ := ta.userClient("mona@example.com", "Mona")
	ta.enrolTOTP(owner)
	c := ta.client()
	require.Equal(t, http.StatusOK, c.post("/forgot", url.Values{"email": {"mona@example.com"}}).Status)
	link := ta.linkIn(ta.mailTo("mona@example.com", "password_reset"))
	require.Equal(t, http.StatusSeeOther, c.get(link).Status)
	r := c.get("/reset/continue")
	require.Equal(t, http.StatusSeeOther, r.Status, "no form before the challenge")
	assert.Equal(t, "/mfa?next="+url.QueryEscape("/reset/continue"), r.Location)
	for _, p := range []string{"/account", "/account/outbox", "/account/email", "/account/sessions", "/my/listings", "/account/mfa"} {
		r := c.get(p)
		assert.Equal(t, http.StatusSeeOther, r.Status, p)
		assert.Contains(t, r.Location, "/mfa", p)
	}
	for _, p := range []string{"/account/email", "/account/verify", "/logout/everywhere", "/account/mfa/totp/disable", "/account/mfa/recovery"} {
		r := c.post(p, url.Values{"email": {"x@example.com"}, "current": {goodPassword}})
		require.Equal(t, http.StatusSeeOther, r.Status, p)
		assert.Contains(t, r.Location, "/mfa", p)
	}
	assert.True(t, owner.signedIn(), "the owner's session was not ended")
	enrolled, err := ta.totp.Enrolled(t.Context(), must(ta.db.userByEmail(t.Context(), "mona@example.com")).ID)
	require.NoError(t, err)
	assert.True(t, enrolled, "the factor is still there")
}

// TestAttack_ResetOfAnotherUserInAnMFASession: a browser that passed the
// challenge as one user cannot complete another user's reset with it: the
// other user's challenge is demanded, and the browser is led to it (not
// back to the form in a loop).
func TestAttack_ResetOfAnotherUserInAnMFASession(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t)
	mallory, _ := ta.userClient("mallory@example.com", "Mallory")
	ta.enrolTOTP(mallory) // signed in, MFA verified
	victim, _ := ta.userClient("olga@example.com", "Olga")
	ta.enrolTOTP(victim)
	require.Equal(t, http.StatusOK, ta.client().post("/forgot", url.Values{"email": {"olga@example.com"}}).Status)
	tok := tokenOf(ta.linkIn(ta.mailTo("olga@example.com", "password_reset")))

	r := mallory.post("/reset", url.Values{"token": {tok}, "password": {newPassword}, "password2": {newPassword}})
	require.Equal(t, http.StatusSeeOther, r.Status, r.Body)
	assert.Contains(t, r.Location, "/mfa")
	r = mallory.follow(r)
	assert.Equal(t, http.StatusOK, r.Status)
	assert.Contains(t, r.Body, `id="totp-form"`, "Olga's challenge, not the form again")
	r = mallory.get("/reset/continue")
	assert.NotContains(t, r.Body, `id="reset-form"`)
	// Olga's password is unchanged.
	r = ta.client().post("/login", url.Values{"email": {"olga@example.com"}, "password": {goodPassword}})
	assert.Equal(t, http.StatusSeeOther, r.Status)
}

// TestAttack_ConfirmEmailChangeInAnotherUsersSession: a confirmation link
// opened in a browser signed in as someone else changes nothing: that
// user would believe they confirmed their own new address.
func TestAttack_ConfirmEmailChangeInAnotherUsersSession(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t)
	mallory, mu := ta.userClient("mal@example.com", "Mal")
	paula, _ := ta.userClient("paula@example.com", "Paula")
	r := mallory.post("/account/email", url.Values{"email": {"paula.work@example.com"}, "current": {goodPassword}})
	require.Equal(t, http.StatusOK, r.Status, r.Body)
	confirm := ta.linkIn(ta.mailTo("paula.work@example.com", "email_change_confirm"))

	r = paula.post("/account/email/confirm", url.Values{"token": {tokenOf(confirm)}})
	assert.Equal(t, http.StatusForbidden, r.Status, r.Body)
	got := must(ta.db.userByID(t.Context(), mu.ID))
	assert.Equal(t, "mal@example.com", got.Email, "nothing changed")
	// Signed out (another device), or as its own user, the link works.
	r = ta.client().post("/account/email/confirm", url.Values{"token": {tokenOf(confirm)}})
	require.Equal(t, http.StatusSeeOther, r.Status, r.Body)
	assert.Equal(t, "paula.work@example.com", must(ta.db.userByID(t.Context(), mu.ID)).Email)
}

// TestAttack_AdminSendReset: the administrator's "send reset link" is
// refused cross-site (CSRF) and without a recent second factor, and sends
// nothing then.
func TestAttack_AdminSendReset(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t)
	adm, _, secret := ta.adminClient("root@example.com")
	_, u := ta.userClient("wendy@example.com", "Wendy")

	req, err := http.NewRequest(http.MethodPost, ta.URL+"/admin/users/"+u.ID+"/reset", nil)
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	assert.Equal(t, http.StatusForbidden, adm.do(req).Status, "cross-site")

	ta.Clock.Add(ta.cfg.StepUp + time.Minute)
	r := adm.post("/admin/users/"+u.ID+"/reset", nil)
	require.Equal(t, http.StatusSeeOther, r.Status)
	assert.True(t, strings.HasPrefix(r.Location, "/mfa?next="), r.Location)
	assert.Equal(t, 0, ta.countKind("wendy@example.com", "password_reset"))
	assert.Equal(t, 0, ta.count(`SELECT COUNT(*) FROM audit_events WHERE action = ?`, string(ActionResetLinkSent)))

	ta.verifyTOTP(adm, secret)
	require.Equal(t, http.StatusSeeOther, adm.post("/admin/users/"+u.ID+"/reset", nil).Status)
	ta.mailTo("wendy@example.com", "password_reset")
	ta.waitAuditRows(string(ActionResetLinkSent))
}
