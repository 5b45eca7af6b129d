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

	"github.com/deployedworks/rampart/notify"
)

var linkRE = regexp.MustCompile(`https?://[^\s"<>]+\?token=[A-Za-z0-9_%-]+`)

// mailTo waits for a message of kind to address from the development
// Sender and returns it.
func (ta *testApp) mailTo(address, kind string) notify.Message {
	ta.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	msgs := ta.devMail.wait(ctx, address, func(m notify.Message) bool { return m.Kind == kind })
	for _, m := range msgs {
		if m.Kind == kind {
			return m
		}
	}
	require.FailNow(ta.t, "no mail", "no %s mail to %s", kind, address)
	return notify.Message{}
}

// mailToAny waits for a message of kind to address from the development
// Sender of any of tas (instances sharing one outbox: any may send it).
func mailToAny(t *testing.T, tas []*testApp, address, kind string) notify.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	found := make(chan notify.Message, len(tas))
	for _, ta := range tas {
		go func() {
			for _, m := range ta.devMail.wait(ctx, address, func(m notify.Message) bool { return m.Kind == kind }) {
				if m.Kind == kind {
					found <- m
					return
				}
			}
		}()
	}
	select {
	case m := <-found:
		return m
	case <-ctx.Done():
		require.FailNow(t, "no mail", "no %s mail to %s", kind, address)
		return notify.Message{}
	}
}

// signUp signs c up through the form, confirms the address from the
// mailed link and logs c in.
func (ta *testApp) signUp(c *client, email, name string, instances ...*testApp) {
	ta.t.Helper()
	t := ta.t.(*testing.T)
	r := c.post("/signup", signupForm(email, name, goodPassword, goodPassword))
	require.Equal(t, http.StatusOK, r.Status, r.Body)
	require.Contains(t, r.Body, `id="check-inbox"`)
	link := ta.linkIn(mailToAny(t, append([]*testApp{ta}, instances...), normEmail(email), "email_verify"))
	r = c.get(link)
	require.Equal(t, http.StatusOK, r.Status, r.Body)
	tok := must(url.ParseQuery(must(url.Parse(link)).RawQuery)).Get("token")
	r = c.post("/verify", url.Values{"token": {tok}})
	require.Equal(t, http.StatusSeeOther, r.Status, r.Body)
	r = c.post("/login", url.Values{"email": {email}, "password": {goodPassword}})
	require.Equal(t, http.StatusSeeOther, r.Status, r.Body)
}

// linkIn returns the path and query of the link in a message.
func (ta *testApp) linkIn(m notify.Message) string {
	ta.t.Helper()
	l := linkRE.FindString(m.Text)
	require.NotEmpty(ta.t, l, "no link in %q", m.Text)
	u, err := url.Parse(l)
	require.NoError(ta.t, err)
	assert.Equal(ta.t, ta.URL, u.Scheme+"://"+u.Host, "links lead to the public URL")
	return u.RequestURI()
}

var pageNoise = regexp.MustCompile(`nonce="[^"]*"|[0-9a-f]{16,}`)

// samePage compares two pages without their nonces and request IDs.
func samePage(t *testing.T, a, b resp) {
	t.Helper()
	assert.Equal(t, a.Status, b.Status)
	assert.Equal(t, pageNoise.ReplaceAllString(a.Body, ""), pageNoise.ReplaceAllString(b.Body, ""))
}

const newPassword = "amber glacier violin sparrow 47"

// TestReset_WithoutMFA: the whole reset of a user without a second
// factor, the answer alike for unknown addresses, sessions ended, the link
// single-use.
func TestReset_WithoutMFA(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t)
	other, _ := ta.userClient("carol@example.com", "Carol")

	c := ta.client()
	r := c.get("/login")
	assert.Contains(t, r.Body, `href="/forgot"`)
	r = c.get("/forgot")
	require.Equal(t, http.StatusOK, r.Status)
	known := c.post("/forgot", url.Values{"email": {"Carol@Example.com"}})
	require.Equal(t, http.StatusOK, known.Status, known.Body)
	assert.Contains(t, known.Body, `id="check-inbox"`)
	unknown := ta.client().post("/forgot", url.Values{"email": {"nobody@example.com"}})
	samePage(t, known, unknown)
	r = c.post("/forgot", url.Values{"email": {"not an address"}})
	assert.Equal(t, http.StatusUnprocessableEntity, r.Status)

	link := ta.linkIn(ta.mailTo("carol@example.com", "password_reset"))
	r = c.follow(c.get(link))
	require.Equal(t, http.StatusOK, r.Status, r.Body)
	require.Contains(t, r.Body, `id="reset-form"`)
	tok := must(url.ParseQuery(must(url.Parse(link)).RawQuery)).Get("token")

	r = c.post("/reset", url.Values{"token": {tok}, "password": {newPassword}, "password2": {"different"}})
	assert.Equal(t, http.StatusUnprocessableEntity, r.Status)
	r = c.post("/reset", url.Values{"token": {tok}, "password": {"short"}, "password2": {"short"}})
	assert.Equal(t, http.StatusUnprocessableEntity, r.Status, "the password policy applies")
	r = c.post("/reset", url.Values{"token": {tok}, "password": {newPassword}, "password2": {newPassword}})
	require.Equal(t, http.StatusSeeOther, r.Status, r.Body)
	assert.Equal(t, "/login", r.Location)
	ta.mailTo("carol@example.com", "password_changed")

	// The other session is over, the old password fails, the new one works.
	assert.Equal(t, http.StatusSeeOther, other.get("/account").Status)
	r = ta.client().post("/login", url.Values{"email": {"carol@example.com"}, "password": {goodPassword}})
	assert.NotEqual(t, http.StatusSeeOther, r.Status)
	r = ta.client().post("/login", url.Values{"email": {"carol@example.com"}, "password": {newPassword}})
	assert.Equal(t, http.StatusSeeOther, r.Status, r.Body)

	// The link worked once.
	r = c.get(link)
	assert.Equal(t, http.StatusBadRequest, r.Status)
	r = c.post("/reset", url.Values{"token": {tok}, "password": {newPassword + "x"}, "password2": {newPassword + "x"}})
	assert.Equal(t, http.StatusBadRequest, r.Status)
	r = c.get("/reset?token=forged")
	assert.Equal(t, http.StatusBadRequest, r.Status)
}

// TestReset_MFAStillRequired: a reset link does not bypass the second
// factor: the new password takes effect only after the MFA challenge.
func TestReset_MFAStillRequired(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t)
	owner, _ := ta.userClient("dave@example.com", "Dave")
	secret := ta.enrolTOTP(owner)

	c := ta.client()
	require.Equal(t, http.StatusOK, c.post("/forgot", url.Values{"email": {"dave@example.com"}}).Status)
	link := ta.linkIn(ta.mailTo("dave@example.com", "password_reset"))
	tok := must(url.ParseQuery(must(url.Parse(link)).RawQuery)).Get("token")
	r := c.get(link)
	require.Equal(t, http.StatusSeeOther, r.Status, r.Body)
	assert.Equal(t, "/mfa?next="+url.QueryEscape("/reset/continue"), r.Location)
	assert.NotContains(t, r.Location, tok, "the token stays out of the redirect")

	// Without the challenge: no change, back to the challenge.
	r = c.post("/reset", url.Values{"token": {tok}, "password": {newPassword}, "password2": {newPassword}})
	require.Equal(t, http.StatusSeeOther, r.Status, r.Body)
	assert.Contains(t, r.Location, "/mfa")
	assert.Equal(t, http.StatusSeeOther, ta.client().post("/login", url.Values{"email": {"dave@example.com"}, "password": {goodPassword}}).Status,
		"the old password still works")
	// Nor is the half-signed-in session any use elsewhere.
	r = c.get("/account")
	assert.Equal(t, http.StatusSeeOther, r.Status)
	assert.Contains(t, r.Location, "/mfa")

	// With it: the form, then the change.
	r = c.post("/mfa/totp", url.Values{"code": {ta.nextCode(secret)}, "next": {"/reset/continue"}})
	require.Equal(t, http.StatusSeeOther, r.Status, r.Body)
	assert.Equal(t, "/reset/continue", r.Location)
	r = c.get("/reset/continue")
	require.Equal(t, http.StatusOK, r.Status)
	require.Contains(t, r.Body, `id="reset-form"`)
	r = c.post("/reset", url.Values{"token": {tok}, "password": {newPassword}, "password2": {newPassword}})
	require.Equal(t, http.StatusSeeOther, r.Status, r.Body)
	assert.Equal(t, "/login", r.Location)

	// Signed out everywhere; the new password leads to the challenge again.
	assert.Equal(t, http.StatusSeeOther, owner.get("/account").Status)
	c2 := ta.client()
	r = c2.post("/login", url.Values{"email": {"dave@example.com"}, "password": {newPassword}})
	require.Equal(t, http.StatusSeeOther, r.Status, r.Body)
	assert.Contains(t, r.Location, "/mfa")
	// Without a pending link, /reset/continue asks for one.
	assert.Contains(t, c2.get("/reset/continue").Body, `id="forgot-form"`)
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// tokenOf returns the token of a link.
func tokenOf(link string) string {
	return must(url.ParseQuery(must(url.Parse(link)).RawQuery)).Get("token")
}

// TestEmailChange: the password again, a link to the new address that
// makes the change, a notice to the old one whose link undoes it and
// signs every session out; a taken address gets the same answer.
func TestEmailChange(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t)
	c, _ := ta.userClient("erin@example.com", "Erin")
	ta.createUser("frank@example.com", "Frank")
	other, _ := ta.login("erin@example.com")

	r := c.get("/account")
	assert.Contains(t, r.Body, `href="/account/email"`)
	require.Equal(t, http.StatusOK, c.get("/account/email").Status)
	r = c.post("/account/email", url.Values{"email": {"erin.new@example.com"}, "current": {"wrong password"}})
	assert.Equal(t, http.StatusUnauthorized, r.Status)
	// Refused as sign-up refuses them: no address sign-up would not take.
	for _, bad := range []string{"not an address", "erin@localhost", "Erin <erin2@example.com>", "erin2@example.com (me)", "erin\u0085@example.com"} {
		r = c.post("/account/email", url.Values{"email": {bad}, "current": {goodPassword}})
		assert.Equal(t, http.StatusUnprocessableEntity, r.Status, bad)
	}

	// A taken address: the same page, its owner told, nothing changes.
	taken := c.post("/account/email", url.Values{"email": {"frank@example.com"}, "current": {goodPassword}})
	require.Equal(t, http.StatusOK, taken.Status, taken.Body)
	ta.mailTo("frank@example.com", "email_change_taken")

	r = c.post("/account/email", url.Values{"email": {"Erin.New@example.com"}, "current": {goodPassword}})
	require.Equal(t, http.StatusOK, r.Status, r.Body)
	samePage(t, taken, resp{Status: r.Status, Body: strings.ReplaceAll(r.Body, "erin.new@example.com", "frank@example.com")})
	ta.mailTo("erin@example.com", "email_change_requested")
	confirm := ta.linkIn(ta.mailTo("erin.new@example.com", "email_change_confirm"))
	r = c.get(confirm)
	require.Contains(t, r.Body, `id="link-form"`)
	r = c.post("/account/email/confirm", url.Values{"token": {tokenOf(confirm)}})
	require.Equal(t, http.StatusSeeOther, r.Status, r.Body)
	r = c.get("/account")
	assert.Contains(t, r.Body, `id="account-email">erin.new@example.com<`)
	assert.Contains(t, r.Body, "(confirmed)", "opening the link proves the new mailbox")
	assert.Equal(t, http.StatusBadRequest, c.post("/account/email/confirm", url.Values{"token": {tokenOf(confirm)}}).Status, "once")

	// The old address undoes it: restored, everyone signed out, a reset
	// link mailed.
	ta.mailTo("erin.new@example.com", "email_changed_new")
	undo := ta.linkIn(ta.mailTo("erin@example.com", "email_changed_old"))
	r = ta.client().post("/account/email/undo", url.Values{"token": {tokenOf(undo)}})
	require.Equal(t, http.StatusSeeOther, r.Status, r.Body)
	assert.Equal(t, "/login", r.Location)
	assert.Equal(t, http.StatusSeeOther, c.get("/account").Status, "signed out")
	assert.Equal(t, http.StatusSeeOther, other.get("/account").Status, "signed out everywhere")
	u, err := ta.db.userByID(context.Background(), must(ta.db.userByEmail(context.Background(), "erin@example.com")).ID)
	require.NoError(t, err)
	assert.Equal(t, "erin@example.com", u.Email)
	assert.Contains(t, ta.mailTo("erin@example.com", "email_change_undone").Text, "/reset?token=")
}
