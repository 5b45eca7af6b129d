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
// drops the expired ones, so memory stays bounded by the live sessions
// plus a small margin. It is safe for concurrent use.
type MemoryStore struct {
	mu     sync.RWMutex
	recs   map[string]memRecord
	users  map[string]map[string]struct{}
	claims map[string]int64 // claimed key → expiry, unix nanoseconds
}

type memRecord struct {
	user   string
	data   []byte
	expiry int64 // unix nanoseconds
}

// sweepPerWrite is how many sessions each write examines for expiry.
const sweepPerWrite = 4

var _ Store = (*MemoryStore)(nil)

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{
		recs:   make(map[string]memRecord),
		users:  make(map[string]map[string]struct{}),
		claims: make(map[string]int64),
	}
}

// Find implements [Store].
func (s *MemoryStore) Find(_ context.Context, key string) ([]byte, bool, error) {
	now := time.Now().UnixNano()
	s.mu.RLock()
	r, ok := s.recs[key]
	s.mu.RUnlock()
	if !ok || now >= r.expiry {
		return nil, false, nil
	}
	return r.data, true, nil
}

// Save implements [Store].
func (s *MemoryStore) Save(_ context.Context, replace string, r Record) (bool, error) {
	now := time.Now().UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
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
	s.recs[r.Key] = memRecord{user: r.UserID, data: r.Data, expiry: r.Expiry.UnixNano()}
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
		if now < r.expiry {
			out = append(out, Record{Key: k, UserID: userID, Data: r.data, Expiry: time.Unix(0, r.expiry)})
		}
	}
	return out, nil
}

// DeleteUser implements [Store].
func (s *MemoryStore) DeleteUser(_ context.Context, userID, except string) error {
	if userID == "" {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
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
