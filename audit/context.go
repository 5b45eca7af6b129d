package audit

import (
	"context"
	"net/netip"
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
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey, a)
}

// ActorFromContext returns the actor stored by [WithActor].
func ActorFromContext(ctx context.Context) (Actor, bool) {
	a, ok := ctx.Value(actorKey).(Actor)
	return a, ok
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

// requestCtx carries a Request in the same allocation as the context node.
type requestCtx struct {
	context.Context
	r Request
}

func (c *requestCtx) Value(key any) any {
	if key == requestKey {
		return &c.r
	}
	return c.Context.Value(key)
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
