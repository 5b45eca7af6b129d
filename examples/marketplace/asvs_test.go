package main

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/session"
)

// TestReauth_BeforeFirstFactor: ASVS 5.0 §7.5.1. A session signed in
// longer ago than the step-up window (a stolen cookie) cannot add a first
// factor: it is sent to re-enter the password, and only then can it enrol.
func TestReauth_BeforeFirstFactor(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t)
	c, u := ta.userClient("rae@example.com", "Rae")
	ta.Clock.Add(ta.cfg.StepUp + time.Minute)
	keepAlive := c.get("/account") // within the idle timeout
	require.Equal(t, http.StatusOK, keepAlive.Status)

	for _, path := range []string{"/account/mfa/totp", "/account/mfa/passkeys/begin"} {
		var r resp
		if strings.HasSuffix(path, "/begin") {
			r = c.postJSON(path, "")
			assert.Equal(t, http.StatusUnauthorized, r.Status, path)
			assert.Contains(t, r.Body, `"reauth_required"`, path)
			continue
		}
		r = c.post(path, url.Values{})
		require.Equal(t, http.StatusSeeOther, r.Status, r.Body)
		assert.True(t, strings.HasPrefix(r.Header.Get("Location"), "/account/reauth?next="), r.Header.Get("Location"))
	}
	enrolled, err := ta.totp.Enrolled(t.Context(), u.ID)
	require.NoError(t, err)
	assert.False(t, enrolled)

	// The form: a password field the browser may fill and paste into.
	r := c.get("/account/reauth?next=/account/mfa")
	require.Equal(t, http.StatusOK, r.Status)
	assert.Contains(t, r.Body, `autocomplete="current-password"`)

	// A wrong password: refused, still no enrolment.
	r = c.post("/account/reauth", url.Values{"current": {"wrong password"}, "next": {"/account/mfa"}})
	assertClearRefusal(t, r, http.StatusUnauthorized, "That password is not right.")
	r = c.post("/account/mfa/totp", url.Values{})
	require.Equal(t, http.StatusSeeOther, r.Status)

	// The right password: back to the settings, and enrolment works.
	r = c.post("/account/reauth", url.Values{"current": {goodPassword}, "next": {"/account/mfa"}})
	require.Equal(t, http.StatusSeeOther, r.Status, r.Body)
	assert.Equal(t, "/account/mfa", r.Header.Get("Location"))
	ta.enrolTOTP(c)
	enrolled, err = ta.totp.Enrolled(t.Context(), u.ID)
	require.NoError(t, err)
	assert.True(t, enrolled)
	ta.waitAudit("session.reauth")
}

// TestReauth_BeforeSigningOutOthers: ASVS 5.0 §7.5.2. A stale session
// cannot sign the user's other sessions out (one at a time, all others, or
// everywhere) until it re-authenticates.
func TestReauth_BeforeSigningOutOthers(t *testing.T) {
	t.Parallel()
	for _, path := range []string{"/account/sessions/revoke-others", "/logout/everywhere", "/account/sessions/%s/revoke"} {
		t.Run(path, func(t *testing.T) {
			ta := newTestApp(t)
			victim, _ := ta.userClient("vic@example.com", "Vic")
			thief, _ := ta.login("vic@example.com")
			target := path
			if strings.Contains(path, "%s") {
				m := regexp.MustCompile(`/account/sessions/([A-Za-z0-9_-]+)/revoke`).FindAllStringSubmatch(victim.get("/account/sessions").Body, -1)
				require.NotEmpty(t, m)
				target = strings.Replace(path, "%s", m[len(m)-1][1], 1)
			}
			ta.Clock.Add(session.DefaultReauthAge + time.Minute)
			require.Equal(t, http.StatusOK, victim.get("/account").Status)

			r := thief.post(target, url.Values{})
			require.Equal(t, http.StatusSeeOther, r.Status, r.Body)
			assert.True(t, strings.HasPrefix(r.Header.Get("Location"), "/account/reauth?next="), r.Header.Get("Location"))
			assert.True(t, victim.signedIn(), "attack refused: the owner's session lives")

			r = thief.post("/account/reauth", url.Values{"current": {goodPassword}, "next": {"/account/sessions"}})
			require.Equal(t, http.StatusSeeOther, r.Status, r.Body)
			r = thief.post(target, url.Values{})
			require.Equal(t, http.StatusSeeOther, r.Status, r.Body)
			assert.NotContains(t, r.Header.Get("Location"), "reauth")
		})
	}
}

// TestFactorChange_SignsOutOtherSessions: ASVS 5.0 §7.4.3. Adding and
// removing a factor signs the user's other sessions out; the session that
// made the change stays signed in.
func TestFactorChange_SignsOutOtherSessions(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t)
	c, _ := ta.userClient("fay@example.com", "Fay")
	other, _ := ta.login("fay@example.com")
	require.True(t, other.signedIn())

	secret := ta.enrolTOTP(c)
	assert.False(t, other.signedIn(), "adding a factor signed the other session out")
	assert.True(t, c.signedIn())

	other, r := ta.login("fay@example.com")
	require.Equal(t, http.StatusSeeOther, r.Status)
	ta.verifyTOTP(other, secret)
	require.True(t, other.signedIn())
	ta.Clock.Add(30 * time.Second)
	ta.verifyTOTP(c, secret) // a fresh step-up for the removal
	r = c.post("/account/mfa/totp/disable", url.Values{})
	require.Equal(t, http.StatusSeeOther, r.Status, r.Body)
	assert.Contains(t, c.follow(r).Body, "Your other sessions are signed out.")
	assert.False(t, other.signedIn(), "removing a factor signed the other session out")
	assert.True(t, c.signedIn())
}

// TestPasswordFields: ASVS 5.0 §6.2.6. Every password field of every page
// is type=password, lets the user paste (no handler blocks it, and no
// script on the site does), and says which password a password manager
// should fill: current-password to sign in or confirm, new-password to
// set one.
func TestPasswordFields(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t)
	anon := ta.client()
	c, _ := ta.userClient("pat@example.com", "Pat")
	pages := []struct {
		c    *client
		path string
		want map[string]string // field name → autocomplete
	}{
		{anon, "/login", map[string]string{"password": "current-password"}},
		{anon, "/signup", map[string]string{"password": "new-password", "password2": "new-password"}},
		{c, "/account/password", map[string]string{"current": "current-password", "password": "new-password", "password2": "new-password"}},
		{c, "/account/email", map[string]string{"current": "current-password"}},
		{c, "/account/reauth", map[string]string{"current": "current-password"}},
	}
	inputRE := regexp.MustCompile(`(?is)<input\b[^>]*>`)
	attr := func(tag, name string) (string, bool) {
		m := regexp.MustCompile(`(?i)\b` + name + `="([^"]*)"`).FindStringSubmatch(tag)
		if m == nil {
			return "", false
		}
		return m[1], true
	}
	for _, p := range pages {
		t.Run(p.path, func(t *testing.T) {
			r := p.c.get(p.path)
			require.Equal(t, http.StatusOK, r.Status, r.Body)
			seen := map[string]bool{}
			for _, tag := range inputRE.FindAllString(r.Body, -1) {
				name, _ := attr(tag, "name")
				typ, _ := attr(tag, "type")
				isPassword := strings.EqualFold(typ, "password") || strings.Contains(strings.ToLower(name), "password") || name == "current"
				if !isPassword {
					continue
				}
				seen[name] = true
				assert.Equal(t, "password", typ, "%s: field %q is type=password", p.path, name)
				ac, _ := attr(tag, "autocomplete")
				assert.Equal(t, p.want[name], ac, "%s: field %q autocomplete", p.path, name)
				for _, block := range []string{"onpaste", "oncopy", "oncut", "ondrop"} {
					_, has := attr(tag, block)
					assert.False(t, has, "%s: field %q must not block %s", p.path, name, block)
				}
			}
			for name := range p.want {
				assert.True(t, seen[name], "%s: no password field %q", p.path, name)
			}
		})
	}
	// The pages behind a token (reset, setup) are checked in their
	// templates: every password field of every template, rendered above
	// or not, follows the same rules.
	files, err := assetsFS.ReadDir("templates")
	require.NoError(t, err)
	fields := 0
	for _, f := range files {
		b, err := assetsFS.ReadFile("templates/" + f.Name())
		require.NoError(t, err)
		for _, tag := range inputRE.FindAllString(string(b), -1) {
			name, _ := attr(tag, "name")
			typ, _ := attr(tag, "type")
			if !strings.EqualFold(typ, "password") && !strings.Contains(strings.ToLower(name), "password") {
				continue
			}
			fields++
			assert.Equal(t, "password", typ, "%s: %s", f.Name(), tag)
			ac, _ := attr(tag, "autocomplete")
			assert.Contains(t, []string{"current-password", "new-password"}, ac, "%s: %s", f.Name(), tag)
			assert.NotRegexp(t, `(?i)\bon(paste|copy|cut|drop)=`, tag, "%s", f.Name())
		}
	}
	assert.GreaterOrEqual(t, fields, 12, "the password fields of login, sign-up, reset, setup, password, e-mail and re-authentication")

	// No script of the site stops pasting either.
	entries, err := assetsFS.ReadDir("static")
	require.NoError(t, err)
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".js") {
			continue
		}
		b, err := assetsFS.ReadFile("static/" + e.Name())
		require.NoError(t, err)
		assert.NotRegexp(t, `(?i)paste`, string(b), "static/%s must not handle paste events", e.Name())
	}
}
