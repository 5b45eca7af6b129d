// Package stack measures the README quickstart's whole middleware chain
// beside the floor and beside the stack a Go developer would assemble from
// popular packages for the same protections (issue 16).
//
// Contestants, each serving the same routes with identical response
// bodies (TestStackSameWork):
//
//   - Rampart: the quickstart's chain (quickstartServer): client address →
//     audit → headers → cross-origin → rate limit → session → guard;
//   - ALaCarte: chi's ClientIPFromRemoteAddr, RequestID and Recoverer,
//     unrolled/secure with a nonce CSP, http.CrossOriginProtection,
//     httprate, scs with its memstore and a role check (alaCarteServer);
//   - Mux: a bare http.ServeMux (muxServer);
//   - SessionMap: the mux and a cookie-keyed sync.Map (sessionMapServer).
//
// Requests: AnonGET (GET /login, the page with a CSP nonce), SignedInGET
// (GET /, read the user from the session) and SignedInPOST (POST /,
// same-origin, past the CSRF check), on a session signed in by a real
// login in setup. Each benchmark reports ns/op (wall), B/op, allocs/op and
// cpu-ns/op: the process's user+system CPU time (getrusage) over the run,
// divided by b.N, the garbage collector's included; on a loaded machine
// wall time alone misleads.
//
//	cd bench && go test -run '^$' -bench 'Stack' -benchmem ./stack/
//	scripts/bench-stack.sh   # interleaved rounds, medians and ratios
package stack

import (
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/clientip"
	"github.com/deployedworks/rampart/headers"
	"github.com/deployedworks/rampart/ratelimit"
)

// origin is where the quickstart runs: its sessions allow plain HTTP on
// localhost only (AllowInsecureCookie), so no contestant sends HSTS.
const origin = "http://localhost:8080"

// fixture is a contestant's handler and the cookies of a signed-in
// session on it.
type fixture struct {
	h       http.Handler
	cookies []*http.Cookie
}

var contestants = []struct {
	name string
	get  func() fixture
}{
	{"Rampart", sync.OnceValue(func() fixture { return signIn(quickstartServer(io.Discard), true) })},
	{"ALaCarte", sync.OnceValue(func() fixture { return signIn(alaCarteServer(), true) })},
	{"Mux", sync.OnceValue(func() fixture { return fixture{h: muxServer()} })},
	{"SessionMap", sync.OnceValue(func() fixture { return signIn(sessionMapServer(), true) })},
}

// signIn posts the quickstart's login form to h, as a browser on the
// same origin would, and returns the session cookies it set.
func signIn(h http.Handler, expectCookie bool) fixture {
	form := url.Values{"login": {"alice"}, "password": {"correct horse battery staple"}}
	req := httptest.NewRequest(http.MethodPost, origin+"/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	req.Header.Set("Origin", origin)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusSeeOther {
		panic("login answered " + rec.Result().Status + ": " + rec.Body.String())
	}
	cookies := rec.Result().Cookies()
	if expectCookie && len(cookies) == 0 {
		panic("login set no cookie")
	}
	return fixture{h: h, cookies: cookies}
}

var requests = []struct {
	name   string
	method string
	path   string
	signed bool
}{
	{"AnonGET", http.MethodGet, "/login", false},
	{"SignedInGET", http.MethodGet, "/", true},
	{"SignedInPOST", http.MethodPost, "/", true},
}

// newRequest builds one of the requests as a browser on the same origin
// sends it; with signed, it carries the session's cookies.
func newRequest(method, path string, cookies []*http.Cookie) *http.Request {
	r := httptest.NewRequest(method, origin+path, nil)
	r.Header.Set("Sec-Fetch-Site", "same-origin")
	if method == http.MethodPost {
		r.Header.Set("Origin", origin)
	}
	for _, c := range cookies {
		r.AddCookie(c) // only the name and value are sent
	}
	return r
}

var nonceAttr = regexp.MustCompile(`nonce="[^"]{22,40}"`)

// TestStackSameWork checks that every contestant answers every request
// with the same status and body (nonces aside), that the signed-in
// requests read the user from the session, and that without the session
// they are refused (the session is really consulted).
func TestStackSameWork(t *testing.T) {
	var page string
	{
		var b strings.Builder
		require.NoError(t, loginPage.Execute(&b, struct{ Nonce string }{fixedNonce}))
		page = b.String()
	}
	for _, c := range contestants {
		f := c.get()
		for _, q := range requests {
			var cookies []*http.Cookie
			if q.signed {
				cookies = f.cookies
			}
			for range 2 { // the first request may refresh state; both must agree
				rec := httptest.NewRecorder()
				f.h.ServeHTTP(rec, newRequest(q.method, q.path, cookies))
				require.Equal(t, http.StatusOK, rec.Code, "%s %s: %s", c.name, q.name, rec.Body)
				body := rec.Body.String()
				if q.name == "AnonGET" {
					assert.Equal(t, page, nonceAttr.ReplaceAllString(body, `nonce="`+fixedNonce+`"`), c.name)
					if csp := rec.Header().Get("Content-Security-Policy"); c.name == "Rampart" || c.name == "ALaCarte" {
						m := nonceAttr.FindString(body)
						require.NotEmpty(t, m, c.name)
						nonce := html.UnescapeString(strings.TrimSuffix(strings.TrimPrefix(m, `nonce="`), `"`))
						assert.Contains(t, csp, "'nonce-"+nonce+"'", c.name)
					}
				} else {
					assert.Equal(t, "Hello, u1.\n", body, "%s %s", c.name, q.name)
				}
			}
			if q.signed && c.name != "Mux" {
				rec := httptest.NewRecorder()
				f.h.ServeHTTP(rec, newRequest(q.method, q.path, nil))
				assert.Equal(t, http.StatusUnauthorized, rec.Code, "%s %s without the session", c.name, q.name)
			}
		}
	}
	// The protections are on: a cross-site POST is refused by both stacks.
	for _, c := range contestants[:2] {
		f := c.get()
		r := newRequest(http.MethodPost, "/", f.cookies)
		r.Header.Set("Sec-Fetch-Site", "cross-site")
		r.Header.Set("Origin", "https://evil.example")
		rec := httptest.NewRecorder()
		f.h.ServeHTTP(rec, r)
		assert.Equal(t, http.StatusForbidden, rec.Code, c.name)
	}
}

// sink is the ResponseWriter of the benchmarks: it keeps the header map
// (cleared between requests, as a server reuses nothing either way, so
// that map growth costs every contestant the same), the status and the
// byte count, and discards the body.
type sink struct {
	h      http.Header
	status int
	n      int
}

func newSink() *sink { return &sink{h: make(http.Header, 16)} }

func (w *sink) Header() http.Header { return w.h }
func (w *sink) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}
func (w *sink) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	w.n += len(b)
	return len(b), nil
}

func (w *sink) reset() {
	clear(w.h)
	w.status, w.n = 0, 0
}

// serve runs r through h once, failing on anything but 200 with a body.
func serve(b *testing.B, h http.Handler, w *sink, r *http.Request) {
	w.reset()
	h.ServeHTTP(w, r)
	if w.status != http.StatusOK || w.n == 0 {
		b.Fatalf("answered %d with %d bytes", w.status, w.n)
	}
}

func benchSerial(b *testing.B, h http.Handler, r *http.Request) {
	w := newSink()
	b.ReportAllocs()
	start := cpuTime()
	for b.Loop() {
		serve(b, h, w, r)
	}
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
}

func benchParallel(b *testing.B, h http.Handler, newReq func() *http.Request) {
	b.ReportAllocs()
	start := cpuTime()
	b.RunParallel(func(pb *testing.PB) {
		r, w := newReq(), newSink()
		for pb.Next() {
			serve(b, h, w, r)
		}
	})
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
}

func BenchmarkStack(b *testing.B) {
	eachStack(b, func(b *testing.B, h http.Handler, newReq func() *http.Request) { benchSerial(b, h, newReq()) })
}

func BenchmarkStackParallel(b *testing.B) {
	eachStack(b, benchParallel)
}

// eachStack runs bench on every contestant's stack with every request.
func eachStack(b *testing.B, bench func(b *testing.B, h http.Handler, newReq func() *http.Request)) {
	for _, c := range contestants {
		b.Run(c.name, func(b *testing.B) {
			for _, q := range requests {
				b.Run(q.name, func(b *testing.B) {
					f := c.get()
					var cookies []*http.Cookie
					if q.signed {
						cookies = f.cookies
					}
					bench(b, f.h, func() *http.Request { return newRequest(q.method, q.path, cookies) })
				})
			}
		})
	}
}

// BenchmarkStackLayers is the signed-in GET on the quickstart's chain
// built one layer at a time, outermost first, with the quickstart's
// constructors and configurations: a layer's cost is its row less the one
// before. Until the session is added, the handler answers for the
// constant user, as the session would. The last row is the whole chain,
// the Rampart fixture of BenchmarkStack.
func BenchmarkStackLayers(b *testing.B) {
	hello := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "Hello, %s.\n", "u1")
	})
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", hello)
	ips := clientip.MustNew(nil, clientip.Config{})
	events := must(audit.New(must(audit.NewJSONLSink(io.Discard)), audit.Config{}))
	sec := must(headers.New(headers.Config{}))
	csrf := must(headers.NewCrossOrigin(headers.CrossOriginConfig{}))
	limit := must(ratelimit.PerIP(benchLimit, ratelimit.MiddlewareConfig{}))

	full := contestants[0].get()
	layers := []struct {
		name string
		h    http.Handler
	}{
		{"0-mux", mux},
		{"1-clientip", ips.Handler(mux)},
		{"2-audit", ips.Handler(events.Handler(mux))},
		{"3-headers", ips.Handler(events.Handler(sec.Handler(mux)))},
		{"4-crossorigin", ips.Handler(events.Handler(sec.Handler(csrf.Handler(mux))))},
		{"5-ratelimit", ips.Handler(events.Handler(sec.Handler(csrf.Handler(limit.Handler(mux)))))},
		{"6-session+guard", full.h},
	}
	for _, l := range layers {
		b.Run(l.name, func(b *testing.B) {
			benchSerial(b, l.h, newRequest(http.MethodGet, "/", full.cookies))
		})
	}
}
