package audit

import (
	"context"
	"net/netip"

	"github.com/deployedworks/rampart/internal/reqstate"
)

// The context keys of the request facts (a *Request) and of the Logger
// serving the request (a *Logger): the request state's, so that the state
// the Rampart layers share finds them without a search.
var (
	requestKey = reqstate.Request
	loggerKey  = reqstate.Logger
)

// Request is what [Logger.Log] copies into events about the HTTP request
// being served. [Logger.Handler] stores it.
type Request struct {
	// ID is the request ID: generated, or accepted from a trusted proxy.
	ID string
	// ClientIP is the client's address, from clientip.FromContext; the zero
	// Addr when no clientip Handler ran.
	ClientIP netip.Addr
	// UserAgent is the User-Agent header, truncated to [MaxUserAgent].
	UserAgent string
}

// requestCtx carries a Request, and the Logger whose Handler serves the
// request, in the same allocation as the context node.
type requestCtx struct {
	context.Context
	r Request
	l *Logger // nil from WithRequest: the parent's Logger, if any, serves
}

// Value serves the request facts and the Logger without another context
// node.
func (c *requestCtx) Value(key any) any {
	switch {
	case key == requestKey:
		return &c.r
	case key == loggerKey && c.l != nil:
		return c.l
	}
	return c.Context.Value(key)
}

// FromContext returns the Logger whose [Logger.Handler] serves the request
// of ctx, or nil. A nil *Logger's Log finds it by itself; call FromContext
// to keep it for events written outside the request's context: work that
// outlives the request, or aggregates about many requests that must not
// take one request's facts.
func FromContext(ctx context.Context) *Logger {
	if ctx == nil {
		return nil
	}
	l, _ := ctx.Value(loggerKey).(*Logger)
	return l
}

// WithRequest returns a copy of ctx carrying r. [Logger.Handler] calls
// it; call it yourself for work done outside an HTTP handler that should
// carry a request's facts (a job started by the request), and in tests.
func WithRequest(ctx context.Context, r Request) context.Context {
	return &requestCtx{Context: ctx, r: r}
}

// RequestFromContext returns the request facts stored by
// [Logger.Handler] or [WithRequest].
func RequestFromContext(ctx context.Context) (Request, bool) {
	r, ok := ctx.Value(requestKey).(*Request)
	if !ok {
		return Request{}, false
	}
	return *r, true
}

// RequestID returns the ID of the request being served, or "" outside
// [Logger.Handler]. Show it to users on error pages so that support can
// find the matching audit events.
func RequestID(ctx context.Context) string {
	if r, ok := ctx.Value(requestKey).(*Request); ok {
		return r.ID
	}
	return ""
}
