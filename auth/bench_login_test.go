package auth_test

import (
	"context"
	"errors"
	"runtime"
	"runtime/metrics"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/auth"
	"github.com/deployedworks/rampart/auth/password"
)

// openThrottle lets every attempt through, so that the benchmarks measure
// the hashing the default throttle would spare after a few failures.
type openThrottle struct{}

func (openThrottle) Check(context.Context, string) error     { return nil }
func (openThrottle) Failed(context.Context, string) error    { return nil }
func (openThrottle) Succeeded(context.Context, string) error { return nil }

// benchAuthenticator is an Authenticator at the given hasher settings, with
// one user "alice", no throttle and a discarding audit log.
func benchAuthenticator(b *testing.B, cfg password.HasherConfig) (*auth.Authenticator, *password.Hasher) {
	b.Helper()
	h, err := password.NewHasher(cfg)
	require.NoError(b, err)
	hash, err := h.Hash(context.Background(), alicePassword)
	require.NoError(b, err)
	a, err := auth.NewAuthenticator(newMemStore(auth.User{ID: "u1", Login: "alice", PasswordHash: hash}), &fakeSessions{},
		auth.AuthenticatorConfig{Hasher: h, Throttle: openThrottle{}, Audit: audit.MustNew(&audit.MemorySink{}, audit.Config{})})
	require.NoError(b, err)
	return a, h
}

// BenchmarkLoginTiming compares, at DefaultParams, a known user with a wrong
// password against an unknown user. The two are interleaved (alternating
// which goes first) so that drift on a shared machine hits both alike. The
// metrics are the median time of each (medians, because a GC cycle or a
// neighbour's burst lands on single logins) and the difference of the
// medians in percent, which must stay within ±5%.
func BenchmarkLoginTiming(b *testing.B) {
	a, _ := benchAuthenticator(b, password.HasherConfig{})
	var known, unknown []time.Duration
	b.ReportAllocs()
	for b.Loop() {
		order := [2]string{"alice", "nobody"}
		if len(known)%2 == 1 {
			order = [2]string{"nobody", "alice"}
		}
		for _, login := range order {
			start := time.Now()
			_, err := a.Login(loginRequest(), login, "wrong password entirely")
			d := time.Since(start)
			if !errors.Is(err, auth.ErrInvalidCredentials) {
				b.Fatal(err)
			}
			if login == "alice" {
				known = append(known, d)
			} else {
				unknown = append(unknown, d)
			}
		}
	}
	k, u := median(known), median(unknown)
	b.ReportMetric(float64(k.Nanoseconds()), "known-ns/login")
	b.ReportMetric(float64(u.Nanoseconds()), "unknown-ns/login")
	b.ReportMetric(100*(float64(u)-float64(k))/float64(k), "diff-%")
}

func median(ds []time.Duration) time.Duration {
	ds = slices.Clone(ds)
	slices.Sort(ds)
	return ds[len(ds)/2]
}

// BenchmarkLogin is the same two cases as separate benchmarks.
func BenchmarkLogin(b *testing.B) {
	for _, bc := range []struct{ name, login string }{
		{"known-user-wrong-password", "alice"},
		{"unknown-user", "nobody"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			a, _ := benchAuthenticator(b, password.HasherConfig{})
			b.ReportAllocs()
			for b.Loop() {
				if _, err := a.Login(loginRequest(), bc.login, "wrong password entirely"); !errors.Is(err, auth.ErrInvalidCredentials) {
					b.Fatal(err)
				}
			}
		})
	}
}

// burstMemory is the Argon2id memory per hash in BenchmarkLoginBurst: 8 MiB
// rather than the default 64 MiB, so that the unbounded case (200 hashes at
// once) peaks near 1.6 GiB instead of 12.5 GiB on a shared machine. Peak
// memory scales linearly with it.
const burstMemory = 8 * 1024

// BenchmarkLoginBurst fires 200 concurrent logins (half unknown users) and
// samples the heap while they run. Admission is opened wide (every login
// is queued and hashed) so that the benchmark measures what the slots
// alone bound: with the default bound (GOMAXPROCS hashes at once) the peak
// stays near bound × per-hash memory; with the bound lifted to 200 it grows
// with the burst. Metrics: peak-heap-MiB above the idle heap, per-hash-MiB,
// and the bound. (The default admission, which refuses most of such a
// burst at once, is measured end to end by the example app's
// BenchmarkLoginBurstHTTP.)
func BenchmarkLoginBurst(b *testing.B) {
	for _, bc := range []struct {
		name  string
		bound int
	}{
		{"bounded", 0}, // default: runtime.GOMAXPROCS(0)
		{"unbounded", 200},
	} {
		b.Run(bc.name, func(b *testing.B) {
			a, _ := benchAuthenticator(b, password.HasherConfig{
				Params:          password.Params{Memory: burstMemory, Time: 1, Threads: 1},
				AllowWeakParams: true, MaxConcurrent: bc.bound,
				MaxQueue: 200, MaxPerClient: 200, MaxWait: time.Hour,
			})
			bound := bc.bound
			if bound == 0 {
				bound = runtime.GOMAXPROCS(0)
			}
			var peak uint64
			b.ReportAllocs()
			for b.Loop() {
				runtime.GC()
				base := heapObjects()
				stop := make(chan struct{})
				var sampler sync.WaitGroup
				var top atomic.Uint64
				sampler.Go(func() {
					for {
						if v := heapObjects(); v > top.Load() {
							top.Store(v)
						}
						select {
						case <-stop:
							return
						case <-time.After(100 * time.Microsecond):
						}
					}
				})
				var wg sync.WaitGroup
				start := make(chan struct{})
				for i := range 200 {
					login := "alice"
					if i%2 == 1 {
						login = "nobody"
					}
					wg.Go(func() {
						<-start
						_, _ = a.Login(loginRequest(), login, "wrong password entirely")
					})
				}
				close(start)
				wg.Wait()
				close(stop)
				sampler.Wait()
				if top.Load() > base {
					peak = max(peak, top.Load()-base)
				}
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
			b.ReportMetric(burstMemory/1024, "per-hash-MiB")
			b.ReportMetric(float64(bound), "bound")
		})
	}
}

// heapObjects returns the bytes of heap objects, live or not yet swept.
func heapObjects() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}
