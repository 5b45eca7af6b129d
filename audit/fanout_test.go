package audit

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestFanoutSink(t *testing.T) {
	a, c := &MemorySink{}, &MemorySink{}
	boom := errors.New("boom")
	f := must(NewFanoutSink(a, failSink{boom}, c))
	err := f.Write(context.Background(), testEvent(1, "c"))
	assert.ErrorIs(t, err, boom)
	assert.ErrorContains(t, err, "fanout sink 1")
	assert.Len(t, a.Events(), 1, "a failing sink does not stop the others")
	assert.Len(t, c.Events(), 1)

	assert.NoError(t, must(NewFanoutSink(a, c)).Write(context.Background(), testEvent(2, "c")))
}

func TestNewFanoutSinkValidates(t *testing.T) {
	_, err := NewFanoutSink()
	assert.ErrorContains(t, err, "no sinks")
	_, err = NewFanoutSink(&MemorySink{}, nil)
	assert.ErrorContains(t, err, "nil Sink")
}
