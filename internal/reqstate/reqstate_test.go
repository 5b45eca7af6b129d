package reqstate

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// otherKey stands for package session's key (one per Manager).
type otherKey struct{ name string }

var (
	keyA = Client
	keyB = Nonce
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
	_, ok = Reserve(below, Logger)
	assert.False(t, ok, "another node below the State: storing into the State would be shadowed by it")
}

func TestOtherPlace(t *testing.T) {
	m1, m2 := otherKey{"m1"}, otherKey{"m2"}
	ctx := With(context.Background(), m1, "one")
	assert.Equal(t, "one", ctx.Value(m1))
	assert.Nil(t, ctx.Value(m2))
	_, ok := Reserve(ctx, m2)
	assert.False(t, ok, "one other key per State")
	ctx2 := With(ctx, m2, "two")
	assert.NotSame(t, ctx, ctx2)
	assert.Equal(t, "two", ctx2.Value(m2))
	assert.Equal(t, "one", ctx2.Value(m1), "the outer State's, through the new one")
	p, ok := Reserve(ctx2, Principal)
	require.True(t, ok, "the places of the Keys are free")
	p.Set("p")
	assert.Equal(t, "p", ctx2.Value(Principal))
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
	_, ok = Reserve(ctx, keyA)
	assert.False(t, ok, "reserved")
	p.Set("mine")
	assert.Equal(t, "mine", ctx.Value(keyA))
}

func TestSealed(t *testing.T) {
	ctx, _ := New[int](context.Background(), keyA)
	Seal(ctx)
	_, ok := Reserve(ctx, keyB)
	assert.False(t, ok, "sealed: nothing is added after the request")
	_, ok = Reserve(ctx, otherKey{})
	assert.False(t, ok)
	assert.NotNil(t, ctx.Value(keyA), "values stay readable")
	ctx2 := With(ctx, keyB, "b")
	assert.Equal(t, "b", ctx2.Value(keyB), "a new State below a sealed one")
	assert.Nil(t, ctx.Value(keyB))
	Seal(context.Background()) // not a State: nothing to do
}

func TestStringHidesValues(t *testing.T) {
	ctx := With(context.Background(), keyA, "secret-token")
	assert.Equal(t, "context.Background.WithRampartState", fmt.Sprint(ctx))
	assert.Equal(t, "rampart client", fmt.Sprint(Client))
}

// TestPublishWhileRead: a goroutine holding the State while a later layer
// publishes sees either the parent's value or the complete new one; the
// race detector checks the publication.
func TestPublishWhileRead(t *testing.T) {
	for _, key := range []any{keyA, otherKey{"m"}} {
		for range 50 {
			ctx := With(context.WithValue(context.Background(), key, "parent"), keyB, "b")
			type val struct{ x, y string }
			start := make(chan struct{})
			var wg sync.WaitGroup
			bad := make(chan any, 4)
			for range 4 {
				wg.Go(func() {
					<-start
					for range 100 {
						switch v := ctx.Value(key).(type) {
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
			p, ok := Reserve(ctx, key)
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
}

// TestConcurrentReserve: a place is claimed once, whatever the
// interleaving.
func TestConcurrentReserve(t *testing.T) {
	for range 20 {
		ctx, _ := New[int](context.Background(), keyA)
		var wg sync.WaitGroup
		var mu sync.Mutex
		won := map[any]int{}
		for i := range 16 {
			key := []any{keyB, Logger, otherKey{"x"}, otherKey{"y"}}[i%4]
			wg.Go(func() {
				if p, ok := Reserve(ctx, key); ok {
					p.Set(i)
					mu.Lock()
					won[placeOf(key)]++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		assert.Equal(t, map[any]int{placeOf(keyB): 1, placeOf(Logger): 1, uint8(other): 1}, won)
	}
}

func BenchmarkValue(b *testing.B) {
	ctx, _ := New[int](context.Background(), keyA)
	for _, k := range []any{Request, Logger, Nonce, Principal, otherKey{"m"}} {
		p, _ := Reserve(ctx, k)
		p.Set(1)
	}
	for _, bc := range []struct {
		name string
		key  any
	}{{"key", Principal}, {"other", otherKey{"m"}}, {"parent", parentKey{}}} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				_ = ctx.Value(bc.key)
			}
		})
	}
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
