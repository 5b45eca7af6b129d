package ratelimit_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/deployedworks/rampart/ratelimit"
)

// TestNilArguments: every constructor refuses a nil required argument,
// also a nil pointer inside an interface, with an error that names it and
// says what to pass, and returns no half-built value.
func TestNilArguments(t *testing.T) {
	lim, err := ratelimit.NewMemory(ratelimit.Limit{Events: 1, Per: time.Second}, ratelimit.MemoryConfig{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	var nilKey ratelimit.KeyFunc
	var nilBackend *brokenBackend
	for _, tc := range []struct {
		name string
		new  func() (any, error)
		want string
	}{
		{"NewMiddleware: lim", func() (any, error) {
			return ratelimit.NewMiddleware(nil, ratelimit.KeyByIP(), ratelimit.MiddlewareConfig{})
		}, "nil Limiter: build one"},
		{"NewMiddleware: nil pointer lim", func() (any, error) {
			var nilMemory *ratelimit.Memory
			return ratelimit.NewMiddleware(nilMemory, ratelimit.KeyByIP(), ratelimit.MiddlewareConfig{})
		}, "nil Limiter: build one"},
		{"NewMiddleware: key", func() (any, error) { return ratelimit.NewMiddleware(lim, nilKey, ratelimit.MiddlewareConfig{}) }, "nil KeyFunc: choose"},
		{"NewLoginThrottle: backend", func() (any, error) { return ratelimit.NewLoginThrottle(nil, ratelimit.LoginThrottleConfig{}) }, "nil Backend: use"},
		{"NewLoginThrottle: nil pointer backend", func() (any, error) { return ratelimit.NewLoginThrottle(nilBackend, ratelimit.LoginThrottleConfig{}) }, "nil Backend: use"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := tc.new()
			assert.ErrorContains(t, err, tc.want)
			assert.True(t, reflect.ValueOf(v).IsNil(), "no half-built value")
		})
	}
}
