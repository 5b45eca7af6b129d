package detecttest_test

import (
	"testing"

	"github.com/deployedworks/rampart/audit/detect"
	"github.com/deployedworks/rampart/audit/detect/detecttest"
)

// A State implementation runs the suite from one of its tests, with a
// function that returns a State; here, the one this module ships for a
// single instance.
func Example() {
	testState := func(t *testing.T) {
		detecttest.TestState(t, func(t *testing.T) detect.State {
			return detect.NewMemory(0)
		})
	}
	_ = testState // func TestState(t *testing.T) { ... } in the implementation's _test.go file
}
