package detect_test

import (
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/audit/detect"
)

// TestNilArguments: every constructor refuses a nil required argument,
// also a nil pointer inside an interface, with an error that names it and
// says what to pass, and returns no half-built value.
func TestNilArguments(t *testing.T) {
	var nilSink *audit.MemorySink
	for _, tc := range []struct {
		name string
		new  func() (any, error)
		want string
	}{
		{"New: next", func() (any, error) { return detect.New(nil, detect.Config{}) }, "nil audit.Sink: pass"},
		{"New: nil pointer next", func() (any, error) { return detect.New(nilSink, detect.Config{}) }, "nil audit.Sink: pass"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := tc.new()
			assert.ErrorContains(t, err, tc.want)
			assert.True(t, reflect.ValueOf(v).IsNil(), "no half-built value")
		})
	}
}
