package password

import (
	"bufio"
	"bytes"
	"compress/gzip"
	_ "embed"
	"fmt"
	"hash/maphash"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"
)

// The embedded list of common passwords: see data/NOTICE.md for its source
// and licence (CC BY-SA 3.0). It is stored compressed and verbatim:
//
//go:generate sh -c "gzip -9n < ../../shared/data/common-passwords-top100k.txt > data/common-passwords.txt.gz"
//go:embed data/common-passwords.txt.gz
var commonPasswordsGz string

// commonPasswords is the embedded list as a set, built on first use and
// immutable afterwards, shared by every [Policy].
var commonPasswords = sync.OnceValues(func() (*passwordSet, error) {
	return loadPasswordSet(commonPasswordsGz)
})

// passwordSet is a set of normalised passwords, each stored with its rank
// in the list (1 for the most common), in an open-addressing table of
// 64-bit slots (linear probing, load factor at most 3/4): 1 MiB for the
// 100,000-entry list, against about 2.3 MiB for a map[uint64]struct{} and
// several for the strings. A slot holds the top 47 bits of the entry's
// hash above its 17-bit rank; the low bits of the hash pick the slot.
// Lookups are O(1): one hash and, on average, a few probes within one or
// two cache lines. With a per-process random seed, the chance that a given
// string collides with an entry is about 100,000 / 2^47 per lookup (below
// 10^-9), and a collision can only make a password look weaker.
//
// Finding the entries inside a password means looking up many of its
// substrings, and each lookup in a 1 MiB table is a cache miss. So a
// 256 KiB filter (a Bloom filter with one hash) also records, for a
// rolling hash with a per-process random seed, every entry and every
// prefix of at least three bytes of an entry: a scan extends a substring
// one character at a time, looks it up only when the filter has it as an
// entry, and stops as soon as the filter says no entry starts with it. With
// about 200,000 bits set of 2^21, it wrongly says yes about one time in
// ten, which costs a lookup or a step, never a wrong answer.
type passwordSet struct {
	seed   maphash.Seed
	slots  []uint64 // 0 marks an empty slot; fingerprints of 0 are stored as 1
	n      int
	maxLen int // the longest entry, in bytes: longer strings are not looked up

	filter     []uint64 // filterBits bits
	filterSeed uint64
}

// filterBits is the size of passwordSet.filter: 2^21 bits, 256 KiB.
const filterBits = 1 << 21

// minPrefix is the shortest prefix the filter records.
const minPrefix = 3

// rollStart and rollStep compute the filter's rolling hash of a string
// byte by byte (FNV-1a from a random basis).
func (s *passwordSet) rollStart() uint64 { return s.filterSeed }

func rollStep(h uint64, b byte) uint64 { return (h ^ uint64(b)) * 1099511628211 }

// filterBitsOf returns the filter's bit for h as an entry and as a prefix.
func filterBitsOf(h uint64) (entry, prefix uint64) {
	// A finaliser (MurmurHash3's fmix64) spreads FNV's weak high bits.
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h % filterBits, (h >> 32) % filterBits
}

func (s *passwordSet) set(bit uint64)      { s.filter[bit/64] |= 1 << (bit % 64) }
func (s *passwordSet) has(bit uint64) bool { return s.filter[bit/64]&(1<<(bit%64)) != 0 }

// mayHold reports, for the rolling hash h of a string, whether the string
// may be an entry and whether it may be the prefix of one (of at least
// minPrefix bytes: shorter prefixes always may).
func (s *passwordSet) mayHold(h uint64) (entry, prefix bool) {
	e, p := filterBitsOf(h)
	return s.has(e), s.has(p)
}

// rankBits is the width of the rank in a slot: ranks above rankMax are
// stored as rankMax, which changes nothing for a list of 100,000.
const (
	rankBits = 17
	rankMax  = 1<<rankBits - 1
)

// loadPasswordSet decompresses a gzip'd list, one password per line, most
// common first, and normalises each entry as [Policy.Check] normalises
// passwords (NFKC, lower case). Entries that differ only in case keep the
// better (lower) rank.
func loadPasswordSet(gz string) (*passwordSet, error) {
	zr, err := gzip.NewReader(strings.NewReader(gz))
	if err != nil {
		return nil, fmt.Errorf("password: common password list: %w", err)
	}
	var hashes []uint64 // in list order
	seed := maphash.MakeSeed()
	maxLen := 0
	s := &passwordSet{seed: seed, filter: make([]uint64, filterBits/64), filterSeed: maphash.String(seed, "filter")}
	var buf []byte
	sc := bufio.NewScanner(zr)
	for sc.Scan() {
		line := bytes.TrimSuffix(sc.Bytes(), []byte("\r"))
		if len(line) == 0 {
			continue
		}
		// Fast path for ASCII, which NFKC leaves unchanged.
		buf = buf[:0]
		for _, c := range line {
			if c >= utf8.RuneSelf {
				buf = append(buf[:0], foldPassword(string(line))...)
				break
			}
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			buf = append(buf, c)
		}
		maxLen = max(maxLen, len(buf))
		hashes = append(hashes, maphash.Bytes(seed, buf))
		h := s.rollStart()
		for i, c := range buf {
			h = rollStep(h, c)
			e, p := filterBitsOf(h)
			switch {
			case i == len(buf)-1:
				s.set(e)
			case i+1 >= minPrefix:
				s.set(p)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("password: common password list: %w", err)
	}
	// Size the table for the distinct entries: the list repeats entries
	// that differ only in case.
	distinct := slices.Compact(slices.Sorted(slices.Values(hashes)))
	size := 1
	for size*3 < len(distinct)*4 {
		size <<= 1
	}
	s.slots, s.maxLen = make([]uint64, size), maxLen
	for i, h := range hashes {
		s.insert(h, min(i+1, rankMax))
	}
	return s, nil
}

// slotOf splits a hash into the slot index where probing starts and the
// fingerprint stored (never 0).
func (s *passwordSet) slotOf(h uint64) (start, fp uint64) {
	return h & uint64(len(s.slots)-1), max(h>>rankBits, 1) // #nosec G115 -- len(s.slots) is a positive power of two, so len-1 is non-negative
}

// insert adds hash h with rank, unless it is present (with a better rank:
// entries come most common first).
func (s *passwordSet) insert(h uint64, rank int) {
	i, fp := s.slotOf(h)
	mask := uint64(len(s.slots) - 1) // #nosec G115 -- len(s.slots) is a positive power of two, so len-1 is non-negative
	for ; ; i = (i + 1) & mask {
		switch v := s.slots[i]; {
		case v == 0:
			s.slots[i] = fp<<rankBits | uint64(rank) // #nosec G115 -- rank is a non-negative list position below 1<<rankBits
			s.n++
			return
		case v>>rankBits == fp:
			return
		}
	}
}

// rank returns the rank of folded (the output of foldPassword, or any part
// of it) in s, 1 for the most common entry, or 0 if it is not in s. It does
// not allocate.
func (s *passwordSet) rank(folded string) int {
	if len(folded) > s.maxLen {
		return 0
	}
	i, fp := s.slotOf(maphash.String(s.seed, folded))
	mask := uint64(len(s.slots) - 1) // #nosec G115 -- len(s.slots) is a positive power of two, so len-1 is non-negative
	for ; ; i = (i + 1) & mask {
		switch v := s.slots[i]; {
		case v == 0:
			return 0
		case v>>rankBits == fp:
			return int(v & rankMax)
		}
	}
}

// contains reports whether folded (the output of foldPassword) is in s.
func (s *passwordSet) contains(folded string) bool { return s.rank(folded) > 0 }

func (s *passwordSet) len() int { return s.n }
