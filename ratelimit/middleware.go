package ratelimit

import (
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"time"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/internal/nilarg"
)

// MiddlewareConfig tunes a [Middleware]. The zero value is ready to use.
type MiddlewareConfig struct {
	// OnDeny writes the response to a request refused because its key is
	// over the limit. err is a [*LimitedError] (errors.As gives the wait;
	// errors.Is(err, [ErrLimited]) holds); respond 429. The Retry-After,
	// RateLimit and RateLimit-Policy headers are already set. Default:
	// [DenyText]; [DenyJSON] and [DenyHTML] fit here too.
	OnDeny func(w http.ResponseWriter, r *http.Request, err error)

	// OnError writes the response to a request the middleware could not
	// decide on, which it refuses (fails closed): the KeyFunc failed (with
	// [KeyByIP], no client address in the context: an error wrapping
	// clientip.ErrNoClient), the limiter's backend is down and it fails
	// closed (wrapping [ErrUnavailable]), or it is closed ([ErrClosed]).
	// Respond 503, and never write err's text to the client. Default:
	// [DenyText], which answers 503 Service Unavailable; [DenyJSON] and
	// [DenyHTML] fit here too.
	OnError func(w http.ResponseWriter, r *http.Request, err error)

	// Exempt reports whether a request skips the limit entirely: no key,
	// no token, no headers. Default: nil, nothing is exempt. Exempt on
	// facts the client cannot forge, such as the address in
	// clientip.FromContext or an authenticated role, never on a header.
	Exempt func(r *http.Request) bool

	// Policy names the limit in the RateLimit and RateLimit-Policy
	// headers. Default: "default". It must be printable ASCII without
	// quotes or backslashes.
	Policy string

	// HideHeaders stops the middleware from sending RateLimit and
	// RateLimit-Policy, for limits whose size should not be advertised
	// (a refused request still gets Retry-After). Default: false, the
	// headers are sent on every response, as the IETF draft suggests.
	HideHeaders bool

	// Audit receives one [audit.CategorySuspicious] event with action
	// [ActionExceeded] for refused requests, and one
	// [audit.CategoryError] event with action [ActionError] when a
	// KeyFunc fails or the limiter is closed (backend outages are recorded
	// by the backend). The Logger paces them ([audit.Event.Pace]): unless
	// the application sets its own pace, at most 10 of each action at once
	// and one a second after that, across the application's middleware;
	// the next one written carries the number held back in
	// Meta["suppressed"]. Default: nil, the [audit.Logger] whose Handler
	// serves the request.
	Audit *audit.Logger
}

// Middleware limits requests per key with a [Limiter]. It is safe for
// concurrent use; build one per limit and share it.
type Middleware struct {
	lim     Limiter
	key     KeyFunc
	onDeny  func(http.ResponseWriter, *http.Request, error) // nil: DenyText, inlined
	onError func(http.ResponseWriter, *http.Request, error) // nil: DenyText, inlined
	exempt  func(*http.Request) bool
	hide    bool
	name    string // the policy name as a structured-field string, quoted
	audit   *audit.Logger

	// The RateLimit-Policy value for the limiter's own limit, when known.
	limit     Limit
	policyHdr string
}

// Header field names, in canonical form.
const (
	hdrRateLimit       = "Ratelimit"
	hdrRateLimitPolicy = "Ratelimit-Policy"
	hdrRetryAfter      = "Retry-After"
)

// PerIP returns middleware allowing each client address l: the common
// limit on every route, counted per address ([KeyByIP]: IPv6 by /64) in a
// per-process [Memory] limiter with its default bound and no goroutine. It
// is NewMiddleware(NewMemory(l, MemoryConfig{SweepInterval: -1}),
// KeyByIP(), cfg). Apps on several instances share the count instead: pass
// a limiter from ratelimit/redisstore to [NewMiddleware]. It returns an
// error if l or cfg is invalid.
func PerIP(l Limit, cfg MiddlewareConfig) (*Middleware, error) {
	lim, err := NewMemory(l, MemoryConfig{SweepInterval: -1})
	if err != nil {
		return nil, err
	}
	return NewMiddleware(lim, KeyByIP(), cfg)
}

// NewMiddleware returns middleware limiting requests with lim under the key
// that key returns. The key choice is required: [KeyByIP] for anonymous
// traffic, [KeyByUser] once users are signed in, [KeyByRoute] for a budget
// per route, or any KeyFunc. It returns an error if lim or key is nil or
// cfg is invalid.
func NewMiddleware(lim Limiter, key KeyFunc, cfg MiddlewareConfig) (*Middleware, error) {
	if nilarg.Is(lim) {
		return nil, errors.New("ratelimit: NewMiddleware with a nil Limiter: build one with NewMemory or redisstore.New")
	}
	if key == nil {
		return nil, errors.New("ratelimit: NewMiddleware with a nil KeyFunc: choose the key explicitly, for example KeyByIP()")
	}
	name := cfg.Policy
	if name == "" {
		name = "default"
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return nil, fmt.Errorf("ratelimit: MiddlewareConfig.Policy %q: use printable ASCII without quotes or backslashes", name)
		}
	}
	m := &Middleware{
		lim: lim, key: key, onDeny: cfg.OnDeny, onError: cfg.OnError, exempt: cfg.Exempt, hide: cfg.HideHeaders,
		name: `"` + name + `"`, audit: cfg.Audit,
	}
	if l, ok := lim.(interface{ Limit() Limit }); ok {
		m.limit = l.Limit()
		m.policyHdr = m.policy(m.limit)
	}
	return m, nil
}

// Check decides whether r may proceed, and counts it if so. It returns a
// [*LimitedError] (wrapping [ErrLimited]) when r's key is over its limit,
// another non-nil error, wrapping the cause, when the middleware fails
// closed (see MiddlewareConfig.OnError), and nil otherwise, including
// when the limiter's backend is down and it fails open. Exempt requests
// get a zero Decision and nil. Check writes nothing; [Middleware.Handler]
// is Check plus the response.
func (m *Middleware) Check(r *http.Request) (Decision, error) {
	if m.exempt != nil && m.exempt(r) {
		return Decision{Allowed: true}, nil
	}
	d, err, limited := m.decide(r)
	if limited {
		err = &LimitedError{RetryAfter: d.RetryAfter}
	}
	return d, err
}

// decide runs the limit. limited reports a refusal by the limit, for which
// err is nil: the caller builds the [LimitedError] only when someone will
// see it, so that the default refusal allocates nothing.
func (m *Middleware) decide(r *http.Request) (d Decision, err error, limited bool) {
	key, err := m.key(r)
	if err != nil {
		return Decision{}, fmt.Errorf("ratelimit: key: %w", err), false
	}
	d, err = m.lim.Allow(r.Context(), key)
	switch {
	case err != nil && d.Allowed:
		return d, nil, false // fails open; the backend has recorded the outage
	case err != nil:
		return d, fmt.Errorf("ratelimit: allow: %w", err), false
	}
	return d, nil, !d.Allowed
}

// Handler is the middleware: it lets r through to next, or refuses it
// through OnDeny (over the limit) or OnError (fails closed). It sets the
// RateLimit and RateLimit-Policy headers
// (draft-ietf-httpapi-ratelimit-headers) on every response unless
// HideHeaders, and Retry-After (RFC 9110, Section 10.2.3) on refusals.
func (m *Middleware) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if m.exempt != nil && m.exempt(r) {
			next.ServeHTTP(w, r)
			return
		}
		d, err, limited := m.decide(r)
		headers := !m.hide && d.Limit.Events > 0
		hook := m.onError
		if limited {
			hook = m.onDeny
		}
		refused := limited || err != nil

		// One allocation holds every header value set here. Each header
		// gets a full slice of its own (len = cap = 1), so that an append
		// elsewhere copies rather than overwrites a neighbour.
		n := 0
		if headers {
			n += 2
		}
		if limited {
			n++
		}
		if refused && hook == nil {
			n += 2
		}
		if n == 0 && !refused {
			next.ServeHTTP(w, r)
			return
		}
		vals := make([]string, n)
		h := w.Header()
		i := 0
		if headers {
			vals[0] = m.rateLimit(d)
			vals[1] = m.policyHdr
			if d.Limit != m.limit {
				vals[1] = m.policy(d.Limit)
			}
			h[hdrRateLimit] = vals[0:1:1]
			h[hdrRateLimitPolicy] = vals[1:2:2]
			i = 2
		}
		if !refused {
			next.ServeHTTP(w, r)
			return
		}
		if limited {
			vals[i] = seconds(d.RetryAfter)
			h[hdrRetryAfter] = vals[i : i+1 : i+1]
			i++
		}
		m.record(r, d, err, limited)
		if hook != nil {
			if limited {
				err = &LimitedError{RetryAfter: d.RetryAfter}
			}
			hook(w, r, err)
			return
		}
		// DenyText, without its allocations.
		vals[i], vals[i+1] = "text/plain; charset=utf-8", "nosniff"
		h["Content-Type"] = vals[i : i+1 : i+1]
		h["X-Content-Type-Options"] = vals[i+1 : i+2 : i+2]
		delete(h, "Content-Length")
		code, body := http.StatusTooManyRequests, bodyTooMany
		if !limited {
			code, body = http.StatusServiceUnavailable, bodyUnavailable
		}
		w.WriteHeader(code)
		_, _ = w.Write(body)
	})
}

// The bodies DenyText writes (Write never modifies its argument).
var (
	bodyTooMany     = []byte("Too Many Requests\n")
	bodyUnavailable = []byte("Service Unavailable\n")
)

// rateLimit formats the RateLimit field: "default";r=42;t=1.
func (m *Middleware) rateLimit(d Decision) string {
	var buf [96]byte
	b := append(buf[:0], m.name...)
	b = append(b, ";r="...)
	b = strconv.AppendInt(b, int64(max(d.Remaining, 0)), 10)
	b = append(b, ";t="...)
	b = strconv.AppendInt(b, ceilSeconds(d.ResetAfter), 10)
	return string(b)
}

// policy formats the RateLimit-Policy field: "default";q=100;w=60, with
// the window in whole seconds (at least 1) and the quota scaled to it.
func (m *Middleware) policy(l Limit) string {
	w := ceilSeconds(l.Per)
	if w < 1 {
		w = 1
	}
	q := int64(l.Events)
	if l.Per != time.Duration(w)*time.Second {
		q = int64(float64(l.Events) * float64(w) * float64(time.Second) / float64(l.Per))
	}
	return m.name + ";q=" + strconv.FormatInt(q, 10) + ";w=" + strconv.FormatInt(w, 10)
}

// ceilSeconds rounds d up to whole seconds.
func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}

// seconds formats a Retry-After value: whole seconds, at least 1.
func seconds(d time.Duration) string {
	return strconv.FormatInt(max(ceilSeconds(d), 1), 10)
}

// record writes the audit event for a refusal, if any.
func (m *Middleware) record(r *http.Request, d Decision, err error, limited bool) {
	if !limited && errors.Is(err, ErrUnavailable) {
		return // the backend records its outages
	}
	lg := m.audit
	if lg == nil {
		if lg = audit.FromContext(r.Context()); lg == nil {
			// Nowhere to record it: skip building the event (refusals come
			// in floods) but let audit warn that it was dropped.
			lg.Log(r.Context(), audit.Event{Category: audit.CategorySuspicious, Action: ActionExceeded})
			return
		}
	}
	e := audit.Event{
		Category: audit.CategorySuspicious,
		Action:   ActionExceeded,
		Outcome:  audit.OutcomeDenied,
		Reason:   "rate limit exceeded",
		// One budget per policy: a flood on a cheap route's limit must not
		// hide the refusals of another.
		Pace: audit.Pace{Every: time.Second, Burst: 10, Scope: m.name},
		Meta: map[string]string{
			"policy":      m.name[1 : len(m.name)-1],
			"limit":       d.Limit.String(),
			"retry_after": d.RetryAfter.String(),
		},
	}
	if r.Pattern != "" {
		e.Target = audit.Target{Kind: "route", ID: r.Pattern}
	}
	if !limited {
		e.Category, e.Action, e.Reason = audit.CategoryError, ActionError, err.Error()
		delete(e.Meta, "limit")
		delete(e.Meta, "retry_after")
	}
	lg.Log(r.Context(), e)
}

// status is the HTTP status for a refusal: 429 for [ErrLimited], 503 for a
// failure.
func status(err error) int {
	if errors.Is(err, ErrLimited) {
		return http.StatusTooManyRequests
	}
	return http.StatusServiceUnavailable
}

// retryAfter is the wait a refusal carries, in whole seconds, at least 1.
func retryAfter(err error) int64 {
	var le *LimitedError
	if errors.As(err, &le) {
		return max(ceilSeconds(le.RetryAfter), 1)
	}
	return 1
}

// DenyText is the default OnDeny and OnError hook: status 429 for a
// [*LimitedError] (503 for any other error) with its status text as a
// plain-text body.
func DenyText(w http.ResponseWriter, _ *http.Request, err error) {
	code := status(err)
	http.Error(w, http.StatusText(code), code)
}

// DenyJSON is an OnDeny and OnError hook for APIs: an RFC 9457 problem
// document with status 429 (503 for an error other than a
// [*LimitedError]) and, for 429, a "retry_after" member in seconds.
func DenyJSON(w http.ResponseWriter, _ *http.Request, err error) {
	code := status(err)
	p := struct {
		Type       string `json:"type"`
		Title      string `json:"title"`
		Status     int    `json:"status"`
		Detail     string `json:"detail"`
		RetryAfter int64  `json:"retry_after,omitempty"`
	}{Type: "about:blank", Title: http.StatusText(code), Status: code}
	if code == http.StatusTooManyRequests {
		p.RetryAfter = retryAfter(err)
		p.Detail = "Too many requests. Retry after " + strconv.FormatInt(p.RetryAfter, 10) + " seconds."
	} else {
		p.Detail = "The service cannot take this request right now. Try again shortly."
	}
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(p)
}

var denyHTML = template.Must(template.New("deny").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>{{.Title}}</title></head>
<body><h1>{{.Title}}</h1><p>{{.Detail}}</p></body></html>
`))

// DenyHTML is an OnDeny and OnError hook for pages people see: a small
// HTML page with status 429 saying when to try again (503 for an error
// other than a [*LimitedError]).
func DenyHTML(w http.ResponseWriter, _ *http.Request, err error) {
	code := status(err)
	data := struct{ Title, Detail string }{Title: http.StatusText(code)}
	if code == http.StatusTooManyRequests {
		data.Detail = "You have sent too many requests. Please wait " +
			strconv.FormatInt(retryAfter(err), 10) + " seconds and try again."
	} else {
		data.Detail = "The service cannot take this request right now. Please try again shortly."
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = denyHTML.Execute(w, data)
}
