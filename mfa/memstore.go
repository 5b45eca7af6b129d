package mfa

import (
	"bytes"
	"context"
	"crypto/subtle"
	"fmt"
	"slices"
	"sync"
)

// MemoryStoreConfig bounds a [MemoryStore].
type MemoryStoreConfig struct {
	// MaxUsers is how many users may have TOTP records, and separately how
	// many may have recovery codes. Default: 10,000. Beyond it, writes for
	// new users return [ErrStoreFull].
	MaxUsers int
	// MaxCredentials is how many WebAuthn credentials the store holds in
	// all. Default: 10,000.
	MaxCredentials int
}

// MemoryStore keeps TOTP records, recovery-code hashes and WebAuthn
// credentials in memory. It implements [TOTPStore], [RecoveryStore],
// [CredentialStore] and [FactorStore], is safe for concurrent use, and is bounded by its
// [MemoryStoreConfig]. It is meant for tests and single-instance apps that
// can lose their MFA enrolments on restart; anything else needs a
// database-backed store.
type MemoryStore struct {
	maxUsers, maxCreds int

	mu       sync.Mutex
	totp     map[string]TOTPRecord
	recovery map[string][][]byte
	creds    map[string]StoredCredential // by string(ID)
}

var (
	_ TOTPStore       = (*MemoryStore)(nil)
	_ RecoveryStore   = (*MemoryStore)(nil)
	_ CredentialStore = (*MemoryStore)(nil)
	_ FactorStore     = (*MemoryStore)(nil)
)

// NewMemoryStore returns an empty store. It returns an error for negative
// limits.
func NewMemoryStore(cfg MemoryStoreConfig) (*MemoryStore, error) {
	if cfg.MaxUsers < 0 || cfg.MaxCredentials < 0 {
		return nil, fmt.Errorf("mfa: MemoryStoreConfig: limits must not be negative (0 means the default)")
	}
	if cfg.MaxUsers == 0 {
		cfg.MaxUsers = 10_000
	}
	if cfg.MaxCredentials == 0 {
		cfg.MaxCredentials = 10_000
	}
	return &MemoryStore{
		maxUsers: cfg.MaxUsers,
		maxCreds: cfg.MaxCredentials,
		totp:     make(map[string]TOTPRecord),
		recovery: make(map[string][][]byte),
		creds:    make(map[string]StoredCredential),
	}, nil
}

func cloneBytes(b []byte) []byte {
	if b == nil {
		return nil
	}
	return bytes.Clone(b)
}

// LoadTOTP implements [TOTPStore].
func (m *MemoryStore) LoadTOTP(_ context.Context, userID string) (TOTPRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	rec, ok := m.totp[userID]
	if !ok {
		return TOTPRecord{}, fmt.Errorf("mfa: memory store: user has no TOTP record: %w", ErrNotEnrolled)
	}
	rec.Secret, rec.Pending = cloneBytes(rec.Secret), cloneBytes(rec.Pending)
	return rec, nil
}

// SaveTOTP implements [TOTPStore].
func (m *MemoryStore) SaveTOTP(_ context.Context, userID string, rec TOTPRecord) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	old, ok := m.totp[userID]
	if !ok && len(m.totp) >= m.maxUsers {
		return fmt.Errorf("mfa: memory store: %d TOTP records: %w", m.maxUsers, ErrStoreFull)
	}
	rec.LastStep = old.LastStep
	rec.Secret, rec.Pending = cloneBytes(rec.Secret), cloneBytes(rec.Pending)
	m.totp[userID] = rec
	return nil
}

// DeleteTOTP implements [TOTPStore].
func (m *MemoryStore) DeleteTOTP(_ context.Context, userID string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.totp, userID)
	return nil
}

// AcceptTOTPStep implements [TOTPStore].
func (m *MemoryStore) AcceptTOTPStep(_ context.Context, userID string, step int64) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	rec, ok := m.totp[userID]
	if !ok {
		return false, fmt.Errorf("mfa: memory store: user has no TOTP record: %w", ErrNotEnrolled)
	}
	if step <= rec.LastStep {
		return false, nil
	}
	rec.LastStep = step
	m.totp[userID] = rec
	return true, nil
}

// ReplaceRecoveryCodes implements [RecoveryStore].
func (m *MemoryStore) ReplaceRecoveryCodes(_ context.Context, userID string, hashes [][]byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(hashes) == 0 {
		delete(m.recovery, userID)
		return nil
	}
	if _, ok := m.recovery[userID]; !ok && len(m.recovery) >= m.maxUsers {
		return fmt.Errorf("mfa: memory store: %d recovery code sets: %w", m.maxUsers, ErrStoreFull)
	}
	set := make([][]byte, len(hashes))
	for i, h := range hashes {
		set[i] = bytes.Clone(h)
	}
	m.recovery[userID] = set
	return nil
}

// ConsumeRecoveryCode implements [RecoveryStore]. It compares hash with
// every stored hash in constant time.
func (m *MemoryStore) ConsumeRecoveryCode(_ context.Context, userID string, hash []byte) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	set := m.recovery[userID]
	found := -1
	for i, h := range set {
		if subtle.ConstantTimeCompare(h, hash) == 1 {
			found = i
		}
	}
	if found < 0 {
		return false, nil
	}
	set = slices.Delete(set, found, found+1)
	if len(set) == 0 {
		delete(m.recovery, userID)
	} else {
		m.recovery[userID] = set
	}
	return true, nil
}

// CountRecoveryCodes implements [RecoveryStore].
func (m *MemoryStore) CountRecoveryCodes(_ context.Context, userID string) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.recovery[userID]), nil
}

func cloneCred(c StoredCredential) StoredCredential {
	c.ID, c.Data = cloneBytes(c.ID), cloneBytes(c.Data)
	return c
}

// CreateCredential implements [CredentialStore].
func (m *MemoryStore) CreateCredential(_ context.Context, c StoredCredential) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.creds[string(c.ID)]; ok {
		return fmt.Errorf("mfa: memory store: %w", ErrExists)
	}
	if len(m.creds) >= m.maxCreds {
		return fmt.Errorf("mfa: memory store: %d credentials: %w", m.maxCreds, ErrStoreFull)
	}
	m.creds[string(c.ID)] = cloneCred(c)
	return nil
}

// Credential implements [CredentialStore].
func (m *MemoryStore) Credential(_ context.Context, id []byte) (StoredCredential, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.creds[string(id)]
	if !ok {
		return StoredCredential{}, fmt.Errorf("mfa: memory store: %w", ErrNotFound)
	}
	return cloneCred(c), nil
}

// UserCredentials implements [CredentialStore].
func (m *MemoryStore) UserCredentials(_ context.Context, userID string) ([]StoredCredential, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []StoredCredential
	for _, c := range m.creds {
		if c.UserID == userID {
			out = append(out, cloneCred(c))
		}
	}
	slices.SortFunc(out, func(a, b StoredCredential) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return bytes.Compare(a.ID, b.ID)
	})
	return out, nil
}

// UpdateCredential implements [CredentialStore].
func (m *MemoryStore) UpdateCredential(_ context.Context, c StoredCredential) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	old, ok := m.creds[string(c.ID)]
	if !ok || old.UserID != c.UserID {
		return fmt.Errorf("mfa: memory store: %w", ErrNotFound)
	}
	old.Name, old.Data, old.LastUsedAt = c.Name, cloneBytes(c.Data), c.LastUsedAt
	m.creds[string(c.ID)] = old
	return nil
}

// DeleteCredential implements [CredentialStore].
func (m *MemoryStore) DeleteCredential(_ context.Context, userID string, id []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	old, ok := m.creds[string(id)]
	if !ok || old.UserID != userID {
		return fmt.Errorf("mfa: memory store: %w", ErrNotFound)
	}
	delete(m.creds, string(id))
	return nil
}

// DeleteTOTPUnlessLast implements [FactorStore].
func (m *MemoryStore) DeleteTOTPUnlessLast(_ context.Context, userID string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if rec, ok := m.totp[userID]; ok && rec.Secret != nil && m.credentialsOf(userID, nil) == 0 {
		return false, nil
	}
	delete(m.totp, userID)
	return true, nil
}

// DeleteCredentialUnlessLast implements [FactorStore].
func (m *MemoryStore) DeleteCredentialUnlessLast(_ context.Context, userID string, id []byte) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	old, ok := m.creds[string(id)]
	if !ok || old.UserID != userID {
		return false, fmt.Errorf("mfa: memory store: %w", ErrNotFound)
	}
	if m.totp[userID].Secret == nil && m.credentialsOf(userID, id) == 0 {
		return false, nil
	}
	delete(m.creds, string(id))
	return true, nil
}

// credentialsOf counts the user's credentials other than except. Called
// with m.mu held.
func (m *MemoryStore) credentialsOf(userID string, except []byte) int {
	n := 0
	for k, c := range m.creds {
		if c.UserID == userID && k != string(except) {
			n++
		}
	}
	return n
}
