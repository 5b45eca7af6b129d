package headers

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/audit/chain"
)

// cspReport is a report-uri body for document doc and blocked URL blocked.
func cspReport(doc, blocked string) string {
	return `{"csp-report":{"document-uri":"` + doc + `","effective-directive":"script-src-elem","blocked-uri":"` + blocked +
		`","disposition":"enforce","original-policy":"script-src 'nonce-x'"}}`
}

// reportBatch is a Reporting API body of n violations on one page, each
// blocking a different URL: the worst case for aggregation.
func reportBatch(prefix string, n int) string {
	var b strings.Builder
	b.WriteString("[")
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"type":"csp-violation","age":0,"url":"https://shop.example/","body":{"documentURL":"https://shop.example/","blockedURL":"https://%s-%d.evil.example/x.js","effectiveDirective":"script-src-elem","disposition":"enforce","sourceFile":"https://shop.example/app.js","lineNumber":1,"columnNumber":1,"statusCode":200}}`, prefix, i)
	}
	b.WriteString("]")
	return b.String()
}

// postAs sends body as a report from remote, with cookie if not empty.
func postAs(h http.Handler, ct, body, remote, cookie string) int {
	r := httptest.NewRequest("POST", "https://shop.example/csp-report", strings.NewReader(body))
	r.Header.Set("Content-Type", ct)
	r.Header.Set("User-Agent", "Mozilla/5.0 (test)")
	r.RemoteAddr = remote
	if cookie != "" {
		r.Header.Set("Cookie", cookie)
	}
	rec := httptest.NewRecorder()
	direct.Handler(h).ServeHTTP(rec, r)
	return rec.Code
}

// fakeSessions stands for the application's session middleware: only the
// cookie of a real session is a session; a forged one is anonymous.
func fakeSessions(r *http.Request) (string, bool) {
	c, err := r.Cookie("sid")
	if err != nil || !strings.HasPrefix(c.Value, "valid-") {
		return "", false
	}
	return strings.TrimPrefix(c.Value, "valid-"), true
}

// reportCount sums the count of the CSP violation events.
func reportCount(t *testing.T, events []audit.Event) int {
	t.Helper()
	n := 0
	for _, e := range events {
		if e.Action != ActionCSPViolation {
			continue
		}
		c, err := strconv.Atoi(e.Meta["count"])
		require.NoError(t, err, "count of %+v", e)
		n += c
	}
	return n
}

func byAction(events []audit.Event, action audit.Action) []audit.Event {
	var out []audit.Event
	for _, e := range events {
		if e.Action == action {
			out = append(out, e)
		}
	}
	return out
}

// dirSize is the size of the files in dir.
func dirSize(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err == nil {
			n += fi.Size()
		}
		return err
	})
	require.NoError(t, err)
	return n
}

// TestReportsFloodStarvesSignedInRegression: a flood of reports that any
// web page can make its visitors send filled the tamper-evident chain
// (every report one security_alert kept a year) and spent the shared
// budget, so that a genuine report from a fresh signed-in client got 429.
func TestReportsFloodStarvesSignedInRegression(t *testing.T) {
	clk := newClock()
	dir := t.TempDir()
	file, err := chain.New(dir, []byte(strings.Repeat("k", 32)), chain.Config{Now: clk.Now})
	require.NoError(t, err)
	mem := &audit.MemorySink{}
	both, err := audit.NewFanoutSink(file, mem)
	require.NoError(t, err)
	const capBytes = 64 << 10
	rp, err := newReports(ReportsConfig{
		Audit:          audit.MustNew(both, audit.Config{Now: clk.Now}),
		SessionKey:     fakeSessions,
		MaxBytesPerDay: capBytes,
	}, clk.Now)
	require.NoError(t, err)
	before := dirSize(t, dir)

	// 25 addresses, 40 requests each of 20 reports, each report blocking
	// another URL; some forge a session cookie.
	sent, refused := 0, 0
	for a := range 25 {
		for i := range 40 {
			remote := fmt.Sprintf("198.51.100.%d:4000", a+1)
			switch postAs(rp, MediaTypeReports, reportBatch(fmt.Sprintf("a%d-r%d", a, i), 20), remote, "sid=forged") {
			case http.StatusNoContent:
				sent++
			case http.StatusTooManyRequests:
				refused++
			default:
				t.Fatal("the endpoint answers a flood with 204 or 429 only")
			}
		}
	}
	require.Positive(t, refused, "the anonymous budget is spent")
	require.Equal(t, 600, sent, "TotalPerMinute of anonymous requests got through")

	// A genuine report from a fresh signed-in client is recorded.
	genuine := cspReport("https://shop.example/account", "https://cdn.example/widget.js")
	require.Equal(t, http.StatusNoContent, postAs(rp, MediaTypeCSPReport, genuine, "203.0.113.77:5000", "sid=valid-alice"))
	var found bool
	for _, e := range mem.Events() {
		if e.Meta["blocked-uri"] == "https://cdn.example/widget.js" {
			found = true
			assert.Equal(t, "signed-in", e.Meta["client"])
			assert.Equal(t, audit.CategoryBrowserReport, e.Category)
		}
	}
	assert.True(t, found, "the signed-in client's report is in the audit log")

	// The chain grew by a bounded amount: the day's cap of anonymous
	// reports, the one genuine report and a notice, not 12,000 events.
	require.NoError(t, file.Close(context.Background()))
	grown := dirSize(t, dir) - before
	assert.LessOrEqual(t, grown, int64(capBytes+8<<10), "chain growth in bytes")
	events := mem.Events()
	t.Logf("chain grew %d bytes, %d events, for %d reports accepted", grown, len(events), sent*20+1)
	assert.Less(t, len(events), 200, "events written")
	capped := byAction(events, ActionReportsCapped)
	require.Len(t, capped, 1, "one notice that the anonymous cap was reached")
	assert.Equal(t, audit.CategorySuspicious, capped[0].Category)
	assert.Equal(t, "anonymous", capped[0].Meta["client"])
}

// TestReportsAggregate: identical reports from many clients are one event
// per window, with their count; the counts add up to what was accepted.
func TestReportsAggregate(t *testing.T) {
	clk := newClock()
	sink := &audit.MemorySink{}
	rp, err := newReports(ReportsConfig{Audit: audit.MustNew(sink, audit.Config{Now: clk.Now}), Window: time.Minute}, clk.Now)
	require.NoError(t, err)
	same := cspReport("https://shop.example/item", "https://ads.example/t.js")
	for i := range 25 {
		for range 4 {
			require.Equal(t, 204, postAs(rp, MediaTypeCSPReport, same, fmt.Sprintf("192.0.2.%d:1", i+1), ""))
		}
	}
	other := cspReport("https://shop.example/item", "inline")
	require.Equal(t, 204, postAs(rp, MediaTypeCSPReport, other, "192.0.2.200:1", ""))
	ev := sink.Events()
	require.Len(t, ev, 2, "one event per document, directive and blocked URL")
	assert.Equal(t, "1", ev[0].Meta["count"])
	assert.Equal(t, "192.0.2.1", ev[0].ClientIP.String(), "the first report keeps its client")

	// The window ends: the next request writes the count of the repeats,
	// with no client of its own (they came from many), and the same
	// report then opens a new window.
	clk.Add(time.Minute)
	require.Equal(t, 204, postAs(rp, MediaTypeCSPReport, same, "192.0.2.201:1", ""))
	ev = sink.Events()
	require.Len(t, ev, 4)
	sum := ev[2]
	assert.Equal(t, ActionCSPViolation, sum.Action)
	assert.Equal(t, "99", sum.Meta["count"])
	assert.Equal(t, "https://ads.example/t.js", sum.Meta["blocked-uri"])
	assert.False(t, sum.ClientIP.IsValid(), "a count of many clients names none")
	assert.Empty(t, sum.UserAgent)
	assert.Equal(t, "2026-06-25T12:00:00Z", sum.Meta["first-seen"])
	assert.Equal(t, "1", ev[3].Meta["count"], "a new window")

	// Flush records what is still open.
	require.Equal(t, 204, postAs(rp, MediaTypeCSPReport, same, "192.0.2.202:1", ""))
	rp.Flush(context.Background())
	assert.Equal(t, 100+1+2, reportCount(t, sink.Events()))
	rp.Flush(context.Background())
	assert.Len(t, sink.Events(), 5, "nothing left to flush")
}

// TestReportsDailyCap: past the day's bytes, reports are dropped and
// counted; the next day they are recorded again, and the count of the
// dropped ones is written. Signed-in clients have a cap of their own.
func TestReportsDailyCap(t *testing.T) {
	clk := newClock()
	sink := &audit.MemorySink{}
	const capBytes = 8 << 10
	rp, err := newReports(ReportsConfig{
		Audit: audit.MustNew(sink, audit.Config{Now: clk.Now}), SessionKey: fakeSessions,
		MaxBytesPerDay: capBytes, ClientPerMinute: 1000,
	}, clk.Now)
	require.NoError(t, err)
	for i := range 10 {
		require.Equal(t, 204, postAs(rp, MediaTypeReports, reportBatch("d"+strconv.Itoa(i), 20), "192.0.2.1:1", ""), "over the cap is still 204")
	}
	ev := sink.Events()
	recorded := reportCount(t, ev)
	assert.Positive(t, recorded)
	assert.Less(t, recorded, 20, "the cap stops recording")
	capped := byAction(ev, ActionReportsCapped)
	require.Len(t, capped, 1)
	assert.Equal(t, strconv.Itoa(capBytes), capped[0].Meta["max-bytes-per-day"])
	assert.False(t, capped[0].ClientIP.IsValid(), "the notice is about all anonymous clients")

	// Signed-in clients are not capped by the anonymous flood.
	require.Equal(t, 204, postAs(rp, MediaTypeCSPReport, cspReport("https://shop.example/a", "inline"), "192.0.2.1:1", "sid=valid-bob"))
	assert.Equal(t, recorded+1, reportCount(t, sink.Events()))

	// The next day: the count of dropped reports, and recording again.
	clk.Set(time.Date(2026, 6, 26, 0, 0, 1, 0, time.UTC))
	require.Equal(t, 204, postAs(rp, MediaTypeCSPReport, cspReport("https://shop.example/b", "inline"), "192.0.2.1:1", ""))
	ev = sink.Events()
	capped = byAction(ev, ActionReportsCapped)
	require.Len(t, capped, 2)
	assert.Equal(t, strconv.Itoa(200-recorded), capped[1].Meta["dropped"])
	assert.Equal(t, "2026-06-25", capped[1].Meta["day"])
	assert.Equal(t, recorded+2, reportCount(t, ev))
}

// TestReportsSessionBudget: a signed-in client is limited per session,
// not per address, and its requests use a total of their own.
func TestReportsSessionBudget(t *testing.T) {
	rp, err := newReports(ReportsConfig{SessionKey: fakeSessions, ClientPerMinute: 2, TotalPerMinute: 3}, newClock().Now)
	require.NoError(t, err)
	body := cspReport("https://shop.example/", "inline")
	for i := range 3 {
		require.Equal(t, 204, postAs(rp, MediaTypeCSPReport, body, fmt.Sprintf("192.0.2.%d:1", i+1), ""))
	}
	assert.Equal(t, 429, postAs(rp, MediaTypeCSPReport, body, "192.0.2.9:1", ""), "anonymous total spent")
	assert.Equal(t, 204, postAs(rp, MediaTypeCSPReport, body, "192.0.2.1:1", "sid=valid-alice"), "same address, with a session")
	assert.Equal(t, 204, postAs(rp, MediaTypeCSPReport, body, "192.0.2.1:1", "sid=valid-alice"))
	assert.Equal(t, 429, postAs(rp, MediaTypeCSPReport, body, "192.0.2.2:1", "sid=valid-alice"), "per session, whatever the address")
	assert.Equal(t, 204, postAs(rp, MediaTypeCSPReport, body, "192.0.2.1:1", "sid=valid-carol"))
	assert.Equal(t, 429, postAs(rp, MediaTypeCSPReport, body, "192.0.2.1:1", "sid=valid-dave"), "signed-in total spent")
}

func TestNewReportsRejectsBudgets(t *testing.T) {
	for _, cfg := range []ReportsConfig{{Window: time.Millisecond}, {Window: 25 * time.Hour}, {Window: -1}, {MaxBytesPerDay: 100}, {MaxBytesPerDay: -1}} {
		_, err := NewReports(cfg)
		assert.Error(t, err, "%+v", cfg)
	}
}

// FuzzReportsEndpoint: whatever the body, the endpoint answers with a
// client error or 204, never 500, and never echoes it.
func FuzzReportsEndpoint(f *testing.F) {
	f.Add(true, chromeCSPReport)
	f.Add(false, reportingBatch)
	f.Add(false, reportBatch("f", 3))
	f.Add(true, "\x00{")
	f.Fuzz(func(t *testing.T, csp bool, body string) {
		rp, err := NewReports(ReportsConfig{Audit: audit.MustNew(&audit.MemorySink{}, audit.Config{}), MaxBytesPerDay: 4096})
		require.NoError(t, err)
		ct := MediaTypeReports
		if csp {
			ct = MediaTypeCSPReport
		}
		r := httptest.NewRequest("POST", "https://shop.example/csp-report", strings.NewReader(body))
		r.Header.Set("Content-Type", ct)
		rec := httptest.NewRecorder()
		direct.Handler(rp).ServeHTTP(rec, r)
		switch rec.Code {
		case 204, 400, 413:
		default:
			t.Fatalf("status %d", rec.Code)
		}
		if len(body) > 8 {
			assert.NotContains(t, rec.Body.String(), body)
		}
	})
}

// TestReportsDayNeverGoesBackRegression: a request that read the clock
// just before midnight but charged its reports after another request had
// started the new day started the old day again, and the next request the
// new one: each with a fresh budget, so that a flood straddling midnight
// could pass the cap again and again.
func TestReportsDayNeverGoesBackRegression(t *testing.T) {
	clk := newClock()
	sink := &audit.MemorySink{}
	rp, err := newReports(ReportsConfig{
		Audit: audit.MustNew(sink, audit.Config{Now: clk.Now}), MaxBytesPerDay: 8 << 10, ClientPerMinute: 1000,
	}, clk.Now)
	require.NoError(t, err)
	midnight := time.Date(2026, 6, 26, 0, 0, 0, 0, time.UTC)
	clk.Set(midnight.Add(time.Second))
	for i := range 10 {
		require.Equal(t, 204, postAs(rp, MediaTypeReports, reportBatch("a"+strconv.Itoa(i), 20), "192.0.2.1:1", ""))
	}
	recorded := reportCount(t, sink.Events())
	require.Less(t, recorded, 200, "the new day's cap is reached")
	for i := range 5 {
		clk.Set(midnight.Add(-time.Millisecond)) // read before midnight, charged after
		require.Equal(t, 204, postAs(rp, MediaTypeReports, reportBatch("b"+strconv.Itoa(i), 20), "192.0.2.1:1", ""))
		clk.Set(midnight.Add(2 * time.Second))
		require.Equal(t, 204, postAs(rp, MediaTypeReports, reportBatch("c"+strconv.Itoa(i), 20), "192.0.2.1:1", ""))
	}
	assert.Equal(t, recorded, reportCount(t, sink.Events()), "nothing recorded past the cap")
	assert.Len(t, byAction(sink.Events(), ActionReportsCapped), 1, "one cap notice, no day's count")
}

// TestReportsWindowsBoundedPerClassRegression: the aggregation table is
// bounded whatever the reports vary, and an anonymous flood of distinct
// reports, which filled it for everyone, leaves signed-in clients' reports
// aggregated: their repeats do not each spend the signed-in day's budget.
func TestReportsWindowsBoundedPerClassRegression(t *testing.T) {
	clk := newClock()
	sink := &audit.MemorySink{}
	rp, err := newReports(ReportsConfig{
		Audit: audit.MustNew(sink, audit.Config{Now: clk.Now}), SessionKey: fakeSessions,
		ClientPerMinute: 1000, TotalPerMinute: 1000,
	}, clk.Now)
	require.NoError(t, err)
	for i := range 2 * maxWindows / 20 {
		require.Equal(t, 204, postAs(rp, MediaTypeReports, reportBatch("f"+strconv.Itoa(i), 20), "192.0.2.1:1", ""))
	}
	rp.mu.Lock()
	assert.Equal(t, maxWindows, len(rp.windows), "the anonymous windows are bounded")
	rp.mu.Unlock()

	before := len(sink.Events())
	same := cspReport("https://shop.example/account", "https://cdn.example/widget.js")
	for i := range 10 {
		require.Equal(t, 204, postAs(rp, MediaTypeCSPReport, same, "203.0.113.7:1", "sid=valid-user"+strconv.Itoa(i)))
	}
	assert.Equal(t, before+1, len(sink.Events()), "signed-in reports are aggregated")
	rp.mu.Lock()
	assert.Equal(t, maxWindows+1, len(rp.windows))
	rp.mu.Unlock()
	rp.Flush(context.Background())
	var counts []string
	for _, e := range byAction(sink.Events()[before:], ActionCSPViolation) {
		assert.Equal(t, "signed-in", e.Meta["client"])
		counts = append(counts, e.Meta["count"])
	}
	assert.Equal(t, []string{"1", "9"}, counts, "the first report, then the count of its repeats")
	rp.mu.Lock()
	assert.Empty(t, rp.windows)
	assert.Zero(t, rp.anon.windows+rp.signed.windows)
	rp.mu.Unlock()
}

// TestReportsConcurrentCountsAddUp: requests racing each other, window
// ends and Flush neither lose nor double-count a report (run with -race).
func TestReportsConcurrentCountsAddUp(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 6, 25, 23, 59, 0, 0, time.UTC)
	clock := func() time.Time { // every call a millisecond later, across midnight
		mu.Lock()
		defer mu.Unlock()
		now = now.Add(time.Millisecond)
		return now
	}
	sink := &audit.MemorySink{}
	rp, err := newReports(ReportsConfig{
		Audit: audit.MustNew(sink, audit.Config{}), SessionKey: fakeSessions, Window: time.Second,
		ClientPerMinute: 1 << 20, TotalPerMinute: 1 << 20, MaxBytesPerDay: 64 << 20,
	}, clock)
	require.NoError(t, err)
	const workers, each = 8, 200
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			cookie := ""
			if w%2 == 0 {
				cookie = "sid=valid-w" + strconv.Itoa(w)
			}
			for i := range each {
				body := cspReport("https://shop.example/p"+strconv.Itoa(i%3), "inline")
				assert.Equal(t, 204, postAs(rp, MediaTypeCSPReport, body, "192.0.2."+strconv.Itoa(w+1)+":1", cookie))
				if i%50 == 0 {
					rp.Flush(context.Background())
				}
			}
		})
	}
	wg.Wait()
	rp.Flush(context.Background())
	assert.Equal(t, workers*each, reportCount(t, sink.Events()))
	assert.Empty(t, byAction(sink.Events(), ActionReportsCapped))
}
