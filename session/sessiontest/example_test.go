package sessiontest_test

import (
	"testing"

	"github.com/deployedworks/rampart/session"
	"github.com/deployedworks/rampart/session/sessiontest"
)

// A store package runs the suite from one of its tests, with a function
// that returns an empty store; here, the store this module ships for a
// single instance.
func Example() {
	testStore := func(t *testing.T) {
		sessiontest.TestStore(t, func(t *testing.T) session.Store {
			return session.NewMemoryStore()
		})
	}
	_ = testStore // func TestStore(t *testing.T) { ... } in the store's _test.go file
}
