package main

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// floodBatch is a Reporting API body of 20 violations, each blocking a
// different URL, so that none aggregates with another: what a hostile page
// makes each of its visitors send.
func floodBatch(tag string) string {
	var b strings.Builder
	b.WriteString("[")
	for i := range 20 {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"type":"csp-violation","age":0,"url":"http://localhost/","body":{"documentURL":"http://localhost/listings","blockedURL":"https://%s-%d.evil.example/x.js","effectiveDirective":"script-src-elem","disposition":"enforce","sourceFile":"http://localhost/static/app.js","lineNumber":1,"columnNumber":1,"statusCode":200}}`, tag, i)
	}
	b.WriteString("]")
	return b.String()
}

// auditDirSize is the size of the audit chain's files.
func (ta *testApp) auditDirSize(t *testing.T) int64 {
	t.Helper()
	var n int64
	require.NoError(t, filepath.WalkDir(ta.auditDir, func(_ string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err == nil {
			n += fi.Size()
		}
		return err
	}))
	return n
}

// TestCSPReportFloodRegression: 25 addresses flooding the report endpoint
// wrote every report as a security_alert kept a year (~23 MB/min into the
// chain and SQL) and spent the shared budget, so a genuine report from a
// fresh signed-in user got 429. Now the flood is capped per day and the
// user's report is recorded.
func TestCSPReportFloodRegression(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t, func(c *Config) { c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")} })
	alice, _ := ta.userClient("alice@example.com", "Alice")
	ta.flushAudit()
	before := ta.auditDirSize(t)

	flood := ta.client()
	statuses := map[int]int{}
	for a := range 25 {
		for i := range 30 {
			req, err := http.NewRequest(http.MethodPost, ta.URL+"/csp-report", strings.NewReader(floodBatch(fmt.Sprintf("a%d-r%d", a, i))))
			require.NoError(t, err)
			req.Header.Set("Content-Type", "application/reports+json")
			req.Header.Set("Sec-Fetch-Site", "cross-site")
			req.Header.Set("X-Forwarded-For", fmt.Sprintf("198.51.100.%d", a+1))
			statuses[flood.do(req).Status]++
		}
	}
	// The anonymous total is 600 a minute with bursts of 600, on the app's
	// clock, which stands still here: the flood gets its burst, no more.
	require.Len(t, statuses, 2, "the flood gets 204 or 429 only: %v", statuses)
	require.Equal(t, 750, statuses[http.StatusNoContent]+statuses[http.StatusTooManyRequests])
	require.Equal(t, 600, statuses[http.StatusNoContent], "the anonymous burst, no more")

	// A fresh signed-in user, from a fresh address, is still heard.
	genuine := `{"csp-report":{"document-uri":"http://localhost/account","effective-directive":"img-src","blocked-uri":"https://cdn.example/avatar.png","disposition":"enforce"}}`
	req, err := http.NewRequest(http.MethodPost, ta.URL+"/csp-report", strings.NewReader(genuine))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/csp-report")
	req.Header.Set("X-Forwarded-For", "203.0.113.50")
	require.Equal(t, http.StatusNoContent, alice.do(req).Status)
	ta.flushAudit()
	rows := ta.count(`SELECT COUNT(*) FROM audit_events WHERE action = 'csp.violation' AND meta LIKE '%cdn.example/avatar.png%'`)
	assert.Equal(t, 1, rows, "the signed-in user's report is recorded")
	assert.Equal(t, 1, ta.count(`SELECT COUNT(*) FROM audit_events WHERE action = 'csp.violation' AND actor_id <> '' AND category = 'browser_report'`),
		"named after its user, in the short-lived category")

	// The audit log grew by a bounded amount: the day's cap (4 MiB), not
	// the 12,000 reports the flood got accepted.
	n := ta.count(`SELECT COUNT(*) FROM audit_events WHERE action = 'csp.violation'`)
	assert.Less(t, n, 6000, "report rows")
	assert.Equal(t, 1, ta.count(`SELECT COUNT(*) FROM audit_events WHERE action = 'csp.reports_capped'`), "one notice of the cap")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, ta.Close(ctx)) // flushes the chain
	grown := ta.auditDirSize(t) - before
	t.Logf("audit chain grew %d bytes; %d report rows", grown, n)
	assert.Less(t, grown, int64(4<<20+256<<10), "chain growth in bytes")
}
