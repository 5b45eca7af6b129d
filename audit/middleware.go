package audit

import (
	"bufio"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"

	"github.com/deployedworks/rampart/clientip"
	"github.com/deployedworks/rampart/internal/reqstate"
)

// RequestIDHeader is the header [Logger.Handler] reads from trusted
// proxies and sets on every response.
const RequestIDHeader = "X-Request-ID"

// requestIDKey is RequestIDHeader in canonical form, for direct map access.
const requestIDKey = "X-Request-Id"

// TrustedRequestID returns the request ID sent by a trusted proxy in r, and
// whether there is one that [Logger.Handler] would accept: exactly one
// X-Request-ID header, from a peer that clientip's Handler found to be a
// trusted proxy (clientip.FromContext), 1–128 characters from
// [A-Za-z0-9._:=+/-]. Anything else, and any request that no clientip
// Handler saw, is ignored and a fresh ID generated (fail closed: a client
// must not pick the ID its requests are logged under).
func TrustedRequestID(r *http.Request) (string, bool) {
	info, _ := clientip.FromContext(r.Context())
	return trustedRequestID(r, info)
}

func trustedRequestID(r *http.Request, info clientip.Info) (string, bool) {
	if !info.TrustedPeer {
		return "", false
	}
	vs := r.Header[requestIDKey]
	if len(vs) != 1 || !validRequestID(vs[0]) {
		return "", false
	}
	return vs[0], true
}

func validRequestID(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '.' || c == '_' || c == ':' || c == '=' || c == '+' || c == '/' || c == '-') {
			return false
		}
	}
	return true
}

// Handler is middleware that, for each request:
//
//   - assigns a request ID: the inbound X-Request-ID when
//     [TrustedRequestID] accepts it, else 128 random bits
//     (crypto/rand.Text), and sets it on the response;
//   - stores the request facts (ID, client IP from clientip.FromContext,
//     User-Agent) in the context, where [Logger.Log] and [RequestID] find
//     them; without a clientip Handler before it, events record no
//     address;
//   - stores l in the context, so that every component serving the
//     request records its events with l without being given it (a nil
//     *Logger's Log records to the Logger in the context);
//   - recovers a panic in next: it logs a CategoryError event
//     ([ActionPanic]) with the panic value and stack, and answers a plain
//     500 that shows the request ID and nothing internal. If the response
//     had already started, it cannot be replaced: the connection is aborted
//     instead (by re-panicking with [http.ErrAbortHandler]), so that a
//     truncated body never looks complete. A panic with
//     http.ErrAbortHandler itself is passed on untouched, as net/http
//     expects.
//
// A nil Logger records nothing but still assigns request IDs and recovers
// panics. Install it early: outside the router, inside clientip's Handler
// (r.Use(events.Handler) with a router that takes middleware).
func (l *Logger) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info, _ := clientip.FromContext(r.Context())
		id, ok := trustedRequestID(r, info)
		if !ok {
			id = rand.Text()
		}
		w.Header()[requestIDKey] = []string{id}
		// The request facts go into the request state the Rampart layers
		// share (see clientip's Handler), or a new one.
		ctx := r.Context()
		var rq *Request
		if p, ok := reqstate.Reserve(ctx, requestKey); ok {
			rq = &Request{ID: id, ClientIP: info.Addr, UserAgent: truncate(r.UserAgent(), MaxUserAgent)}
			p.Set(rq)
		} else {
			ctx, rq = reqstate.New[Request](ctx, requestKey)
			*rq = Request{ID: id, ClientIP: info.Addr, UserAgent: truncate(r.UserAgent(), MaxUserAgent)}
			defer reqstate.Seal(ctx)
		}
		if l != nil {
			if c := reqstate.With(ctx, loggerKey, l); c != ctx {
				ctx = c
				defer reqstate.Seal(ctx)
			}
		}
		if ctx != r.Context() {
			r = r.WithContext(ctx)
		}
		rw := &responseWriter{ResponseWriter: w}
		defer l.recoverPanic(rw, r)
		next.ServeHTTP(rw, r)
	})
}

func (l *Logger) recoverPanic(rw *responseWriter, r *http.Request) {
	v := recover()
	if v == nil {
		return
	}
	if err, ok := v.(error); ok && errors.Is(err, http.ErrAbortHandler) {
		panic(v)
	}
	meta := map[string]string{
		"panic":  safeSprint(v),
		"stack":  string(debug.Stack()),
		"method": r.Method,
		"path":   r.URL.Path,
	}
	if r.Pattern != "" {
		meta["route"] = r.Pattern
	}
	l.Log(r.Context(), Event{
		Category: CategoryError, Action: ActionPanic, Outcome: OutcomeFailure,
		Reason: "handler panicked; the client got a 500", Meta: meta,
	})
	if rw.wroteHeader || rw.hijacked {
		panic(http.ErrAbortHandler)
	}
	h := rw.Header()
	for _, k := range []string{"Content-Length", "Content-Encoding", "Content-Disposition",
		"Content-Range", "Set-Cookie", "Location", "ETag", "Last-Modified", "Trailer"} {
		h.Del(k)
	}
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	rw.WriteHeader(http.StatusInternalServerError)
	_, _ = io.WriteString(rw, "Internal Server Error\nRequest ID: "+RequestID(r.Context())+"\n")
}

// safeSprint formats a panic value, surviving a String method that panics.
func safeSprint(v any) (s string) {
	defer func() {
		if recover() != nil {
			s = fmt.Sprintf("panic value of type %T (its String method panicked)", v)
		}
	}()
	return fmt.Sprint(v)
}

// AdminActions is middleware for administrative routes: it records every
// state-changing request (any method but GET, HEAD, OPTIONS and TRACE) as a
// CategoryAdmin event ([ActionAdminRequest]) once the handler has answered,
// with the actor (the principal in the context, see [identity.FromContext]), method, route
// pattern (Go 1.22 ServeMux patterns, read from [http.Request.Pattern]),
// path and status. Outcome is success below 400, denied for 401 and 403,
// failure otherwise (and for a panic, which it records as status 500 and
// passes on).
//
// Wrap it inside the session middleware, so the actor is known, and inside
// [Logger.Handler], so the request ID is.
func (l *Logger) AdminActions(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
			next.ServeHTTP(w, r)
			return
		}
		rw := &responseWriter{ResponseWriter: w}
		panicked := true
		defer func() {
			status := rw.status
			switch {
			case panicked && !rw.wroteHeader:
				status = http.StatusInternalServerError
			case !rw.wroteHeader:
				status = http.StatusOK
			}
			outcome := OutcomeSuccess
			switch {
			case status == http.StatusUnauthorized || status == http.StatusForbidden:
				outcome = OutcomeDenied
			case status >= 400 || panicked:
				outcome = OutcomeFailure
			}
			meta := map[string]string{
				"method": r.Method,
				"path":   r.URL.Path,
				"status": strconv.Itoa(status),
			}
			if r.Pattern != "" {
				meta["route"] = r.Pattern
			}
			if panicked {
				meta["panicked"] = "true"
			}
			l.Log(r.Context(), Event{
				Category: CategoryAdmin, Action: ActionAdminRequest, Outcome: outcome, Meta: meta,
			})
		}()
		next.ServeHTTP(rw, r)
		panicked = false
	})
}

// responseWriter records the status and whether the response has started.
// It implements http.Flusher, http.Hijacker and io.ReaderFrom by delegating
// through http.ResponseController, and Unwrap for everything else.
type responseWriter struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
	hijacked    bool
}

// WriteHeader records the first final status.
func (w *responseWriter) WriteHeader(code int) {
	if !w.wroteHeader && (code < 100 || code > 199 || code == http.StatusSwitchingProtocols) {
		w.status, w.wroteHeader = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write records an implicit 200.
func (w *responseWriter) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.status, w.wroteHeader = http.StatusOK, true
	}
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush sends buffered data to the client, starting the response.
func (w *responseWriter) Flush() {
	if !w.wroteHeader {
		w.status, w.wroteHeader = http.StatusOK, true
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Hijack takes over the connection when the underlying writer allows it.
func (w *responseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, b, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil {
		w.hijacked = true
	}
	return c, b, err
}

// ReadFrom keeps the underlying writer's fast path (sendfile) for io.Copy.
func (w *responseWriter) ReadFrom(src io.Reader) (int64, error) {
	if !w.wroteHeader {
		w.status, w.wroteHeader = http.StatusOK, true
	}
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		return rf.ReadFrom(src)
	}
	return io.Copy(writerOnly{w.ResponseWriter}, src)
}

// writerOnly hides ReadFrom so io.Copy does not recurse.
type writerOnly struct{ io.Writer }
