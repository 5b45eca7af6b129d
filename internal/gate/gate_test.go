package gate

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestGate(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	g := New(time.Second, 3)
	for i := range 3 {
		ok, n := g.Allow(now)
		assert.True(t, ok, "event %d", i)
		assert.Zero(t, n)
	}
	for range 5 {
		ok, _ := g.Allow(now)
		assert.False(t, ok, "flood is held back")
	}
	ok, n := g.Allow(now.Add(time.Second))
	assert.True(t, ok)
	assert.Equal(t, 5, n, "the held-back count is reported with the next event")
	ok, _ = g.Allow(now.Add(time.Second))
	assert.False(t, ok)
}
