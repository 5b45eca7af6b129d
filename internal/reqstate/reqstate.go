// Package reqstate holds the values Rampart's middleware keep for one
// request in one context node, so that a chain of them (client address,
// audit, headers, session) derives one request copy instead of one per
// layer. Nothing of it is exported from the library: each package keeps
// its own context key and its own accessor (clientip.FromContext,
// audit.RequestID, headers.Nonce, identity.FromContext, the session's
// state), and finds its value here as it would in any context node.
//
// # How a layer stores a value
//
// A layer reserves a place for its key in the request's context with
// [Reserve]. That succeeds only when the request's context is a [State]
// itself, with no other context node below it, and the state holds no
// value under that key yet and is not sealed; the layer then fills its
// value and publishes it with [Place.Set], and passes the request on
// unchanged. Otherwise it derives a new State below the request's context
// with [New] (or [With]) and passes on a request copy carrying it, where
// the layers after it can store theirs.
//
// # Why that keeps the semantics of context values
//
//   - A value set explicitly below the State (identity.NewContext by a
//     handler or a test, clientip.WithInfo, any non-Rampart middleware's
//     own node) is found first by Context.Value, which walks from the
//     innermost node outward, as it would be over a chain of
//     context.WithValue nodes. A layer never stores into a State with
//     another node below it, so it can never shadow such a value.
//   - A second layer of the same kind (two audit handlers, a per-route
//     headers policy inside the global one) finds its key taken and derives
//     a new State: the inner value shadows the outer one, as before.
//   - A value is published once and never changed: each place is written
//     before it is marked ready (an atomic bit), and Value reads only ready
//     places, so a goroutine holding the context while a later layer
//     publishes sees either nothing under that key (its parent's value, if
//     any) or the complete value, never a torn one; the race detector
//     agrees. The pointers published are to values that do not change
//     after they are published (or change under their owner's own
//     synchronisation, as the session's state does).
//   - The layer that created a State seals it when its handler returns
//     ([Seal]): no value is added after the request, so a context kept by
//     a goroutine that outlives the request is frozen from then on.
//   - Each request gets its own State: concurrent requests share nothing.
//
// The one difference from a chain of copies: a context taken from the
// request between two Rampart layers (by non-Rampart middleware that
// neither derives a context nor copies the request) is the State the inner
// layers fill, so reading it later shows what those layers found for the
// same request, such as the signed-in user, where it used to show nothing.
package reqstate

import (
	"context"
	"sync/atomic"
)

// size is how many values one State holds. The README's chain stores six
// (client, request facts, audit Logger, nonce, session state, principal);
// a layer that finds no room derives a new State.
const size = 8

// sealed is the value of State.claimed once no more places may be claimed.
const sealed = size

// place is one key and its value.
type place struct {
	key, val any
}

// State is a context node holding the values of several layers for one
// request. The zero State is not usable: it is created by [New] or [With].
type State struct {
	context.Context
	claimed atomic.Uint32 // places handed out by Reserve; sealed: no more
	ready   atomic.Uint32 // bit i: places[i] is written and may be read
	places  [size]place
}

// holder is implemented by *State and by the nodes that embed one.
type holder interface{ state() *State }

func (s *State) state() *State { return s }

// Value returns the value published under key, or the parent's value for
// key when none is.
func (s *State) Value(key any) any {
	ready := s.ready.Load()
	for i := 0; ready != 0; i, ready = i+1, ready>>1 {
		if ready&1 != 0 && s.places[i].key == key {
			return s.places[i].val
		}
	}
	return s.Context.Value(key)
}

// String names the node without its values, which may be secrets.
func (s *State) String() string {
	if p, ok := s.Context.(interface{ String() string }); ok {
		return p.String() + ".WithRampartState"
	}
	return "context.WithRampartState"
}

// has reports whether a value is published under key in s itself.
func (s *State) has(key any) bool {
	ready := s.ready.Load()
	for i := 0; ready != 0; i, ready = i+1, ready>>1 {
		if ready&1 != 0 && s.places[i].key == key {
			return true
		}
	}
	return false
}

// Place is a place reserved in a State for one value: see [Reserve].
type Place struct {
	s *State
	i uint32
}

// Reserve claims a place under key in the State that ctx is, and reports
// whether it did. It does not when ctx is not a State (nil, any other
// context, or a node below one), when the State already has a value
// under key, or when it is full or sealed: the caller then derives a
// context of its own ([New], [With]). Fill the value, then publish it with
// [Place.Set] before anything else runs with ctx.
func Reserve(ctx context.Context, key any) (Place, bool) {
	h, ok := ctx.(holder)
	if !ok {
		return Place{}, false
	}
	s := h.state()
	if s.has(key) {
		return Place{}, false
	}
	for {
		n := s.claimed.Load()
		if n >= size {
			return Place{}, false
		}
		if s.claimed.CompareAndSwap(n, n+1) {
			s.places[n].key = key
			return Place{s: s, i: n}, true
		}
	}
}

// Set publishes val in its place. Call it once; val, and what it points
// to, must not change afterwards (or only under the owner's own
// synchronisation).
func (p Place) Set(val any) {
	p.s.places[p.i].val = val
	p.s.ready.Or(1 << p.i)
}

// node is a State with a value of the creating layer in the same
// allocation.
type node[T any] struct {
	State
	own T
}

// New returns a new State below parent holding a pointer to a new T under
// key, and that T, in one allocation. Fill the T before the context is
// passed on; the State takes further values with [Reserve]. The caller
// seals it ([Seal]) when its handler returns.
func New[T any](parent context.Context, key any) (context.Context, *T) {
	n := &node[T]{}
	n.Context = parent
	n.places[0] = place{key: key, val: &n.own}
	n.claimed.Store(1)
	n.ready.Store(1)
	return n, &n.own
}

// With returns ctx with val under key: ctx itself when it is a State that
// takes the value ([Reserve]), else a new State below ctx, which the
// caller puts on the request and seals ([Seal]) when its handler returns.
func With(ctx context.Context, key, val any) context.Context {
	if p, ok := Reserve(ctx, key); ok {
		p.Set(val)
		return ctx
	}
	s := &State{Context: ctx}
	s.places[0] = place{key: key, val: val}
	s.claimed.Store(1)
	s.ready.Store(1)
	return s
}

// Seal ends the additions to the State that ctx is, if it is one: the
// layer that created it calls Seal when its handler returns, so that
// nothing is added to a context that outlives the request. Values
// published stay readable.
func Seal(ctx context.Context) {
	if h, ok := ctx.(holder); ok {
		h.state().claimed.Store(sealed)
	}
}

// PrincipalKey is package identity's context key. identity.NewContext
// stores an identity.Principal under it; package session's Handler
// publishes a pointer to one in the request state. identity.FromContext
// reads both.
type PrincipalKey struct{}
