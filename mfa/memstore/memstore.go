// Package memstore keeps the second factors of package mfa in memory:
// TOTP records, recovery-code hashes and WebAuthn credentials. One [Store]
// implements [mfa.TOTPStore], [mfa.RecoveryStore], [mfa.CredentialStore]
// and [mfa.FactorStore]; pass it wherever mfa or mfa/passkey asks for one
// of them.
//
// It is bounded, safe for concurrent use and passes the conformance suite
// of package mfa/mfatest. It is meant for tests, examples and
// single-instance apps that can lose their MFA enrolments on restart:
// anything else needs a database-backed store such as mfa/sqlstore.
//
//	store, err := memstore.New(memstore.Config{})
//	totp, err := mfa.NewTOTP(mfa.TOTPConfig{Store: store, ...})
//	codes, err := mfa.NewRecovery(mfa.RecoveryConfig{Store: store, ...})
//	passkeys, err := passkey.New(passkey.Config{Credentials: store, ...})
package memstore

import (
	"bytes"
	"context"
	"crypto/subtle"
	"fmt"
	"slices"
	"sync"

	"github.com/deployedworks/rampart/mfa"
)

// Config bounds a [Store].
type Config struct {
	// MaxUsers is how many users may have TOTP records, and separately how
	// many may have recovery codes. Default: 10,000. Beyond it, writes for
	// new users return [mfa.ErrStoreFull].
	MaxUsers int
	// MaxCredentials is how many WebAuthn credentials the store holds in
	// all. Default: 10,000.
	MaxCredentials int
}

// Store keeps TOTP records, recovery-code hashes and WebAuthn credentials
// in memory. It implements [mfa.TOTPStore], [mfa.RecoveryStore],
// [mfa.CredentialStore] and [mfa.FactorStore], is safe for concurrent use,
// and is bounded by its [Config]. Its methods are those of the interfaces,
// documented there.
type Store struct {
	maxUsers, maxCreds int

	mu       sync.Mutex
	totp     map[string]mfa.TOTPRecord
	recovery map[string][][]byte
	creds    map[string]mfa.StoredCredential // by string(ID)
}

var (
	_ mfa.TOTPStore       = (*Store)(nil)
	_ mfa.RecoveryStore   = (*Store)(nil)
	_ mfa.CredentialStore = (*Store)(nil)
	_ mfa.FactorStore     = (*Store)(nil)
)

// New returns an empty store. It returns an error for negative limits.
func New(cfg Config) (*Store, error) {
	if cfg.MaxUsers < 0 || cfg.MaxCredentials < 0 {
		return nil, fmt.Errorf("memstore: Config: limits must not be negative (0 means the default)")
	}
	if cfg.MaxUsers == 0 {
		cfg.MaxUsers = 10_000
	}
	if cfg.MaxCredentials == 0 {
		cfg.MaxCredentials = 10_000
	}
	return &Store{
		maxUsers: cfg.MaxUsers,
		maxCreds: cfg.MaxCredentials,
		totp:     make(map[string]mfa.TOTPRecord),
		recovery: make(map[string][][]byte),
		creds:    make(map[string]mfa.StoredCredential),
	}, nil
}

func cloneBytes(b []byte) []byte {
	if b == nil {
		return nil
	}
	return bytes.Clone(b)
}

// LoadTOTP implements [mfa.TOTPStore].
func (m *Store) LoadTOTP(_ context.Context, userID string) (mfa.TOTPRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	rec, ok := m.totp[userID]
	if !ok {
		return mfa.TOTPRecord{}, fmt.Errorf("memstore: user has no TOTP record: %w", mfa.ErrNotEnrolled)
	}
	rec.Secret, rec.Pending = cloneBytes(rec.Secret), cloneBytes(rec.Pending)
	return rec, nil
}

// SaveTOTP implements [mfa.TOTPStore].
func (m *Store) SaveTOTP(_ context.Context, userID string, rec mfa.TOTPRecord) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	old, ok := m.totp[userID]
	if !ok && len(m.totp) >= m.maxUsers {
		return fmt.Errorf("memstore: %d TOTP records: %w", m.maxUsers, mfa.ErrStoreFull)
	}
	rec.LastStep = old.LastStep
	rec.Secret, rec.Pending = cloneBytes(rec.Secret), cloneBytes(rec.Pending)
	m.totp[userID] = rec
	return nil
}

// DeleteTOTP implements [mfa.TOTPStore].
func (m *Store) DeleteTOTP(_ context.Context, userID string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.totp, userID)
	return nil
}

// AcceptTOTPStep implements [mfa.TOTPStore].
func (m *Store) AcceptTOTPStep(_ context.Context, userID string, step int64) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	rec, ok := m.totp[userID]
	if !ok {
		return false, fmt.Errorf("memstore: user has no TOTP record: %w", mfa.ErrNotEnrolled)
	}
	if step <= rec.LastStep {
		return false, nil
	}
	rec.LastStep = step
	m.totp[userID] = rec
	return true, nil
}

// ReplaceRecoveryCodes implements [mfa.RecoveryStore].
func (m *Store) ReplaceRecoveryCodes(_ context.Context, userID string, hashes [][]byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(hashes) == 0 {
		delete(m.recovery, userID)
		return nil
	}
	if _, ok := m.recovery[userID]; !ok && len(m.recovery) >= m.maxUsers {
		return fmt.Errorf("memstore: %d recovery code sets: %w", m.maxUsers, mfa.ErrStoreFull)
	}
	set := make([][]byte, len(hashes))
	for i, h := range hashes {
		set[i] = bytes.Clone(h)
	}
	m.recovery[userID] = set
	return nil
}

// ConsumeRecoveryCode implements [mfa.RecoveryStore]. It compares hash with
// every stored hash in constant time.
func (m *Store) ConsumeRecoveryCode(_ context.Context, userID string, hash []byte) (bool, error) {
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

// CountRecoveryCodes implements [mfa.RecoveryStore].
func (m *Store) CountRecoveryCodes(_ context.Context, userID string) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.recovery[userID]), nil
}

func cloneCred(c mfa.StoredCredential) mfa.StoredCredential {
	c.ID, c.Data = cloneBytes(c.ID), cloneBytes(c.Data)
	return c
}

// CreateCredential implements [mfa.CredentialStore].
func (m *Store) CreateCredential(_ context.Context, c mfa.StoredCredential) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.creds[string(c.ID)]; ok {
		return fmt.Errorf("memstore: %w", mfa.ErrExists)
	}
	if len(m.creds) >= m.maxCreds {
		return fmt.Errorf("memstore: %d credentials: %w", m.maxCreds, mfa.ErrStoreFull)
	}
	m.creds[string(c.ID)] = cloneCred(c)
	return nil
}

// Credential implements [mfa.CredentialStore].
func (m *Store) Credential(_ context.Context, id []byte) (mfa.StoredCredential, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.creds[string(id)]
	if !ok {
		return mfa.StoredCredential{}, fmt.Errorf("memstore: %w", mfa.ErrNotFound)
	}
	return cloneCred(c), nil
}

// UserCredentials implements [mfa.CredentialStore].
func (m *Store) UserCredentials(_ context.Context, userID string) ([]mfa.StoredCredential, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []mfa.StoredCredential
	for _, c := range m.creds {
		if c.UserID == userID {
			out = append(out, cloneCred(c))
		}
	}
	slices.SortFunc(out, func(a, b mfa.StoredCredential) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return bytes.Compare(a.ID, b.ID)
	})
	return out, nil
}

// UpdateCredential implements [mfa.CredentialStore].
func (m *Store) UpdateCredential(_ context.Context, c mfa.StoredCredential) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	old, ok := m.creds[string(c.ID)]
	if !ok || old.UserID != c.UserID {
		return fmt.Errorf("memstore: %w", mfa.ErrNotFound)
	}
	old.Name, old.Data, old.LastUsedAt = c.Name, cloneBytes(c.Data), c.LastUsedAt
	m.creds[string(c.ID)] = old
	return nil
}

// DeleteCredential implements [mfa.CredentialStore].
func (m *Store) DeleteCredential(_ context.Context, userID string, id []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	old, ok := m.creds[string(id)]
	if !ok || old.UserID != userID {
		return fmt.Errorf("memstore: %w", mfa.ErrNotFound)
	}
	delete(m.creds, string(id))
	return nil
}

// DeleteTOTPUnlessLast implements [mfa.FactorStore].
func (m *Store) DeleteTOTPUnlessLast(_ context.Context, userID string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if rec, ok := m.totp[userID]; ok && rec.Secret != nil && m.credentialsOf(userID, nil) == 0 {
		return false, nil
	}
	delete(m.totp, userID)
	return true, nil
}

// DeleteCredentialUnlessLast implements [mfa.FactorStore].
func (m *Store) DeleteCredentialUnlessLast(_ context.Context, userID string, id []byte) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	old, ok := m.creds[string(id)]
	if !ok || old.UserID != userID {
		return false, fmt.Errorf("memstore: %w", mfa.ErrNotFound)
	}
	if m.totp[userID].Secret == nil && m.credentialsOf(userID, id) == 0 {
		return false, nil
	}
	delete(m.creds, string(id))
	return true, nil
}

// credentialsOf counts the user's credentials other than except. Called
// with m.mu held.
func (m *Store) credentialsOf(userID string, except []byte) int {
	n := 0
	for k, c := range m.creds {
		if c.UserID == userID && k != string(except) {
			n++
		}
	}
	return n
}
