package ratelimit

import (
	"encoding/binary"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// check verifies a shard against a model of what it should hold: every
// model key findable with its TAT, the count right, and the Robin Hood
// invariant (no entry is further from home than the one before it plus
// one) intact.
func (s *shard) check(t testing.TB, model map[uint64]int64) {
	t.Helper()
	require.Equal(t, len(model), s.n, "count")
	require.LessOrEqual(t, s.n, s.max, "bound")
	require.LessOrEqual(t, len(s.slots), max(s.maxCap, minCap), "capacity")
	c := len(s.slots)
	occupied := 0
	for i, e := range s.slots {
		if e.key() == 0 {
			continue
		}
		occupied++
		d := i - home(e.key(), c)
		if d < 0 {
			d += c
		}
		prev := i - 1
		if prev < 0 {
			prev = c - 1
		}
		if d > 0 {
			p := s.slots[prev]
			require.NotZero(t, p.key(), "gap before displaced entry at %d", i)
			pd := prev - home(p.key(), c)
			if pd < 0 {
				pd += c
			}
			require.GreaterOrEqual(t, pd+1, d, "robin hood order at %d", i)
		}
	}
	require.Equal(t, s.n, occupied)
	for k, tat := range model {
		i, found, _ := s.find(k)
		require.True(t, found, "key %x lost", k)
		require.Equal(t, tat, s.base+int64(s.slots[i].tat), "tat of %x", k)
	}
}

// runOps drives one shard with ops decoded from b and checks it against a
// model after each. Eviction and expiry remove model entries too.
func runOps(t testing.TB, b []byte, maxKeys int) {
	s := &shard{max: maxKeys, maxCap: maxKeys + maxKeys/7 + 1}
	model := map[uint64]int64{}
	now := int64(1000)
	keys := []uint64{}
	for len(b) >= 3 {
		op, arg := b[0]%6, binary.LittleEndian.Uint16(b[1:3])
		b = b[3:]
		switch op {
		case 0, 1: // set a key (new or old) to now+arg
			var k uint64
			if op == 0 || len(keys) == 0 {
				k = uint64(arg)*0x9E3779B97F4A7C15 | 1
				keys = append(keys, k)
			} else {
				k = keys[int(arg)%len(keys)]
			}
			tat := now + int64(arg) + 1
			i, found, d := s.find(k)
			if found {
				s.slots[i].tat = uint32(tat - s.base)
			} else {
				full := s.n >= s.max
				s.add(k, uint32(tat-s.base), now, i, d)
				// Growth may drop refilled entries; eviction drops one entry
				// (preferring refilled ones), only when the shard was full.
				lostLive := 0
				for mk, mt := range model {
					if _, ok, _ := s.find(mk); !ok {
						if mt > now {
							lostLive++
						}
						delete(model, mk)
					}
				}
				require.LessOrEqual(t, lostLive, 1)
				if !full {
					require.Zero(t, lostLive, "evicted a live key from a shard that was not full")
				}
			}
			model[k] = tat
		case 2: // remove
			if len(keys) > 0 {
				k := keys[int(arg)%len(keys)]
				if i, found, _ := s.find(k); found {
					s.remove(i)
				}
				delete(model, k)
			}
		case 3: // time passes
			now += int64(arg)
		case 4, 5: // sweep, with or without shrinking
			s.sweep(now, op == 5)
			for k, tat := range model {
				if tat <= now {
					delete(model, k)
				}
			}
		}
		s.check(t, model)
	}
}

func TestTableRandomOps(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, maxKeys := range []int{1, 7, 64, 500} {
		b := make([]byte, 30_000)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		runOps(t, b, maxKeys)
	}
}

func FuzzTable(f *testing.F) {
	f.Add([]byte{0, 1, 0, 0, 2, 0, 3, 255, 255, 4, 0, 0}, uint8(4))
	f.Add([]byte{0, 1, 0, 0, 2, 0, 0, 3, 0, 0, 4, 0, 0, 5, 0, 2, 1, 0, 5, 0, 0}, uint8(1))
	f.Fuzz(func(t *testing.T, b []byte, maxKeys uint8) {
		runOps(t, b, int(maxKeys%100)+1)
	})
}

func TestTicks(t *testing.T) {
	for _, tc := range []struct {
		name  string
		l     Limit
		shift uint
		emit  int64
	}{
		{"100/s: exact in 128ns ticks", Limit{Events: 100, Per: 1e9, Burst: 100}, 7, 78125},
		{"1/s: exact in 512ns ticks", Limit{Events: 1, Per: 1e9, Burst: 1}, 9, 1953125},
		{"5/15min: exact in 2048ns ticks", Limit{Events: 5, Per: 15 * time.Minute, Burst: 5}, 11, 87890625},
		{"1ns interval", Limit{Events: 1000, Per: 1000, Burst: 1}, 0, 1},
		{"odd interval rounds up", Limit{Events: 3, Per: 1e9, Burst: 3}, 12, 81381},
		{"big burst coarsens the tick", Limit{Events: 1 << 20, Per: 60e9, Burst: 1 << 20}, 5, 1789},
	} {
		t.Run(tc.name, func(t *testing.T) {
			shift, emit := ticks(tc.l)
			require.Equal(t, tc.shift, shift)
			require.Equal(t, tc.emit, emit)
			require.Less(t, int64(tc.l.Burst)*emit, int64(1)<<31)
		})
	}
}

// The precision the package documents: the interval, rounded up to whole
// ticks, is never shorter than asked (never early) and longer by less than
// 1/65536 of it for bursts up to 1<<14, less than 1/(2^30/Burst-1) above.
func TestTicksPrecision(t *testing.T) {
	for _, burst := range []int{1, 100, 1 << 14, 1<<14 + 1, 1 << 15, 1 << 20, maxBurst} {
		k := int64(65536)
		if burst > 1<<14 {
			k = 1<<30/int64(burst) - 1
		}
		for _, base := range []time.Duration{time.Microsecond, time.Millisecond, 1089617923, time.Minute, 39 * time.Hour} {
			for d := range time.Duration(500) {
				iv := base + d*base/499
				shift, emit := ticks(Limit{Events: 1, Per: iv, Burst: burst})
				late := time.Duration(emit<<shift) - iv
				require.GreaterOrEqual(t, late, time.Duration(0), "burst %d, interval %v: early", burst, iv)
				require.LessOrEqual(t, late, iv/time.Duration(k), "burst %d, interval %v: late by %v", burst, iv, late)
				require.Less(t, int64(burst)*emit, int64(1)<<31, "burst %d, interval %v: bucket overflows", burst, iv)
			}
		}
	}
}

// MemoryConfig.MaxKeys documents 13.7 bytes a key at the bound, and at
// most 14 MiB for the default 1<<20 keys: the largest tables a Memory may
// grow (runOps checks that no table grows past maxCap), and its shards.
func TestMemoryBoundBytes(t *testing.T) {
	m, err := NewMemory(Limit{Events: 1, Per: time.Second}, MemoryConfig{SweepInterval: -1})
	require.NoError(t, err)
	slotSize := int(reflect.TypeFor[slot]().Size())
	require.Equal(t, 12, slotSize)
	total := len(m.shards) * int(reflect.TypeFor[shard]().Size())
	for i := range m.shards {
		total += m.shards[i].maxCap * slotSize
	}
	assert.LessOrEqual(t, total, 14<<20)
	assert.InDelta(t, 13.7, float64(total)/defaultMaxKeys, 0.05, "bytes a key at the bound")
}
