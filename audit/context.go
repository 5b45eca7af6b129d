package audit

import (
	"context"
	"net/netip"
	"sync/atomic"
)

type ctxKey struct{ name string }

var (
	actorKey   = &ctxKey{"actor"}
	requestKey = &ctxKey{"request"}
)

// WithActor returns a copy of ctx naming a as the actor. The application's
// authentication layer calls it once it knows who the user is, so that
// every event logged with the request's context names them (see
// Config.Actor). Install it before [Middleware.AdminActions], which reads it.
//
// Inside [Middleware.Handler], WithActor also records a as the actor of the
// whole request, so that events logged by Handler itself (a recovered
// panic) name the user too.
func WithActor(ctx context.Context, a Actor) context.Context {
	if st := stateOf(ctx); st != nil {
		st.actor.Store(&a)
	}
	return context.WithValue(ctx, actorKey, a)
}

// ActorFromContext returns the actor stored by [WithActor] in ctx, or
// failing that the actor of the request ctx belongs to.
func ActorFromContext(ctx context.Context) (Actor, bool) {
	if a, ok := ctx.Value(actorKey).(Actor); ok {
		return a, true
	}
	if st := stateOf(ctx); st != nil {
		if a := st.actor.Load(); a != nil {
			return *a, true
		}
	}
	return Actor{}, false
}

// Request is what [Logger.Log] copies into events about the HTTP request
// being served. [Middleware.Handler] stores it.
type Request struct {
	// ID is the request ID: generated, or accepted from a trusted proxy.
	ID string
	// ClientIP is the client's address as resolved by clientip.
	ClientIP netip.Addr
	// UserAgent is the User-Agent header, truncated to [MaxUserAgent].
	UserAgent string
}

// requestCtx carries a Request, and the request's mutable state, in the
// same allocation as the context node.
type requestCtx struct {
	context.Context
	r  Request
	st requestState
}

// requestState is what is learnt about a request while it is served.
type requestState struct {
	actor atomic.Pointer[Actor]
}

var stateKey = &ctxKey{"state"}

// Value serves the request facts and state without another context node.
func (c *requestCtx) Value(key any) any {
	switch key {
	case requestKey:
		return &c.r
	case stateKey:
		return &c.st
	}
	return c.Context.Value(key)
}

func stateOf(ctx context.Context) *requestState {
	st, _ := ctx.Value(stateKey).(*requestState)
	return st
}

// WithRequest returns a copy of ctx carrying r. [Middleware.Handler] calls
// it; call it yourself for work done outside an HTTP handler that should
// carry a request's facts (a job started by the request), and in tests.
func WithRequest(ctx context.Context, r Request) context.Context {
	return &requestCtx{Context: ctx, r: r}
}

// RequestFromContext returns the request facts stored by
// [Middleware.Handler] or [WithRequest].
func RequestFromContext(ctx context.Context) (Request, bool) {
	r, ok := ctx.Value(requestKey).(*Request)
	if !ok {
		return Request{}, false
	}
	return *r, true
}

// RequestID returns the ID of the request being served, or "" outside
// [Middleware.Handler]. Show it to users on error pages so that support can
// find the matching audit events.
func RequestID(ctx context.Context) string {
	if r, ok := ctx.Value(requestKey).(*Request); ok {
		return r.ID
	}
	return ""
}
