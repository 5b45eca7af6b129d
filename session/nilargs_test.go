package session_test

import (
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/deployedworks/rampart/session"
	"github.com/deployedworks/rampart/session/sqlstore"
)

// TestNilArguments: every constructor refuses a nil required argument,
// also a nil pointer inside an interface, with an error that names it and
// says what to pass, and returns no half-built value.
func TestNilArguments(t *testing.T) {
	var nilStore *sqlstore.Store
	for _, tc := range []struct {
		name string
		new  func() (any, error)
		want string
	}{
		{"New: nil pointer Store", func() (any, error) { return session.New(session.Config{Store: nilStore}) }, "Store is a nil *sqlstore.Store: pass the store"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := tc.new()
			assert.ErrorContains(t, err, tc.want)
			assert.True(t, reflect.ValueOf(v).IsNil(), "no half-built value")
		})
	}
}
