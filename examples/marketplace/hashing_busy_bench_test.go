package main

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/auth"
)

// burstDeadline is the time every request of BenchmarkLoginBurstHTTP must
// be answered in: the default HasherConfig.MaxWait (5 s) plus a few
// default hashes on a loaded machine, far below the server's 60 s
// WriteTimeout.
const burstDeadline = 10 * time.Second

// BenchmarkLoginBurstHTTP is issue 12's burst: 200 logins at once from 200
// client addresses (X-Forwarded-For from a trusted proxy), half to known
// accounts with a wrong password, half to unknown accounts, against the
// whole app behind an httptest server, with the default Argon2id
// parameters (64 MiB, t=3, p=4), the default admission and the default
// rate limits. Then one legitimate login from a fresh address. It fails
// if a request is unanswered within burstDeadline or answered other than
// 401, 303 or 503 with Retry-After, if the legitimate login does not
// succeed, or if the heap grows beyond the auth package's bound (three
// times MaxConcurrent × 64 MiB, plus one hash's worth of slack).
//
// Metrics, per burst: p50-ms, p99-ms and max-ms of the 200 requests,
// status-401/status-303/status-503 counts, legit-ms, peak-heap-MiB (heap
// objects above the idle heap, sampled every millisecond) and peak-RSS-MiB
// (VmHWM after resetting it, Linux only). Run it alone:
//
//	go test -run '^$' -bench LoginBurstHTTP -benchtime 3x ./examples/marketplace/
func BenchmarkLoginBurstHTTP(b *testing.B) {
	ta := newTestApp(b, func(c *Config) {
		c.PasswordHashing = nil // the defaults
		c.Limits = Limits{}     // the defaults
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	})
	ctx := context.Background()
	hash, err := ta.authn.HashNewPassword(ctx, auth.User{Login: "burst"}, goodPassword)
	require.NoError(b, err)
	for i := range 100 {
		_, err := ta.db.createUser(ctx, user{Email: fmt.Sprintf("known%d@example.com", i), DisplayName: "Known", Hash: hash})
		require.NoError(b, err)
	}
	_, err = ta.db.createUser(ctx, user{Email: "legit@example.com", DisplayName: "Legit", Hash: hash})
	require.NoError(b, err)

	hc := &http.Client{
		Timeout:       burstDeadline,
		Transport:     &http.Transport{MaxIdleConnsPerHost: 256},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	// post returns the status of a login, or 0 for a 503 without
	// Retry-After.
	post := func(from, email, password string) (int, time.Duration, error) {
		form := url.Values{"email": {email}, "password": {password}}
		req, err := http.NewRequest(http.MethodPost, ta.URL+"/login", strings.NewReader(form.Encode()))
		if err != nil {
			return 0, 0, err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Forwarded-For", from)
		start := time.Now()
		res, err := hc.Do(req)
		d := time.Since(start)
		if err != nil {
			return 0, d, err
		}
		res.Body.Close()
		if res.StatusCode == http.StatusServiceUnavailable && res.Header.Get("Retry-After") == "" {
			return 0, d, nil
		}
		return res.StatusCode, d, nil
	}

	const per = 64 << 20 // DefaultParams().Memory in bytes
	slots := runtime.GOMAXPROCS(0)
	bound := uint64(3*slots+1) * per
	var (
		lat          []time.Duration
		legit        []time.Duration
		statuses     = map[int]int{}
		peakHeap     uint64
		peakRSS      uint64
		bursts, wrap int
	)
	b.ReportAllocs()
	for b.Loop() {
		bursts++
		resetPeakRSS()
		runtime.GC()
		idle := heapObjects()
		var top atomic.Uint64
		stop := make(chan struct{})
		var sampler sync.WaitGroup
		sampler.Go(func() {
			for {
				top.Store(max(top.Load(), heapObjects()))
				select {
				case <-stop:
					return
				case <-time.After(time.Millisecond):
				}
			}
		})

		type result struct {
			status int
			d      time.Duration
			err    error
		}
		results := make([]result, 200)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range 200 {
			email := fmt.Sprintf("known%d@example.com", i/2)
			if i%2 == 1 {
				email = fmt.Sprintf("nobody%d-%d@example.com", bursts, i)
			}
			from := fmt.Sprintf("198.18.%d.%d", wrap, i+1)
			wg.Go(func() {
				<-start
				s, d, err := post(from, email, "wrong password, burst")
				results[i] = result{s, d, err}
			})
		}
		close(start)
		wg.Wait()
		s, d, err := post(fmt.Sprintf("198.19.%d.1", wrap), "legit@example.com", goodPassword)
		close(stop)
		sampler.Wait()
		wrap = (wrap + 1) % 256

		for i, r := range results {
			switch {
			case r.err != nil:
				b.Fatalf("request %d unanswered within %v: %v", i, burstDeadline, r.err)
			case r.status != http.StatusUnauthorized && r.status != http.StatusSeeOther && r.status != http.StatusServiceUnavailable:
				b.Fatalf("request %d: status %d, want 401, 303 or 503 with Retry-After (0: 503 without)", i, r.status)
			}
			statuses[r.status]++
			lat = append(lat, r.d)
		}
		if err != nil || s != http.StatusSeeOther {
			b.Fatalf("the legitimate login after the burst: status %d, error %v; want 303", s, err)
		}
		legit = append(legit, d)
		if t := top.Load(); t > idle {
			peakHeap = max(peakHeap, t-idle)
		}
		peakRSS = max(peakRSS, readPeakRSS())
	}
	if peakHeap > bound {
		b.Fatalf("peak heap %d MiB above idle exceeds the documented bound of %d MiB (3 × %d slots × 64 MiB + 64 MiB)", peakHeap>>20, bound>>20, slots)
	}
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
	b.ReportMetric(ms(lat[len(lat)*99/100]), "p99-ms")
	b.ReportMetric(ms(lat[len(lat)-1]), "max-ms")
	b.ReportMetric(ms(slices.Max(legit)), "legit-ms")
	for _, code := range []int{http.StatusUnauthorized, http.StatusSeeOther, http.StatusServiceUnavailable} {
		b.ReportMetric(float64(statuses[code])/float64(bursts), "status-"+strconv.Itoa(code))
	}
	b.ReportMetric(float64(peakHeap)/(1<<20), "peak-heap-MiB")
	if peakRSS > 0 {
		b.ReportMetric(float64(peakRSS)/(1<<20), "peak-RSS-MiB")
	}
}

// heapObjects returns the bytes of heap objects, live or not yet swept.
func heapObjects() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// resetPeakRSS resets the process's peak resident set size (Linux; a no-op
// elsewhere).
func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// readPeakRSS returns the peak resident set size since the last reset
// (VmHWM), or 0 where /proc is not available.
func readPeakRSS() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}
