package main

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/audit"
)

func TestAdmin_Access(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t)
	target := ta.createUser("target@example.com", "Target")
	userPaths := []string{"/admin", "/admin/users", "/admin/users/" + target.ID, "/admin/audit"}
	posts := []string{"/admin/users/" + target.ID + "/roles", "/admin/users/" + target.ID + "/disable",
		"/admin/users/" + target.ID + "/enable", "/admin/users/" + target.ID + "/sessions/revoke", "/admin/audit/verify"}
	grant := url.Values{"role": {roleAdmin}, "op": {"grant"}}

	// Signed out: to the login page.
	anon := ta.client()
	for _, p := range userPaths {
		assert.Equal(t, "/login?next="+url.QueryEscape(p), anon.get(p).Location, p)
	}
	// Users and moderators: 403, nothing changes.
	user, _ := ta.userClient("user@example.com", "User")
	mod, _ := ta.moderatorClient("mod@example.com")
	for _, c := range []*client{user, mod} {
		for _, p := range userPaths {
			assertClearRefusal(t, c.get(p), http.StatusForbidden, "You do not have access to this page.", p)
		}
		for _, p := range posts {
			assertClearRefusal(t, c.post(p, grant), http.StatusForbidden, "You do not have access to this page.", p)
		}
	}
	assert.NotContains(t, user.get("/account").Body, `id="nav-admin"`)
	got, err := ta.db.userByID(t.Context(), target.ID)
	require.NoError(t, err)
	assert.Empty(t, got.Roles)
	assert.False(t, got.Disabled)

	// An administrator without a second factor is sent to set one up,
	// and can do nothing else.
	adm, _ := ta.userClient("admin@example.com", "Admin", roleAdmin)
	for _, p := range userPaths {
		r := adm.get(p)
		assert.Equal(t, http.StatusSeeOther, r.Status, p)
		assert.Equal(t, "/account/mfa?next="+url.QueryEscape(p), r.Location, p)
	}
	r := adm.post("/admin/users/"+target.ID+"/roles", grant)
	assert.Equal(t, http.StatusSeeOther, r.Status)
	assert.True(t, strings.HasPrefix(r.Location, "/account/mfa?next="), r.Location)
	assert.Contains(t, adm.follow(r).Body, "Your role requires a second factor")
	for _, p := range []string{"/account", "/listings/new", "/moderation"} {
		assert.True(t, strings.HasPrefix(adm.get(p).Location, "/account/mfa"), p)
	}
	r = adm.get("/account/mfa?next=%2Fadmin")
	require.Equal(t, http.StatusOK, r.Status)
	assert.Contains(t, r.Body, `id="mfa-required"`)
	assert.Contains(t, adm.get("/").Body, `id="nav-finish"`, "the menu says sign-in is not finished")

	// Once enrolled (the session is verified by the confirmation), in.
	secret := ta.enrolTOTP(adm)
	r = adm.get("/admin")
	require.Equal(t, http.StatusOK, r.Status)
	assert.Contains(t, r.Body, `id="count-users"`)
	assert.Contains(t, r.Body, `id="nav-admin"`)

	// A new session of the same administrator must verify first.
	adm2, r := ta.login("admin@example.com")
	assert.Equal(t, "/mfa?next=%2Faccount", r.Location)
	r = adm2.get("/admin")
	assert.Equal(t, http.StatusSeeOther, r.Status)
	assert.Equal(t, "/mfa?next=%2Fadmin", r.Location)
	r = adm2.post("/admin/users/"+target.ID+"/roles", grant)
	assert.Equal(t, http.StatusSeeOther, r.Status)
	assert.True(t, strings.HasPrefix(r.Location, "/mfa?next="), r.Location)
	// A script is told so in JSON.
	req, _ := http.NewRequest(http.MethodGet, ta.URL+"/admin", nil)
	req.Header.Set("Accept", "application/json")
	r = adm2.do(req)
	assert.Equal(t, http.StatusUnauthorized, r.Status)
	assert.Contains(t, r.Body, "mfa_required")
	got, _ = ta.db.userByID(t.Context(), target.ID)
	assert.Empty(t, got.Roles, "nothing changed before verification")

	r = adm2.post("/mfa/totp", url.Values{"code": {ta.nextCode(secret)}, "next": {"/admin"}})
	require.Equal(t, http.StatusSeeOther, r.Status, r.Body)
	assert.Equal(t, "/admin", r.Location)
	assert.Equal(t, http.StatusOK, adm2.get("/admin").Status)
}

func TestAdmin_StepUp(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t)
	adm, _, secret := ta.adminClient("admin@example.com")
	target, _ := ta.userClient("target@example.com", "Target")
	tu, _ := ta.db.userByEmail(t.Context(), "target@example.com")

	// The verification at enrolment is recent: changes go through.
	r := adm.post("/admin/users/"+tu.ID+"/roles", url.Values{"role": {roleModerator}, "op": {"grant"}})
	require.Equal(t, http.StatusSeeOther, r.Status, r.Body)
	assert.Equal(t, "/admin/users/"+tu.ID, r.Location)

	// Past the step-up age, pages still open but changes ask again.
	ta.Clock.Add(ta.cfg.StepUp + time.Minute)
	require.Equal(t, http.StatusOK, adm.get("/admin/users/"+tu.ID).Status)
	req, _ := http.NewRequest(http.MethodPost, ta.URL+"/admin/users/"+tu.ID+"/roles",
		strings.NewReader(url.Values{"role": {roleModerator}, "op": {"revoke"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Referer", ta.URL+"/admin/users/"+tu.ID)
	r = adm.do(req)
	assert.Equal(t, http.StatusSeeOther, r.Status)
	assert.Equal(t, "/mfa?next="+url.QueryEscape("/admin/users/"+tu.ID), r.Location, "back to the page the form was on")
	assert.Contains(t, adm.follow(r).Body, "Please confirm it is you")
	got, _ := ta.db.userByID(t.Context(), tu.ID)
	assert.Equal(t, []string{roleModerator}, got.Roles, "nothing changed")
	for _, p := range []string{"/disable", "/enable", "/sessions/revoke"} {
		r := adm.post("/admin/users/"+tu.ID+p, nil)
		assert.Equal(t, http.StatusSeeOther, r.Status, p)
		assert.True(t, strings.HasPrefix(r.Location, "/mfa?next="), p)
	}
	got, _ = ta.db.userByID(t.Context(), tu.ID)
	assert.False(t, got.Disabled)
	ta.waitAudit("mfa.policy.denied")

	// Verify again, and the change goes through.
	ta.verifyTOTP(adm, secret)
	r = adm.post("/admin/users/"+tu.ID+"/roles", url.Values{"role": {roleModerator}, "op": {"revoke"}})
	require.Equal(t, http.StatusSeeOther, r.Status, r.Body)
	got, _ = ta.db.userByID(t.Context(), tu.ID)
	assert.Empty(t, got.Roles)
	_ = target
}

func TestAdmin_Roles(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t)
	adm, admUser, _ := ta.adminClient("admin@example.com")
	target, tu := ta.userClient("target@example.com", "Target")
	targetPhone, _ := ta.login("target@example.com")
	bystander, _ := ta.userClient("bystander@example.com", "Bystander")

	r := adm.get("/admin/users/" + tu.ID)
	require.Equal(t, http.StatusOK, r.Status)
	assert.Contains(t, r.Body, `id="user-email">target@example.com<`)
	assert.Contains(t, r.Body, `id="user-sessions">2<`)
	assert.Contains(t, r.Body, `id="grant-form"`)
	assert.Equal(t, http.StatusForbidden, target.get("/moderation").Status)

	// Bad requests: a clear 4xx and no change, nobody signed out.
	path := "/admin/users/" + tu.ID + "/roles"
	tests := []struct {
		name, path, ct, body string
		status               int
		msg                  string
	}{
		{"no fields", path, "application/x-www-form-urlencoded", "", http.StatusUnprocessableEntity, "Choose a role (moderator or admin) and whether to grant or revoke it."},
		{"unknown role", path, "application/x-www-form-urlencoded", "role=superuser&op=grant", http.StatusUnprocessableEntity, "Choose a role"},
		{"role case", path, "application/x-www-form-urlencoded", "role=Admin&op=grant", http.StatusUnprocessableEntity, "Choose a role"},
		{"unknown op", path, "application/x-www-form-urlencoded", "role=moderator&op=toggle", http.StatusUnprocessableEntity, "Choose a role"},
		{"JSON", path, "application/json", `{"role":"admin","op":"grant"}`, http.StatusUnsupportedMediaType, "must be sent as"},
		{"oversized", path, "application/x-www-form-urlencoded", "role=admin&op=grant&x=" + strings.Repeat("x", 70<<10), http.StatusRequestEntityTooLarge, "The form is too large"},
		{"unknown user", "/admin/users/" + newID() + "/roles", "application/x-www-form-urlencoded", "role=admin&op=grant", http.StatusNotFound, "There is no such user."},
		{"malformed user ID", "/admin/users/1/roles", "application/x-www-form-urlencoded", "role=admin&op=grant", http.StatusNotFound, "There is no such user."},
		{"malformed user ID, bad form", "/admin/users/1/roles", "application/x-www-form-urlencoded", "role=x", http.StatusNotFound, "There is no such user."},
		{"oneself", "/admin/users/" + admUser.ID + "/roles", "application/x-www-form-urlencoded", "role=admin&op=revoke", http.StatusConflict, "You cannot change your own account here"},
	}
	for _, tt := range tests {
		r := adm.postRaw(tt.path, tt.ct, tt.body)
		assertClearRefusal(t, r, tt.status, tt.msg, tt.name)
		got, _ := ta.db.userByID(t.Context(), tu.ID)
		assert.Empty(t, got.Roles, tt.name)
		me, _ := ta.db.userByID(t.Context(), admUser.ID)
		assert.Equal(t, []string{roleAdmin}, me.Roles, tt.name)
	}
	require.True(t, target.signedIn())
	require.True(t, targetPhone.signedIn())
	for _, id := range []string{"1", newID()} {
		assertClearRefusal(t, adm.get("/admin/users/"+id), http.StatusNotFound, "There is no such user.")
	}

	// Grant: every session of theirs ends, so the new role applies at once.
	r = adm.post(path, url.Values{"role": {roleModerator}, "op": {"grant"}})
	require.Equal(t, http.StatusSeeOther, r.Status, r.Body)
	page := adm.follow(r)
	assert.Contains(t, page.Body, "Target now has the moderator role. Their sessions are signed out.")
	assert.Contains(t, page.Body, `id="user-roles">moderator<`)
	assert.Contains(t, page.Body, `id="user-sessions">0<`)
	assert.False(t, target.signedIn())
	assert.False(t, targetPhone.signedIn())
	assert.True(t, bystander.signedIn(), "other users are untouched")
	assert.True(t, adm.signedIn())
	target, _ = ta.login("target@example.com")
	assert.Equal(t, http.StatusOK, target.get("/moderation").Status)
	rows := ta.waitAuditRows("role.granted")
	require.Len(t, rows, 1)
	assert.Equal(t, "access", rows[0].Category)
	assert.Equal(t, admUser.ID, rows[0].ActorID)
	assert.Equal(t, tu.ID, rows[0].TargetID)
	ta.waitAudit("admin.request")

	// Granting it again changes nothing and signs nobody out.
	r = adm.post(path, url.Values{"role": {roleModerator}, "op": {"grant"}})
	require.Equal(t, http.StatusSeeOther, r.Status)
	assert.Contains(t, adm.follow(r).Body, "Nothing to change: Target has the moderator role.")
	assert.True(t, target.signedIn())

	// Revoke: signed out again, and the power is gone.
	r = adm.post(path, url.Values{"role": {roleModerator}, "op": {"revoke"}})
	require.Equal(t, http.StatusSeeOther, r.Status)
	assert.Contains(t, adm.follow(r).Body, "Target no longer has the moderator role.")
	assert.False(t, target.signedIn())
	target, _ = ta.login("target@example.com")
	assert.Equal(t, http.StatusForbidden, target.get("/moderation").Status)
	r = adm.post(path, url.Values{"role": {roleModerator}, "op": {"revoke"}})
	assert.Contains(t, adm.follow(r).Body, "Nothing to change: Target does not have the moderator role.")
	assert.Len(t, ta.waitAuditRows("role.revoked"), 1)

	// Granting admin: at the next login they must set up a factor.
	r = adm.post(path, url.Values{"role": {roleAdmin}, "op": {"grant"}})
	require.Equal(t, http.StatusSeeOther, r.Status)
	_, r = ta.login("target@example.com")
	assert.Equal(t, "/account/mfa?next=%2Faccount", r.Location)

	// The user's own page says they cannot change themselves.
	r = adm.get("/admin/users/" + admUser.ID)
	require.Equal(t, http.StatusOK, r.Status)
	assert.Contains(t, r.Body, `id="self-note"`)
	assert.NotContains(t, r.Body, `id="grant-form"`)
	ta.assertNoErrorsLogged()
}

func TestAdmin_DisableEnableRevoke(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t)
	adm, _, _ := ta.adminClient("admin@example.com")
	target, tu := ta.userClient("target@example.com", "Target")
	l := ta.addListing(tu.ID, "Target's lamp", 100)

	// Revoke sessions only.
	r := adm.post("/admin/users/"+tu.ID+"/sessions/revoke", nil)
	require.Equal(t, http.StatusSeeOther, r.Status, r.Body)
	assert.Contains(t, adm.follow(r).Body, "Their sessions are signed out.")
	assert.False(t, target.signedIn())
	ta.waitAudit("sessions.revoked")
	target, _ = ta.login("target@example.com")

	// Disable: signed out, and no way back in.
	r = adm.post("/admin/users/"+tu.ID+"/disable", nil)
	require.Equal(t, http.StatusSeeOther, r.Status, r.Body)
	page := adm.follow(r)
	assert.Contains(t, page.Body, "Target&#39;s account is disabled. Their sessions are signed out.")
	assert.Contains(t, page.Body, `id="user-status">disabled<`)
	assert.Contains(t, page.Body, `id="enable-user"`)
	assert.False(t, target.signedIn())
	r = ta.client().post("/login", url.Values{"email": {"target@example.com"}, "password": {goodPassword}})
	assertClearRefusal(t, r, http.StatusUnauthorized, "Wrong e-mail address or password.")
	assert.Len(t, ta.waitAuditRows("account.disabled"), 1)
	// Disabling twice changes nothing.
	r = adm.post("/admin/users/"+tu.ID+"/disable", nil)
	assert.Contains(t, adm.follow(r).Body, "Nothing to change.")
	// Their listings stay as they were (moderation decides about them).
	ta.requireUnchanged(l)

	// Enable: they can log in again.
	r = adm.post("/admin/users/"+tu.ID+"/enable", nil)
	require.Equal(t, http.StatusSeeOther, r.Status)
	page = adm.follow(r)
	assert.Contains(t, page.Body, "Target&#39;s account is enabled.")
	assert.NotContains(t, page.Body, "Their sessions are signed out.")
	_, r = ta.login("target@example.com")
	assert.Equal(t, "/account", r.Location)
	assert.Len(t, ta.waitAuditRows("account.enabled"), 1)
	r = adm.post("/admin/users/"+tu.ID+"/enable", nil)
	assert.Contains(t, adm.follow(r).Body, "Nothing to change.")

	// Malformed and unknown IDs, and oneself.
	for _, p := range []string{"/disable", "/enable", "/sessions/revoke"} {
		assertClearRefusal(t, adm.post("/admin/users/zzz"+p, nil), http.StatusNotFound, "There is no such user.", p)
		assertClearRefusal(t, adm.post("/admin/users/"+newID()+p, nil), http.StatusNotFound, "There is no such user.", p)
	}
	admUser, _ := ta.db.userByEmail(t.Context(), "admin@example.com")
	assertClearRefusal(t, adm.post("/admin/users/"+admUser.ID+"/disable", nil), http.StatusConflict, "You cannot change your own account here")
	assert.True(t, adm.signedIn())
	ta.assertNoErrorsLogged()
}

func TestAdmin_Users(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t)
	adm, _, _ := ta.adminClient("admin@example.com")
	ta.createUser("mod@example.com", "Mod", roleModerator)
	ta.createUser("x_y@example.com", "Underscore")
	ta.createUser("xay@example.com", "Not underscore")
	for i := range 55 {
		ta.createUser(fmt.Sprintf("bulk%03d@example.org", i), "Bulk")
	}

	r := adm.get("/admin/users")
	require.Equal(t, http.StatusOK, r.Status)
	assert.Equal(t, 50, strings.Count(r.Body, `<tr><td><a href="/admin/users/`))
	assert.Contains(t, r.Body, `href="/admin/users?page=2"`)
	r = adm.get("/admin/users?page=2")
	assert.Equal(t, 9, strings.Count(r.Body, `<tr><td><a href="/admin/users/`))
	r = adm.get("/admin/users?role=moderator")
	assert.Equal(t, 1, strings.Count(r.Body, `<tr><td><a href="/admin/users/`))
	assert.Contains(t, r.Body, "mod@example.com")
	r = adm.get("/admin/users?q=x_y")
	assert.Equal(t, 1, strings.Count(r.Body, `<tr><td><a href="/admin/users/`), "LIKE wildcards are literal")
	r = adm.get("/admin/users?q=EXAMPLE.ORG&role=")
	assert.Equal(t, 50, strings.Count(r.Body, `<tr><td><a href="/admin/users/`))
	assert.Contains(t, r.Body, `href="/admin/users?page=2&amp;q=EXAMPLE.ORG"`)

	for _, tt := range []struct{ q, msg string }{
		{"role=root", "Unknown role"},
		{"page=0", "The page must be a number from 1 to 500."},
		{"page=x", "The page must be a number"},
		{"q=" + strings.Repeat("a", 255), "Search for at most 254 characters"},
		{"q=a%0Ab", "on one line"},
	} {
		assertClearRefusal(t, adm.get("/admin/users?"+tt.q), http.StatusBadRequest, tt.msg, tt.q)
	}
}

var nextPageRE = regexp.MustCompile(`href="([^"]+)" rel="next"`)

func TestAdmin_AuditLog(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t)
	adm, admUser, _ := ta.adminClient("admin@example.com")
	_, tu := ta.userClient("target@example.com", "Target")
	require.Equal(t, http.StatusSeeOther, adm.post("/admin/users/"+tu.ID+"/roles", url.Values{"role": {roleModerator}, "op": {"grant"}}).Status)
	ta.client().post("/login", url.Values{"email": {"target@example.com"}, "password": {"wrong wrong wrong wrong"}})
	ta.waitAudit("role.granted")
	ta.flushAudit()

	r := adm.get("/admin/audit")
	require.Equal(t, http.StatusOK, r.Status)
	assert.Contains(t, r.Body, "role.granted")
	assert.Contains(t, r.Body, `id="verify-chain"`)

	today := ta.Clock.Now().UTC().Format("2006-01-02")
	tomorrow := ta.Clock.Now().UTC().Add(48 * time.Hour).Format("2006-01-02")
	tests := []struct {
		name, query string
		has, hasNot []string
	}{
		{"category", "category=access", []string{"role.granted"}, []string{"login.failed"}},
		{"action prefix", "action=role.", []string{"role.granted"}, []string{"login.failed"}},
		{"actor by e-mail", "actor=ADMIN@example.com", []string{"role.granted"}, []string{"login.failed"}},
		{"actor by ID", "actor=" + admUser.ID, []string{"role.granted"}, []string{"login.failed"}},
		{"target", "target=" + tu.ID, []string{"role.granted", "login.failed"}, []string{"mfa.totp.enrol"}},
		{"outcome", "outcome=failure", []string{"login.failed"}, []string{"role.granted"}},
		{"dates", "since=" + today + "&until=" + today, []string{"role.granted"}, nil},
		{"future dates", "since=" + tomorrow, []string{`id="audit-total">0 matching`}, []string{"role.granted"}},
		{"IP", "ip=127.0.0.1&action=role.", []string{"role.granted"}, nil},
		{"IPv4-mapped IP", "ip=::ffff:127.0.0.1&action=role.", []string{"role.granted"}, nil},
		{"widest dates", "since=1970-01-01&until=2261-12-31&action=role.", []string{"role.granted"}, nil},
		{"other IP", "ip=192.0.2.1", []string{`id="audit-total">0 matching`}, []string{"role.granted"}},
	}
	for _, tt := range tests {
		r := adm.get("/admin/audit?" + tt.query)
		require.Equal(t, http.StatusOK, r.Status, tt.name)
		for _, s := range tt.has {
			assert.Contains(t, r.Body, s, tt.name)
		}
		for _, s := range tt.hasNot {
			assert.NotContains(t, r.Body, ">"+s+"<", tt.name)
		}
	}

	bad := []struct{ query, msg string }{
		{"category=nope", "Unknown category"},
		{"action=DROP%20TABLE", "An action is lower-case letters"},
		{"action=" + strings.Repeat("a", 101), "An action is lower-case letters"},
		{"actor=nobody@example.com", "No user has that e-mail address."},
		{"actor=" + url.QueryEscape("robert');--"), "Give the actor as an e-mail address or a user ID."},
		{"target=" + strings.Repeat("t", 5000), "The target is too long."},
		{"outcome=maybe", "The outcome must be success, failure or denied."},
		{"since=yesterday", "Dates must be written YYYY-MM-DD."},
		{"until=2024-13-01", "Dates must be written YYYY-MM-DD."},
		{"ip=localhost", "The IP address is not valid."},
		{"ip=fe80::1%25eth0", "The IP address is not valid."},
		// Dates the audit table cannot represent used to match nothing.
		{"since=0001-01-01", "Dates must be between 1970-01-01 and 2261-12-31."},
		{"until=9999-12-31", "Dates must be between 1970-01-01 and 2261-12-31."},
		{"since=2030-02-01&until=2030-01-01", "The start date is after the end date."},
		{"cursor=garbage", "That page link is not valid"},
	}
	for _, tt := range bad {
		r := adm.get("/admin/audit?" + tt.query)
		assertClearRefusal(t, r, http.StatusBadRequest, tt.msg, tt.query)
		assert.Contains(t, r.Body, `id="audit-filter"`, "the form is shown again")
	}

	// Paging: a cursor from the page continues the list.
	for range 60 {
		ta.audit.Log(t.Context(), audit.Event{Category: audit.CategoryAdmin, Action: "test.bulk", Outcome: audit.OutcomeSuccess})
	}
	ta.flushAudit()
	r = adm.get("/admin/audit?action=test.bulk")
	require.Equal(t, http.StatusOK, r.Status)
	m := nextPageRE.FindStringSubmatch(r.Body)
	require.Len(t, m, 2, "a next page link")
	next := strings.ReplaceAll(m[1], "&amp;", "&")
	assert.Contains(t, next, "action=test.bulk")
	assert.Equal(t, 50, strings.Count(r.Body, ">test.bulk<"))
	r = adm.get(next)
	require.Equal(t, http.StatusOK, r.Status)
	assert.Equal(t, 10, strings.Count(r.Body, ">test.bulk<"))
	assert.NotContains(t, r.Body, `rel="next"`)
}

func TestAdmin_VerifyAuditChain(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t)
	adm, _, _ := ta.adminClient("admin@example.com")
	ta.flushAudit()

	r := adm.post("/admin/audit/verify", nil)
	require.Equal(t, http.StatusOK, r.Status, r.Body)
	assert.Contains(t, r.Body, "Intact:")
	assert.NotContains(t, r.Body, ta.auditDir, "no server paths on the page")
	ta.waitAudit("audit.chain_verified")

	// Tamper with the chain: an edited record is found.
	ta.flushAudit()
	files, err := filepath.Glob(filepath.Join(ta.auditDir, "audit-*.jsonl"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	b, err := os.ReadFile(files[0])
	require.NoError(t, err)
	edited := strings.Replace(string(b), `"outcome":"success"`, `"outcome":"failure"`, 1)
	require.NotEqual(t, string(b), edited)
	require.NoError(t, os.WriteFile(files[0], []byte(edited), 0o600))
	r = adm.post("/admin/audit/verify", nil)
	assert.Equal(t, http.StatusConflict, r.Status)
	assert.Contains(t, r.Body, "Tampering or damage found: a record was modified in audit-")
	assert.Contains(t, r.Body, `id="request-id"`)
	assertNoInternals(t, r)
	assert.NotContains(t, r.Body, ta.auditDir, "no server paths on the page")
	require.Eventually(t, func() bool {
		return ta.count(`SELECT COUNT(*) FROM audit_events WHERE action = 'audit.chain_verified'`) == 2
	}, 10*time.Second, 5*time.Millisecond)
	alerts := ta.waitAuditRows("audit.chain_verified")
	assert.Equal(t, "failure", alerts[len(alerts)-1].Outcome)
	assert.Equal(t, "security_alert", alerts[len(alerts)-1].Category)
}
