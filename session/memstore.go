package session

import (
	"context"
	"sync"
	"time"
)

// MemoryStore is a [Store] in process memory: the default, right for a
// single instance and for tests. Sessions are lost on restart and are not
// shared between instances; use session/sqlstore or session/redisstore for
// that.
//
// It starts no goroutine: every write also examines a few sessions and
// drops the expired ones, and a revocation that doubles the number of
// revocation watermarks drops the expired ones, so memory stays bounded
// by the live sessions plus a small margin, and by twice the watermarks
// still within their retention (Revocation.Until). It is safe for
// concurrent use.
type MemoryStore struct {
	mu        sync.RWMutex
	recs      map[string]memRecord
	users     map[string]map[string]struct{}
	marks     map[string]memMark // revocation watermarks by user
	markSweep int                // sweep the marks when there are this many
	claims    map[string]int64   // claimed key → expiry, unix nanoseconds
}

type memRecord struct {
	user   string
	data   []byte
	expiry int64 // unix nanoseconds
	authAt int64 // unix microseconds, 0 for none
}

type memMark struct {
	at    int64 // unix microseconds
	until int64 // unix nanoseconds
}

// sweepPerWrite is how many sessions each write examines for expiry.
const sweepPerWrite = 4

// minMarkSweep is the fewest watermarks that trigger a sweep of them.
const minMarkSweep = 64

var _ Store = (*MemoryStore)(nil)

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{
		recs:      make(map[string]memRecord),
		users:     make(map[string]map[string]struct{}),
		marks:     make(map[string]memMark),
		markSweep: minMarkSweep,
		claims:    make(map[string]int64),
	}
}

// micros returns t in Unix microseconds, 0 for the zero time.
func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

// fromMicros is the inverse of micros.
func fromMicros(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us)
}

// revoked reports whether a record of user established at authAt (Unix
// microseconds) is before the user's watermark. s.mu must be held.
func (s *MemoryStore) revoked(user string, authAt int64) bool {
	if user == "" {
		return false
	}
	m, ok := s.marks[user]
	return ok && authAt < m.at
}

// Find implements [Store].
func (s *MemoryStore) Find(_ context.Context, key string) ([]byte, bool, error) {
	now := time.Now().UnixNano()
	s.mu.RLock()
	r, ok := s.recs[key]
	ok = ok && now < r.expiry && !s.revoked(r.user, r.authAt)
	s.mu.RUnlock()
	if !ok {
		return nil, false, nil
	}
	return r.data, true, nil
}

// Save implements [Store].
func (s *MemoryStore) Save(_ context.Context, replace string, r Record) (bool, error) {
	now := time.Now().UnixNano()
	authAt := micros(r.AuthAt)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.revoked(r.UserID, authAt) {
		return false, nil
	}
	if replace != "" {
		old, ok := s.recs[replace]
		if !ok || now >= old.expiry || old.user != r.UserID {
			return false, nil
		}
		if replace != r.Key {
			s.remove(old.user, replace)
		}
	} else if old, ok := s.recs[r.Key]; ok && old.user != r.UserID {
		s.remove(old.user, r.Key)
	}
	s.recs[r.Key] = memRecord{user: r.UserID, data: r.Data, expiry: r.Expiry.UnixNano(), authAt: authAt}
	if r.UserID != "" {
		set := s.users[r.UserID]
		if set == nil {
			set = make(map[string]struct{}, 1)
			s.users[r.UserID] = set
		}
		set[r.Key] = struct{}{}
	}
	s.sweep(now)
	return true, nil
}

// sweep drops up to sweepPerWrite expired sessions and as many expired
// claims, starting from a random point of each map. s.mu must be held for
// writing.
func (s *MemoryStore) sweep(now int64) {
	n := 0
	for k, r := range s.recs {
		if now >= r.expiry {
			s.remove(r.user, k)
		}
		if n++; n == sweepPerWrite {
			break
		}
	}
	n = 0
	for k, exp := range s.claims {
		if now >= exp {
			delete(s.claims, k)
		}
		if n++; n == sweepPerWrite {
			break
		}
	}
}

// remove deletes key and its index entry. s.mu must be held for writing.
func (s *MemoryStore) remove(user, key string) {
	delete(s.recs, key)
	if user == "" {
		return
	}
	if set := s.users[user]; set != nil {
		delete(set, key)
		if len(set) == 0 {
			delete(s.users, user)
		}
	}
}

// Delete implements [Store].
func (s *MemoryStore) Delete(_ context.Context, userID, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.recs[key]; ok {
		userID = r.user
	}
	s.remove(userID, key)
	return nil
}

// List implements [Store].
func (s *MemoryStore) List(_ context.Context, userID string) ([]Record, error) {
	if userID == "" {
		return nil, nil
	}
	now := time.Now().UnixNano()
	s.mu.RLock()
	defer s.mu.RUnlock()
	set := s.users[userID]
	out := make([]Record, 0, len(set))
	for k := range set {
		r := s.recs[k]
		if now < r.expiry && !s.revoked(userID, r.authAt) {
			out = append(out, Record{Key: k, UserID: userID, Data: r.data, Expiry: time.Unix(0, r.expiry), AuthAt: fromMicros(r.authAt)})
		}
	}
	return out, nil
}

// DeleteUser implements [Store].
func (s *MemoryStore) DeleteUser(_ context.Context, userID, except string, rev Revocation) error {
	if userID == "" {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now().UnixNano()
	m := s.marks[userID]
	m.at = max(m.at, micros(rev.At))
	m.until = max(m.until, rev.Until.UnixNano())
	s.marks[userID] = m
	if len(s.marks) >= s.markSweep { // amortised: at most one full pass per doubling
		for u, m := range s.marks {
			if now >= m.until {
				delete(s.marks, u)
			}
		}
		s.markSweep = max(2*len(s.marks), minMarkSweep)
	}
	for k := range s.users[userID] {
		if k != except {
			s.remove(userID, k)
		}
	}
	return nil
}

// Claim implements [Store].
func (s *MemoryStore) Claim(_ context.Context, key string, expiry time.Time) (bool, error) {
	now := time.Now().UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	if exp, ok := s.claims[key]; ok && now < exp {
		return false, nil
	}
	s.claims[key] = expiry.UnixNano()
	s.sweep(now)
	return true, nil
}
