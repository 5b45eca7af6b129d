package reqstate

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type key struct{ name string }

var (
	keyA = &key{"a"}
	keyB = &key{"b"}
)

type parentKey struct{}

func TestReserveOnlyIntoTheInnermostState(t *testing.T) {
	bg := context.Background()
	_, ok := Reserve(bg, keyA)
	assert.False(t, ok, "not a State")

	ctx, a := New[string](bg, keyA)
	*a = "a"
	p, ok := Reserve(ctx, keyB)
	require.True(t, ok, "an empty place in the State the request carries")
	p.Set("b")
	assert.Equal(t, "a", *ctx.Value(keyA).(*string))
	assert.Equal(t, "b", ctx.Value(keyB))

	_, ok = Reserve(ctx, keyA)
	assert.False(t, ok, "a key is published once: a second layer of the same kind derives its own State")

	below := context.WithValue(ctx, parentKey{}, 1)
	_, ok = Reserve(below, &key{"c"})
	assert.False(t, ok, "another node below the State: storing into the State would shadow nothing but could be shadowed")
}

func TestDeeperValueWins(t *testing.T) {
	ctx := With(context.WithValue(context.Background(), keyA, "outer"), keyB, "state")
	assert.Equal(t, "outer", ctx.Value(keyA), "a key the State does not hold is the parent's")
	p, ok := Reserve(ctx, keyA)
	require.True(t, ok)
	p.Set("state")
	assert.Equal(t, "state", ctx.Value(keyA), "the State's value shadows its parent's")

	deeper := context.WithValue(ctx, keyA, "deeper")
	assert.Equal(t, "deeper", deeper.Value(keyA), "a value set below the State wins over it")
	assert.Equal(t, "state", deeper.Value(keyB))

	// With derives a new State when ctx cannot take the value; the new
	// one shadows the old.
	ctx2 := With(deeper, keyB, "inner")
	assert.NotSame(t, deeper, ctx2)
	assert.Equal(t, "inner", ctx2.Value(keyB))
	assert.Equal(t, "deeper", ctx2.Value(keyA))
	ctx3 := With(ctx2, keyB, "innermost")
	assert.Equal(t, "innermost", ctx3.Value(keyB), "a key taken: a new State")
	assert.Equal(t, "inner", ctx2.Value(keyB), "the outer State is unchanged")
}

func TestReservedNotVisibleUntilSet(t *testing.T) {
	ctx := With(context.WithValue(context.Background(), keyA, "parent"), keyB, "b")
	p, ok := Reserve(ctx, keyA)
	require.True(t, ok)
	assert.Equal(t, "parent", ctx.Value(keyA), "a reserved place is not read until Set")
	p.Set("mine")
	assert.Equal(t, "mine", ctx.Value(keyA))
}

func TestFullAndSealed(t *testing.T) {
	ctx, _ := New[int](context.Background(), keyA)
	keys := []*key{keyA}
	for i := 1; i < size; i++ {
		keys = append(keys, &key{fmt.Sprint(i)})
		p, ok := Reserve(ctx, keys[i])
		require.True(t, ok, i)
		p.Set(i)
	}
	_, ok := Reserve(ctx, keyB)
	assert.False(t, ok, "full")
	ctx2 := With(ctx, keyB, "b")
	assert.NotSame(t, ctx, ctx2, "a full State: With derives a new one")
	assert.Equal(t, "b", ctx2.Value(keyB))
	assert.Equal(t, 3, ctx2.Value(keys[3]), "the full State's values, through the new one")

	Seal(ctx2)
	_, ok = Reserve(ctx2, &key{"late"})
	assert.False(t, ok, "sealed: nothing is added after the request")
	assert.Equal(t, "b", ctx2.Value(keyB), "values stay readable")
	Seal(context.Background()) // not a State: nothing to do
}

func TestStringHidesValues(t *testing.T) {
	ctx := With(context.Background(), keyA, "secret-token")
	assert.Equal(t, "context.Background.WithRampartState", fmt.Sprint(ctx))
	assert.NotContains(t, fmt.Sprint(ctx), "secret")
}

// TestPublishWhileRead: a goroutine holding the State while a later layer
// publishes sees either the parent's value or the complete new one; the
// race detector checks the publication.
func TestPublishWhileRead(t *testing.T) {
	for range 50 {
		ctx := With(context.WithValue(context.Background(), keyA, "parent"), keyB, "b")
		type val struct{ x, y string }
		start := make(chan struct{})
		var wg sync.WaitGroup
		bad := make(chan any, 4)
		for range 4 {
			wg.Go(func() {
				<-start
				for range 100 {
					switch v := ctx.Value(keyA).(type) {
					case string:
						if v != "parent" {
							bad <- v
						}
					case *val:
						if v.x != "x" || v.y != "y" {
							bad <- *v
						}
					default:
						bad <- v
					}
				}
			})
		}
		close(start)
		p, ok := Reserve(ctx, keyA)
		require.True(t, ok)
		v := &val{x: "x"}
		v.y = "y"
		p.Set(v)
		wg.Wait()
		close(bad)
		for v := range bad {
			t.Errorf("read %v", v)
		}
	}
}

// TestConcurrentReserve: places are claimed once each, whatever the
// interleaving; values never mix.
func TestConcurrentReserve(t *testing.T) {
	ctx, _ := New[int](context.Background(), keyA)
	keys := make([]*key, 2*size)
	for i := range keys {
		keys[i] = &key{fmt.Sprint(i)}
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	won := 0
	for i := range keys {
		wg.Go(func() {
			if p, ok := Reserve(ctx, keys[i]); ok {
				p.Set(i)
				mu.Lock()
				won++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	assert.Equal(t, size-1, won, "every free place taken once")
	for i, k := range keys {
		if v := ctx.Value(k); v != nil {
			assert.Equal(t, i, v)
		}
	}
}

func BenchmarkValue(b *testing.B) {
	ctx, _ := New[int](context.Background(), keyA)
	for i := 1; i < 6; i++ {
		p, _ := Reserve(ctx, &key{fmt.Sprint(i)})
		p.Set(i)
	}
	b.Run("first", func(b *testing.B) {
		for b.Loop() {
			_ = ctx.Value(keyA)
		}
	})
	b.Run("parent", func(b *testing.B) {
		for b.Loop() {
			_ = ctx.Value(parentKey{})
		}
	})
}

func BenchmarkNewReserve(b *testing.B) {
	b.ReportAllocs()
	v := 1
	for b.Loop() {
		ctx, own := New[int](context.Background(), keyA)
		*own = 1
		p, _ := Reserve(ctx, keyB)
		p.Set(&v)
		Seal(ctx)
	}
}
