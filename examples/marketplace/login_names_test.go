package main

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/audit/detect"
)

// badNames are e-mail addresses no account can have: PostgreSQL refuses
// the first two outright, and net/mail accepts the last.
var badNames = map[string]string{
	"NUL":           "seller@example.com\x00",
	"invalid UTF-8": "seller\xff@example.com",
	"C0 control":    "sel\x01ler@example.com",
	"C1 control":    "seller\u0085@example.com",
}

// TestLogin_InvalidNames: a login name with NUL, another control character
// or invalid UTF-8 is answered like a wrong password (401, the same
// message), audited as a failed login, and logs no error, on SQLite and
// PostgreSQL. On the old code PostgreSQL failed on NUL and invalid UTF-8:
// a 500 for an unauthenticated request, an ERROR log and an error event
// each time.
func TestLogin_InvalidNames(t *testing.T) {
	t.Parallel()
	for name, newApp := range testAppDialects() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ta := newApp(t)
			ta.createUser("seller@example.com", "Seller")
			c := ta.client()

			wrong := c.post("/login", url.Values{"email": {"seller@example.com"}, "password": {"wrong password entirely"}})
			require.Equal(t, http.StatusUnauthorized, wrong.Status, wrong.Body)
			msg := errorText(wrong.Body)
			require.NotEmpty(t, msg)

			for name, email := range badNames {
				r := c.post("/login", url.Values{"email": {email}, "password": {goodPassword}})
				assertClearRefusal(t, r, http.StatusUnauthorized, msg, name)
				assert.Equal(t, msg, errorText(r.Body), name)
			}
			assert.False(t, c.signedIn())
			ta.flushAudit()
			assert.Zero(t, ta.count(`SELECT COUNT(*) FROM audit_events WHERE category = ?`, string(audit.CategoryError)), "no error events")
			assert.Equal(t, len(badNames), ta.count(`SELECT COUNT(*) FROM audit_events WHERE action = ? AND reason = ?`,
				audit.ActionLoginFailed, "bad_login_name"), "each audited as a failed login")
			ta.assertNoErrorsLogged()

			// The owner is unaffected.
			_, r := ta.login("seller@example.com")
			assert.Equal(t, http.StatusSeeOther, r.Status)
		})
	}
}

// TestSignup_InvalidNames: sign-up refuses an address no account could log
// in with, with a 422 and a clear message, and creates nothing. On the old
// code a C1 control character passed (net/mail allows it) and NUL or
// invalid UTF-8 reached the database on PostgreSQL.
func TestSignup_InvalidNames(t *testing.T) {
	t.Parallel()
	for name, newApp := range testAppDialects() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ta := newApp(t)
			c := ta.client()
			for name, email := range badNames {
				r := c.post("/signup", signupForm(email, "Seller", goodPassword, goodPassword))
				assertClearRefusal(t, r, http.StatusUnprocessableEntity, "Enter a valid e-mail address", name)
			}
			assert.Zero(t, ta.count(`SELECT COUNT(*) FROM users`), "nothing was created")
			ta.assertNoErrorsLogged()
		})
	}
}

// TestLogin_SprayingOverUnknownAccounts: failed logins from one address on
// unknown accounts raise one password-spraying alert in the app's audit
// log. On the old code they raised none.
func TestLogin_SprayingOverUnknownAccounts(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t)
	c := ta.client()
	for i := range 12 {
		r := c.post("/login", url.Values{"email": {fmt.Sprintf("ghost%d@example.com", i)}, "password": {"Spring2026 spring2026"}})
		require.Equal(t, http.StatusUnauthorized, r.Status, r.Body)
	}
	assert.Equal(t, 1, ta.waitAudit(string(detect.ActionPasswordSpraying)))
	rows := ta.waitAuditRows(string(audit.ActionLoginFailed))
	require.Len(t, rows, 12)
	for _, r := range rows {
		assert.NotContains(t, r.TargetID, "ghost", "unknown names are not stored")
		assert.Len(t, r.TargetID, 16)
	}
}
