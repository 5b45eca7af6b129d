package ratelimit

import (
	"math"
	"sync"
	"sync/atomic"
)

// The table behind Memory: one open-addressing hash table per shard, with
// Robin Hood linear probing and backward-shift deletion (no tombstones).
// A slot is 12 bytes: the key's 64-bit hash and the bucket's theoretical
// arrival time (TAT) as a 32-bit offset in ticks from the shard's base.
//
// Offsets stay small because a TAT worth keeping lies between now and now
// plus one full bucket (less than 2^31 ticks, see ticks): once a TAT is in
// the past the bucket is full and the slot can be dropped. The base moves
// up to now whenever the shard is swept, and at the latest after
// rebaseAfter (2^31) ticks, so an offset stays below 2^32.

// rebaseAfter is how far now may run ahead of a shard's base before the
// shard is swept and re-based on the request path.
const rebaseAfter = 1 << 31

// evictSample is how many occupied slots eviction compares.
const evictSample = 8

// minCap is the smallest table a shard allocates.
const minCap = 8

// slot is one table entry. lo|hi<<32 is the key's hash, 0 when the slot is
// empty; tat is the TAT's offset from the shard's base, in ticks.
type slot struct {
	lo, hi uint32
	tat    uint32
}

func (s slot) key() uint64 { return uint64(s.hi)<<32 | uint64(s.lo) }

// shard is one lock's worth of the table.
type shard struct {
	mu     sync.Mutex
	slots  []slot
	n      int // occupied slots
	max    int // most keys this shard may hold
	maxCap int // largest table: max at load 7/8
	growAt int // n at which the table grows
	// Second cache line: rarely written.
	base   int64 // ticks; a slot's TAT is base + slot.tat
	denied deniedCache
	_      [32]byte
}

// deniedCache remembers the shard's last refused key and until when it is
// refused, so that a key hammering past its limit (one client flooding)
// is refused with three atomic loads and no lock: readers share the cache
// line instead of bouncing the mutex's between cores. It is a seqlock:
// writers hold the shard's mutex and make seq odd while they change the
// entry; a reader trusts what it read only if seq was even and unchanged
// around its reads.
//
// Why a cached refusal is the table's answer: a refused key's TAT does not
// change until it is allowed again, which the cache itself says cannot
// happen before until; only removing the key (Reset, eviction, sweep)
// gives it a fresh bucket sooner, and remove forgets it. until is in
// absolute ticks and is set above the shard's base; every change of base
// (sweep, resize) empties the cache, so that until stays above it and a
// reader whose clock is behind the base (the locked path holds time still
// at the base) is refused only when the locked path would refuse too.
type deniedCache struct {
	seq   atomic.Uint64
	hash  atomic.Uint64 // 0: empty
	until atomic.Int64  // ticks: the key is refused while now < until
}

// refused reports whether key h is refused at now by the cache, and if so
// until when.
func (c *deniedCache) refused(h uint64, now int64) (until int64, ok bool) {
	s := c.seq.Load()
	if s&1 != 0 || c.hash.Load() != h {
		return 0, false
	}
	until = c.until.Load()
	if c.seq.Load() != s || now >= until {
		return 0, false
	}
	return until, true
}

// set records that key h is refused until until. The shard's mutex must
// be held.
func (c *deniedCache) set(h uint64, until int64) {
	if c.hash.Load() == h && c.until.Load() == until {
		return
	}
	c.seq.Add(1)
	c.hash.Store(h)
	c.until.Store(until)
	c.seq.Add(1)
}

// forget empties the cache if it holds key h, or whatever it holds when h
// is 0. The shard's mutex must be held.
func (c *deniedCache) forget(h uint64) {
	if cur := c.hash.Load(); cur == 0 || (h != 0 && cur != h) {
		return
	}
	c.seq.Add(1)
	c.hash.Store(0)
	c.seq.Add(1)
}

// home is the preferred index of key h in a table of c slots. It uses the
// hash's low 32 bits; the shard index uses the high bits.
func home(h uint64, c int) int {
	return int((h & math.MaxUint32) * uint64(c) >> 32) // #nosec G115 -- c is a slot count, positive
}

// find returns the index of h and found true, or the index and probe
// distance at which h would be inserted.
func (s *shard) find(h uint64) (i int, found bool, dist int) {
	c := len(s.slots)
	if c == 0 {
		return 0, false, 0
	}
	i = home(h, c)
	for d := 0; ; d++ {
		k := s.slots[i].key()
		if k == h {
			return i, true, d
		}
		if k == 0 {
			return i, false, d
		}
		kd := i - home(k, c)
		if kd < 0 {
			kd += c
		}
		if kd < d {
			return i, false, d
		}
		if i++; i == c {
			i = 0
		}
	}
}

// add inserts h, which find reported missing at index i and distance
// dist, growing the table or evicting a key first when needed.
func (s *shard) add(h uint64, off uint32, now int64, i, dist int) {
	switch {
	case s.n >= s.max:
		e := slot{lo: uint32(h), hi: uint32(h >> 32), tat: off} // #nosec G115 -- splitting the 64-bit hash into its two halves: truncation intended
		// Eviction does not move the base, so off stands.
		if s.evictFor(i, e, now) {
			return
		}
		i, _, dist = s.find(h)
	case s.n >= s.growAt:
		old := s.base
		s.resize(min(s.maxCap, max(minCap, len(s.slots)+len(s.slots)/4)), now)
		off = uint32(int64(off) + old - s.base) // #nosec G115 -- the rebased offset stays within burstT, which ticks keeps below 2^31
		i, _, dist = s.find(h)
	}
	s.insertAt(i, dist, slot{lo: uint32(h), hi: uint32(h >> 32), tat: off}) // #nosec G115 -- splitting the 64-bit hash into its two halves: truncation intended
}

// insertAt places e, whose probe distance at index i is d, displacing
// richer entries as Robin Hood hashing does.
func (s *shard) insertAt(i, d int, e slot) {
	c := len(s.slots)
	for {
		cur := &s.slots[i]
		k := cur.key()
		if k == 0 {
			*cur = e
			s.n++
			return
		}
		kd := i - home(k, c)
		if kd < 0 {
			kd += c
		}
		if kd < d {
			*cur, e = e, *cur
			d = kd
		}
		if i++; i == c {
			i = 0
		}
		d++
	}
}

// remove deletes the entry at i, shifting its successors back.
func (s *shard) remove(i int) {
	s.denied.forget(s.slots[i].key())
	c := len(s.slots)
	for {
		j := i + 1
		if j == c {
			j = 0
		}
		next := s.slots[j]
		k := next.key()
		if k == 0 || home(k, c) == j {
			s.slots[i] = slot{}
			break
		}
		s.slots[i] = next
		i = j
	}
	s.n--
}

// evictFor makes room for e, a new key that find placed at index i in a
// full shard, by evicting one entry: among the evictSample occupied slots
// from i on, the one whose TAT is earliest, which is the bucket closest to
// full, so the least state is lost (a refilled bucket, which loses
// nothing, ends the search). Buckets of keys being throttled hold the
// latest TATs and are evicted last. Where the sample starts is as random
// as the key's hash, whose seed is secret.
//
// When no empty slot lies between i and the victim, e takes the victim's
// place: the entries between them move forward one slot (which keeps the
// Robin Hood order: homes do not decrease along a run), touching only the
// slots sampled, and evictFor returns true. Otherwise it removes the
// victim and returns false, and e is still to be inserted. Either way, the
// cost is that of the sample, not of walking the rest of a run: at the
// load of a full shard (7/8) a run is tens of slots long, and inserting
// at i then deleting elsewhere would walk two of them.
func (s *shard) evictFor(i int, e slot, now int64) (placed bool) {
	c := len(s.slots)
	best, bestOff, bestTAT, emptyOff := -1, 0, uint32(0), c
	j := i
	for seen, off := 0, 0; seen < evictSample && off < c; off++ {
		if sl := s.slots[j]; sl.key() != 0 {
			if best < 0 || sl.tat < bestTAT {
				best, bestOff, bestTAT = j, off, sl.tat
			}
			seen++
			if int64(sl.tat)+s.base <= now {
				break // already refilled: nothing is lost
			}
		} else if emptyOff == c {
			emptyOff = off
		}
		if j++; j == c {
			j = 0
		}
	}
	if best < 0 {
		return false // an empty shard is never full
	}
	if bestOff > emptyOff {
		s.remove(best)
		return false
	}
	s.denied.forget(s.slots[best].key())
	for k := best; k != i; {
		p := k - 1
		if p < 0 {
			p = c - 1
		}
		s.slots[k] = s.slots[p]
		k = p
	}
	s.slots[i] = e
	return true
}

// resize moves the live entries into a table of c slots, dropping
// refilled buckets and re-basing at now.
func (s *shard) resize(c int, now int64) {
	s.denied.forget(0) // the base moves: see deniedCache
	old := s.slots
	s.slots = make([]slot, c)
	s.n = 0
	if c >= s.maxCap {
		s.growAt = math.MaxInt
	} else {
		s.growAt = c - c/8
	}
	for _, e := range old {
		if e.key() == 0 {
			continue
		}
		t := s.base + int64(e.tat)
		if t <= now {
			continue
		}
		h := e.key()
		i, _, d := s.find(h)
		s.insertAt(i, d, slot{lo: e.lo, hi: e.hi, tat: uint32(t - now)}) // #nosec G115 -- t - now is at most burstT, which ticks keeps below 2^31
	}
	s.base = now
}

// sweep drops refilled buckets and re-bases the shard at now, in place.
// With shrink, a table left mostly empty is reallocated smaller.
func (s *shard) sweep(now int64, shrink bool) {
	s.denied.forget(0) // the base moves: see deniedCache
	c := len(s.slots)
	if c == 0 {
		s.base = now
		return
	}
	if shrink && c > minCap && s.n < c/4 {
		s.resize(max(minCap, s.n*2), now)
		return
	}
	// Start just after an empty slot (there is always one): entries only
	// ever shift backwards into the slot being examined, so each entry is
	// examined exactly once.
	e := 0
	for s.slots[e].key() != 0 {
		e++
	}
	delta := now - s.base
	for step, i := 0, e+1; step < c; step++ {
		if i == c {
			i = 0
		}
		for {
			sl := &s.slots[i]
			if sl.key() == 0 {
				break
			}
			if int64(sl.tat) <= delta {
				s.remove(i) // refilled; re-examine i, which now holds its successor
				continue
			}
			sl.tat -= uint32(delta) // #nosec G115 -- delta is below sl.tat here (the branch above removed the slot otherwise)
			break
		}
		i++
	}
	s.base = now
}
