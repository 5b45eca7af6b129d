package auth

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

// passwordSet is a set of normalised passwords stored as 64-bit hashes in
// an open-addressing table (linear probing, load factor at most 3/4): 1 MiB
// for the 100,000-entry list, against about 2.3 MiB for a
// map[uint64]struct{} and several for the strings. Lookups are O(1): one
// hash and, on average, a few probes within one or two cache lines. With a
// per-process random seed, the chance that a given password collides with
// an entry is below 100,000 / 2^64.
type passwordSet struct {
	seed  maphash.Seed
	slots []uint64 // 0 marks an empty slot; hashes of 0 are stored as 1
	n     int
}

// loadPasswordSet decompresses a gzip'd list, one password per line, and
// normalises each entry as [Policy.Check] normalises passwords (NFKC,
// lower case).
func loadPasswordSet(gz string) (*passwordSet, error) {
	zr, err := gzip.NewReader(strings.NewReader(gz))
	if err != nil {
		return nil, fmt.Errorf("auth: common password list: %w", err)
	}
	var hashes []uint64
	seed := maphash.MakeSeed()
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
		hashes = append(hashes, maphash.Bytes(seed, buf))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("auth: common password list: %w", err)
	}
	slices.Sort(hashes)
	hashes = slices.Compact(hashes) // the list repeats entries that differ only in case
	size := 1
	for size*3 < len(hashes)*4 {
		size <<= 1
	}
	s := &passwordSet{seed: seed, slots: make([]uint64, size)}
	for _, h := range hashes {
		s.insert(h)
	}
	return s, nil
}

func (s *passwordSet) insert(h uint64) {
	h = max(h, 1)
	mask := uint64(len(s.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		switch s.slots[i] {
		case h:
			return
		case 0:
			s.slots[i] = h
			s.n++
			return
		}
	}
}

// contains reports whether folded (the output of foldPassword) is in s.
func (s *passwordSet) contains(folded string) bool {
	h := max(maphash.String(s.seed, folded), 1)
	mask := uint64(len(s.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		switch s.slots[i] {
		case h:
			return true
		case 0:
			return false
		}
	}
}

func (s *passwordSet) len() int { return s.n }
