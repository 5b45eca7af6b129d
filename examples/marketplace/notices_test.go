package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/audit/detect"
	"github.com/deployedworks/rampart/mfa"
	"github.com/deployedworks/rampart/notify"
)

// TestNotices: the user is told of a second factor set up, of a role
// granted and of their account disabled, each once.
func TestNotices(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t)
	adm, _, _ := ta.adminClient("root@example.com")
	c, u := ta.userClient("gina@example.com", "Gina")
	ta.enrolTOTP(c)
	m := ta.mailTo("gina@example.com", string(mfa.ActionTOTPConfirm))
	assert.Contains(t, m.Text, "An authenticator app was set up")

	r := adm.post("/admin/users/"+u.ID+"/roles", url.Values{"role": {roleModerator}, "op": {"grant"}})
	require.Equal(t, http.StatusSeeOther, r.Status, r.Body)
	assert.Contains(t, ta.mailTo("gina@example.com", string(ActionRoleGranted)).Text, "a new role")
	r = adm.post("/admin/users/"+u.ID+"/disable", nil)
	require.Equal(t, http.StatusSeeOther, r.Status, r.Body)
	m = ta.mailTo("gina@example.com", string(ActionAccountDisabled))
	assert.Contains(t, m.Text, "disabled by an administrator")
	n := 0
	for _, m := range ta.devMail.sent("gina@example.com") {
		if m.Kind == string(ActionRoleGranted) {
			n++
		}
	}
	assert.Equal(t, 1, n, "one notice per event")
}

// TestAlerts_ReachTheSecurityContacts: the detector's alerts are mailed to
// the security contacts, one per target and window.
func TestAlerts_ReachTheSecurityContacts(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t, func(c *Config) { c.AlertTo = []string{"soc@example.com", "oncall@example.com"} })
	c := ta.client()
	for i := range 12 {
		r := c.post("/login", url.Values{"email": {fmt.Sprintf("ghost%d@example.com", i)}, "password": {"Spring2026 spring2026"}})
		require.Equal(t, http.StatusUnauthorized, r.Status, r.Body)
	}
	for _, to := range []string{"soc@example.com", "oncall@example.com"} {
		m := ta.mailTo(to, string(detect.ActionPasswordSpraying))
		assert.Contains(t, m.Text, "Password spraying")
	}

	// Two alerts on one target within the window: one mail.
	ctx := context.Background()
	for range 2 {
		ta.audit.Log(ctx, audit.Event{Category: audit.CategorySecurityAlert, Action: detect.ActionCredentialStuffing,
			Outcome: audit.OutcomeFailure, Target: audit.Target{Kind: audit.TargetKindLogin, ID: "victim@example.com"}, Time: ta.Clock.Now()})
	}
	ta.mailTo("soc@example.com", string(detect.ActionCredentialStuffing))
	// A later message shows that the second alert was not queued behind it.
	require.NoError(t, ta.outbox.Enqueue(ctx, notify.Message{Key: "marker", To: "soc@example.com", Kind: "marker", Subject: "m", Text: "m"}))
	ta.mailTo("soc@example.com", "marker")
	n := 0
	for _, m := range ta.devMail.sent("soc@example.com") {
		if m.Kind == string(detect.ActionCredentialStuffing) {
			n++
		}
	}
	assert.Equal(t, 1, n)
}

// TestAlertContacts: the default is the security.txt contact; anything but
// a bare address is refused.
func TestAlertContacts(t *testing.T) {
	t.Parallel()
	a := &App{cfg: Config{Contact: "mailto:security@deployed.works"}}
	to, err := a.alertContacts()
	require.NoError(t, err)
	assert.Equal(t, []string{"security@deployed.works"}, to)
	for _, bad := range [][]string{{"Sec <sec@example.com>"}, {"sec@example.com\r\nBcc: x@example.com"}, {""}} {
		a.cfg.AlertTo = bad
		_, err := a.alertContacts()
		assert.Error(t, err, bad)
	}
	a = &App{cfg: Config{Contact: "https://example.com/security"}}
	_, err = a.alertContacts()
	assert.ErrorContains(t, err, "MARKETPLACE_ALERT_TO")
}

// TestAdminSendsResetLink: an administrator (with a recent second factor)
// has a reset link mailed to a user, audited; the user's password and
// sessions stay until they use it; a disabled account gets nothing.
func TestAdminSendsResetLink(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t)
	adm, _, _ := ta.adminClient("root@example.com")
	c, u := ta.userClient("hana@example.com", "Hana")

	r := adm.get("/admin/users/" + u.ID)
	require.Contains(t, r.Body, `id="send-reset"`)
	r = adm.post("/admin/users/"+u.ID+"/reset", nil)
	require.Equal(t, http.StatusSeeOther, r.Status, r.Body)
	assert.Contains(t, adm.follow(r).Body, "on its way to hana@example.com")
	assert.True(t, c.signedIn(), "nothing changes until the user acts")
	rows := ta.waitAuditRows(string(ActionResetLinkSent))
	require.Len(t, rows, 1)
	assert.Equal(t, u.ID, rows[0].TargetID)

	link := ta.linkIn(ta.mailTo("hana@example.com", "password_reset"))
	r = c.post("/reset", url.Values{"token": {tokenOf(link)}, "password": {newPassword}, "password2": {newPassword}})
	require.Equal(t, http.StatusSeeOther, r.Status, r.Body)
	assert.False(t, c.signedIn())

	// A user may not use it (403), nor an admin on a disabled account.
	someone, _ := ta.userClient("ivan@example.com", "Ivan")
	assert.Equal(t, http.StatusForbidden, someone.post("/admin/users/"+u.ID+"/reset", nil).Status)
	require.Equal(t, http.StatusSeeOther, adm.post("/admin/users/"+u.ID+"/disable", nil).Status)
	r = adm.post("/admin/users/"+u.ID+"/reset", nil)
	assert.Contains(t, adm.follow(r).Body, "No link was sent")
	assert.Len(t, ta.waitAuditRows(string(ActionResetLinkSent)), 1)
}
