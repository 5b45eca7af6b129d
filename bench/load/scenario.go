package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// browsePaths are the pages of both browsing scenarios and of the flood,
// in turn, so that their per-request costs compare like with like: the
// only difference is a session (signed-in browsing) or a new client
// address on every request (the flood).
var browsePaths = []string{"/", "/listings", "/security"}

func addrFrom4(v uint32) netip.Addr {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], v)
	return netip.AddrFrom4(b)
}

// Address blocks of the scenarios' clients (X-Forwarded-For), disjoint so
// that one scenario's rate-limit state never meets another's.
var (
	browseBlock = netip.MustParseAddr("10.0.0.0")   // anonymous browsing: 256 addresses
	userBlock   = netip.MustParseAddr("10.1.0.0")   // one address per user
	stormBlock  = netip.MustParseAddr("10.2.0.0")   // login storms: a new block of 4096 per storm
	floodBlock  = netip.MustParseAddr("100.64.0.0") // the flood: 100.64.0.0/10, 4 Mi addresses
)

func nth(base netip.Addr, i uint32) string {
	b := base.As4()
	return addrFrom4(binary.BigEndian.Uint32(b[:]) + i).String()
}

// user is a pre-created account with a signed-in session.
type user struct {
	email, password, from string
	cookie                string // the Cookie header of its session
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%x", b)
}

// post sends a form from a client address, with the headers a browser
// sends on a same-origin form post.
func (a *app) post(hc *http.Client, path, from string, form url.Values) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodPost, a.base+path, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Host = a.host
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", a.origin)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	req.Header.Set("X-Forwarded-For", from)
	res, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	_ = res.Body.Close()
	return res, nil
}

// createUsers signs n users up over HTTP (each from its own address, as
// the sign-up limits are per address) and signs each in, keeping the
// session cookie. Sign-up creates the account in the background, so a
// log-in is retried until it succeeds; a 503 (password hashing busy) is
// retried after its Retry-After.
func (a *app) createUsers(ctx context.Context, n int) ([]*user, error) {
	run := randomHex(4)
	users := make([]*user, n)
	for i := range users {
		users[i] = &user{
			email:    fmt.Sprintf("load-%s-%d@example.com", run, i),
			password: "load test " + randomHex(12),
			from:     nth(userBlock, uint32(i)),
		}
	}
	hc := client()
	var (
		wg    sync.WaitGroup
		next  atomic.Int64
		mu    sync.Mutex
		first error
	)
	for range 4 { // a few at once: hashing admits a few, more would only wait
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := a.signUpAndIn(ctx, hc, users[i]); err != nil {
					mu.Lock()
					first = cmpOr(first, err)
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	return users, first
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// transient reports whether a set-up request's status may pass on a retry:
// hashing busy (503), or a rate limit or session store that timed out on a
// loaded machine and failed closed (429, 500; with Redis).
func transient(code int) bool {
	return code == http.StatusServiceUnavailable || code == http.StatusTooManyRequests || code == http.StatusInternalServerError
}

func (a *app) signUpAndIn(ctx context.Context, hc *http.Client, u *user) error {
	deadline := time.Now().Add(2 * time.Minute)
	form := url.Values{"email": {u.email}, "name": {"Load"}, "password": {u.password}, "password2": {u.password}}
	for {
		res, err := a.post(hc, "/signup", u.from, form)
		if err != nil {
			return fmt.Errorf("sign up %s: %w", u.email, err)
		}
		if res.StatusCode == http.StatusOK {
			break
		}
		if !transient(res.StatusCode) || time.Now().After(deadline) {
			return fmt.Errorf("sign up %s: status %d, want 200", u.email, res.StatusCode)
		}
		if err := sleep(ctx, time.Second); err != nil {
			return err
		}
	}
	login := url.Values{"email": {u.email}, "password": {u.password}}
	for {
		res, err := a.post(hc, "/login", u.from, login)
		if err != nil {
			return fmt.Errorf("log in %s: %w", u.email, err)
		}
		if res.StatusCode == http.StatusSeeOther {
			var c []string
			for _, k := range res.Cookies() {
				c = append(c, k.Name+"="+k.Value)
			}
			if len(c) == 0 {
				return fmt.Errorf("log in %s: 303 without a session cookie", u.email)
			}
			u.cookie = strings.Join(c, "; ")
			return a.checkSignedIn(hc, u)
		}
		switch {
		case time.Now().After(deadline):
			return fmt.Errorf("log in %s: status %d after 2 minutes, want 303", u.email, res.StatusCode)
		case res.StatusCode == http.StatusUnauthorized, transient(res.StatusCode):
			// Not created yet, or busy.
		default:
			return fmt.Errorf("log in %s: status %d, want 303", u.email, res.StatusCode)
		}
		if err := sleep(ctx, 500*time.Millisecond); err != nil {
			return err
		}
	}
}

// checkSignedIn fails unless u's cookie opens the account page.
func (a *app) checkSignedIn(hc *http.Client, u *user) error {
	req, err := http.NewRequest(http.MethodGet, a.base+"/account", nil)
	if err != nil {
		return err
	}
	req.Host = a.host
	req.Header.Set("Cookie", u.cookie)
	req.Header.Set("X-Forwarded-For", u.from)
	res, err := hc.Do(req)
	if err != nil {
		return err
	}
	_ = res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /account as %s: status %d, want 200 (the session does not sign in)", u.email, res.StatusCode)
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// scenario is one load: its targets, how many requests at once, and what
// an answer means.
type scenario struct {
	Name    string
	Workers int           // requests in flight at once (closed loop: each sends the next when answered)
	For     time.Duration // how long, unless Count
	Count   uint64        // how many requests; 0: For decides
	// OK are the statuses that are the right answer; Refused are the
	// statuses of a deliberate refusal (429, 503 with Retry-After),
	// counted apart from errors. Anything else is an error.
	OK, Refused []int
	target      func(i uint64, t *vegeta.Target)
}

// result is what one scenario measured.
type result struct {
	Name                string
	Requests            uint64
	Duration            time.Duration
	Throughput          float64 // right answers per second
	P50, P99, Max       time.Duration
	OK, Refused, Errors uint64
	// Latencies of the right answers and of the refusals apart: a storm
	// must answer fast what it admits and refuse the rest at once.
	OKLat, RefusedLat          latencies
	Codes                      map[int]uint64
	ErrorSamples               []string
	CPUPerRequest              time.Duration // the app's user+system CPU over requests
	PeakRSSMiB, RSSBefore, RSS float64       // MiB: peak during, resident before and after
}

// ErrorRate is the share of requests that got neither a right answer nor
// a deliberate refusal.
func (r result) ErrorRate() float64 {
	if r.Requests == 0 {
		return 0
	}
	return float64(r.Errors) / float64(r.Requests)
}

// run drives s against the app with vegeta as a closed loop of s.Workers
// and measures it.
func (a *app) run(ctx context.Context, s scenario) (result, error) {
	if err := a.alive(); err != nil {
		return result{}, err
	}
	_ = a.resetPeak() // best effort: without it, the peak is the process's
	rssBefore, err := a.rssMiB()
	if err != nil {
		return result{}, err
	}
	cpu0, err := a.cpu()
	if err != nil {
		return result{}, err
	}
	atk := vegeta.NewAttacker(
		vegeta.Workers(uint64(s.Workers)), vegeta.MaxWorkers(uint64(s.Workers)), // #nosec G115 -- Workers is checked positive when parsed
		vegeta.Connections(s.Workers), vegeta.MaxConnections(s.Workers),
		vegeta.Redirects(vegeta.NoFollow), vegeta.MaxBody(0), vegeta.KeepAlive(true),
		vegeta.Timeout(60*time.Second),
	)
	var seq atomic.Uint64
	targeter := func(t *vegeta.Target) error {
		i := seq.Add(1) - 1
		if s.Count > 0 && i >= s.Count {
			return vegeta.ErrNoTargets
		}
		*t = vegeta.Target{Method: http.MethodGet, Header: http.Header{"Host": {a.host}}}
		s.target(i, t)
		t.URL = a.base + t.URL
		return nil
	}
	// Unpaced: each worker sends its next request as soon as it has its
	// answer; the attack ends after Count requests or For.
	pacer := unpaced{count: s.Count}
	du := s.For
	if s.Count > 0 {
		du = 0
	}
	var m vegeta.Metrics
	var okLat, refusedLat vegeta.LatencyMetrics
	res := result{Name: s.Name, Codes: map[int]uint64{}}
	ok, refused := set(s.OK), set(s.Refused)
	errSeen := map[string]bool{}
	stop := context.AfterFunc(ctx, func() { atk.Stop() })
	defer stop()
	for r := range atk.Attack(vegeta.Targeter(targeter), pacer, du, s.Name) {
		if r.Error == vegeta.ErrNoTargets.Error() {
			continue
		}
		m.Add(r)
		code := int(r.Code)
		res.Codes[code]++
		switch {
		case r.Code != 0 && ok[code]:
			res.OK++
			okLat.Add(r.Latency)
		case refused[code] && (code != http.StatusServiceUnavailable || r.Headers.Get("Retry-After") != ""):
			res.Refused++
			refusedLat.Add(r.Latency)
		default:
			res.Errors++
			msg := r.Error
			if code != 0 {
				msg = fmt.Sprintf("status %d on %s %s", code, r.Method, strings.TrimPrefix(r.URL, a.base))
			}
			if !errSeen[msg] && len(errSeen) < 5 {
				errSeen[msg] = true
				res.ErrorSamples = append(res.ErrorSamples, msg)
			}
		}
	}
	m.Close()
	if err := ctx.Err(); err != nil {
		return res, err
	}
	cpu1, err := a.cpu()
	if err != nil {
		return res, err
	}
	res.Requests = m.Requests
	res.Duration = m.Duration + m.Wait
	if res.Duration > 0 {
		res.Throughput = float64(res.OK) / res.Duration.Seconds()
	}
	res.P50, res.P99, res.Max = m.Latencies.P50, m.Latencies.P99, m.Latencies.Max
	res.OKLat, res.RefusedLat = summarize(okLat, res.OK), summarize(refusedLat, res.Refused)
	if res.Requests > 0 {
		res.CPUPerRequest = (cpu1 - cpu0) / time.Duration(res.Requests) // #nosec G115 -- a request count, far below 2^63
	}
	res.RSSBefore = rssBefore
	if res.PeakRSSMiB, err = a.peakMiB(); err != nil {
		return res, err
	}
	if res.RSS, err = a.rssMiB(); err != nil {
		return res, err
	}
	return res, a.alive()
}

// latencies summarizes the latencies of some of a scenario's requests.
type latencies struct {
	P50, P99, Max time.Duration
	N             uint64
}

func summarize(l vegeta.LatencyMetrics, n uint64) latencies {
	if n == 0 {
		return latencies{}
	}
	return latencies{P50: l.Quantile(0.5), P99: l.Quantile(0.99), Max: l.Max, N: n}
}

func set(codes []int) map[int]bool {
	m := make(map[int]bool, len(codes))
	for _, c := range codes {
		m[c] = true
	}
	return m
}

// plan sizes the scenarios.
type plan struct {
	For        time.Duration // each timed scenario
	Workers    int           // browsing and flood concurrency
	Storm      int           // login-storm concurrency
	FloodAddrs uint64        // distinct addresses of the flood (one request each)
	Users      int           // pre-created signed-in users
}

// scenarios returns the scenarios in the order they run: browsing, the
// flood (before the storms, whose password hashing would leave the heap
// large and blur the flood's memory), then the login storms.
func (p plan) scenarios(a *app, users []*user) []scenario {
	get := func(path, from string, t *vegeta.Target) {
		t.URL = path
		t.Header.Set("X-Forwarded-For", from)
	}
	login := func(t *vegeta.Target, from, email, pw string) {
		t.Method, t.URL = http.MethodPost, "/login"
		t.Body = []byte(url.Values{"email": {email}, "password": {pw}}.Encode())
		t.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		t.Header.Set("Origin", a.origin)
		t.Header.Set("Sec-Fetch-Site", "same-origin")
		t.Header.Set("X-Forwarded-For", from)
	}
	nu := uint64(len(users))
	okPage := []int{http.StatusOK}
	refusals := []int{http.StatusTooManyRequests, http.StatusServiceUnavailable}
	storm := func(block uint32) func(i uint64) string {
		return func(i uint64) string { return nth(stormBlock, block*4096+uint32(i%4096)) }
	}
	validFrom, invalidFrom, unknownFrom := storm(0), storm(1), storm(2)
	run := randomHex(4)
	return []scenario{
		{Name: "anonymous browsing", Workers: p.Workers, For: p.For, OK: okPage, Refused: refusals[:1],
			target: func(i uint64, t *vegeta.Target) {
				get(browsePaths[i%3], nth(browseBlock, uint32(i/3%256)), t)
			}},
		{Name: "signed-in browsing", Workers: p.Workers, For: p.For, OK: okPage, Refused: refusals[:1],
			target: func(i uint64, t *vegeta.Target) {
				u := users[i/3%nu]
				get(browsePaths[i%3], u.from, t)
				t.Header.Set("Cookie", u.cookie)
			}},
		{Name: fmt.Sprintf("flood, %d addresses", p.FloodAddrs), Workers: p.Workers, Count: p.FloodAddrs, OK: okPage, Refused: refusals[:1],
			target: func(i uint64, t *vegeta.Target) {
				get(browsePaths[i%3], nth(floodBlock, uint32(i)), t) // #nosec G115 -- i counts the flood, bounded by -flood (at most 1<<22)
			}},
		{Name: "login storm, valid", Workers: p.Storm, For: p.For, OK: []int{http.StatusSeeOther}, Refused: refusals,
			target: func(i uint64, t *vegeta.Target) {
				u := users[i%nu]
				login(t, validFrom(i), u.email, u.password)
			}},
		{Name: "login storm, wrong password", Workers: p.Storm, For: p.For, OK: []int{http.StatusUnauthorized}, Refused: refusals,
			target: func(i uint64, t *vegeta.Target) {
				u := users[i%nu]
				login(t, invalidFrom(i), u.email, "wrong "+u.password)
			}},
		{Name: "login storm, unknown users", Workers: p.Storm, For: p.For, OK: []int{http.StatusUnauthorized}, Refused: refusals,
			target: func(i uint64, t *vegeta.Target) {
				login(t, unknownFrom(i), fmt.Sprintf("nobody-%s-%d@example.com", run, i), "load test "+run)
			}},
	}
}

// unpaced is a vegeta.Pacer that never waits (the workers' answers pace the
// attack) and stops after count hits, if count is not 0.
type unpaced struct{ count uint64 }

func (u unpaced) Pace(_ time.Duration, hits uint64) (time.Duration, bool) {
	return 0, u.count > 0 && hits >= u.count
}

func (unpaced) Rate(time.Duration) float64 { return 0 }
