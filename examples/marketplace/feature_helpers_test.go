package main

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/audit"
)

// Helpers for the listing, moderation, admin and MFA tests.

// testAppDialects returns, for each database the tests run on, a
// constructor of a test app on it: SQLite always, and PostgreSQL with
// Redis (as many instances run: newInstances) when PostgreSQL is
// configured (see postgresConfigured).
func testAppDialects() map[string]func(t *testing.T) *testApp {
	apps := map[string]func(t *testing.T) *testApp{
		"sqlite": func(t *testing.T) *testApp { return newTestApp(t) },
	}
	if postgresConfigured() {
		apps["postgres"] = func(t *testing.T) *testApp { return newInstances(t, 1)[0] }
	}
	return apps
}

// postRaw posts body with the given Content-Type, as a forged or broken
// client would.
func (c *client) postRaw(path, contentType, body string) resp {
	c.t.Helper()
	req, err := http.NewRequest(http.MethodPost, c.base+path, strings.NewReader(body))
	require.NoError(c.t, err)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return c.do(req)
}

// signedIn reports whether the client's session is signed in and past the
// MFA policy (GET /account answers 200).
func (c *client) signedIn() bool {
	c.t.Helper()
	return c.get("/account").Status == http.StatusOK
}

// addListing creates a listing directly in the store.
func (ta *testApp) addListing(sellerID, title string, cents int64) listing {
	ta.t.Helper()
	l, err := ta.db.createListing(context.Background(), listing{SellerID: sellerID, Title: title,
		Description: "Description of " + title, PriceCents: cents})
	require.NoError(ta.t, err)
	l, ok := ta.listingRow(l.ID)
	require.True(ta.t, ok)
	return l
}

// listingRow reads a listing back from the database; ok is false when it
// does not exist.
func (ta *testApp) listingRow(id string) (listing, bool) {
	ta.t.Helper()
	l, err := ta.db.listingByID(context.Background(), id)
	if err == errNotFound {
		return listing{}, false
	}
	require.NoError(ta.t, err)
	return l, true
}

// requireUnchanged asserts that the listing's row is exactly as before.
func (ta *testApp) requireUnchanged(before listing, msgAndArgs ...any) {
	ta.t.Helper()
	after, ok := ta.listingRow(before.ID)
	require.True(ta.t, ok, msgAndArgs...)
	assert.Equal(ta.t, before, after, msgAndArgs...)
}

// moderatorClient creates a moderator and signs them in.
func (ta *testApp) moderatorClient(email string) (*client, user) {
	ta.t.Helper()
	return ta.userClient(email, "Mod "+email, roleModerator)
}

// auditRow is one stored audit event, as the tests check it.
type auditRow struct {
	Category, Action, Outcome, ActorID, TargetID, Reason string
}

// waitAuditRows waits until the audit table holds an event with action
// and returns all of them, oldest first.
func (ta *testApp) waitAuditRows(action string) []auditRow {
	ta.t.Helper()
	ta.waitAudit(action)
	rows, err := ta.db.query(context.Background(), `SELECT category, action, outcome, actor_id, target_id, reason
		FROM audit_events WHERE action = ? ORDER BY id`, action)
	require.NoError(ta.t, err)
	defer rows.Close()
	var out []auditRow
	for rows.Next() {
		var r auditRow
		require.NoError(ta.t, rows.Scan(&r.Category, &r.Action, &r.Outcome, &r.ActorID, &r.TargetID, &r.Reason))
		out = append(out, r)
	}
	require.NoError(ta.t, rows.Err())
	return out
}

// flushAudit waits until every audit event logged so far is in the table,
// by logging a marker event and waiting for it.
func (ta *testApp) flushAudit() {
	ta.t.Helper()
	marker := "test.marker." + newID()
	ta.audit.Log(context.Background(), audit.Event{Category: audit.CategoryAdmin, Action: audit.Action(marker), Outcome: audit.OutcomeSuccess})
	require.Eventually(ta.t, func() bool {
		return ta.count(`SELECT COUNT(*) FROM audit_events WHERE action = ?`, marker) > 0
	}, 10*time.Second, 5*time.Millisecond)
}

// errorText returns the text of the page's error paragraph, or "".
func errorText(body string) string {
	m := regexp.MustCompile(`(?s)id="error">(.*?)</p>`).FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return m[1]
}

// assertClearRefusal checks a refusal page: the status, a message for the
// user, and none of the internals that must never reach a client.
func assertClearRefusal(t testing.TB, r resp, status int, msg string, msgAndArgs ...any) {
	t.Helper()
	assert.Equal(t, status, r.Status, append(msgAndArgs, r.Body)...)
	assert.Contains(t, r.Body, msg, msgAndArgs...)
	assertNoInternals(t, r, msgAndArgs...)
}

// internalsRE matches text that only internals produce: Go error prefixes,
// SQL, stack traces, file paths.
var internalsRE = regexp.MustCompile(`(?i)store: |marketplace: |sqlsink|sqlite|pgx|\bsql\b|panic|goroutine|\.go:\d|/tmp/|runtime error|mfa: [a-z]+:|session: (load|commit|store|mark)|audit: (log chain|verify)|context deadline|connection refused`)

var randomTextRE = regexp.MustCompile(`(?s)="[^"]*"|<code[^>]*>.*?</code>|[A-Za-z0-9_+/=-]{20,}`)

// assertNoInternals checks that a page or JSON answer reveals no
// internals.
func assertNoInternals(t testing.TB, r resp, msgAndArgs ...any) {
	t.Helper()
	ct := r.Header.Get("Content-Type")
	if !strings.HasPrefix(ct, "text/html") && !strings.HasPrefix(ct, "application/json") {
		return // static assets, security.txt: not generated from errors
	}
	body := r.Body
	// Page chrome mentions none of these; strip the layout's footer
	// anyway so that only the page's own text is checked.
	if i := strings.Index(body, "<footer>"); i >= 0 {
		body = body[:i]
	}
	// Attribute values, <code> and long base64 runs hold random text (CSP
	// nonces, request IDs, QR images, recovery codes, WebAuthn challenges)
	// that may spell anything.
	body = randomTextRE.ReplaceAllString(body, "")
	assert.NotRegexp(t, internalsRE, body, msgAndArgs...)
}

// assertNoErrorsLogged checks that the app logged no error: bad input is
// the client's problem, never a server error.
func (ta *testApp) assertNoErrorsLogged() {
	ta.t.Helper()
	assert.NotContains(ta.t, ta.Logs.String(), "level=ERROR")
}
