package chain_test

import (
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/deployedworks/rampart/audit/chain"
)

// TestNilArguments: every constructor refuses a nil required argument,
// also a nil pointer inside an interface, with an error that names it and
// says what to pass, and returns no half-built value.
func TestNilArguments(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		new  func() (any, error)
		want string
	}{
		{"New: key", func() (any, error) { return chain.New(dir, nil, chain.Config{}) }, "key is 0 bytes, want at least 32 random bytes: generate one"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := tc.new()
			assert.ErrorContains(t, err, tc.want)
			assert.True(t, reflect.ValueOf(v).IsNil(), "no half-built value")
		})
	}
}
