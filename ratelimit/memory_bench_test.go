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
