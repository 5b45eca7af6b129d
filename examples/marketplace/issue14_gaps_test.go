package main

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/descope/virtualwebauthn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/audit/detect"
	"github.com/deployedworks/rampart/headers"
	"github.com/deployedworks/rampart/mfa"
	"github.com/deployedworks/rampart/mfa/passkey"
	"github.com/deployedworks/rampart/notify"
)

// TestReset_WithRecoveryCode: a user who lost the authenticator resets
// the password with a recovery code: the code is used up, the user is
// told, and every session ends.
func TestReset_WithRecoveryCode(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t)
	owner, u := ta.userClient("quinn@example.com", "Quinn")
	r := owner.post("/account/mfa/totp", url.Values{})
	require.Equal(t, http.StatusOK, r.Status, r.Body)
	secret := strings.ReplaceAll(secretRE.FindStringSubmatch(r.Body)[1], " ", "")
	r = owner.post("/account/mfa/totp/confirm", url.Values{"code": {ta.code(secret)}})
	require.Equal(t, http.StatusOK, r.Status, r.Body)
	codes := recoveryCodeRE.FindAllStringSubmatch(r.Body, -1)
	require.Len(t, codes, 10)
	code := codes[0][1]

	c := ta.client()
	require.Equal(t, http.StatusOK, c.post("/forgot", url.Values{"email": {"quinn@example.com"}}).Status)
	link := ta.linkIn(ta.mailTo("quinn@example.com", "password_reset"))
	r = c.get(link)
	require.Equal(t, http.StatusSeeOther, r.Status)
	require.Contains(t, r.Location, "/mfa")
	r = c.post("/mfa/recovery", url.Values{"code": {code}, "next": {"/reset/continue"}})
	require.Equal(t, http.StatusSeeOther, r.Status, r.Body)
	assert.Equal(t, "/reset/continue", r.Location)
	r = c.get("/reset/continue")
	require.Contains(t, r.Body, `id="reset-form"`)
	r = c.post("/reset", url.Values{"token": {tokenOf(link)}, "password": {newPassword}, "password2": {newPassword}})
	require.Equal(t, http.StatusSeeOther, r.Status, r.Body)
	assert.Equal(t, "/login", r.Location)

	assert.Equal(t, 9, must(ta.recovery.Remaining(t.Context(), u.ID)), "the code is used up")
	assert.False(t, owner.signedIn(), "every session ended")
	assert.False(t, c.signedIn(), "the reset session too")
	ta.mailTo("quinn@example.com", string(mfa.ActionRecoveryUse))
	ta.mailTo("quinn@example.com", "password_changed")

	// The code does not work twice.
	c2 := ta.client()
	r = c2.post("/login", url.Values{"email": {"quinn@example.com"}, "password": {newPassword}})
	require.Equal(t, http.StatusSeeOther, r.Status, r.Body)
	require.Contains(t, r.Location, "/mfa")
	r = c2.post("/mfa/recovery", url.Values{"code": {code}, "next": {"/account"}})
	assert.NotEqual(t, http.StatusSeeOther, r.Status, "a used recovery code")
	r = c2.post("/mfa/recovery", url.Values{"code": {codes[1][1]}, "next": {"/account"}})
	assert.Equal(t, http.StatusSeeOther, r.Status, r.Body)
}

var markers atomic.Int64

// countKind returns how many messages of kind the development Sender sent
// to address, after a marker queued now has been delivered (so that
// anything queued before it has been too).
func (ta *testApp) countKind(address, kind string) int {
	ta.t.Helper()
	marker := fmt.Sprint("marker", markers.Add(1))
	require.NoError(ta.t, ta.outbox.Enqueue(context.Background(), notify.Message{Key: marker, To: address, Kind: marker, Subject: "m", Text: "m"}))
	ta.mailTo(address, marker)
	n := 0
	for _, m := range ta.devMail.sent(address) {
		if m.Kind == kind {
			n++
		}
	}
	return n
}

// TestAlerts_CloneWarningAndReportFlood: a cloned passkey (its counter
// went back) and the daily cap of browser reports each reach the security
// contacts, once: the same alert again within the window is not mailed.
func TestAlerts_CloneWarningAndReportFlood(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t, func(c *Config) { c.AlertTo = []string{"soc@example.com"} })
	c, _ := ta.userClient("rita@example.com", "Rita")
	pk := ta.newPasskey(virtualwebauthn.AuthenticatorOptions{})
	require.Equal(t, http.StatusCreated, ta.registerPasskey(c, pk, "Key").Status)
	pk.cred.Counter = 5
	r := ta.assertPasskey(ta.client(), pk, "/login/passkey/begin", "/login/passkey/finish")
	require.Equal(t, http.StatusOK, r.Status, r.Body)
	for range 2 { // the clone, twice
		pk.cred.Counter = 0
		r = ta.assertPasskey(ta.client(), pk, "/login/passkey/begin", "/login/passkey/finish")
		require.Equal(t, http.StatusBadRequest, r.Status, r.Body)
	}
	m := ta.mailTo("soc@example.com", string(passkey.ActionCloneWarning))
	assert.Contains(t, m.Text, "may have been cloned")
	assert.Equal(t, 1, ta.countKind("soc@example.com", string(passkey.ActionCloneWarning)))

	// The report cap, as package headers records it, twice.
	for range 2 {
		ta.audit.Log(context.Background(), audit.Event{Category: audit.CategorySecurityAlert, Action: headers.ActionReportsCapped,
			Outcome: audit.OutcomeFailure, Time: ta.Clock.Now()})
	}
	m = ta.mailTo("soc@example.com", string(headers.ActionReportsCapped))
	assert.Contains(t, m.Text, "flood of browser security reports")
	assert.Equal(t, 1, ta.countKind("soc@example.com", string(headers.ActionReportsCapped)))
}

// TestMultiInstance_DetectorShared: a stuffing attack on one login name
// split across two instances (3 addresses on one, 2 on the other: the
// threshold is 5) raises the alert that neither instance alone would,
// whether the name has an account (its events name the user ID) or not
// (its events name a digest keyed with the key every instance derives
// from the audit key; with a key of each Authenticator's own, the two
// instances would count two names and raise nothing).
func TestMultiInstance_DetectorShared(t *testing.T) {
	for _, existing := range []bool{true, false} {
		t.Run(fmt.Sprint("existing account ", existing), func(t *testing.T) {
			tas := newInstances(t, 2, func(c *Config) {
				c.AlertTo = []string{"soc@example.com"}
				c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
			})
			victim := "stuffed-" + newID()[:8] + "@example.com"
			if existing {
				tas[0].createUser(victim, "Stuffed")
			}
			for i := range 5 {
				ta := tas[i%2]
				req, err := http.NewRequest(http.MethodPost, ta.URL+"/login",
					strings.NewReader(url.Values{"email": {victim}, "password": {fmt.Sprint("guess ", i, " correct horse")}}.Encode()))
				require.NoError(t, err)
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.Header.Set("X-Forwarded-For", fmt.Sprintf("198.51.100.%d", 10+i))
				r := ta.client().do(req)
				require.Equal(t, http.StatusUnauthorized, r.Status, r.Body)
			}
			m := mailToAny(t, tas, "soc@example.com", string(detect.ActionCredentialStuffing))
			assert.Contains(t, m.Text, "Credential stuffing")
		})
	}
}
