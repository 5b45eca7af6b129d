package main

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/descope/virtualwebauthn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAttack_PreHijacking: an attacker signs up with the victim's address
// (before the victim has an account) and signs in unconfirmed, meaning to
// add a second factor that the victim's password reset would then demand.
// No factor can be added to an unconfirmed account: every route that adds
// one (TOTP, its confirmation, recovery codes, a passkey) refuses, and the
// settings page says to confirm the address first and offers a new link.
// The victim's reset therefore asks for no second factor, confirms the
// address, signs the attacker out and leaves no factor of the attacker's
// to clear; the victim can then add their own.
func TestAttack_PreHijacking(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t)
	const victim = "wendy@example.com"
	attacker := ta.client()
	r := attacker.post("/signup", signupForm(victim, "Not Wendy", goodPassword, goodPassword))
	require.Equal(t, http.StatusOK, r.Status, r.Body)
	ta.mailTo(victim, "email_verify") // the account exists, unconfirmed; the link went to the victim
	r = attacker.post("/login", url.Values{"email": {victim}, "password": {goodPassword}})
	require.Equal(t, http.StatusSeeOther, r.Status, r.Body)
	require.True(t, attacker.signedIn())
	u, err := ta.db.userByEmail(t.Context(), victim)
	require.NoError(t, err)
	require.False(t, u.EmailVerified)

	r = attacker.get("/account/mfa")
	require.Equal(t, http.StatusOK, r.Status)
	assert.Contains(t, r.Body, `id="mfa-unconfirmed"`)
	assert.Contains(t, r.Body, `action="/account/verify?next=/account/mfa"`, "a new link is offered")
	for _, id := range []string{`id="totp-enrol"`, `id="passkey-register"`, `id="recovery-generate"`} {
		assert.NotContains(t, r.Body, id)
	}

	for _, p := range []string{"/account/mfa/totp", "/account/mfa/totp/confirm", "/account/mfa/recovery"} {
		r = attacker.post(p, url.Values{"code": {"123456"}})
		assert.Equal(t, http.StatusForbidden, r.Status, p)
		assert.Contains(t, r.Body, "Confirm your e-mail address first", p)
		assert.Contains(t, r.Body, `action="/account/verify?next=/account/mfa"`, p)
	}
	r = ta.registerPasskey(attacker, ta.newPasskey(virtualwebauthn.AuthenticatorOptions{}), "Attacker's key")
	assert.Equal(t, http.StatusForbidden, r.Status)
	assert.JSONEq(t, `{"error":"email_unconfirmed"}`, r.Body)
	r = attacker.postJSON("/account/mfa/passkeys/finish?name=x", "{}") // skipping begin
	assert.Equal(t, http.StatusForbidden, r.Status)
	assert.GreaterOrEqual(t, ta.waitAudit(string(ActionFactorRefusedUnconfirmed)), 1)
	noFactors := func(when string) {
		t.Helper()
		has, err := ta.db.hasFactor(t.Context(), u.ID)
		require.NoError(t, err)
		assert.False(t, has, "no second factor %s", when)
		assert.Equal(t, 0, must(ta.recovery.Remaining(t.Context(), u.ID)), "no recovery codes %s", when)
		assert.Equal(t, 0, ta.count(`SELECT COUNT(*) FROM mfa_totp WHERE user_id = ?`, u.ID), "no TOTP secret, not even pending, %s", when)
	}
	noFactors("while unconfirmed")

	// The owner asks for a reset: no MFA challenge, the attacker is
	// signed out, the address is confirmed (the link reached it), and
	// there is no factor of the attacker's to clear.
	owner := ta.client()
	require.Equal(t, http.StatusOK, owner.post("/forgot", url.Values{"email": {victim}}).Status)
	link := ta.linkIn(ta.mailTo(victim, "password_reset"))
	r = owner.get(link)
	require.Equal(t, http.StatusSeeOther, r.Status, r.Body)
	require.Equal(t, "/reset/continue", r.Location, "no MFA challenge")
	r = owner.get("/reset/continue")
	require.Contains(t, r.Body, `id="reset-form"`)
	r = owner.post("/reset", url.Values{"token": {tokenOf(link)}, "password": {newPassword}, "password2": {newPassword}})
	require.Equal(t, http.StatusSeeOther, r.Status, r.Body)
	assert.Equal(t, "/login", r.Location)
	assert.False(t, attacker.signedIn(), "the attacker is signed out")
	u, err = ta.db.userByEmail(t.Context(), victim)
	require.NoError(t, err)
	assert.True(t, u.EmailVerified, "the reset confirmed the address")
	noFactors("after the reset")
	r = ta.client().post("/login", url.Values{"email": {victim}, "password": {goodPassword}})
	assert.Equal(t, http.StatusUnauthorized, r.Status, "the attacker's password is gone")

	// The owner, now confirmed, can add a factor.
	owner = ta.client()
	r = owner.post("/login", url.Values{"email": {victim}, "password": {newPassword}})
	require.Equal(t, http.StatusSeeOther, r.Status, r.Body)
	ta.enrolTOTP(owner)
	has, err := ta.db.hasFactor(t.Context(), u.ID)
	require.NoError(t, err)
	assert.True(t, has)
}
