package headers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/clientip"
	"github.com/deployedworks/rampart/internal/testenv"
	"github.com/deployedworks/rampart/ratelimit"
)

// violation bodies as browsers send them.
const (
	chromeCSPReport   = `{"csp-report":{"document-uri":"https://shop.example/cart?session=secret#frag","referrer":"https://shop.example/","violated-directive":"script-src-elem","effective-directive":"script-src-elem","original-policy":"script-src 'nonce-x' 'strict-dynamic'; report-uri /csp-report","disposition":"enforce","blocked-uri":"https://evil.example/x.js?k=v","line-number":12,"column-number":7,"source-file":"https://shop.example/app.js","status-code":200,"script-sample":""}}`
	firefoxCSP2Report = `{"csp-report":{"blocked-uri":"inline","document-uri":"https://shop.example/","original-policy":"script-src 'nonce-x'","referrer":"","violated-directive":"script-src 'nonce-x'","script-sample":"alert(document.cookie)"}}`
	reportingBatch    = `[
 {"type":"csp-violation","age":10,"url":"https://shop.example/item/1","user_agent":"Mozilla/5.0",
  "body":{"documentURL":"https://shop.example/item/1?token=abc","referrer":"","blockedURL":"eval","effectiveDirective":"script-src","originalPolicy":"script-src 'nonce-x'","sourceFile":"https://shop.example/app.js","sample":"","disposition":"report","statusCode":200,"lineNumber":3,"columnNumber":9}},
 {"type":"deprecation","age":1,"url":"https://shop.example/","user_agent":"Mozilla/5.0","body":{"id":"x","message":"m"}},
 {"type":"csp-violation","age":0,"url":"https://shop.example/","user_agent":"Mozilla/5.0",
  "body":{"documentURL":"https://shop.example/","blockedURL":"inline","effectiveDirective":"style-src-attr","disposition":"enforce"}}
]`
)

func TestParseReports(t *testing.T) {
	tests := []struct {
		name    string
		ct      string
		body    string
		max     int
		want    []violation
		wantErr error
	}{
		{name: "report-uri from Chrome", ct: "application/csp-report", body: chromeCSPReport, max: 20, want: []violation{{
			Format: "csp-report", DocumentURL: "https://shop.example/cart", Referrer: "https://shop.example/",
			BlockedURL: "https://evil.example/x.js", EffectiveDirective: "script-src-elem", Disposition: "enforce",
			SourceFile: "https://shop.example/app.js", LineNumber: 12, ColumnNumber: 7, StatusCode: 200,
		}}},
		{name: "CSP2 report: directive from violated-directive", ct: "application/csp-report; charset=utf-8", body: firefoxCSP2Report, max: 20, want: []violation{{
			Format: "csp-report", DocumentURL: "https://shop.example/", BlockedURL: "inline",
			EffectiveDirective: "script-src", Sample: "alert(document.cookie)",
		}}},
		{name: "Reporting API batch skips other types", ct: "application/reports+json", body: reportingBatch, max: 20, want: []violation{
			{Format: "reports+json", DocumentURL: "https://shop.example/item/1", BlockedURL: "eval", EffectiveDirective: "script-src",
				Disposition: "report", SourceFile: "https://shop.example/app.js", StatusCode: 200, LineNumber: 3, ColumnNumber: 9},
			{Format: "reports+json", DocumentURL: "https://shop.example/", BlockedURL: "inline", EffectiveDirective: "style-src-attr", Disposition: "enforce"},
		}},
		{name: "batch truncated to max", ct: "application/reports+json", body: reportingBatch, max: 1, want: []violation{
			{Format: "reports+json", DocumentURL: "https://shop.example/item/1", BlockedURL: "eval", EffectiveDirective: "script-src",
				Disposition: "report", SourceFile: "https://shop.example/app.js", StatusCode: 200, LineNumber: 3, ColumnNumber: 9},
		}},
		{name: "batch of other types only", ct: "application/reports+json", max: 20,
			body: `[{"type":"intervention","url":"https://shop.example/","body":{}}]`},
		{name: "attack: control characters and invalid UTF-8 cleaned", ct: "application/csp-report", max: 20,
			body: `{"csp-report":{"document-uri":"https://shop.example/","effective-directive":"img-src","blocked-uri":"https://a.example/\u001b[31mb","script-sample":"x\u0000\ny\u0085\ud800"}}`,
			want: []violation{{Format: "csp-report", DocumentURL: "https://shop.example/", EffectiveDirective: "img-src", BlockedURL: "https://a.example/\ufffd[31mb", Sample: "x\ufffd\ufffdy\ufffd\ufffd"}}},
		{name: "attack: control character in document URL", ct: "application/csp-report", wantErr: errReportMalformed,
			body: `{"csp-report":{"document-uri":"https://shop.example/a\u001b[31mb","effective-directive":"img-src"}}`},

		{name: "wrong type: json", ct: "application/json", body: chromeCSPReport, wantErr: errReportType},
		{name: "wrong type: form", ct: "application/x-www-form-urlencoded", body: "a=b", wantErr: errReportType},
		{name: "wrong type: none", ct: "", body: chromeCSPReport, wantErr: errReportType},
		{name: "wrong type: malformed header", ct: "application/csp-report; ===", body: chromeCSPReport, wantErr: errReportType},
		{name: "garbage", ct: "application/csp-report", body: "\x00\xff garbage", wantErr: errReportMalformed},
		{name: "empty body", ct: "application/csp-report", body: "", wantErr: errReportMalformed},
		{name: "null", ct: "application/csp-report", body: "null", wantErr: errReportMalformed},
		{name: "csp-report null", ct: "application/csp-report", body: `{"csp-report":null}`, wantErr: errReportMalformed},
		{name: "csp-report array", ct: "application/csp-report", body: `[` + chromeCSPReport + `]`, wantErr: errReportMalformed},
		{name: "trailing data", ct: "application/csp-report", body: chromeCSPReport + `{}`, wantErr: errReportMalformed},
		{name: "missing document URL", ct: "application/csp-report", body: `{"csp-report":{"effective-directive":"img-src"}}`, wantErr: errReportMalformed},
		{name: "missing directive", ct: "application/csp-report", body: `{"csp-report":{"document-uri":"https://a.example/"}}`, wantErr: errReportMalformed},
		{name: "attack: javascript document URL", ct: "application/csp-report", body: `{"csp-report":{"document-uri":"javascript:alert(1)","effective-directive":"img-src"}}`, wantErr: errReportMalformed},
		{name: "attack: directive with spaces", ct: "application/csp-report", body: `{"csp-report":{"document-uri":"https://a.example/","effective-directive":"img-src\r\nX: y"}}`, wantErr: errReportMalformed},
		{name: "wrong JSON type for line", ct: "application/csp-report", body: `{"csp-report":{"document-uri":"https://a.example/","effective-directive":"img-src","line-number":"12"}}`, wantErr: errReportMalformed},
		{name: "fractional line", ct: "application/csp-report", body: `{"csp-report":{"document-uri":"https://a.example/","effective-directive":"img-src","line-number":1.5}}`, wantErr: errReportMalformed},
		{name: "negative column", ct: "application/csp-report", body: `{"csp-report":{"document-uri":"https://a.example/","effective-directive":"img-src","column-number":-1}}`, wantErr: errReportMalformed},
		{name: "status out of range", ct: "application/csp-report", body: `{"csp-report":{"document-uri":"https://a.example/","effective-directive":"img-src","status-code":100000}}`, wantErr: errReportMalformed},
		{name: "bad disposition", ct: "application/csp-report", body: `{"csp-report":{"document-uri":"https://a.example/","effective-directive":"img-src","disposition":"ignore"}}`, wantErr: errReportMalformed},
		{name: "batch: object instead of array", ct: "application/reports+json", body: `{"type":"csp-violation"}`, wantErr: errReportMalformed},
		{name: "batch: empty", ct: "application/reports+json", body: `[]`, wantErr: errReportMalformed},
		{name: "batch: entry without type", ct: "application/reports+json", body: `[{"url":"https://a.example/","body":{}}]`, wantErr: errReportMalformed},
		{name: "batch: entry without url", ct: "application/reports+json", body: `[{"type":"csp-violation","body":{}}]`, wantErr: errReportMalformed},
		{name: "batch: negative age", ct: "application/reports+json", body: `[{"type":"x","age":-5,"url":"u","body":{}}]`, wantErr: errReportMalformed},
		{name: "batch: body not an object", ct: "application/reports+json", body: `[{"type":"csp-violation","url":"u","body":"x"}]`, wantErr: errReportMalformed},
		{name: "batch: body missing", ct: "application/reports+json", body: `[{"type":"csp-violation","url":"u"}]`, wantErr: errReportMalformed},
		{name: "batch: invalid violation", ct: "application/reports+json", body: `[{"type":"csp-violation","url":"u","body":{"documentURL":"https://a.example/"}}]`, wantErr: errReportMalformed},
		{name: "batch: entry is a string", ct: "application/reports+json", body: `["x"]`, wantErr: errReportMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseReports(tt.ct, []byte(tt.body), tt.max)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				assert.Nil(t, got)
				assert.NotContains(t, err.Error(), "evil", "errors never quote input")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestCleanTruncatesOnRuneBoundary(t *testing.T) {
	long := "https://a.example/" + strings.Repeat("é", 300)
	got := cleanURL(long)
	assert.LessOrEqual(t, len(got), maxURLLen)
	assert.True(t, utf8.ValidString(got))
	assert.True(t, strings.HasPrefix(long, got))
}

func FuzzParseReports(f *testing.F) {
	for _, s := range []string{chromeCSPReport, firefoxCSP2Report, reportingBatch, "", "null", "[]", `{"csp-report":{}}`, `[{"type":"csp-violation","url":"u","body":{}}]`} {
		f.Add(true, s)
		f.Add(false, s)
	}
	f.Fuzz(func(t *testing.T, csp bool, body string) {
		ct := MediaTypeReports
		if csp {
			ct = MediaTypeCSPReport
		}
		got, err := parseReports(ct, []byte(body), 5)
		if err != nil {
			if !errors.Is(err, errReportMalformed) {
				t.Fatalf("error %v is not errReportMalformed", err)
			}
			if got != nil {
				t.Fatal("reports returned with an error")
			}
			return
		}
		if len(got) > 5 {
			t.Fatalf("%d reports, want at most 5", len(got))
		}
		for _, r := range got {
			for _, s := range []string{r.DocumentURL, r.Referrer, r.BlockedURL, r.SourceFile, r.Sample, r.EffectiveDirective} {
				if !utf8.ValidString(s) || strings.ContainsAny(s, "\r\n\x00") || len(s) > maxURLLen {
					t.Fatalf("unclean field %q", s)
				}
			}
			if r.DocumentURL == "" || !validToken(r.EffectiveDirective) {
				t.Fatalf("report without document or directive: %+v", r)
			}
		}
	})
}

// newClock is a settable test clock.
func newClock() *testenv.Clock {
	return testenv.NewClock(time.Date(2026, 6, 25, 12, 0, 0, 0, time.UTC))
}

func postReport(h http.Handler, ct, body, remote string) *httptest.ResponseRecorder {
	r := httptest.NewRequest("POST", "https://shop.example/csp-report", strings.NewReader(body))
	r.Header.Set("Content-Type", ct)
	r.Header.Set("User-Agent", "Mozilla/5.0 (test)")
	if remote != "" {
		r.RemoteAddr = remote
	}
	rec := httptest.NewRecorder()
	direct.Handler(h).ServeHTTP(rec, r)
	return rec
}

// direct is the resolver of an app that no proxy fronts.
var direct = clientip.MustNew(nil, clientip.Config{Logger: quietLogger()})

func TestReportsEndpoint(t *testing.T) {
	tests := []struct {
		name   string
		method string
		ct     string
		body   string
		chunk  bool // no Content-Length
		want   int
		events int
	}{
		{name: "report-uri body", ct: MediaTypeCSPReport, body: chromeCSPReport, want: 204, events: 1},
		{name: "Reporting API batch", ct: MediaTypeReports, body: reportingBatch, want: 204, events: 2},
		{name: "GET", method: "GET", want: 405},
		{name: "wrong type", ct: "text/plain", body: chromeCSPReport, want: 415},
		{name: "garbage", ct: MediaTypeCSPReport, body: "<html>", want: 400},
		{name: "truncated JSON", ct: MediaTypeCSPReport, body: chromeCSPReport[:40], want: 400},
		{name: "oversized", ct: MediaTypeReports, body: "[" + strings.Repeat(" ", 70<<10) + "]", want: 413},
		{name: "oversized without Content-Length", ct: MediaTypeReports, body: "[" + strings.Repeat(" ", 70<<10) + "]", chunk: true, want: 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sink := &audit.MemorySink{}
			rp, err := NewReports(ReportsConfig{Audit: audit.MustNew(sink, audit.Config{})})
			require.NoError(t, err)
			method := tt.method
			if method == "" {
				method = "POST"
			}
			r := httptest.NewRequest(method, "https://shop.example/csp-report", strings.NewReader(tt.body))
			if tt.chunk {
				r.ContentLength = -1
			}
			r.Header.Set("Content-Type", tt.ct)
			rec := httptest.NewRecorder()
			direct.Handler(rp).ServeHTTP(rec, r)
			assert.Equal(t, tt.want, rec.Code)
			assert.Len(t, sink.Events(), tt.events)
			if tt.body != "" {
				assert.NotContains(t, rec.Body.String(), "shop.example", "never echo input")
			}
		})
	}
}

func TestReportsAuditEvent(t *testing.T) {
	sink := &audit.MemorySink{}
	rp, err := NewReports(ReportsConfig{Audit: audit.MustNew(sink, audit.Config{})})
	require.NoError(t, err)
	rec := postReport(rp, MediaTypeCSPReport, chromeCSPReport, "198.51.100.7:5000")
	require.Equal(t, 204, rec.Code)
	ev := sink.Events()
	require.Len(t, ev, 1)
	e := ev[0]
	assert.Equal(t, audit.CategoryBrowserReport, e.Category)
	assert.Equal(t, ActionCSPViolation, e.Action)
	assert.Equal(t, audit.OutcomeDenied, e.Outcome)
	assert.Equal(t, netip.MustParseAddr("198.51.100.7"), e.ClientIP)
	assert.Equal(t, "Mozilla/5.0 (test)", e.UserAgent)
	assert.Equal(t, audit.Target{Kind: "page", ID: "https://shop.example/cart"}, e.Target)
	assert.Equal(t, map[string]string{
		"format": "csp-report", "document-uri": "https://shop.example/cart", "effective-directive": "script-src-elem",
		"blocked-uri": "https://evil.example/x.js", "disposition": "enforce", "referrer": "https://shop.example/",
		"source-file": "https://shop.example/app.js", "line-number": "12", "column-number": "7", "status-code": "200",
		"count": "1", "client": "anonymous",
	}, e.Meta)
	assert.NotContains(t, e.Meta["document-uri"], "secret", "query strings are dropped")
}

func TestReportsRateLimit(t *testing.T) {
	clk := newClock()
	sink := &audit.MemorySink{}
	rp, err := newReports(ReportsConfig{
		Audit: audit.MustNew(sink, audit.Config{}), ClientPerMinute: 3, TotalPerMinute: 5,
	}, clk.Now)
	require.NoError(t, err)
	post := func(remote string) int { return postReport(rp, MediaTypeCSPReport, chromeCSPReport, remote).Code }

	for i := range 3 {
		assert.Equal(t, 204, post("198.51.100.1:1"), "request %d", i)
	}
	for range 10 {
		assert.Equal(t, 429, post("198.51.100.1:2"), "per-client limit")
	}
	// The limited client's refused requests did not use up the total.
	assert.Equal(t, 204, post("[2001:db8:1:2::1]:1"), "another client")
	clk.Add(20 * time.Second) // one token back for each client
	assert.Equal(t, 204, post("[2001:db8:1:2::ffff]:1"), "same /64 shares a bucket")
	assert.Equal(t, 204, post("198.51.100.1:3"), "first client has a token again")
	assert.Equal(t, 429, post("[2001:db8:1:2::2]:1"), "total cap: 5 per minute plus what 20 s refilled")
	clk.Add(time.Minute)
	assert.Equal(t, 204, post("203.0.113.5:1"), "idle buckets were swept, totals refilled")
	rp.Flush(context.Background())
	assert.Equal(t, 7, reportCount(t, sink.Events()), "the accepted reports, aggregated")

	// 429 comes before the body is read: garbage from a limited client is
	// not even parsed.
	for range 3 {
		post("203.0.113.5:1")
	}
	assert.Equal(t, 429, postReport(rp, MediaTypeCSPReport, "garbage", "203.0.113.5:1").Code)
}

type limiterFunc func(context.Context, string) (ratelimit.Decision, error)

func (f limiterFunc) Allow(ctx context.Context, key string) (ratelimit.Decision, error) {
	return f(ctx, key)
}

// A Limiter of the app's own (a redisstore.Store, say) replaces the
// default: anonymous clients are keyed by ratelimit.AddrKey, signed-in
// ones by their session key, and an error refuses (fails closed).
func TestReportsLimiter(t *testing.T) {
	var seen []string
	for _, tt := range []struct {
		name string
		ok   bool
		err  error
		want int
	}{
		{"allowed", true, nil, 204},
		{"refused", false, nil, 429},
		{"error fails closed", true, errors.New("redis down"), 429},
	} {
		t.Run(tt.name, func(t *testing.T) {
			seen = nil
			rp, err := NewReports(ReportsConfig{SessionKey: fakeSessions, Limiter: limiterFunc(func(_ context.Context, key string) (ratelimit.Decision, error) {
				seen = append(seen, key)
				return ratelimit.Decision{Allowed: tt.ok}, tt.err
			})})
			require.NoError(t, err)
			assert.Equal(t, tt.want, postReport(rp, MediaTypeCSPReport, chromeCSPReport, "[2001:db8:1:2::44]:9").Code)
			r := httptest.NewRequest("POST", "https://shop.example/csp-report", strings.NewReader(chromeCSPReport))
			r.Header.Set("Content-Type", MediaTypeCSPReport)
			r.Header.Set("Cookie", "sid=valid-alice")
			rec := httptest.NewRecorder()
			direct.Handler(rp).ServeHTTP(rec, r)
			assert.Equal(t, tt.want, rec.Code)
			assert.Equal(t, []string{ratelimit.AddrKey(netip.MustParseAddr("2001:db8:1:2:ffff::1")), "salice"}, seen, "the /64, then the session")
		})
	}
}

type failingSink struct{}

func (failingSink) Write(context.Context, audit.Event) error { return errors.New("disk full") }

// An audit sink failure does not fail the request: audit reports it in
// its own error log, and the browser, which cannot act on it, gets 204.
func TestReportsAuditFailure(t *testing.T) {
	rp, err := NewReports(ReportsConfig{Audit: audit.MustNew(failingSink{}, audit.Config{ErrorLog: quietLogger()})})
	require.NoError(t, err)
	rec := postReport(rp, MediaTypeCSPReport, chromeCSPReport, "")
	assert.Equal(t, http.StatusNoContent, rec.Code)
	assert.NotContains(t, rec.Body.String(), "disk full")
}

// Attack (misconfiguration): the endpoint mounted without clientip's
// handler cannot limit per client, so it refuses every report (fails
// closed) and records nothing.
func TestReportsNoClientFailsClosed(t *testing.T) {
	sink := &audit.MemorySink{}
	rp, err := NewReports(ReportsConfig{Audit: audit.MustNew(sink, audit.Config{})})
	require.NoError(t, err)
	r := httptest.NewRequest("POST", "https://shop.example/csp-report", strings.NewReader(chromeCSPReport))
	r.Header.Set("Content-Type", MediaTypeCSPReport)
	rec := httptest.NewRecorder()
	rp.ServeHTTP(rec, r)
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
	assert.Empty(t, sink.Events())
}

// When the default limiter's table is full, a new client evicts the one
// closest to a full budget, never one that is being limited: a flood of
// fresh addresses cannot reset a limited client's budget.
func TestReportsLimiterEvictsIdleClients(t *testing.T) {
	clk := newClock()
	rp, err := newReports(ReportsConfig{ClientPerMinute: 3, TotalPerMinute: 1 << 20, MaxClients: 64}, clk.Now)
	require.NoError(t, err)
	post := func(remote string) int { return postReport(rp, MediaTypeCSPReport, chromeCSPReport, remote).Code }
	for range 3 {
		require.Equal(t, 204, post("198.51.100.1:1"))
	}
	require.Equal(t, 429, post("198.51.100.1:1"))
	for i := range 1000 {
		assert.Equal(t, 204, post(fmt.Sprintf("203.0.%d.%d:1", i/250, i%250+1)), "a new client is let in")
	}
	assert.Equal(t, 429, post("198.51.100.1:1"), "the limited client is still limited")
}

func TestNewReportsRejects(t *testing.T) {
	for _, cfg := range []ReportsConfig{{MaxBody: 10}, {MaxBody: 2 << 20}, {ClientPerMinute: -1}, {MaxReports: -2}} {
		_, err := NewReports(cfg)
		assert.Error(t, err, "%+v", cfg)
	}
}

func BenchmarkParseReports(b *testing.B) {
	body := []byte(reportingBatch)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := parseReports(MediaTypeReports, body, 20); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReportsEndpoint(b *testing.B) {
	rp, err := NewReports(ReportsConfig{ClientPerMinute: 1 << 30, TotalPerMinute: 1 << 30})
	require.NoError(b, err)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		postReport(rp, MediaTypeCSPReport, chromeCSPReport, "192.0.2."+strconv.Itoa(i%200)+":1")
	}
}
