package ratelimit

import (
	"context"
	"fmt"
	"hash/maphash"
	"math/bits"
	"sync/atomic"
	"time"
)

// MemoryConfig tunes a [Memory] limiter. The zero value is ready to use.
type MemoryConfig struct {
	// MaxKeys bounds how many keys are tracked at once. When the table is
	// full, a new key evicts an old one (see "Memory bound and eviction"
	// in the package documentation). At the bound the table takes 13.7
	// bytes a key (12-byte slots at most 7/8 full), so the default of
	// 1<<20 keys costs at most 14 MiB. The bound is exact: [Memory.Len]
	// never exceeds it.
	MaxKeys int

	// SweepInterval is how often the janitor goroutine forgets keys whose
	// buckets are full again (their state is then no different from a key
	// never seen) and gives memory back after a flood. Default: one minute.
	// A negative value starts no goroutine: idle keys are then forgotten
	// only when their part of the table grows, fills up, or is re-based
	// by a request 2^31 ticks after its last sweep (a tick grows with the
	// limit's interval: 4.5 minutes for 100/s, 73 for 5/15min).
	SweepInterval time.Duration

	// Now returns the current time. Default: time.Now. It is for tests
	// that drive one clock through a whole application and cannot run in
	// a testing/synctest bubble (they use a real database or network);
	// other tests should run in a bubble, whose fake clock the default
	// follows. The clock should not go backwards; if it does, the limiter
	// holds time still until it catches up, which can only make it
	// stricter.
	Now func() time.Time
}

// defaultMaxKeys is MemoryConfig.MaxKeys's default.
const defaultMaxKeys = 1 << 20

// Memory is an in-memory [Store]: one token bucket per key, kept as the
// generic cell rate algorithm (GCRA) does, in a single "theoretical arrival
// time" per key. It is safe for concurrent use, never fails on the request
// path, and starts a janitor goroutine that [Memory.Close] stops.
//
// Keys are hashed with a per-limiter random seed to 64 bits and only the
// hash is kept: two keys whose hashes collide share a bucket. The odds are
// about n/2^64 for each new key when n keys are tracked (below 1e-13 at a
// million keys), and the seed is secret, so a client cannot aim for a
// collision.
type Memory struct {
	closed atomic.Bool
	limit  Limit
	seed   maphash.Seed
	now    func() time.Time // nil: the system clock
	epoch  time.Time

	shift  uint  // nanoseconds per tick = 1<<shift
	emit   int64 // ticks per token (the emission interval)
	burstT int64 // ticks for a full bucket: Burst*emit

	shards     []shard
	shardShift uint // shard index = hash >> shardShift

	stop chan struct{}
	done chan struct{}
}

var _ Store = (*Memory)(nil)

// NewMemory returns a Memory enforcing l on every key. It starts a janitor
// goroutine unless cfg.SweepInterval is negative; call [Memory.Close] to
// stop it. It returns an error if l or cfg is invalid.
func NewMemory(l Limit, cfg MemoryConfig) (*Memory, error) {
	l, err := l.WithDefaults()
	if err != nil {
		return nil, err
	}
	maxKeys := cfg.MaxKeys
	switch {
	case maxKeys == 0:
		maxKeys = defaultMaxKeys
	case maxKeys < 0 || maxKeys > 1<<32:
		return nil, fmt.Errorf("ratelimit: MemoryConfig.MaxKeys is %d: it must be between 1 and 1<<32 (0 means 1<<20)", maxKeys)
	}
	every := cfg.SweepInterval
	if every == 0 {
		every = time.Minute
	}
	m := &Memory{limit: l, seed: maphash.MakeSeed(), now: cfg.Now}
	if m.now == nil {
		m.epoch = time.Now() // with a monotonic reading: see nowTicks
	} else {
		m.epoch = m.now()
	}
	m.shift, m.emit = ticks(l)
	m.burstT = int64(l.Burst) * m.emit

	// Shards: a power of two, at most 256, with at least 64 keys each so
	// that eviction has a meaningful sample to choose from.
	n := 1
	for n < 256 && n*2*64 <= maxKeys {
		n *= 2
	}
	m.shards = make([]shard, n)
	m.shardShift = uint(64 - bits.TrailingZeros(uint(n)))
	perShard := maxKeys / n
	for i := range m.shards {
		s := &m.shards[i]
		s.max = perShard
		s.maxCap = perShard + perShard/7 + 1 // load at most 7/8
	}
	if every > 0 {
		m.stop, m.done = make(chan struct{}), make(chan struct{})
		go m.janitor(every)
	}
	return m, nil
}

// ticks picks the time unit for l: a power of two nanoseconds large enough
// that a full bucket spans less than 2^31 ticks, so that a bucket's state
// fits in 32 bits (see table.go), and otherwise small enough that a token's
// interval spans at least 2^16 ticks (for bursts up to 2^14; at least
// 2^30/Burst ticks above). When the interval is a multiple of a suitable
// power of two (100/s, 5/15min: most limits written by people) the unit
// divides it and timing is exact to the nanosecond. Otherwise the interval
// is rounded up to whole ticks, which makes the limit stricter by less than
// one tick: 1 in 65536 for bursts up to 2^14, about Burst in 2^30 above
// (1 in 64 at the largest burst, 2^24).
func ticks(l Limit) (shift uint, emit int64) {
	iv := uint64(l.Interval()) // #nosec G115 -- Interval is positive for a Limit that passed WithDefaults
	target := 0
	if b := bits.Len64(iv); b > 17 {
		target = b - 17
	}
	shift = uint(target)
	if tz := bits.TrailingZeros64(iv); tz < target && tz >= min(3, target) {
		shift = uint(tz)
	}
	for {
		emit = int64((iv + 1<<shift - 1) >> shift) // #nosec G115 -- iv is a positive int64 shifted right: it fits
		if uint64(l.Burst)*uint64(emit) < 1<<31 {  // #nosec G115 -- Burst is 1 to maxBurst (1<<24), checked by WithDefaults
			return shift, emit
		}
		shift++
	}
}

// Limit returns the limit m enforces, with defaults filled in.
func (m *Memory) Limit() Limit { return m.limit }

// Allow counts one request for key and reports whether it may proceed. It
// returns an error only after Close ([ErrClosed], with Allowed false).
func (m *Memory) Allow(_ context.Context, key string) (Decision, error) {
	return m.take(maphash.String(m.seed, key), true)
}

// Peek reports what Allow would decide for key, without counting a
// request. Its Remaining is the number of requests key may make now.
func (m *Memory) Peek(_ context.Context, key string) (Decision, error) {
	return m.take(maphash.String(m.seed, key), false)
}

// Reset forgets key, so that its bucket is full again.
func (m *Memory) Reset(_ context.Context, key string) error {
	if m.closed.Load() {
		return ErrClosed
	}
	h := maphash.String(m.seed, key)
	if h == 0 {
		h = 1
	}
	s := &m.shards[h>>m.shardShift]
	s.mu.Lock()
	if i, found, _ := s.find(h); found {
		s.remove(i)
	}
	s.mu.Unlock()
	return nil
}

// Len returns the number of keys tracked, including keys whose buckets
// have refilled but that the janitor has not yet swept.
func (m *Memory) Len() int {
	n := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		n += s.n
		s.mu.Unlock()
	}
	return n
}

// Close stops the janitor and frees the table. Later calls to Allow and
// Peek return [ErrClosed]. Close is idempotent; it returns ctx's error if
// ctx ends before the janitor has stopped.
func (m *Memory) Close(ctx context.Context) error {
	if m.closed.Swap(true) {
		return nil
	}
	if m.stop != nil {
		close(m.stop)
		select {
		case <-m.done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		s.slots, s.n, s.growAt = nil, 0, 0
		s.mu.Unlock()
	}
	return nil
}

// nowTicks returns the time in ticks since m was made.
func (m *Memory) nowTicks() int64 {
	var ns int64
	if m.now == nil {
		// time.Since reads only the monotonic clock, which costs half
		// of time.Now's two readings.
		ns = int64(time.Since(m.epoch))
	} else {
		ns = int64(m.now().Sub(m.epoch))
	}
	if ns < 0 {
		ns = 0
	}
	return ns >> m.shift
}

// dur converts ticks to a duration.
func (m *Memory) dur(t int64) time.Duration { return time.Duration(t << m.shift) }

// take runs GCRA for the key hashed to h; spend says whether an allowed
// request is counted (Allow) or not (Peek).
func (m *Memory) take(h uint64, spend bool) (Decision, error) {
	if m.closed.Load() {
		return Decision{Limit: m.limit}, ErrClosed
	}
	if h == 0 {
		h = 1 // 0 marks an empty slot
	}
	now := m.nowTicks()
	s := &m.shards[h>>m.shardShift]
	if until, ok := s.denied.refused(h, now); ok {
		// Refused for sure, without the lock: see deniedCache.
		return Decision{
			Limit:      m.limit,
			RetryAfter: m.dur(until - now),
			ResetAfter: m.dur(until - m.emit + m.burstT - now),
		}, nil
	}
	s.mu.Lock()
	if now < s.base {
		now = s.base
	} else if now-s.base > rebaseAfter {
		s.sweep(now, false)
	}
	i, found, dist := s.find(h)
	tat := now
	if found {
		if t := s.base + int64(s.slots[i].tat); t > now {
			tat = t
		}
	}
	next := tat + m.emit
	if next-now > m.burstT {
		if found {
			s.denied.set(h, next-m.burstT)
		}
		s.mu.Unlock()
		return Decision{
			Limit:      m.limit,
			RetryAfter: m.dur(next - now - m.burstT),
			ResetAfter: m.dur(tat - now),
		}, nil
	}
	if !spend {
		s.mu.Unlock()
		return Decision{
			Allowed:    true,
			Limit:      m.limit,
			Remaining:  int((m.burstT - (tat - now)) / m.emit),
			ResetAfter: m.dur(tat - now),
		}, nil
	}
	off := uint32(next - s.base) // #nosec G115 -- next - base is at most burstT, which ticks keeps below 2^31
	if found {
		s.slots[i].tat = off
	} else {
		s.add(h, off, now, i, dist)
	}
	s.mu.Unlock()
	return Decision{
		Allowed:    true,
		Limit:      m.limit,
		Remaining:  int((m.burstT - (next - now)) / m.emit),
		ResetAfter: m.dur(next - now),
	}, nil
}

// janitor sweeps every shard every interval until Close.
func (m *Memory) janitor(every time.Duration) {
	defer close(m.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			m.sweep()
		}
	}
}

// sweep forgets refilled keys in every shard and shrinks tables that a
// flood left mostly empty.
func (m *Memory) sweep() {
	for i := range m.shards {
		now := m.nowTicks()
		s := &m.shards[i]
		s.mu.Lock()
		if now < s.base {
			now = s.base
		}
		s.sweep(now, true)
		s.mu.Unlock()
	}
}

// MemoryBackend makes [Memory] stores, all with Config. It is the
// [Backend] for a [LoginThrottle] on a single instance.
type MemoryBackend struct {
	Config MemoryConfig
}

// NewStore returns NewMemory(l, b.Config). name is not needed: each store
// has its own table.
func (b MemoryBackend) NewStore(_ string, l Limit) (Store, error) {
	return NewMemory(l, b.Config)
}
