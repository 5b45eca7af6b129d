package mfa_test

import (
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/deployedworks/rampart/mfa"
	"github.com/deployedworks/rampart/mfa/memstore"
	"github.com/deployedworks/rampart/secrets"
)

// TestNilArguments: every constructor refuses a nil required argument,
// also a nil pointer inside an interface, with an error that names it and
// says what to pass, and returns no half-built value.
func TestNilArguments(t *testing.T) {
	keys := newKeyring(t)
	store := newStore(t)
	totp, err := mfa.NewTOTP(mfa.TOTPConfig{Issuer: "Shop", Keyring: keys, Store: store, Sessions: &fakeSessions{}})
	assert.NoError(t, err)
	var nilStore *memstore.Store
	var nilKeys *secrets.Keyring
	var nilTOTP *mfa.TOTP
	for _, tc := range []struct {
		name string
		new  func() (any, error)
		want string
	}{
		{"NewTOTP: Keyring", func() (any, error) {
			return mfa.NewTOTP(mfa.TOTPConfig{Issuer: "Shop", Keyring: nilKeys, Store: store})
		}, "TOTPConfig.Keyring is required: build one"},
		{"NewTOTP: Store", func() (any, error) { return mfa.NewTOTP(mfa.TOTPConfig{Issuer: "Shop", Keyring: keys}) }, "TOTPConfig.Store is required"},
		{"NewTOTP: Sessions", func() (any, error) { return mfa.NewTOTP(mfa.TOTPConfig{Issuer: "Shop", Keyring: keys, Store: store}) }, "TOTPConfig.Sessions is required"},
		{"NewTOTP: nil pointer Sessions", func() (any, error) {
			var nilSessions *fakeSessions
			return mfa.NewTOTP(mfa.TOTPConfig{Issuer: "Shop", Keyring: keys, Store: store, Sessions: nilSessions})
		}, "TOTPConfig.Sessions is required"},
		{"NewTOTP: nil pointer Store", func() (any, error) {
			return mfa.NewTOTP(mfa.TOTPConfig{Issuer: "Shop", Keyring: keys, Store: nilStore})
		}, "TOTPConfig.Store is required"},
		{"NewRecovery: Store", func() (any, error) {
			return mfa.NewRecovery(mfa.RecoveryConfig{Key: secrets.Random(32)})
		}, "RecoveryConfig.Store is required"},
		{"NewRecovery: nil pointer Store", func() (any, error) {
			return mfa.NewRecovery(mfa.RecoveryConfig{Key: secrets.Random(32), Store: nilStore})
		}, "RecoveryConfig.Store is required"},
		{"NewPolicy: Factors", func() (any, error) { return mfa.NewPolicy(mfa.PolicyConfig{}) }, "PolicyConfig.Factors is required: pass"},
		{"NewPolicy: nil pointer factor", func() (any, error) {
			return mfa.NewPolicy(mfa.PolicyConfig{Factors: []mfa.EnrolmentChecker{totp, nilTOTP}})
		}, "PolicyConfig.Factors is required: pass"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := tc.new()
			assert.ErrorContains(t, err, tc.want)
			assert.True(t, reflect.ValueOf(v).IsNil(), "no half-built value")
		})
	}
}
