package session

import (
	"fmt"
	"sort"
	"strings"
)

// DumpMemoryStore returns everything s holds, for tests that read the
// store directly.
func DumpMemoryStore(s *MemoryStore) string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var b strings.Builder
	keys := make([]string, 0, len(s.recs))
	for k := range s.recs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		r := s.recs[k]
		fmt.Fprintf(&b, "%s user=%s expiry=%d data=%q %s\n", k, r.user, r.expiry, r.data, r.data)
	}
	for k, exp := range s.claims {
		fmt.Fprintf(&b, "claim %s expiry=%d\n", k, exp)
	}
	for u, set := range s.users {
		for k := range set {
			fmt.Fprintf(&b, "index %s %s\n", u, k)
		}
	}
	return b.String()
}

// MemoryStoreWatermarks returns how many revocation watermarks s holds.
func MemoryStoreWatermarks(s *MemoryStore) int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.marks)
}
