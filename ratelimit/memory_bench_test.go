package ratelimit

import (
	"context"
	"hash/maphash"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

// The design choice measured: GCRA in a compact table (Memory) against
// golang.org/x/time/rate's Limiter, one per key, on the same path: the
// same hashing, the same 256 mutex-guarded shards, no eviction (which only
// flatters x/time/rate). Run with
//
//	go test -run XXX -bench 'GCRAvsXTimeRate' -benchmem ./ratelimit/

// xrate is the x/time/rate alternative to Memory.
type xrate struct {
	seed   maphash.Seed
	limit  rate.Limit
	burst  int
	shards [256]struct {
		mu sync.Mutex
		m  map[uint64]*rate.Limiter
		_  [40]byte
	}
}

func newXRate(l Limit) *xrate {
	x := &xrate{seed: maphash.MakeSeed(), limit: rate.Limit(float64(l.Events) / l.Per.Seconds()), burst: l.Burst}
	for i := range x.shards {
		x.shards[i].m = map[uint64]*rate.Limiter{}
	}
	return x
}

func (x *xrate) Allow(_ context.Context, key string) (Decision, error) {
	h := maphash.String(x.seed, key)
	s := &x.shards[h>>56]
	s.mu.Lock()
	lim, ok := s.m[h]
	if !ok {
		lim = rate.NewLimiter(x.limit, x.burst)
		s.m[h] = lim
	}
	s.mu.Unlock()
	now := time.Now()
	ok = lim.AllowN(now, 1)
	return Decision{Allowed: ok, Remaining: int(lim.TokensAt(now))}, nil
}

var benchLimit = Limit{Events: 100, Per: time.Second, Burst: 100}

func BenchmarkGCRAvsXTimeRate(b *testing.B) {
	const nKeys = 1_000_000
	keys := make([]string, nKeys)
	for i := range keys {
		keys[i] = "198.51." + strconv.Itoa(i)
	}
	impls := []struct {
		name string
		new  func(Limit) Limiter
	}{
		{"gcra", func(l Limit) Limiter {
			m, _ := NewMemory(l, MemoryConfig{SweepInterval: -1})
			return m
		}},
		{"xtimerate", func(l Limit) Limiter { return newXRate(l) }},
	}
	for _, impl := range impls {
		for _, set := range []struct {
			name string
			n    int
		}{{"hot", 1}, {"1M", nKeys}} {
			b.Run(impl.name+"/"+set.name, func(b *testing.B) {
				lim := impl.new(benchLimit)
				ctx := context.Background()
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					_, _ = lim.Allow(ctx, keys[i])
					if i++; i == set.n {
						i = 0
					}
				}
			})
			b.Run(impl.name+"/"+set.name+"/parallel", func(b *testing.B) {
				lim := impl.new(benchLimit)
				ctx := context.Background()
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					i := 0
					for pb.Next() {
						_, _ = lim.Allow(ctx, keys[i])
						if i++; i == set.n {
							i = 0
						}
					}
				})
			})
		}
		// 100 an hour, so that every key is still tracked when measured.
		b.Run(impl.name+"/bytes-per-key", func(b *testing.B) {
			var perKey float64
			for b.Loop() {
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				lim := impl.new(Limit{Events: 100, Per: time.Hour, Burst: 100})
				for _, k := range keys {
					_, _ = lim.Allow(context.Background(), k)
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				tracked := nKeys
				if m, ok := lim.(*Memory); ok {
					tracked = m.Len()
				}
				runtime.KeepAlive(lim)
				perKey = float64(after.HeapAlloc-before.HeapAlloc) / float64(tracked)
			}
			b.ReportMetric(perKey, "B/key")
		})
	}
}

// BenchmarkMemoryKeyFlood compares, in one run, the normal path (a key the
// table already holds) with a flood of distinct keys beyond
// MemoryConfig.MaxKeys (every request a new key in a full table: the
// eviction path). Issue 16's target: the flood costs at most twice the
// known key. The table is filled to its bound first, with buckets that
// stay in debt for the whole run (a limit of 600 a minute, one request
// each), so that eviction finds no refilled key to drop for free. On a
// shared machine compare cpu-ns/op (the process's CPU time: getrusage)
// and the ratio within one run:
//
//	go test -run '^$' -bench MemoryKeyFlood -benchmem ./ratelimit/
func BenchmarkMemoryKeyFlood(b *testing.B) {
	for _, maxKeys := range []int{1 << 16, 1 << 20} {
		var keys []string // built once, by the first sub-benchmark that runs
		fill := func(b *testing.B) *Memory {
			if keys == nil {
				keys = make([]string, 4*maxKeys)
				for i := range keys {
					keys[i] = "203.0." + strconv.Itoa(i)
				}
			}
			m, err := NewMemory(Limit{Events: 600, Per: time.Minute, Burst: 200}, MemoryConfig{MaxKeys: maxKeys, SweepInterval: -1})
			if err != nil {
				b.Fatal(err)
			}
			for _, k := range keys[:maxKeys] {
				_, _ = m.Allow(context.Background(), k)
			}
			runtime.GC() // the keys' garbage is not the loop's
			return m
		}
		name := strconv.Itoa(maxKeys>>10) + "Ki"
		b.Run(name+"/known", func(b *testing.B) {
			m := fill(b)
			ctx := context.Background()
			known := m.Len()
			b.ReportAllocs()
			start := cpuTime()
			i := 0
			for b.Loop() {
				_, _ = m.Allow(ctx, keys[i])
				if i++; i == known {
					i = 0
				}
			}
			b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
		})
		b.Run(name+"/flood", func(b *testing.B) {
			m := fill(b)
			ctx := context.Background()
			b.ReportAllocs()
			start := cpuTime()
			i := maxKeys
			for b.Loop() {
				_, _ = m.Allow(ctx, keys[i])
				if i++; i == len(keys) {
					i = 0
				}
			}
			b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
			if m.Len() > maxKeys {
				b.Fatalf("Len %d beyond MaxKeys %d", m.Len(), maxKeys)
			}
		})
	}
}
