package detect

import (
	"context"
	"hash/maphash"
	"sync"
	"time"
)

// State is where a [Detector] keeps what it counts: in memory by default
// ([NewMemory]), or in a store every instance of an application shares (a
// Redis one is in package audit/detect/redisstate), so that an attack
// spread over instances is counted whole.
//
// A State holds sets of members under (kind, key), each member stamped
// with the time it was last seen. Every call is atomic: two instances
// calling at once both count, and of two calls that reach a threshold
// together exactly one is told to alert. Times are event times, not the
// store's clock. Implementations must be safe for concurrent use, bound
// the members of each set by Window.Max and hold no set longer than its
// Window.Length after its last use; they may hash kind, key and member.
// The conformance suite is audit/detect/detecttest.TestState.
type State interface {
	// Add stamps member in the set (kind, key) with at, forgets members
	// last seen more than w.Length before at, keeps at most w.Max members
	// (dropping the oldest), and returns the number of members seen
	// within w.Length of at, member included. An empty member is a new
	// member at every call (the set counts events). Count.Alert is true
	// when that number is at least w.AlertAt (not 0) and no call on
	// (kind, key) alerted within w.Length before at.
	Add(ctx context.Context, kind Kind, key, member string, at time.Time, w Window) (Count, error)
	// Take returns the number of members of the set (kind, key) seen
	// within w.Length of at, and forgets the set.
	Take(ctx context.Context, kind Kind, key string, at time.Time, w Window) (int, error)
	// Learn stamps member in the set (kind, key) with at, keeping at
	// most w.Max members (the most recently seen) and forgetting members
	// not seen for w.Length, and reports whether member is new to a set
	// that held other members: the first member of a set is learnt
	// silently.
	Learn(ctx context.Context, kind Kind, key, member string, at time.Time, w Window) (novel bool, err error)
}

// Kind names one of a [Detector]'s tables: a short lower-case word
// ("stuffing", "spraying", "failures", "addresses", "devices") that an
// implementation of [State] may use in its keys.
type Kind string

// The Detector's tables.
const (
	kindStuffing  Kind = "stuffing"  // account → failing addresses
	kindSpraying  Kind = "spraying"  // address → failed accounts
	kindFailures  Kind = "failures"  // account → failures
	kindAddresses Kind = "addresses" // user → known addresses
	kindDevices   Kind = "devices"   // user → known devices
)

// Window bounds one set of a [State].
type Window struct {
	// Length is how long a member counts after it was last seen.
	Length time.Duration
	// Max is the most members the set keeps.
	Max int
	// AlertAt is the count at which [State.Add] alerts; 0 never alerts.
	AlertAt int
}

// Count is the answer of [State.Add].
type Count struct {
	// N is the number of members seen within the window.
	N int
	// Alert is true for the one call that raises the set's alert in this
	// window.
	Alert bool
}

// Memory is the [State] a [Detector] uses unless told otherwise: its
// sets in tables bounded at a number of keys each, forgetting the keys
// least recently used first. The Detector's kinds share three tables, by
// key: accounts ("failures", "stuffing"), addresses ("spraying") and
// users ("addresses", "devices"); any other kind has a table of its own.
// Keys and members are hashed (with a seed of the Memory's own), so
// attacker-chosen names cost a fixed size each. It is safe for concurrent
// use and starts no goroutine.
type Memory struct {
	seed    maphash.Seed
	maxKeys int

	mu                     sync.Mutex
	accounts, addrs, users *twoGen[entry]
	others                 map[Kind]*twoGen[entry]
	seq                    uint64
}

var _ State = (*Memory)(nil)

// entry holds the sets of one key: two kinds that share a table.
type entry struct{ sets [2]set }

// set is one set of a Memory.
type set struct {
	members   []stamp
	lastAlert int64
	alerted   bool
}

type stamp struct {
	key uint64
	t   int64
}

// NewMemory returns a Memory whose tables hold at most maxKeys keys each
// (65536 if maxKeys is 0 or less).
func NewMemory(maxKeys int) *Memory {
	if maxKeys <= 0 {
		maxKeys = 65536
	}
	return &Memory{
		seed: maphash.MakeSeed(), maxKeys: maxKeys,
		accounts: newTwoGen[entry](maxKeys), addrs: newTwoGen[entry](maxKeys), users: newTwoGen[entry](maxKeys),
		others: make(map[Kind]*twoGen[entry]),
	}
}

// table returns kind's table and its slot in an entry. Call with m.mu
// held.
func (m *Memory) table(kind Kind) (*twoGen[entry], int) {
	switch kind {
	case kindFailures:
		return m.accounts, 0
	case kindStuffing:
		return m.accounts, 1
	case kindSpraying:
		return m.addrs, 0
	case kindAddresses:
		return m.users, 0
	case kindDevices:
		return m.users, 1
	}
	t := m.others[kind]
	if t == nil {
		t = newTwoGen[entry](m.maxKeys)
		m.others[kind] = t
	}
	return t, 0
}

// set returns the set (kind, k), creating it. Call with m.mu held.
func (m *Memory) set(kind Kind, k uint64, limit int) *set {
	t, i := m.table(kind)
	return t.get(k, newEntry).sets[i].init(limit)
}

func newEntry() *entry { return new(entry) }

// Add implements [State.Add]. It never fails.
func (m *Memory) Add(_ context.Context, kind Kind, key, member string, at time.Time, w Window) (Count, error) {
	k := maphash.String(m.seed, key)
	var mk uint64
	if member != "" {
		mk = maphash.String(m.seed, member) &^ (1 << 63)
	}
	now, limit := at.UnixNano(), max(w.Max, 1)
	m.mu.Lock()
	defer m.mu.Unlock()
	if member == "" {
		m.seq++
		mk = m.seq | 1<<63 // apart from hashed members
	}
	return m.set(kind, k, limit).add(mk, now, w), nil
}

// add is [State.Add] on s. Call with the Memory's mu held.
func (s *set) add(mk uint64, now int64, w Window) Count {
	win := int64(w.Length)
	n := touch(&s.members, max(w.Max, 1), mk, now, win)
	c := Count{N: n}
	if w.AlertAt > 0 && n >= w.AlertAt && (!s.alerted || now-s.lastAlert > win) {
		s.lastAlert, s.alerted, c.Alert = now, true, true
	}
	return c
}

// failure is, under one lock and hashing each name once, the Detector's
// three Adds of a failed login: (failures, account, "") with burst,
// (stuffing, account, addr) with stuffing and (spraying, addr,
// sprayMember) with spraying, skipping those of an empty account or addr.
// It returns the stuffing and spraying Counts.
func (m *Memory) failure(account, addr, sprayMember string, at time.Time, burst, stuffing, spraying Window) (stuff, spray Count) {
	var ak, ik, sk uint64
	if account != "" {
		ak = maphash.String(m.seed, account)
	}
	if addr != "" {
		ik = maphash.String(m.seed, addr)
		sk = ak
		if sprayMember != account {
			sk = maphash.String(m.seed, sprayMember)
		}
	}
	now := at.UnixNano()
	m.mu.Lock()
	defer m.mu.Unlock()
	if account != "" {
		e := m.accounts.get(ak, newEntry)
		m.seq++
		e.sets[0].init(burst.Max).add(m.seq|1<<63, now, burst)
		if addr != "" {
			stuff = e.sets[1].init(stuffing.Max).add(ik&^(1<<63), now, stuffing)
		}
	}
	if addr != "" {
		spray = m.addrs.get(ik, newEntry).sets[0].init(spraying.Max).add(sk&^(1<<63), now, spraying)
	}
	return stuff, spray
}

// init gives s room for limit members, once, and returns s.
func (s *set) init(limit int) *set {
	if s.members == nil {
		s.members = make([]stamp, 0, max(limit, 1))
	}
	return s
}

// Take implements [State.Take]. It never fails.
func (m *Memory) Take(_ context.Context, kind Kind, key string, at time.Time, w Window) (int, error) {
	k := maphash.String(m.seed, key)
	now, win := at.UnixNano(), int64(w.Length)
	m.mu.Lock()
	defer m.mu.Unlock()
	t, i := m.table(kind)
	e := t.peek(k)
	if e == nil {
		return 0, nil
	}
	s := &e.sets[i]
	n := 0
	for _, st := range s.members {
		if now-st.t <= win {
			n++
		}
	}
	*s = set{members: s.members[:0]}
	return n, nil
}

// Learn implements [State.Learn]. It never fails.
func (m *Memory) Learn(_ context.Context, kind Kind, key, member string, at time.Time, w Window) (bool, error) {
	k := maphash.String(m.seed, key)
	mk := maphash.String(m.seed, member)
	now, win, limit := at.UnixNano(), int64(w.Length), max(w.Max, 1)
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.set(kind, k, limit)
	known, others := false, false
	for _, st := range s.members {
		if now-st.t > win {
			continue
		}
		if st.key == mk {
			known = true
		} else {
			others = true
		}
	}
	touch(&s.members, limit, mk, now, win)
	return !known && others, nil
}

// keys returns the number of keys in kind's table, for tests.
func (m *Memory) keys(kind Kind) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, _ := m.table(kind)
	return t.len()
}

// touch records key at time now in set, a set of at most limit distinct
// keys, replacing the oldest entry when full, and returns the number of
// keys seen within win: in one pass.
func touch(set *[]stamp, limit int, key uint64, now, win int64) int {
	s := *set
	n, oldest, found := 0, 0, -1
	for i := range s {
		if s[i].key == key {
			found = i
		}
		if s[i].t < s[oldest].t {
			oldest = i
		}
		if now-s[i].t <= win {
			n++
		}
	}
	switch {
	case found >= 0:
		if now-s[found].t > win {
			n++ // seen again: within the window now
		}
		s[found].t = max(s[found].t, now)
	case len(s) < limit:
		*set = append(s, stamp{key, now})
		n++
	default:
		if now-s[oldest].t <= win {
			n--
		}
		s[oldest] = stamp{key, now}
		n++
	}
	return n
}

// twoGen is a map bounded at max entries that forgets the least recently
// used ones first, approximately: entries live in a current and a previous
// generation; a lookup in the previous one moves the entry to the current
// one, and when the current one is full the previous one is dropped.
type twoGen[V any] struct {
	cur, old map[uint64]*V
	half     int
}

func newTwoGen[V any](limit int) *twoGen[V] {
	half := max(1, limit/2)
	return &twoGen[V]{cur: make(map[uint64]*V), old: make(map[uint64]*V), half: half}
}

func (g *twoGen[V]) peek(k uint64) *V {
	if v, ok := g.cur[k]; ok {
		return v
	}
	if v, ok := g.old[k]; ok {
		delete(g.old, k)
		g.put(k, v)
		return v
	}
	return nil
}

func (g *twoGen[V]) put(k uint64, v *V) {
	if len(g.cur) >= g.half {
		g.old, g.cur = g.cur, make(map[uint64]*V, g.half)
	}
	g.cur[k] = v
}

func (g *twoGen[V]) get(k uint64, mk func() *V) *V {
	if v := g.peek(k); v != nil {
		return v
	}
	v := mk()
	g.put(k, v)
	return v
}

// len returns the number of entries, for tests.
func (g *twoGen[V]) len() int { return len(g.cur) + len(g.old) }
