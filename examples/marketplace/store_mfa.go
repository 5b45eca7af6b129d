package main

import (
	"context"

	"github.com/deployedworks/rampart/mfa"
	mfasql "github.com/deployedworks/rampart/mfa/sqlstore"
)

// mfaStore keeps second factors in the app's database through
// mfa/sqlstore. It implements mfa.TOTPStore, mfa.RecoveryStore,
// mfa.CredentialStore and mfa.FactorStore; it adds only the test hook
// that runs as a factor removal begins (store.onRemoveFactor).
type mfaStore struct {
	*mfasql.Store
	s *store
}

var (
	_ mfa.TOTPStore       = mfaStore{}
	_ mfa.RecoveryStore   = mfaStore{}
	_ mfa.CredentialStore = mfaStore{}
	_ mfa.FactorStore     = mfaStore{}
)

// mfaStore returns the second-factor store.
func (s *store) mfaStore() mfaStore { return mfaStore{Store: s.mfa, s: s} }

// DeleteTOTP implements mfa.TOTPStore.
func (m mfaStore) DeleteTOTP(ctx context.Context, userID string) error {
	m.s.removingFactor()
	return m.Store.DeleteTOTP(ctx, userID)
}

// DeleteCredential implements mfa.CredentialStore.
func (m mfaStore) DeleteCredential(ctx context.Context, userID string, id []byte) error {
	m.s.removingFactor()
	return m.Store.DeleteCredential(ctx, userID, id)
}

// DeleteTOTPUnlessLast implements mfa.FactorStore.
func (m mfaStore) DeleteTOTPUnlessLast(ctx context.Context, userID string) (bool, error) {
	m.s.removingFactor()
	return m.Store.DeleteTOTPUnlessLast(ctx, userID)
}

// DeleteCredentialUnlessLast implements mfa.FactorStore.
func (m mfaStore) DeleteCredentialUnlessLast(ctx context.Context, userID string, id []byte) (bool, error) {
	m.s.removingFactor()
	return m.Store.DeleteCredentialUnlessLast(ctx, userID, id)
}
