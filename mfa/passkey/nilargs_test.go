package passkey_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/deployedworks/rampart/mfa/memstore"
	"github.com/deployedworks/rampart/mfa/passkey"
)

// TestNilArguments: every constructor refuses a nil required argument,
// also a nil pointer inside an interface, with an error that names it and
// says what to pass, and returns no half-built value.
func TestNilArguments(t *testing.T) {
	st, fs := newStore(t), newFakeSessions(time.Now)
	var nilStore *memstore.Store
	var nilSessions *fakeSessions
	with := func(mutate func(*passkey.Config)) func() (any, error) {
		return func() (any, error) {
			cfg := passkey.Config{RPID: "example.com", RPDisplayName: "X", RPOrigins: []string{"https://example.com"},
				Credentials: st, Sessions: fs, Challenges: fs}
			mutate(&cfg)
			return passkey.New(cfg)
		}
	}
	for _, tc := range []struct {
		name string
		new  func() (any, error)
		want string
	}{
		{"Credentials", with(func(c *passkey.Config) { c.Credentials = nil }), "Config.Credentials is required: pass"},
		{"nil pointer Credentials", with(func(c *passkey.Config) { c.Credentials = nilStore }), "Config.Credentials is required: pass"},
		{"Sessions", with(func(c *passkey.Config) { c.Sessions = nil }), "Config.Sessions is required: pass"},
		{"nil pointer Sessions", with(func(c *passkey.Config) { c.Sessions = nilSessions }), "Config.Sessions is required: pass"},
		{"Challenges", with(func(c *passkey.Config) { c.Challenges = nil }), "Config.Challenges is required: pass"},
		{"nil pointer Challenges", with(func(c *passkey.Config) { c.Challenges = nilSessions }), "Config.Challenges is required: pass"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := tc.new()
			assert.ErrorContains(t, err, tc.want)
			assert.True(t, reflect.ValueOf(v).IsNil(), "no half-built value")
		})
	}
}
