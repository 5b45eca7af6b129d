package token

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// MemoryStoreConfig bounds a [MemoryStore].
type MemoryStoreConfig struct {
	// MaxRecords is how many records the store holds. Default: 100,000.
	// When it is full of valid records, Put returns [ErrStoreFull]: a
	// flood of requests fails rather than exhausting memory.
	MaxRecords int
}

// MemoryStore is a [Store] in process memory, for tests, examples and
// single-instance apps that can lose outstanding links on restart.
// Instances do not share it: a multi-instance app needs a database-backed
// store such as token/sqlstore.
//
// It is bounded by [MemoryStoreConfig.MaxRecords], starts no goroutine
// and is safe for concurrent use. Expired records are dropped when a Get
// or Take finds them, when a Put finds the store full (expired as of the
// new record's Created time), and by DeleteExpired.
type MemoryStore struct {
	max int

	mu     sync.Mutex
	recs   map[string]Record             // by string(Hash)
	byUser map[string]map[Purpose]string // user → purpose → string(Hash)
}

var _ Store = (*MemoryStore)(nil)

// NewMemoryStore returns an empty MemoryStore. It returns an error if
// cfg.MaxRecords is negative.
func NewMemoryStore(cfg MemoryStoreConfig) (*MemoryStore, error) {
	if cfg.MaxRecords < 0 {
		return nil, fmt.Errorf("token: NewMemoryStore: MaxRecords %d: use 0 for the default, or a positive bound", cfg.MaxRecords)
	}
	if cfg.MaxRecords == 0 {
		cfg.MaxRecords = 100_000
	}
	return &MemoryStore{
		max:    cfg.MaxRecords,
		recs:   make(map[string]Record),
		byUser: make(map[string]map[Purpose]string),
	}, nil
}

// Put implements [Store].
func (m *MemoryStore) Put(_ context.Context, rec Record) error {
	if len(rec.Hash) == 0 {
		return errors.New("token: put: empty hash")
	}
	rec.Hash = clone(rec.Hash)
	key := string(rec.Hash)
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.recs[key]; ok && (old.UserID != rec.UserID || old.Purpose != rec.Purpose) {
		return errors.New("token: put: a record with this hash exists")
	}
	if prev, ok := m.byUser[rec.UserID][rec.Purpose]; ok {
		m.remove(prev)
	}
	if len(m.recs) >= m.max {
		m.deleteExpired(rec.Created)
		if len(m.recs) >= m.max {
			return fmt.Errorf("%w: %d valid records", ErrStoreFull, len(m.recs))
		}
	}
	m.recs[key] = rec
	u := m.byUser[rec.UserID]
	if u == nil {
		u = make(map[Purpose]string, 1)
		m.byUser[rec.UserID] = u
	}
	u[rec.Purpose] = key
	return nil
}

// Get implements [Store].
func (m *MemoryStore) Get(_ context.Context, hash []byte, p Purpose, now time.Time) (Record, error) {
	return m.find(hash, p, now, false)
}

// Take implements [Store].
func (m *MemoryStore) Take(_ context.Context, hash []byte, p Purpose, now time.Time) (Record, error) {
	return m.find(hash, p, now, true)
}

// find returns the record of hash for p valid at now, deleting it if take.
// The map lookup compares hashes in variable time: see the package doc.
func (m *MemoryStore) find(hash []byte, p Purpose, now time.Time, take bool) (Record, error) {
	key := string(hash)
	m.mu.Lock()
	defer m.mu.Unlock()
	rec, ok := m.recs[key]
	if !ok || rec.Purpose != p {
		return Record{}, ErrInvalid
	}
	if !now.Before(rec.Expires) {
		m.remove(key)
		return Record{}, ErrInvalid
	}
	if take {
		m.remove(key)
	}
	rec.Hash = clone(rec.Hash)
	return rec, nil
}

// Void implements [Store].
func (m *MemoryStore) Void(_ context.Context, userID string, purposes ...Purpose) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	u := m.byUser[userID]
	if len(purposes) == 0 {
		for _, key := range u {
			m.remove(key)
		}
		return nil
	}
	for _, p := range purposes {
		if key, ok := u[p]; ok {
			m.remove(key)
		}
	}
	return nil
}

// DeleteExpired implements [Store].
func (m *MemoryStore) DeleteExpired(_ context.Context, now time.Time) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.deleteExpired(now), nil
}

func (m *MemoryStore) deleteExpired(now time.Time) int {
	n := 0
	for key, rec := range m.recs {
		if !now.Before(rec.Expires) {
			m.remove(key)
			n++
		}
	}
	return n
}

// remove deletes the record of key and its index entry; m.mu is held.
func (m *MemoryStore) remove(key string) {
	rec, ok := m.recs[key]
	if !ok {
		return
	}
	delete(m.recs, key)
	if u := m.byUser[rec.UserID]; u[rec.Purpose] == key {
		delete(u, rec.Purpose)
		if len(u) == 0 {
			delete(m.byUser, rec.UserID)
		}
	}
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }
