package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/internal/testenv"
	vwa "github.com/descope/virtualwebauthn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// softPasskey is a software authenticator holding one credential, for the
// relying party of a test app.
type softPasskey struct {
	rp   vwa.RelyingParty
	auth vwa.Authenticator
	cred vwa.Credential
}

func (ta *testApp) newPasskey(opts vwa.AuthenticatorOptions) *softPasskey {
	return &softPasskey{
		rp:   vwa.RelyingParty{ID: "localhost", Name: "Marketplace", Origin: ta.URL},
		auth: vwa.NewAuthenticatorWithOptions(opts),
		cred: testenv.PasskeyCredential(),
	}
}

// registerPasskey runs the registration ceremony over HTTP as webauthn.js
// does, and returns the finish response.
func (ta *testApp) registerPasskey(c *client, pk *softPasskey, name string) resp {
	ta.t.Helper()
	r := c.postJSON("/account/mfa/passkeys/begin", "")
	if r.Status != http.StatusOK {
		return r
	}
	// The authenticator ignores the options: check the ones that matter.
	var opts struct {
		AuthenticatorSelection struct {
			ResidentKey      string `json:"residentKey"`
			UserVerification string `json:"userVerification"`
		} `json:"authenticatorSelection"`
		RP struct {
			ID string `json:"id"`
		} `json:"rp"`
	}
	require.NoError(ta.t, json.Unmarshal([]byte(r.Body), &opts), r.Body)
	assert.Equal(ta.t, "required", opts.AuthenticatorSelection.ResidentKey)
	assert.Equal(ta.t, "required", opts.AuthenticatorSelection.UserVerification)
	assert.Equal(ta.t, "localhost", opts.RP.ID)
	ao, err := vwa.ParseAttestationOptions(r.Body)
	require.NoError(ta.t, err)
	pk.auth.Options.UserHandle = []byte(ao.UserID)
	att := vwa.CreateAttestationResponse(pk.rp, pk.auth, pk.cred, *ao)
	return c.postJSON("/account/mfa/passkeys/finish?name="+url.QueryEscape(name), att)
}

// assertPasskey runs an assertion ceremony: begin and finish are the
// routes of passwordless login or of the MFA check.
func (ta *testApp) assertPasskey(c *client, pk *softPasskey, begin, finish string) resp {
	ta.t.Helper()
	r := c.postJSON(begin, "")
	if r.Status != http.StatusOK {
		return r
	}
	ao, err := vwa.ParseAssertionOptions(r.Body)
	require.NoError(ta.t, err)
	pk.cred.Counter++ // virtualwebauthn never counts
	return c.postJSON(finish, vwa.CreateAssertionResponse(pk.rp, pk.auth, pk.cred, *ao))
}

func TestPasskeys_RegisterLoginVerifyDelete(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t)
	c, u := ta.userClient("sam@example.com", "Sam")
	pk := ta.newPasskey(vwa.AuthenticatorOptions{})

	r := c.get("/account/mfa")
	require.Equal(t, http.StatusOK, r.Status)
	assert.Contains(t, r.Body, `id="passkey-register"`)
	assert.Contains(t, r.Body, `src="/static/webauthn.js"`)

	// Register.
	r = ta.registerPasskey(c, pk, "Sam's laptop")
	require.Equal(t, http.StatusCreated, r.Status, r.Body)
	var created struct{ ID, Name string }
	require.NoError(t, json.Unmarshal([]byte(r.Body), &created))
	assert.Equal(t, "Sam's laptop", created.Name)
	assert.Equal(t, 1, ta.count(`SELECT COUNT(*) FROM mfa_credentials WHERE user_id = ?`, u.ID))
	r = c.get("/account/mfa")
	assert.Contains(t, r.Body, "Sam&#39;s laptop")
	assert.Contains(t, r.Body, `value="`+created.ID+`"`)
	assert.Contains(t, c.get("/account").Body, "1 passkey(s)")
	ta.waitAudit("mfa.webauthn.register")
	// The same authenticator cannot register twice.
	r = ta.registerPasskey(c, pk, "again")
	assert.Equal(t, http.StatusConflict, r.Status, r.Body)
	assert.Contains(t, r.Body, "credential_exists")

	// Passwordless login: no password, and MFA-verified at once.
	b := ta.client()
	r = b.get("/login")
	assert.Contains(t, r.Body, `id="passkey-login"`)
	r = ta.assertPasskey(b, pk, "/login/passkey/begin", "/login/passkey/finish")
	require.Equal(t, http.StatusOK, r.Status, r.Body)
	assert.JSONEq(t, `{"ok":true}`, r.Body)
	r = b.get("/account")
	require.Equal(t, http.StatusOK, r.Status)
	assert.Contains(t, r.Body, `id="account-email">sam@example.com<`)
	assert.Contains(t, r.Body, "with passkey")
	ta.waitAudit(string(audit.ActionLoginSucceeded))
	assert.Zero(t, ta.count(`SELECT COUNT(*) FROM audit_events WHERE action = ? AND target_kind <> ?`, audit.ActionLoginSucceeded, audit.TargetKindUser),
		"passkey and password logins name the account alike, for the audit Detector")

	// Password login now asks for the passkey; it passes the challenge.
	p, r := ta.login("sam@example.com")
	assert.Equal(t, "/mfa?next=%2Faccount", r.Location)
	r = p.get("/mfa")
	assert.Contains(t, r.Body, `id="passkey-verify"`)
	assert.NotContains(t, r.Body, `id="totp-form"`)
	r = ta.assertPasskey(p, pk, "/mfa/passkey/begin", "/mfa/passkey/finish")
	require.Equal(t, http.StatusOK, r.Status, r.Body)
	assert.True(t, p.signedIn())
	ta.waitAudit("mfa.webauthn.verify")

	// Delete: bad IDs first, then the passkey. The delete is a step-up
	// action, which the recent check satisfies.
	for _, id := range []string{"", "!!!", "AAAA", strings.Repeat("A", 2000)} {
		r := c.post("/account/mfa/passkeys/delete", url.Values{"id": {id}})
		assertClearRefusal(t, r, http.StatusNotFound, "There is no such passkey.", id)
	}
	mallory, _ := ta.userClient("mallory@example.com", "Mallory")
	r = mallory.post("/account/mfa/passkeys/delete", url.Values{"id": {created.ID}})
	assertClearRefusal(t, r, http.StatusNotFound, "There is no such passkey.")
	assert.Equal(t, 1, ta.count(`SELECT COUNT(*) FROM mfa_credentials`))

	r = c.post("/account/mfa/passkeys/delete", url.Values{"id": {created.ID}})
	require.Equal(t, http.StatusSeeOther, r.Status, r.Body)
	assert.Contains(t, c.follow(r).Body, "The passkey is removed.")
	assert.Equal(t, 0, ta.count(`SELECT COUNT(*) FROM mfa_credentials`))
	// It no longer signs in.
	r = ta.assertPasskey(ta.client(), pk, "/login/passkey/begin", "/login/passkey/finish")
	assert.Equal(t, http.StatusBadRequest, r.Status, r.Body)
	assert.Contains(t, r.Body, "verification_failed")
	_, r = ta.login("sam@example.com")
	assert.Equal(t, "/account", r.Location, "no factor left: no challenge")
	ta.assertNoErrorsLogged()
}

func TestPasskeys_Refusals(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t)
	c, u := ta.userClient("sam@example.com", "Sam")
	pk := ta.newPasskey(vwa.AuthenticatorOptions{})
	require.Equal(t, http.StatusCreated, ta.registerPasskey(c, pk, "Key").Status)

	// An authenticator that did not verify the user cannot sign in.
	noUV := ta.newPasskey(vwa.AuthenticatorOptions{UserNotVerified: true})
	noUV.cred = pk.cred
	noUV.auth.Options.UserHandle = pk.auth.Options.UserHandle
	b := ta.client()
	r := ta.assertPasskey(b, noUV, "/login/passkey/begin", "/login/passkey/finish")
	assert.Equal(t, http.StatusBadRequest, r.Status, r.Body)
	assert.False(t, b.signedIn())

	// Finishing without beginning, twice with one challenge, or with junk.
	r = b.postJSON("/login/passkey/finish", `{}`)
	assert.Equal(t, http.StatusBadRequest, r.Status)
	assert.Contains(t, r.Body, "no_challenge")
	begin := b.postJSON("/login/passkey/begin", "")
	require.Equal(t, http.StatusOK, begin.Status)
	ao, err := vwa.ParseAssertionOptions(begin.Body)
	require.NoError(t, err)
	pk.cred.Counter++
	assertion := vwa.CreateAssertionResponse(pk.rp, pk.auth, pk.cred, *ao)
	require.Equal(t, http.StatusOK, b.postJSON("/login/passkey/finish", assertion).Status)
	r = ta.client().postJSON("/login/passkey/finish", assertion)
	assert.Equal(t, http.StatusBadRequest, r.Status, "a replayed assertion")
	for _, body := range []string{"", "null", "{", `{"id":"AAAA","type":"public-key"}`, strings.Repeat("x", 70<<10)} {
		cl := ta.client()
		require.Equal(t, http.StatusOK, cl.postJSON("/login/passkey/begin", "").Status)
		r := cl.postJSON("/login/passkey/finish", body)
		assert.Contains(t, []int{http.StatusBadRequest, http.StatusRequestEntityTooLarge}, r.Status, body)
		assert.NotContains(t, r.Body, "mfa:", "no error text")
		assert.False(t, cl.signedIn())
	}

	// A cloned authenticator (the counter goes back) is refused.
	pk.cred.Counter = 0 // the next assertion sends 1, which the server has seen
	r = ta.assertPasskey(ta.client(), pk, "/login/passkey/begin", "/login/passkey/finish")
	assert.Equal(t, http.StatusBadRequest, r.Status, r.Body)
	ta.waitAudit("mfa.webauthn.clone_warning")
	pk.cred.Counter = 100

	// Signed out: registration and verification are refused.
	anon := ta.client()
	for _, p := range []string{"/account/mfa/passkeys/begin", "/account/mfa/passkeys/finish", "/mfa/passkey/begin", "/mfa/passkey/finish"} {
		r := anon.postJSON(p, "{}")
		assert.Equal(t, http.StatusUnauthorized, r.Status, p)
	}
	// A bad name for a new passkey.
	other := ta.newPasskey(vwa.AuthenticatorOptions{})
	r = ta.registerPasskey(c, other, strings.Repeat("n", 65))
	assert.Equal(t, http.StatusBadRequest, r.Status, r.Body)
	assert.Contains(t, r.Body, "bad_name")
	assert.Equal(t, 1, ta.count(`SELECT COUNT(*) FROM mfa_credentials WHERE user_id = ?`, u.ID))

	// A disabled account cannot sign in with its passkey.
	_, err = ta.db.setDisabled(t.Context(), u.ID, true)
	require.NoError(t, err)
	b = ta.client()
	r = ta.assertPasskey(b, pk, "/login/passkey/begin", "/login/passkey/finish")
	assert.Equal(t, http.StatusForbidden, r.Status, r.Body)
	assert.Contains(t, r.Body, "account_disabled")
	assert.False(t, b.signedIn())
	ta.assertNoErrorsLogged()
}

// TestPasskeys_StepUpAndLogoutEverywhere: registering another passkey is a
// step-up action; "log out everywhere" ends passkey sessions too.
func TestPasskeys_StepUpAndLogoutEverywhere(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t)
	c, _ := ta.userClient("sam@example.com", "Sam")
	pk := ta.newPasskey(vwa.AuthenticatorOptions{})
	require.Equal(t, http.StatusCreated, ta.registerPasskey(c, pk, "First").Status)

	ta.Clock.Add(ta.cfg.StepUp + 1)
	second := ta.newPasskey(vwa.AuthenticatorOptions{})
	r := ta.registerPasskey(c, second, "Second")
	assert.Equal(t, http.StatusUnauthorized, r.Status)
	assert.Contains(t, r.Body, "step_up_required")
	r = ta.assertPasskey(c, pk, "/mfa/passkey/begin", "/mfa/passkey/finish")
	require.Equal(t, http.StatusOK, r.Status, r.Body)
	require.Equal(t, http.StatusCreated, ta.registerPasskey(c, second, "Second").Status)

	// Two passkey sessions and a password one; log out everywhere.
	b1 := ta.client()
	require.Equal(t, http.StatusOK, ta.assertPasskey(b1, pk, "/login/passkey/begin", "/login/passkey/finish").Status)
	b2 := ta.client()
	require.Equal(t, http.StatusOK, ta.assertPasskey(b2, second, "/login/passkey/begin", "/login/passkey/finish").Status)
	require.True(t, b1.signedIn())
	require.True(t, b2.signedIn())
	r = b1.post("/logout/everywhere", nil)
	require.Equal(t, http.StatusSeeOther, r.Status)
	for i, cl := range []*client{c, b1, b2} {
		assert.False(t, cl.signedIn(), i)
	}
}

// TestPasskeys_AdminKeepsAFactor: an administrator with only a passkey
// cannot delete it.
func TestPasskeys_AdminKeepsAFactor(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t)
	adm, u := ta.userClient("admin@example.com", "Admin", roleAdmin)
	pk := ta.newPasskey(vwa.AuthenticatorOptions{})
	// Registration is reachable while enrolment is required.
	r := ta.registerPasskey(adm, pk, "Admin key")
	require.Equal(t, http.StatusCreated, r.Status, r.Body)
	var created struct{ ID string }
	require.NoError(t, json.Unmarshal([]byte(r.Body), &created))
	// Registering it verified the session, as confirming TOTP does:
	// straight in (this used to send the new administrator to the
	// challenge to use the passkey they had just registered).
	require.Equal(t, http.StatusOK, adm.get("/admin").Status)
	// Another session of theirs verifies with it.
	adm2, r := ta.login("admin@example.com")
	assert.Equal(t, "/mfa?next=%2Faccount", r.Location)
	require.Equal(t, http.StatusOK, ta.assertPasskey(adm2, pk, "/mfa/passkey/begin", "/mfa/passkey/finish").Status)
	require.Equal(t, http.StatusOK, adm2.get("/admin").Status)

	r = adm.post("/account/mfa/passkeys/delete", url.Values{"id": {created.ID}})
	assertClearRefusal(t, r, http.StatusConflict, "Administrators must keep a second factor")
	assert.Equal(t, 1, ta.count(`SELECT COUNT(*) FROM mfa_credentials WHERE user_id = ?`, u.ID))
	// With TOTP as well, the passkey may go.
	ta.enrolTOTP(adm)
	r = adm.post("/account/mfa/passkeys/delete", url.Values{"id": {created.ID}})
	require.Equal(t, http.StatusSeeOther, r.Status, r.Body)
	assert.Equal(t, 0, ta.count(`SELECT COUNT(*) FROM mfa_credentials WHERE user_id = ?`, u.ID))
}
