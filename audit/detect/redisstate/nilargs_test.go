package redisstate_test

import (
	"reflect"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"

	"github.com/deployedworks/rampart/audit/detect/redisstate"
)

// TestNilArguments: every constructor refuses a nil required argument,
// also a nil pointer inside an interface, with an error that names it and
// says what to pass, and returns no half-built value.
func TestNilArguments(t *testing.T) {
	var nilClient *redis.Client
	for _, tc := range []struct {
		name string
		new  func() (any, error)
		want string
	}{
		{"New: client", func() (any, error) { return redisstate.New(nil, redisstate.Config{}) }, "nil client: pass"},
		{"New: nil pointer client", func() (any, error) { return redisstate.New(nilClient, redisstate.Config{}) }, "nil client: pass"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := tc.new()
			assert.ErrorContains(t, err, tc.want)
			assert.True(t, reflect.ValueOf(v).IsNil(), "no half-built value")
		})
	}
}
