// Package reqstate holds the values Rampart's middleware keep for one
// request in one context node, so that a chain of them (client address,
// audit, headers, session) derives one request copy instead of one per
// layer. Nothing of it is exported from the library: each package keeps
// its own accessor (clientip.FromContext, audit.RequestID, headers.Nonce,
// identity.FromContext, the session's state) and finds its value here as
// it would in any context node; the context keys of those values are this
// package's keys ([Key]), so that a State answers a lookup without a search.
//
// # How a layer stores a value
//
// A layer reserves a place for its key in the request's context with
// [Reserve]. That succeeds only when the request's context is a [State]
// itself, with no other context node below it, and the state holds no
// value under that key yet (for a key that is not a [Key], no value
// under any other key: there is one such place) and is not sealed; the
// layer then fills its value and publishes it with [Place.Set], and
// passes the request on unchanged. Otherwise it derives a new State below
// the request's context with [New] (or [With]) and passes on a request
// copy carrying it, where the layers after it can store theirs.
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

// Key is the context key of one of the values every request may carry
// (see the variables below); the packages that own the values use it as
// their context key, so that a State finds its value without a search.
// Any other key takes the State's one other place.
type Key struct {
	i    uint8
	name string
}

func (k *Key) String() string { return "rampart " + k.name }

// The keys of the values a State holds in places of their own.
var (
	// Client is package clientip's key: a *clientip.ctxValue.
	Client = &Key{0, "client"}
	// Request is package audit's key of the request facts: an
	// *audit.Request.
	Request = &Key{1, "request facts"}
	// Logger is package audit's key of the Logger serving the request: an
	// *audit.Logger.
	Logger = &Key{2, "audit logger"}
	// Nonce is package headers' key of the CSP nonce: a *headers.reqState
	// (or a *string, from headers.WithNonce).
	Nonce = &Key{3, "nonce"}
	// Principal is package identity's key: identity.NewContext stores an
	// identity.Principal under it, package session's Handler publishes an
	// *identity.Principal in the request state; identity.FromContext
	// reads both.
	Principal = &Key{4, "principal"}
)

// kinds is how many Keys there are; other is the bit of the other place.
const (
	kinds  = 5
	other  = kinds
	places = kinds + 1
)

// bits of State.bits: place i is claimed (1<<i), then ready (1<<(8+i));
// sealed stops new claims.
const (
	readyShift = 8
	sealed     = 1 << 31
)

// State is a context node holding the values of several layers for one
// request: one place per [Key], and one for any other key (package
// session's, per Manager). The zero State is not usable: it is created by
// [New] or [With].
type State struct {
	context.Context
	bits     atomic.Uint32
	vals     [kinds]any
	key, val any // the other place
}

// holder is implemented by *State and by the nodes that embed one.
type holder interface{ state() *State }

func (s *State) state() *State { return s }

// Value returns the value published under key, or the parent's value for
// key when none is.
func (s *State) Value(key any) any {
	if k, ok := key.(*Key); ok {
		if s.bits.Load()&(1<<(readyShift+k.i)) != 0 {
			return s.vals[k.i]
		}
	} else if s.bits.Load()&(1<<(readyShift+other)) != 0 && s.key == key {
		return s.val
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

// Place is a place reserved in a State for one value: see [Reserve].
type Place struct {
	s *State
	i uint8
}

// placeOf returns the place key takes in a State.
func placeOf(key any) uint8 {
	if k, ok := key.(*Key); ok {
		return k.i
	}
	return other
}

// Reserve claims the place of key in the State that ctx is, and reports
// whether it did. It does not when ctx is not a State (nil, any other
// context, or a node below one), when the place is taken (a value under
// the same key, or under another key for the other place), or when the
// State is sealed: the caller then derives a context of its own ([New],
// [With]). Fill the value, then publish it with [Place.Set] before
// anything else runs with ctx.
func Reserve(ctx context.Context, key any) (Place, bool) {
	h, ok := ctx.(holder)
	if !ok {
		return Place{}, false
	}
	s := h.state()
	i := placeOf(key)
	for {
		b := s.bits.Load()
		if b&(sealed|1<<i) != 0 {
			return Place{}, false
		}
		if s.bits.CompareAndSwap(b, b|1<<i) {
			if i == other {
				s.key = key
			}
			return Place{s: s, i: i}, true
		}
	}
}

// Set publishes val in its place. Call it once; val, and what it points
// to, must not change afterwards (or only under the owner's own
// synchronisation).
func (p Place) Set(val any) {
	if p.i == other {
		p.s.val = val
	} else {
		p.s.vals[p.i] = val
	}
	p.s.bits.Or(1 << (readyShift + p.i))
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
	n.State.put(key, &n.own)
	return n, &n.own
}

// put publishes val under key in a State no one else sees yet.
func (s *State) put(key, val any) {
	i := placeOf(key)
	if i == other {
		s.key, s.val = key, val
	} else {
		s.vals[i] = val
	}
	s.bits.Store(1<<i | 1<<(readyShift+i))
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
	s.put(key, val)
	return s
}

// Seal ends the additions to the State that ctx is, if it is one: the
// layer that created it calls Seal when its handler returns, so that
// nothing is added to a context that outlives the request. Values
// published stay readable.
func Seal(ctx context.Context) {
	if h, ok := ctx.(holder); ok {
		h.state().bits.Or(sealed)
	}
}
