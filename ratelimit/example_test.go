package ratelimit_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"time"

	"github.com/deployedworks/rampart/clientip"
	"github.com/deployedworks/rampart/ratelimit"
)

// fixedClock stands in for time.Now so that the examples' output is
// stable; real code leaves MemoryConfig.Now unset.
func fixedClock() (now func() time.Time, advance func(time.Duration)) {
	t := time.Date(2026, 6, 25, 12, 0, 0, 0, time.UTC)
	return func() time.Time { return t }, func(d time.Duration) { t = t.Add(d) }
}

// Two requests a minute per client address, with the IETF RateLimit
// headers on every response and 429 with Retry-After past the limit.
func Example() {
	ips := clientip.MustNew(nil, clientip.Config{Logger: slog.New(slog.DiscardHandler)}) // no proxy: the peer is the client
	now, _ := fixedClock()
	lim, err := ratelimit.NewMemory(ratelimit.Limit{Events: 2, Per: time.Minute}, ratelimit.MemoryConfig{Now: now})
	if err != nil {
		panic(err)
	}
	defer lim.Close(context.Background())
	mw, err := ratelimit.NewMiddleware(lim, ratelimit.KeyByIP(), ratelimit.MiddlewareConfig{})
	if err != nil {
		panic(err)
	}
	// The resolver's handler goes outermost: it puts the client's address
	// in the request context, where KeyByIP reads it.
	h := ips.Handler(mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})))

	for range 3 {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = "198.51.100.7:4321"
		r.Header.Set("X-Forwarded-For", "10.9.9.9") // ignored: not from a trusted proxy
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		fmt.Println(w.Code, w.Header().Get("RateLimit"), w.Header().Get("RateLimit-Policy"), w.Header().Values("Retry-After"))
	}
	// Output:
	// 200 "default";r=1;t=30 "default";q=2;w=60 []
	// 200 "default";r=0;t=60 "default";q=2;w=60 []
	// 429 "default";r=0;t=60 "default";q=2;w=60 [30]
}

// The common case in one call: every client address may send 2 requests
// a minute; the third is refused with 429.
func ExamplePerIP() {
	ips := clientip.MustNew(nil, clientip.Config{Logger: slog.New(slog.DiscardHandler)})
	perIP, err := ratelimit.PerIP(ratelimit.Limit{Events: 2, Per: time.Minute}, ratelimit.MiddlewareConfig{})
	if err != nil {
		panic(err)
	}
	h := ips.Handler(perIP.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})))
	for _, addr := range []string{"198.51.100.7", "198.51.100.7", "198.51.100.7", "198.51.100.8"} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = addr + ":4321"
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		fmt.Println(addr, w.Code)
	}
	// Output:
	// 198.51.100.7 200
	// 198.51.100.7 200
	// 198.51.100.7 429
	// 198.51.100.8 200
}

// A bucket refills one token per interval: 3 a second with bursts of 3.
func ExampleMemory_Allow() {
	now, advance := fixedClock()
	lim, err := ratelimit.NewMemory(ratelimit.Limit{Events: 3, Per: time.Second}, ratelimit.MemoryConfig{Now: now})
	if err != nil {
		panic(err)
	}
	defer lim.Close(context.Background())
	ctx := context.Background()
	for range 4 {
		d, _ := lim.Allow(ctx, "client-1")
		fmt.Println(d.Allowed, d.Remaining, d.RetryAfter.Round(time.Millisecond))
	}
	advance(334 * time.Millisecond)
	d, _ := lim.Allow(ctx, "client-1")
	fmt.Println(d.Allowed, d.Remaining)
	// Output:
	// true 2 0s
	// true 1 0s
	// true 0 0s
	// false 0 333ms
	// true 0
}

// Different limits on different routes: a strict one on the login form,
// a loose one on everything else.
func Example_perRoute() {
	ips := clientip.MustNew(nil, clientip.Config{Logger: slog.New(slog.DiscardHandler)})
	strictLim, _ := ratelimit.NewMemory(ratelimit.Limit{Events: 1, Per: time.Minute}, ratelimit.MemoryConfig{})
	looseLim, _ := ratelimit.NewMemory(ratelimit.Limit{Events: 100, Per: time.Second}, ratelimit.MemoryConfig{})
	defer strictLim.Close(context.Background())
	defer looseLim.Close(context.Background())
	strict, _ := ratelimit.NewMiddleware(strictLim, ratelimit.KeyByIP(), ratelimit.MiddlewareConfig{Policy: "login", OnDeny: ratelimit.DenyHTML})
	loose, _ := ratelimit.NewMiddleware(looseLim, ratelimit.KeyByIP(), ratelimit.MiddlewareConfig{OnDeny: ratelimit.DenyJSON})

	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	mux := http.NewServeMux()
	mux.Handle("POST /login", strict.Handler(ok))
	mux.Handle("/", loose.Handler(ok))

	for _, target := range []string{"/login", "/login", "/items", "/items"} {
		r := httptest.NewRequest("POST", target, nil)
		r.RemoteAddr = "203.0.113.9:5555"
		w := httptest.NewRecorder()
		ips.Handler(mux).ServeHTTP(w, r)
		fmt.Printf("%s %d %q\n", target, w.Code, w.Header().Get("Content-Type"))
	}
	// Output:
	// /login 200 ""
	// /login 429 "text/html; charset=utf-8"
	// /items 200 ""
	// /items 200 ""
}

// Throttling logins: Check before the password is verified, then Failed
// or Succeeded. The auth package's Authenticator takes a *LoginThrottle
// as its Throttle and makes these calls itself. The client's address comes
// from the request context, which clientip's handler fills.
func ExampleLoginThrottle() {
	ips := clientip.MustNew(nil, clientip.Config{Logger: slog.New(slog.DiscardHandler)})
	now, advance := fixedClock()
	throttle, err := ratelimit.NewLoginThrottle(ratelimit.MemoryBackend{Config: ratelimit.MemoryConfig{Now: now}}, ratelimit.LoginThrottleConfig{})
	if err != nil {
		panic(err)
	}
	defer throttle.Close(context.Background())

	login := ips.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		account := r.FormValue("account")
		err := throttle.Check(r.Context(), account)
		if le, ok := errors.AsType[*ratelimit.LimitedError](err); ok {
			w.Header().Set("Retry-After", strconv.Itoa(int(le.RetryAfter.Seconds())))
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		if err != nil {
			w.WriteHeader(http.StatusServiceUnavailable) // the store failed: refuse the login
			return
		}
		// ... the password was wrong:
		_ = throttle.Failed(r.Context(), account)
		w.WriteHeader(http.StatusUnauthorized)
	}))

	for i := 1; i <= 7; i++ {
		r := httptest.NewRequest("POST", "/login", strings.NewReader("account=alice@example.com"))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.RemoteAddr = "203.0.113.66:4444"
		w := httptest.NewRecorder()
		login.ServeHTTP(w, r)
		fmt.Println("attempt", i, w.Code, w.Header().Values("Retry-After"))
		if w.Code == http.StatusTooManyRequests {
			advance(time.Minute)
		}
	}
	// Output:
	// attempt 1 401 []
	// attempt 2 401 []
	// attempt 3 401 []
	// attempt 4 401 []
	// attempt 5 401 []
	// attempt 6 429 [60]
	// attempt 7 401 []
}

// DenyJSON answers API clients with an RFC 9457 problem document.
func ExampleDenyJSON() {
	w := httptest.NewRecorder()
	ratelimit.DenyJSON(w, httptest.NewRequest("GET", "/api/items", nil),
		&ratelimit.LimitedError{RetryAfter: 1500 * time.Millisecond})
	fmt.Println(w.Code, w.Header().Get("Content-Type"))
	fmt.Print(w.Body.String())
	// Output:
	// 429 application/problem+json
	// {"type":"about:blank","title":"Too Many Requests","status":429,"detail":"Too many requests. Retry after 2 seconds.","retry_after":2}
}
