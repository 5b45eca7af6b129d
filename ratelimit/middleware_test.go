package ratelimit_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/clientip"
	"github.com/deployedworks/rampart/ratelimit"
)

var (
	direct  = clientip.MustNew(nil, clientip.Config{Logger: slog.New(slog.DiscardHandler)})
	proxied = clientip.MustNew([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, clientip.Config{Logger: slog.New(slog.DiscardHandler)})
)

var okHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })

func req(remote string, hdr ...string) *http.Request {
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = remote
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Add(hdr[i], hdr[i+1])
	}
	return r
}

// serve serves r through h behind a clientip handler that trusts no proxy,
// as an app does.
func serve(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	direct.Handler(h).ServeHTTP(w, r)
	return w
}

// resolved returns r as res's handler passes it on, its client in the
// context.
func resolved(res *clientip.Resolver, r *http.Request) (out *http.Request) {
	res.Handler(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { out = r })).ServeHTTP(nil, r)
	return out
}

func newMiddleware(t *testing.T, lim ratelimit.Limiter, key ratelimit.KeyFunc, cfg ratelimit.MiddlewareConfig) *ratelimit.Middleware {
	t.Helper()
	m, err := ratelimit.NewMiddleware(lim, key, cfg)
	require.NoError(t, err)
	return m
}

// Each row sends two requests with burst 1: sameKey says whether the
// second must share the first's bucket (and be refused).
func TestKeyByIP(t *testing.T) {
	for _, tc := range []struct {
		name    string
		res     *clientip.Resolver
		key     ratelimit.KeyFunc
		a, b    *http.Request
		sameKey bool
	}{
		{"same IPv4", direct, ratelimit.KeyByIP(), req("192.0.2.1:1000"), req("192.0.2.1:2000"), true},
		{"different IPv4", direct, ratelimit.KeyByIP(), req("192.0.2.1:1000"), req("192.0.2.2:1000"), false},
		{"IPv6 in the same /64", direct, ratelimit.KeyByIP(), req("[2001:db8:1:2::1]:1"), req("[2001:db8:1:2:ffff::9]:1"), true},
		{"IPv6 in another /64", direct, ratelimit.KeyByIP(), req("[2001:db8:1:2::1]:1"), req("[2001:db8:1:3::1]:1"), false},
		{"IPv6 /56 configured", direct, ratelimit.KeyByIPPrefix(32, 56), req("[2001:db8:1:2::1]:1"), req("[2001:db8:1:3::1]:1"), true},
		{"IPv4 /24 configured", direct, ratelimit.KeyByIPPrefix(24, 64), req("192.0.2.1:1"), req("192.0.2.200:1"), true},
		{"IPv4-mapped IPv6 is the IPv4 client", direct, ratelimit.KeyByIP(), req("[::ffff:192.0.2.1]:1"), req("192.0.2.1:1"), true},
		{"IPv4 and IPv6 never share", direct, ratelimit.KeyByIP(), req("192.0.2.1:1"), req("[c000:201::]:1"), false},
		{"unknown peers share one key", direct, ratelimit.KeyByIP(), req("@"), req("unix"), true},
		{"attack: spoofed X-Forwarded-For from an untrusted peer",
			direct, ratelimit.KeyByIP(), req("203.0.113.5:1", "X-Forwarded-For", "198.51.100.1"), req("203.0.113.5:1", "X-Forwarded-For", "198.51.100.2"), true},
		{"attack: spoofed Forwarded and X-Real-IP from an untrusted peer",
			direct, ratelimit.KeyByIP(), req("203.0.113.5:1", "Forwarded", "for=198.51.100.1"), req("203.0.113.5:1", "X-Real-IP", "198.51.100.2"), true},
		{"attack: untrusted peer claims to be a trusted proxy's client",
			proxied, ratelimit.KeyByIP(), req("203.0.113.5:1"), req("203.0.113.5:1", "X-Forwarded-For", "198.51.100.9"), true},
		{"attack: client-written left part of X-Forwarded-For behind a trusted proxy",
			proxied, ratelimit.KeyByIP(), req("10.0.0.1:1", "X-Forwarded-For", "1.1.1.1, 198.51.100.9"), req("10.0.0.1:1", "X-Forwarded-For", "2.2.2.2, 198.51.100.9"), true},
		{"trusted proxy: clients told apart", proxied, ratelimit.KeyByIP(),
			req("10.0.0.1:1", "X-Forwarded-For", "198.51.100.1"), req("10.0.0.1:1", "X-Forwarded-For", "198.51.100.2"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lim := newMemory(t, ratelimit.Limit{Events: 1, Per: time.Hour}, ratelimit.MemoryConfig{SweepInterval: -1})
			h := tc.res.Handler(newMiddleware(t, lim, tc.key, ratelimit.MiddlewareConfig{}).Handler(okHandler))
			require.Equal(t, http.StatusNoContent, serve(h, tc.a).Code)
			want := http.StatusNoContent
			if tc.sameKey {
				want = http.StatusTooManyRequests
			}
			assert.Equal(t, want, serve(h, tc.b).Code)
		})
	}
}

// AddrKey groups addresses as KeyByIP does, for packages that have an
// address rather than a request.
func TestAddrKey(t *testing.T) {
	key := func(s string) string {
		k, err := ratelimit.KeyByIP()(resolved(direct, req(s)))
		require.NoError(t, err)
		return k
	}
	for _, tc := range []struct{ name, addr, peer string }{
		{"IPv4", "192.0.2.1", "192.0.2.1:1"},
		{"IPv6 by /64", "2001:db8:1:2::1", "[2001:db8:1:2:ffff::9]:1"},
		{"IPv4-mapped IPv6", "::ffff:192.0.2.1", "192.0.2.1:1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, key(tc.peer), ratelimit.AddrKey(netip.MustParseAddr(tc.addr)))
		})
	}
	assert.Equal(t, key("@"), ratelimit.AddrKey(netip.Addr{}), "unknown clients share one key")
	assert.NotEqual(t, ratelimit.AddrKey(netip.MustParseAddr("2001:db8:1:2::1")), ratelimit.AddrKey(netip.MustParseAddr("2001:db8:1:3::1")))
}

// Attack: whatever forwarding headers a client sends directly, its key is
// the key of its own address.
func FuzzKeyByIPIgnoresUntrustedHeaders(f *testing.F) {
	f.Add("203.0.113.5:443", "198.51.100.1", "for=198.51.100.2;proto=https")
	f.Add("[2001:db8::1]:1", "2001:db8:ffff::1, 10.0.0.1", `for="[2001:db8::2]"`)
	f.Add("10.0.0.1:1", "garbage,,", "unknown")
	key := ratelimit.KeyByIP()
	f.Fuzz(func(t *testing.T, remote, xff, fwd string) {
		plain, err := key(resolved(direct, req(remote)))
		require.NoError(t, err)
		spoofed, err := key(resolved(direct, req(remote, "X-Forwarded-For", xff, "Forwarded", fwd, "X-Real-IP", xff)))
		require.NoError(t, err)
		require.Equal(t, plain, spoofed)
	})
}

func TestKeyByUser(t *testing.T) {
	user := func(r *http.Request) (string, bool) {
		id := r.Header.Get("Test-User") // stands in for a session lookup
		return id, id != ""
	}
	key := ratelimit.KeyByUser(user, ratelimit.KeyByIP())
	lim := newMemory(t, ratelimit.Limit{Events: 1, Per: time.Hour}, ratelimit.MemoryConfig{SweepInterval: -1})
	h := newMiddleware(t, lim, key, ratelimit.MiddlewareConfig{}).Handler(okHandler)

	assert.Equal(t, http.StatusNoContent, serve(h, req("192.0.2.1:1", "Test-User", "alice")).Code)
	assert.Equal(t, http.StatusTooManyRequests, serve(h, req("192.0.2.2:1", "Test-User", "alice")).Code, "the limit follows the user across addresses")
	assert.Equal(t, http.StatusNoContent, serve(h, req("192.0.2.1:1", "Test-User", "bob")).Code)
	assert.Equal(t, http.StatusNoContent, serve(h, req("192.0.2.1:1")).Code, "anonymous keys never collide with user keys")
	assert.Equal(t, http.StatusTooManyRequests, serve(h, req("192.0.2.1:1")).Code)

	assert.Panics(t, func() { ratelimit.KeyByUser(user, nil) })
	assert.Panics(t, func() { ratelimit.KeyByIPPrefix(33, 64) })
	assert.Panics(t, func() { ratelimit.KeyByRoute(nil) })
}

func TestKeyByRoute(t *testing.T) {
	lim := newMemory(t, ratelimit.Limit{Events: 1, Per: time.Hour}, ratelimit.MemoryConfig{SweepInterval: -1})
	mw := newMiddleware(t, lim, ratelimit.KeyByRoute(ratelimit.KeyByIP()), ratelimit.MiddlewareConfig{})
	mux := http.NewServeMux()
	mux.Handle("GET /a/{id}", mw.Handler(okHandler))
	mux.Handle("GET /b/", mw.Handler(okHandler))

	for _, tc := range []struct {
		name, path string
		want       int
	}{
		{"first request to route a", "/a/1", http.StatusNoContent},
		{"route a again, another path", "/a/2", http.StatusTooManyRequests},
		{"route b has its own budget", "/b/x", http.StatusNoContent},
		{"attack: path variants of route b share its bucket", "/b/x/../y", http.StatusTooManyRequests},
		{"attack: trailing junk on route b", "/b/zzz", http.StatusTooManyRequests},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", tc.path, nil)
			r.RemoteAddr = "192.0.2.1:1"
			w := serve(mux, r)
			if w.Code/100 == 3 { // the mux cleans the path: follow once
				r = httptest.NewRequest("GET", w.Header().Get("Location"), nil)
				r.RemoteAddr = "192.0.2.1:1"
				w = serve(mux, r)
			}
			assert.Equal(t, tc.want, w.Code)
		})
	}
}

func TestMiddlewareHeaders(t *testing.T) {
	clk := newClock()
	lim := newMemory(t, ratelimit.Limit{Events: 2, Per: time.Minute}, ratelimit.MemoryConfig{Now: clk.Now, SweepInterval: -1})
	h := newMiddleware(t, lim, ratelimit.KeyByIP(), ratelimit.MiddlewareConfig{Policy: "api"}).Handler(okHandler)

	w := serve(h, req("192.0.2.1:1"))
	assert.Equal(t, http.StatusNoContent, w.Code)
	assert.Equal(t, `"api";r=1;t=30`, w.Header().Get("RateLimit"))
	assert.Equal(t, `"api";q=2;w=60`, w.Header().Get("RateLimit-Policy"))
	assert.Empty(t, w.Header().Get("Retry-After"))

	serve(h, req("192.0.2.1:1"))
	clk.Add(10 * time.Second)
	w = serve(h, req("192.0.2.1:1"))
	assert.Equal(t, http.StatusTooManyRequests, w.Code)
	assert.Equal(t, "20", w.Header().Get("Retry-After"))
	assert.Equal(t, `"api";r=0;t=50`, w.Header().Get("RateLimit"))
	assert.Equal(t, `"api";q=2;w=60`, w.Header().Get("RateLimit-Policy"))
	assert.Equal(t, "Too Many Requests\n", w.Body.String())

	hidden := newMiddleware(t, lim, ratelimit.KeyByIP(), ratelimit.MiddlewareConfig{HideHeaders: true}).Handler(okHandler)
	w = serve(hidden, req("192.0.2.1:1"))
	assert.Equal(t, http.StatusTooManyRequests, w.Code)
	assert.Empty(t, w.Header().Get("RateLimit"))
	assert.Empty(t, w.Header().Get("RateLimit-Policy"))
	assert.Equal(t, "20", w.Header().Get("Retry-After"), "Retry-After is always sent on 429")
}

func TestMiddlewarePolicyHeaderUnits(t *testing.T) {
	for _, tc := range []struct {
		limit ratelimit.Limit
		want  string
	}{
		{ratelimit.Limit{Events: 100, Per: time.Second}, `"default";q=100;w=1`},
		{ratelimit.Limit{Events: 5, Per: 15 * time.Minute}, `"default";q=5;w=900`},
		{ratelimit.Limit{Events: 10, Per: 100 * time.Millisecond}, `"default";q=100;w=1`},
		{ratelimit.Limit{Events: 3, Per: 1500 * time.Millisecond}, `"default";q=4;w=2`},
	} {
		t.Run(tc.limit.String(), func(t *testing.T) {
			lim := newMemory(t, tc.limit, ratelimit.MemoryConfig{SweepInterval: -1})
			h := newMiddleware(t, lim, ratelimit.KeyByIP(), ratelimit.MiddlewareConfig{}).Handler(okHandler)
			assert.Equal(t, tc.want, serve(h, req("192.0.2.1:1")).Header().Get("RateLimit-Policy"))
		})
	}
}

func TestMiddlewareOnDenyHooks(t *testing.T) {
	limited := func(t *testing.T, deny func(http.ResponseWriter, *http.Request, error)) *httptest.ResponseRecorder {
		clk := newClock()
		lim := newMemory(t, ratelimit.Limit{Events: 1, Per: 10 * time.Second}, ratelimit.MemoryConfig{Now: clk.Now, SweepInterval: -1})
		h := newMiddleware(t, lim, ratelimit.KeyByIP(), ratelimit.MiddlewareConfig{OnDeny: deny}).Handler(okHandler)
		serve(h, req("192.0.2.1:1"))
		return serve(h, req("192.0.2.1:1"))
	}
	t.Run("json", func(t *testing.T) {
		w := limited(t, ratelimit.DenyJSON)
		assert.Equal(t, http.StatusTooManyRequests, w.Code)
		assert.Equal(t, "application/problem+json", w.Header().Get("Content-Type"))
		var p map[string]any
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &p))
		assert.Equal(t, float64(429), p["status"])
		assert.Equal(t, float64(10), p["retry_after"])
	})
	t.Run("html", func(t *testing.T) {
		w := limited(t, ratelimit.DenyHTML)
		assert.Equal(t, http.StatusTooManyRequests, w.Code)
		assert.Equal(t, "text/html; charset=utf-8", w.Header().Get("Content-Type"))
		assert.Contains(t, w.Body.String(), "wait 10 seconds")
	})
	t.Run("custom gets a LimitedError with the wait", func(t *testing.T) {
		var gotErr error
		w := limited(t, func(w http.ResponseWriter, r *http.Request, err error) {
			gotErr = err
			w.WriteHeader(http.StatusTeapot)
		})
		assert.Equal(t, http.StatusTeapot, w.Code)
		assert.ErrorIs(t, gotErr, ratelimit.ErrLimited)
		le, ok := errors.AsType[*ratelimit.LimitedError](gotErr)
		require.True(t, ok)
		assert.Equal(t, 10*time.Second, le.RetryAfter)
		assert.Equal(t, "10", w.Header().Get("Retry-After"))
	})
}

func TestMiddlewareExempt(t *testing.T) {
	lim := newMemory(t, ratelimit.Limit{Events: 1, Per: time.Hour}, ratelimit.MemoryConfig{SweepInterval: -1})
	internal := netip.MustParsePrefix("192.0.2.0/24")
	m := newMiddleware(t, lim, ratelimit.KeyByIP(), ratelimit.MiddlewareConfig{
		Exempt: func(r *http.Request) bool {
			info, _ := clientip.FromContext(r.Context())
			return internal.Contains(info.Addr)
		},
	})
	h := m.Handler(okHandler)
	for range 5 {
		w := serve(h, req("192.0.2.1:1"))
		assert.Equal(t, http.StatusNoContent, w.Code)
		assert.Empty(t, w.Header().Get("RateLimit"), "exempt requests get no headers")
	}
	assert.Equal(t, 0, lim.Len(), "exempt requests spend nothing")
	assert.Equal(t, http.StatusNoContent, serve(h, req("198.51.100.1:1")).Code)
	assert.Equal(t, http.StatusTooManyRequests, serve(h, req("198.51.100.1:1")).Code)
	d, err := m.Check(resolved(direct, req("192.0.2.1:1")))
	require.NoError(t, err)
	assert.True(t, d.Allowed)
}

// failing is a Limiter whose backend is down.
type failing struct{ open bool }

func (f failing) Allow(context.Context, string) (ratelimit.Decision, error) {
	return ratelimit.Decision{Allowed: f.open, Limit: ratelimit.Limit{Events: 1, Per: time.Second, Burst: 1}},
		errors.Join(ratelimit.ErrUnavailable, errors.New("dial tcp: connection refused"))
}

func TestMiddlewareFailurePolicy(t *testing.T) {
	for _, tc := range []struct {
		name string
		lim  ratelimit.Limiter
		key  ratelimit.KeyFunc
		want int
	}{
		{"backend down, fails open", failing{open: true}, ratelimit.KeyByIP(), http.StatusNoContent},
		{"backend down, fails closed", failing{open: false}, ratelimit.KeyByIP(), http.StatusServiceUnavailable},
		{"key function fails: closed", failing{open: true}, func(*http.Request) (string, error) { return "", errors.New("no session store") }, http.StatusServiceUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sink := &audit.MemorySink{}
			m := newMiddleware(t, tc.lim, tc.key, ratelimit.MiddlewareConfig{Audit: audit.MustNew(sink, audit.Config{})})
			w := serve(m.Handler(okHandler), req("192.0.2.1:1"))
			assert.Equal(t, tc.want, w.Code)
			assert.NotContains(t, w.Body.String(), "refused", "internal errors never reach the client")
			assert.NotContains(t, w.Body.String(), "session")
		})
	}
}

func TestMiddlewareAudit(t *testing.T) { synctest.Test(t, testMiddlewareAudit) }

func testMiddlewareAudit(t *testing.T) {
	clk := newClock()
	sink := &audit.MemorySink{}
	lim := newMemory(t, ratelimit.Limit{Events: 1, Per: time.Hour}, ratelimit.MemoryConfig{Now: clk.Now, SweepInterval: -1})
	m := newMiddleware(t, lim, ratelimit.KeyByIP(), ratelimit.MiddlewareConfig{Audit: audit.MustNew(sink, audit.Config{})})
	h := m.Handler(okHandler)
	for range 100 {
		serve(h, req("198.51.100.7:1"))
	}
	events := sink.Events()
	require.Len(t, events, 10, "a flood of refusals writes at most 10 events at once")
	e := events[0]
	assert.Equal(t, audit.CategorySuspicious, e.Category)
	assert.Equal(t, ratelimit.ActionExceeded, e.Action)
	assert.Equal(t, audit.OutcomeDenied, e.Outcome)
	assert.Equal(t, netip.MustParseAddr("198.51.100.7"), e.ClientIP)
	assert.Equal(t, "default", e.Meta["policy"])

	time.Sleep(time.Second) // the Logger paces on its own clock (time.Now, the bubble's)
	serve(h, req("198.51.100.7:1"))
	events = sink.Events()
	require.Len(t, events, 11)
	assert.Equal(t, "89", events[10].Meta["suppressed"])

	// Key failures are recorded as errors.
	sink2 := &audit.MemorySink{}
	m2 := newMiddleware(t, lim, func(*http.Request) (string, error) { return "", errors.New("boom") },
		ratelimit.MiddlewareConfig{Audit: audit.MustNew(sink2, audit.Config{})})
	serve(m2.Handler(okHandler), req("198.51.100.7:1"))
	require.Len(t, sink2.Events(), 1)
	assert.Equal(t, audit.CategoryError, sink2.Events()[0].Category)
	assert.Equal(t, ratelimit.ActionError, sink2.Events()[0].Action)
	assert.True(t, strings.Contains(sink2.Events()[0].Reason, "boom"))
}

func TestNewMiddlewareErrors(t *testing.T) {
	lim := newMemory(t, ratelimit.Limit{Events: 1, Per: time.Hour}, ratelimit.MemoryConfig{SweepInterval: -1})
	_, err := ratelimit.NewMiddleware(nil, ratelimit.KeyByIP(), ratelimit.MiddlewareConfig{})
	assert.Error(t, err)
	_, err = ratelimit.NewMiddleware(lim, nil, ratelimit.MiddlewareConfig{})
	assert.Error(t, err)
	_, err = ratelimit.NewMiddleware(lim, ratelimit.KeyByIP(), ratelimit.MiddlewareConfig{Policy: `a"b`})
	assert.Error(t, err)
}

// The middleware writes DenyText's response itself (to save allocations);
// the two must not drift apart.
func TestDefaultDenyIsDenyText(t *testing.T) {
	for _, tc := range []struct {
		name string
		lim  ratelimit.Limiter
	}{
		{"limited", newMemory(t, ratelimit.Limit{Events: 1, Per: time.Minute}, ratelimit.MemoryConfig{SweepInterval: -1})},
		{"unavailable", failing{open: false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got, want *httptest.ResponseRecorder
			for _, deny := range []func(http.ResponseWriter, *http.Request, error){nil, ratelimit.DenyText} {
				m := newMiddleware(t, tc.lim, func(*http.Request) (string, error) { return tc.name, nil }, ratelimit.MiddlewareConfig{OnDeny: deny, OnError: deny})
				w := serve(m.Handler(okHandler), req("192.0.2.1:1"))
				if w.Code == http.StatusNoContent {
					w = serve(m.Handler(okHandler), req("192.0.2.1:1"))
				}
				if deny == nil {
					got = w
				} else {
					want = w
				}
			}
			assert.Equal(t, want.Code, got.Code)
			assert.Equal(t, want.Body.String(), got.Body.String())
			for _, k := range []string{"Content-Type", "X-Content-Type-Options", "Content-Length"} {
				assert.Equal(t, want.Header().Values(k), got.Header().Values(k), k)
			}
		})
	}
}

// Attack (misconfiguration): the middleware installed without clientip's
// handler in front. It cannot tell clients apart, so it refuses every
// request (fails closed) through OnError with an error wrapping
// clientip.ErrNoClient, rather than putting every client in one bucket or
// letting them all through.
func TestMiddlewareNoClientFailsClosed(t *testing.T) {
	lim := newMemory(t, ratelimit.Limit{Events: 100, Per: time.Second}, ratelimit.MemoryConfig{SweepInterval: -1})
	for _, key := range []ratelimit.KeyFunc{ratelimit.KeyByIP(), ratelimit.KeyByIPPrefix(24, 48), ratelimit.KeyByRoute(ratelimit.KeyByIP())} {
		var gotErr error
		var denied bool
		m := newMiddleware(t, lim, key, ratelimit.MiddlewareConfig{
			OnError: func(w http.ResponseWriter, r *http.Request, err error) {
				gotErr = err
				ratelimit.DenyText(w, r, err)
			},
			OnDeny: func(w http.ResponseWriter, r *http.Request, err error) { denied = true },
		})
		w := httptest.NewRecorder()
		m.Handler(okHandler).ServeHTTP(w, req("192.0.2.1:1")) // no clientip handler
		assert.Equal(t, http.StatusServiceUnavailable, w.Code)
		assert.ErrorIs(t, gotErr, clientip.ErrNoClient)
		assert.False(t, denied, "not a refusal by the limit")
		assert.NotContains(t, w.Body.String(), "clientip")

		_, err := m.Check(req("192.0.2.1:1"))
		assert.ErrorIs(t, err, clientip.ErrNoClient)
		assert.NotErrorIs(t, err, ratelimit.ErrLimited)
	}
	assert.Zero(t, lim.Len(), "nothing was counted")

	// The default hooks answer 503 too.
	m := newMiddleware(t, lim, ratelimit.KeyByIP(), ratelimit.MiddlewareConfig{})
	w := httptest.NewRecorder()
	m.Handler(okHandler).ServeHTTP(w, req("192.0.2.1:1"))
	assert.Equal(t, http.StatusServiceUnavailable, w.Code)
}

// Check returns a LimitedError when the key is over its limit.
func TestMiddlewareCheckLimitedError(t *testing.T) {
	clk := newClock()
	lim := newMemory(t, ratelimit.Limit{Events: 1, Per: time.Minute}, ratelimit.MemoryConfig{Now: clk.Now, SweepInterval: -1})
	m := newMiddleware(t, lim, ratelimit.KeyByIP(), ratelimit.MiddlewareConfig{})
	r := resolved(direct, req("192.0.2.1:1"))
	d, err := m.Check(r)
	require.NoError(t, err)
	assert.True(t, d.Allowed)
	d, err = m.Check(r)
	assert.ErrorIs(t, err, ratelimit.ErrLimited)
	le, ok := errors.AsType[*ratelimit.LimitedError](err)
	require.True(t, ok)
	assert.Equal(t, time.Minute, le.RetryAfter)
	assert.Equal(t, d.RetryAfter, le.RetryAfter)
	assert.False(t, d.Allowed)
}

// Regression: with a custom OnError and no limit headers to set, a
// KeyFunc failure used to let the request through.
func TestMiddlewareKeyFailureWithCustomHookFailsClosed(t *testing.T) {
	lim := newMemory(t, ratelimit.Limit{Events: 100, Per: time.Second}, ratelimit.MemoryConfig{SweepInterval: -1})
	m := newMiddleware(t, lim, func(*http.Request) (string, error) { return "", errors.New("no session store") },
		ratelimit.MiddlewareConfig{OnError: ratelimit.DenyJSON})
	w := serve(m.Handler(okHandler), req("192.0.2.1:1"))
	assert.Equal(t, http.StatusServiceUnavailable, w.Code)
	assert.Equal(t, "application/problem+json", w.Header().Get("Content-Type"))
}

// PerIP counts per client address, IPv6 by /64, fails closed without an
// address, and rejects an invalid Limit.
func TestPerIP(t *testing.T) {
	mw, err := ratelimit.PerIP(ratelimit.Limit{Events: 1, Per: time.Hour}, ratelimit.MiddlewareConfig{})
	require.NoError(t, err)
	h := mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	code := func(addr string) int {
		r := httptest.NewRequest("GET", "/", nil)
		if addr != "" {
			r = r.WithContext(clientip.WithInfo(r.Context(), clientip.Info{Addr: netip.MustParseAddr(addr)}))
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	assert.Equal(t, http.StatusOK, code("2001:db8::1"))
	assert.Equal(t, http.StatusTooManyRequests, code("2001:db8::2"), "one /64, one budget")
	assert.Equal(t, http.StatusOK, code("2001:db8:0:1::1"))
	assert.Equal(t, http.StatusOK, code("192.0.2.1"))
	assert.Equal(t, http.StatusTooManyRequests, code("192.0.2.1"))
	assert.Equal(t, http.StatusServiceUnavailable, code(""), "no client address: fails closed")

	_, err = ratelimit.PerIP(ratelimit.Limit{}, ratelimit.MiddlewareConfig{})
	assert.Error(t, err)
}

// Each policy has its own audit budget: a cheap flood refused by one
// policy cannot use up the budget that records another's refusals.
func TestMiddlewareAuditBudgetPerPolicy(t *testing.T) {
	sink := &audit.MemorySink{}
	events := audit.MustNew(sink, audit.Config{})
	global, err := ratelimit.PerIP(ratelimit.Limit{Events: 1, Per: time.Hour}, ratelimit.MiddlewareConfig{})
	require.NoError(t, err)
	strict, err := ratelimit.NewMiddleware(newMemory(t, ratelimit.Limit{Events: 1, Per: time.Hour}, ratelimit.MemoryConfig{}), ratelimit.KeyByIP(),
		ratelimit.MiddlewareConfig{Policy: "admin-login"})
	require.NoError(t, err)
	ok := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	do := func(h http.Handler, addr string) {
		r := httptest.NewRequest("GET", "/", nil)
		r = r.WithContext(clientip.WithInfo(r.Context(), clientip.Info{Addr: netip.MustParseAddr(addr)}))
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
	gh, sh := events.Handler(global.Handler(ok)), events.Handler(strict.Handler(ok))
	for range 50 {
		do(gh, "192.0.2.1") // the flood: one address, a cheap route
	}
	for range 5 {
		do(sh, "203.0.113.66") // what the attacker wants unseen
	}
	seen := 0
	for _, e := range sink.Events() {
		if e.Meta["policy"] == "admin-login" {
			seen++
		}
	}
	assert.Equal(t, 4, seen, "every refusal of the strict policy is recorded")
}
