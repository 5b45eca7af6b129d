package headers

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/clientip"
)

// ErrCrossOrigin means a state-changing request came from another origin
// (or from a browser too old to say where it came from) and was rejected.
var ErrCrossOrigin = errors.New("headers: cross-origin request rejected")

// errOriginMismatch is the reason for rejecting a request without
// Sec-Fetch-Site whose Origin is not the site's.
var errOriginMismatch = errors.New("cross-origin request without Sec-Fetch-Site: Origin does not match the site's origin (scheme, host and port)")

// errNoScheme is the reason for rejecting a request without Sec-Fetch-Site
// whose Origin cannot be compared because the site's scheme is unknown.
var errNoScheme = fmt.Errorf("cross-origin request without Sec-Fetch-Site: the request's scheme is unknown, so Origin cannot be compared with the site's origin: %w", clientip.ErrNoClient)

// CrossOriginConfig tunes the middleware built by [NewCrossOrigin]. The
// zero value is ready to use: no trusted origins, no bypass.
type CrossOriginConfig struct {
	// PublicOrigin is the site's own origin ("https://shop.example",
	// scheme, host and optional port), as browsers see it. Requests
	// without Sec-Fetch-Site (browsers before 2023) pass only when their
	// Origin equals it, scheme and port included, or is trusted. Default:
	// "", which compares with the request's own origin: the scheme the
	// client used as clientip.FromContext reports it (X-Forwarded-Proto
	// from a trusted proxy, else whether the connection is TLS) and the
	// Host header; when the context has no client (clientip's handler did
	// not run) the scheme is unknown and such requests are rejected (fail
	// closed). Set it when a proxy in front rewrites Host or does not
	// report the scheme.
	PublicOrigin string

	// TrustedOrigins are origins ("https://partner.example", scheme, host
	// and optional port, nothing else) whose cross-origin requests are
	// allowed. Default: none.
	TrustedOrigins []string

	// InsecureBypassPatterns are http.ServeMux patterns ("POST /webhook",
	// "/api/") whose requests skip the check. Each one lets any site make
	// a user's browser send that request with the user's cookies, so use
	// it only for endpoints that do not rely on cookies (webhooks
	// authenticated by a signature, the CSP report endpoint). Default:
	// none.
	InsecureBypassPatterns []string

	// Audit receives one [audit.CategorySecurityAlert] event with action
	// [ActionCrossOriginRejected] per rejection. Any web page can make its
	// visitors send such requests, so the Logger paces them
	// ([audit.Event.Pace]): unless the application sets its own pace, at
	// most 20 at once and 2 a second after that; the next one written
	// carries the number held back in Meta["suppressed"]. Default: nil,
	// the [audit.Logger] whose Handler serves the request.
	Audit *audit.Logger

	// OnDeny answers rejected requests; err wraps [ErrCrossOrigin]. Never
	// write err's text to the client. Default: 403 Forbidden with a fixed
	// text.
	OnDeny func(w http.ResponseWriter, r *http.Request, err error)
}

// CrossOrigin is middleware against cross-site request forgery, built on
// [http.CrossOriginProtection]. It is safe for concurrent use; its
// configuration is fixed at [NewCrossOrigin].
type CrossOrigin struct {
	public siteOrigin // zero: the request's own origin
	cop    *http.CrossOriginProtection
	aud    *audit.Logger
	deny   func(http.ResponseWriter, *http.Request, error)
}

// NewCrossOrigin returns the cross-origin protection. It returns an error
// for a malformed origin or bypass pattern.
func NewCrossOrigin(cfg CrossOriginConfig) (*CrossOrigin, error) {
	c := &CrossOrigin{cop: http.NewCrossOriginProtection(), aud: cfg.Audit, deny: cfg.OnDeny}
	if c.deny == nil {
		c.deny = func(w http.ResponseWriter, _ *http.Request, _ error) { plainError(w, http.StatusForbidden) }
	}
	if cfg.PublicOrigin != "" {
		o, ok := parseOrigin(cfg.PublicOrigin)
		if !ok || !validOrigin(cfg.PublicOrigin) {
			return nil, fmt.Errorf("headers: CrossOriginConfig.PublicOrigin: %q is not an origin: want scheme://host[:port], such as \"https://shop.example\"", cfg.PublicOrigin)
		}
		c.public = o
	}
	for _, o := range cfg.TrustedOrigins {
		if !validOrigin(o) {
			return nil, fmt.Errorf("headers: CrossOriginConfig.TrustedOrigins: %q is not an origin: want scheme://host[:port], such as \"https://partner.example\"", o)
		}
		if err := c.cop.AddTrustedOrigin(o); err != nil {
			return nil, fmt.Errorf("headers: CrossOriginConfig.TrustedOrigins: %w", err)
		}
	}
	for _, p := range cfg.InsecureBypassPatterns {
		if err := addBypass(c.cop, p); err != nil {
			return nil, fmt.Errorf("headers: CrossOriginConfig.InsecureBypassPatterns: %q: %w", p, err)
		}
	}
	return c, nil
}

// addBypass turns AddInsecureBypassPattern's panic on a bad pattern into
// an error.
func addBypass(cop *http.CrossOriginProtection, pattern string) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("invalid pattern: %v", v)
		}
	}()
	cop.AddInsecureBypassPattern(pattern)
	return nil
}

// Check reports whether r may proceed: nil, or an error wrapping
// [ErrCrossOrigin] and the reason. GET, HEAD and OPTIONS always pass, so
// they must never change state. Other requests pass when Sec-Fetch-Site
// says "same-origin" or "none"; when a browser too old to send
// Sec-Fetch-Site sends an Origin equal to the site's origin (see
// [CrossOriginConfig].PublicOrigin), scheme, host and port all compared,
// so that http://shop.example cannot post to https://shop.example; or
// when the origin is trusted or the route bypassed. It fails open only
// where [http.CrossOriginProtection] does: a request with neither
// Sec-Fetch-Site nor Origin is taken to be same-origin or not from a
// browser.
func (c *CrossOrigin) Check(r *http.Request) error {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return nil
	}
	if origin := r.Header.Get("Origin"); origin != "" && r.Header.Get("Sec-Fetch-Site") == "" {
		// http.CrossOriginProtection compares only Origin's host with
		// Host here, ignoring the scheme. Compare whole origins, and ask it
		// only whether a cross-origin request is exempt.
		if c.sameOrigin(r, origin) {
			return nil
		}
		cr := r.Clone(r.Context())
		cr.Header.Set("Sec-Fetch-Site", "cross-site")
		if c.cop.Check(cr) != nil {
			reason := errOriginMismatch
			if _, ok := clientip.FromContext(r.Context()); !ok && c.public == (siteOrigin{}) {
				reason = errNoScheme
			}
			return fmt.Errorf("%w: %w", ErrCrossOrigin, reason)
		}
		return nil
	}
	if err := c.cop.Check(r); err != nil {
		return fmt.Errorf("%w: %w", ErrCrossOrigin, err)
	}
	return nil
}

// sameOrigin reports whether origin, an Origin header, is the site's own
// origin for r.
func (c *CrossOrigin) sameOrigin(r *http.Request, origin string) bool {
	o, ok := parseOrigin(origin)
	if !ok {
		return false
	}
	if c.public != (siteOrigin{}) {
		return o == c.public
	}
	info, ok := clientip.FromContext(r.Context())
	if !ok {
		return false // the scheme is unknown: fail closed
	}
	self, ok := originOf(info.Scheme, r.Host)
	return ok && o == self
}

// siteOrigin is an origin normalised for comparison: lower-case host and
// an explicit port.
type siteOrigin struct{ scheme, host, port string }

// parseOrigin parses a serialised origin (RFC 6454 §6.2): an http or https
// scheme and a host, with nothing after them. "null" is no origin.
func parseOrigin(s string) (siteOrigin, bool) {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.ForceQuery ||
		u.Fragment != "" || u.User != nil || u.Opaque != "" {
		return siteOrigin{}, false
	}
	return originOf(u.Scheme, u.Host)
}

// originOf normalises scheme and a host[:port] (a Host header or an
// origin's host), filling in the scheme's default port.
func originOf(scheme, hostport string) (siteOrigin, bool) {
	if scheme != "http" && scheme != "https" {
		return siteOrigin{}, false
	}
	host, port, err := net.SplitHostPort(hostport)
	if err != nil { // no port
		host, port = strings.TrimSuffix(strings.TrimPrefix(hostport, "["), "]"), ""
	}
	if host == "" || strings.ContainsAny(host, "[]/@ ") {
		return siteOrigin{}, false
	}
	if port == "" {
		port = "80"
		if scheme == "https" {
			port = "443"
		}
	}
	return siteOrigin{scheme: scheme, host: strings.ToLower(host), port: port}, true
}

// Handler is middleware that calls the OnDeny hook for requests that
// [CrossOrigin.Check] rejects, after recording them in audit, and calls
// next for the others.
func (c *CrossOrigin) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := c.Check(r)
		if err == nil {
			next.ServeHTTP(w, r)
			return
		}
		c.record(r, err)
		c.deny(w, r, err)
	})
}

func (c *CrossOrigin) record(r *http.Request, err error) {
	e := audit.Event{
		Category: audit.CategorySecurityAlert,
		Action:   ActionCrossOriginRejected,
		// One budget per route pattern (from the program, not the request),
		// so a flood at one route cannot hide rejections at another.
		Pace:      audit.Pace{Every: 500 * time.Millisecond, Burst: 20, Scope: r.Pattern},
		Outcome:   audit.OutcomeDenied,
		Target:    audit.Target{Kind: "route", ID: clean(r.Method+" "+r.URL.Path, maxURLLen)},
		UserAgent: clean(r.Header.Get("User-Agent"), maxURLLen),
		Reason:    err.Error(),
		Meta: map[string]string{
			"sec-fetch-site": clean(r.Header.Get("Sec-Fetch-Site"), maxTokenLen),
			"origin":         cleanURL(r.Header.Get("Origin")),
			"host":           clean(r.Host, maxURLLen),
		},
	}
	c.aud.Log(r.Context(), e)
}
