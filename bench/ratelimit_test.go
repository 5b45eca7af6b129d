package bench

// Rate limiting: rampart/ratelimit beside go-chi/httprate, ulule/limiter
// (memory store), sethvargo/go-limiter (memorystore) and didip/tollbooth,
// all at 100 requests a second with bursts of 100 per key, on the same
// request stream.
//
//	cd bench && go test -run XXX -bench RateLimit -benchmem
//
// Cases:
//   - key: each library's narrowest "decide for this key" call.
//   - http: the library's net/http middleware keyed by client IP
//     (RemoteAddr; no forwarding headers trusted), a discarding
//     ResponseWriter, and a no-op handler.
//   - hot: one key (after the first 100 requests, every request is refused).
//   - 1M: 1,000,000 pre-generated keys, round-robin (every request allowed).
//   - serial and parallel (b.RunParallel, GOMAXPROCS goroutines).
//   - BytesPerKey: heap retained per tracked key after 1,000,000 keys made
//     one request each (runtime.ReadMemStats after GC, before and after).
//     Keys are built fresh per request, as a KeyFunc would, so libraries
//     that keep the key string pay for it.

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/didip/tollbooth/v7"
	tblimiter "github.com/didip/tollbooth/v7/limiter"
	"github.com/go-chi/httprate"
	"github.com/sethvargo/go-limiter/httplimit"
	"github.com/sethvargo/go-limiter/memorystore"
	ulule "github.com/ulule/limiter/v3"
	ulstdlib "github.com/ulule/limiter/v3/drivers/middleware/stdlib"
	ulmemory "github.com/ulule/limiter/v3/drivers/store/memory"

	"github.com/deployedworks/rampart/clientip"
	"github.com/deployedworks/rampart/ratelimit"
)

const (
	rlEvents = 100
	rlPer    = time.Second
	rlKeys   = 1_000_000
)

// rlKeySet holds the pre-generated keys: IPv4 addresses for the key case,
// with a port for RemoteAddr in the http case.
var rlKeySet = sync.OnceValues(func() (keys, addrs []string) {
	keys = make([]string, rlKeys)
	addrs = make([]string, rlKeys)
	for i := range keys {
		keys[i] = rlIPv4(i)
		addrs[i] = keys[i] + ":" + strconv.Itoa(1024+i%50000)
	}
	return keys, addrs
})

// rlIPv4 returns the i-th address from 11.0.0.0 up: public, distinct.
func rlIPv4(i int) string {
	n := uint32(11<<24) + uint32(i) // #nosec G115 -- i is a non-negative key index below 2^24 (addresses in 11.0.0.0/8)
	var b []byte
	b = strconv.AppendUint(b, uint64(n>>24), 10)
	b = append(b, '.')
	b = strconv.AppendUint(b, uint64(n>>16&0xff), 10)
	b = append(b, '.')
	b = strconv.AppendUint(b, uint64(n>>8&0xff), 10)
	b = append(b, '.')
	b = strconv.AppendUint(b, uint64(n&0xff), 10)
	return string(b)
}

// rlPeer builds one library at the common limit.
type rlPeer struct {
	name string
	// key returns a maker of the library's per-key decision at per,
	// called once per goroutine (for per-goroutine scratch such as
	// httprate's ResponseWriter), the number of keys tracked (nil: the
	// library never forgets a key within per), and a cleanup.
	key func(tb testing.TB, per time.Duration) (newAllow func() func(key string) bool, tracked func() int, done func())
	// http returns the library's middleware around next, and a cleanup.
	http func(tb testing.TB, next http.Handler) (http.Handler, func())
}

func rlPeers() []rlPeer {
	return []rlPeer{
		{
			name: "rampart",
			key: func(tb testing.TB, per time.Duration) (func() func(string) bool, func() int, func()) {
				m, err := ratelimit.NewMemory(ratelimit.Limit{Events: rlEvents, Per: per}, ratelimit.MemoryConfig{})
				if err != nil {
					tb.Fatal(err)
				}
				ctx := context.Background()
				return func() func(string) bool {
						return func(k string) bool {
							d, _ := m.Allow(ctx, k)
							return d.Allowed
						}
					}, m.Len, func() {
						_ = m.Close(ctx)
					}
			},
			http: func(tb testing.TB, next http.Handler) (http.Handler, func()) {
				m, err := ratelimit.NewMemory(ratelimit.Limit{Events: rlEvents, Per: rlPer}, ratelimit.MemoryConfig{})
				if err != nil {
					tb.Fatal(err)
				}
				res := clientip.MustNew(nil, clientip.Config{Logger: slog.New(slog.DiscardHandler)})
				mw, err := ratelimit.NewMiddleware(m, ratelimit.KeyByIP(), ratelimit.MiddlewareConfig{})
				if err != nil {
					tb.Fatal(err)
				}
				// KeyByIP reads the address clientip's handler puts in the
				// context, so the handler is part of the cost.
				return res.Handler(mw.Handler(next)), func() { _ = m.Close(context.Background()) }
			},
		},
		{
			name: "httprate",
			key: func(tb testing.TB, per time.Duration) (func() func(string) bool, func() int, func()) {
				rl := httprate.NewRateLimiter(rlEvents, per)
				return func() func(string) bool {
					w := newDiscardWriter()
					r := httptest.NewRequest("GET", "/", nil)
					return func(k string) bool { return !rl.OnLimit(w, r, k) }
				}, nil, func() {}
			},
			http: func(tb testing.TB, next http.Handler) (http.Handler, func()) {
				return httprate.LimitBy(rlEvents, rlPer, httprateKeyByPeer)(next), func() {}
			},
		},
		{
			name: "ulule",
			key: func(tb testing.TB, per time.Duration) (func() func(string) bool, func() int, func()) {
				lim := ulule.New(ulmemory.NewStore(), ulule.Rate{Period: per, Limit: rlEvents})
				ctx := context.Background()
				return func() func(string) bool {
					return func(k string) bool {
						c, _ := lim.Get(ctx, k)
						return !c.Reached
					}
				}, nil, func() {}
			},
			http: func(tb testing.TB, next http.Handler) (http.Handler, func()) {
				lim := ulule.New(ulmemory.NewStore(), ulule.Rate{Period: rlPer, Limit: rlEvents})
				return ulstdlib.NewMiddleware(lim).Handler(next), func() {}
			},
		},
		{
			name: "go-limiter",
			key: func(tb testing.TB, per time.Duration) (func() func(string) bool, func() int, func()) {
				s, err := memorystore.New(&memorystore.Config{Tokens: rlEvents, Interval: per})
				if err != nil {
					tb.Fatal(err)
				}
				ctx := context.Background()
				return func() func(string) bool {
						return func(k string) bool {
							_, _, _, ok, _ := s.Take(ctx, k)
							return ok
						}
					}, nil, func() {
						_ = s.Close(ctx)
					}
			},
			http: func(tb testing.TB, next http.Handler) (http.Handler, func()) {
				s, err := memorystore.New(&memorystore.Config{Tokens: rlEvents, Interval: rlPer})
				if err != nil {
					tb.Fatal(err)
				}
				mw, err := httplimit.NewMiddleware(s, httplimit.IPKeyFunc())
				if err != nil {
					tb.Fatal(err)
				}
				return mw.Handle(next), func() { _ = s.Close(context.Background()) }
			},
		},
		{
			name: "tollbooth",
			key: func(tb testing.TB, per time.Duration) (func() func(string) bool, func() int, func()) {
				lmt := rlTollbooth(per)
				return func() func(string) bool {
					return func(k string) bool { return !lmt.LimitReached(k) }
				}, nil, func() {}
			},
			http: func(tb testing.TB, next http.Handler) (http.Handler, func()) {
				return tollbooth.LimitHandler(rlTollbooth(rlPer), next), func() {}
			},
		},
	}
}

func rlTollbooth(per time.Duration) *tblimiter.Limiter {
	lmt := tollbooth.NewLimiter(rlEvents/per.Seconds(), &tblimiter.ExpirableOptions{DefaultExpirationTTL: 2 * time.Hour})
	lmt.SetBurst(rlEvents)
	lmt.SetIPLookups([]string{"RemoteAddr"})
	return lmt
}

var rlNoContent = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})

// rlStart spreads parallel goroutines over the key space.
var rlStart atomic.Uint64

func BenchmarkRateLimit(b *testing.B) {
	keys, addrs := rlKeySet()
	for _, level := range []string{"key", "http"} {
		for _, set := range []string{"hot", "1M"} {
			for _, mode := range []string{"serial", "parallel"} {
				for _, p := range rlPeers() {
					b.Run(level+"/"+set+"/"+mode+"/"+p.name, func(b *testing.B) {
						n := len(keys)
						if set == "hot" {
							n = 1
						}
						if level == "key" {
							rlBenchKey(b, p, keys[:n], mode == "parallel")
						} else {
							rlBenchHTTP(b, p, addrs[:n], mode == "parallel")
						}
					})
				}
			}
		}
	}
}

func rlBenchKey(b *testing.B, p rlPeer, keys []string, parallel bool) {
	newAllow, _, done := p.key(b, rlPer)
	defer done()
	b.ReportAllocs()
	b.ResetTimer()
	if !parallel {
		allow := newAllow()
		i := 0
		for b.Loop() {
			allow(keys[i])
			if i++; i == len(keys) {
				i = 0
			}
		}
		return
	}
	b.RunParallel(func(pb *testing.PB) {
		allow := newAllow()
		i := int(rlStart.Add(7919) % uint64(len(keys))) // #nosec G115 -- the remainder is below len(keys)
		for pb.Next() {
			allow(keys[i])
			if i++; i == len(keys) {
				i = 0
			}
		}
	})
}

func rlBenchHTTP(b *testing.B, p rlPeer, addrs []string, parallel bool) {
	h, done := p.http(b, rlNoContent)
	defer done()
	b.ReportAllocs()
	b.ResetTimer()
	if !parallel {
		w, r := newDiscardWriter(), httptest.NewRequest("GET", "/", nil)
		i := 0
		for b.Loop() {
			r.RemoteAddr = addrs[i]
			clear(w.h)
			h.ServeHTTP(w, r)
			if i++; i == len(addrs) {
				i = 0
			}
		}
		return
	}
	b.RunParallel(func(pb *testing.PB) {
		w, r := newDiscardWriter(), httptest.NewRequest("GET", "/", nil)
		i := int(rlStart.Add(7919) % uint64(len(addrs))) // #nosec G115 -- the remainder is below len(addrs)
		for pb.Next() {
			r.RemoteAddr = addrs[i]
			clear(w.h)
			h.ServeHTTP(w, r)
			if i++; i == len(addrs) {
				i = 0
			}
		}
	})
}

// BenchmarkRateLimitBytesPerKey reports the heap each library retains per
// tracked key (B/key), after 1,000,000 keys made one request each. The
// limit here is 100 an hour, so that no library may forget a key before
// the measurement (at 100/s, rampart forgets a key 10ms after its only
// request, which would flatter it); rampart, which evicts at its MaxKeys
// bound, is divided by the keys it actually tracks.
func BenchmarkRateLimitBytesPerKey(b *testing.B) {
	for _, p := range rlPeers() {
		b.Run(p.name, func(b *testing.B) {
			var perKey, tracked float64
			for b.Loop() {
				perKey, tracked = rlBytesPerKey(b, p, rlKeys)
			}
			b.ReportMetric(perKey, "B/key")
			b.ReportMetric(tracked, "keys")
		})
	}
}

func rlBytesPerKey(b *testing.B, p rlPeer, n int) (perKey, tracked float64) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&before)
	newAllow, count, done := p.key(b, time.Hour)
	allow := newAllow()
	buf := make([]byte, 0, 32)
	for i := range n {
		buf = strconv.AppendInt(buf[:0], int64(11<<24+i), 10)
		allow(string(buf)) // a fresh string, as a KeyFunc would make
	}
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&after)
	keys := n
	if count != nil {
		keys = count()
	}
	runtime.KeepAlive(allow)
	done()
	return float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(keys), float64(keys) // #nosec G115 -- heap sizes of a benchmark process, far below 2^63
}

// httprateKeyByPeer keys httprate by the TCP peer, as its deprecated
// KeyByIP did (IPv6 grouped by /64).
func httprateKeyByPeer(r *http.Request) (string, error) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return httprate.CanonicalizeIP(host), nil
}
