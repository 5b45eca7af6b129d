package auth_test

import (
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/deployedworks/rampart/auth"
)

// TestNilArguments: every constructor refuses a nil required argument,
// also a nil pointer inside an interface, with an error that names it and
// says what to pass, and returns no half-built value.
func TestNilArguments(t *testing.T) {
	var nilUsers *memStore
	var nilSessions *fakeSessions
	users, sessions := newMemStore(), &fakeSessions{}
	for _, tc := range []struct {
		name string
		new  func() (any, error)
		want string
	}{
		{"NewAuthenticator: users", func() (any, error) { return auth.NewAuthenticator(nil, sessions, auth.AuthenticatorConfig{}) }, "UserStore is nil: pass"},
		{"NewAuthenticator: nil pointer users", func() (any, error) { return auth.NewAuthenticator(nilUsers, sessions, auth.AuthenticatorConfig{}) }, "UserStore is nil: pass"},
		{"NewAuthenticator: sessions", func() (any, error) { return auth.NewAuthenticator(users, nil, auth.AuthenticatorConfig{}) }, "Sessions is nil: pass"},
		{"NewAuthenticator: nil pointer sessions", func() (any, error) { return auth.NewAuthenticator(users, nilSessions, auth.AuthenticatorConfig{}) }, "Sessions is nil: pass"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := tc.new()
			assert.ErrorContains(t, err, tc.want)
			assert.True(t, reflect.ValueOf(v).IsNil(), "no half-built value")
		})
	}
}
