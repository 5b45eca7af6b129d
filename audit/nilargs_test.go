package audit_test

import (
	"bytes"
	"io"
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/deployedworks/rampart/audit"
)

// TestNilArguments: every constructor refuses a nil required argument,
// also a nil pointer inside an interface, with an error that names it and
// says what to pass, and returns no half-built value.
func TestNilArguments(t *testing.T) {
	var nilSink *audit.MemorySink
	var nilWriter *bytes.Buffer
	for _, tc := range []struct {
		name string
		new  func() (any, error)
		want string
	}{
		{"New: sink", func() (any, error) { return audit.New(nil, audit.Config{}) }, "nil Sink: pass"},
		{"New: nil pointer sink", func() (any, error) { return audit.New(nilSink, audit.Config{}) }, "nil Sink: pass"},
		{"NewAsyncSink: sink", func() (any, error) { return audit.NewAsyncSink(nil, audit.AsyncConfig{}) }, "nil Sink: pass"},
		{"NewAsyncSink: nil pointer sink", func() (any, error) { return audit.NewAsyncSink(nilSink, audit.AsyncConfig{}) }, "nil Sink: pass"},
		{"NewAsyncSink: Fallback", func() (any, error) {
			return audit.NewAsyncSink(&audit.MemorySink{}, audit.AsyncConfig{Overflow: audit.OverflowFallback})
		}, "AsyncConfig.Fallback: pass"},
		{"NewAsyncSink: nil pointer Fallback", func() (any, error) {
			return audit.NewAsyncSink(&audit.MemorySink{}, audit.AsyncConfig{Overflow: audit.OverflowFallback, Fallback: nilSink})
		}, "AsyncConfig.Fallback: pass"},
		{"NewFanoutSink: no sinks", func() (any, error) { return audit.NewFanoutSink() }, "no sinks: pass"},
		{"NewFanoutSink: a sink", func() (any, error) { return audit.NewFanoutSink(&audit.MemorySink{}, nil) }, "sinks[1] is a nil Sink: pass"},
		{"NewFanoutSink: nil pointer sink", func() (any, error) { return audit.NewFanoutSink(nilSink) }, "sinks[0] is a nil Sink: pass"},
		{"NewJSONLSink: writer", func() (any, error) { return audit.NewJSONLSink(nil) }, "nil io.Writer: pass"},
		{"NewJSONLSink: nil pointer writer", func() (any, error) { return audit.NewJSONLSink(io.Writer(nilWriter)) }, "nil io.Writer: pass"},
		{"NewSlogSink: logger", func() (any, error) { return audit.NewSlogSink(nil, audit.SlogConfig{}) }, "nil *slog.Logger: pass"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := tc.new()
			assert.ErrorContains(t, err, tc.want)
			assert.True(t, reflect.ValueOf(v).IsNil(), "no half-built value")
		})
	}
}
