package headers

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/deployedworks/rampart/clientip"
)

// Errors returned by [Redirect.Location].
var (
	// ErrHostNotAllowed means the request's Host is not on the allow-list,
	// so redirecting to it could send the client to a site of the
	// attacker's choosing.
	ErrHostNotAllowed = errors.New("headers: host not allowed")
	// ErrBadTarget means the request target cannot be redirected (not an
	// absolute path, or it contains control characters).
	ErrBadTarget = errors.New("headers: request target cannot be redirected")
)

// RedirectConfig tunes the middleware built by [NewRedirect]. The zero
// value is ready to use.
type RedirectConfig struct {
	// HTTPSPort is the port of the HTTPS site. Default: 443, which the
	// redirect leaves out of the URL.
	HTTPSPort int

	// ExemptPaths are exact request paths served over plain HTTP without a
	// redirect, such as "/healthz" for a load balancer's health check.
	// Default: none.
	ExemptPaths []string

	// OnDeny answers requests that cannot be redirected; err wraps
	// [ErrHostNotAllowed] or [ErrBadTarget]. Never write err's text to the
	// client. Default: 400 Bad Request with a fixed text.
	OnDeny func(w http.ResponseWriter, r *http.Request, err error)

	// OnError answers requests whose scheme is unknown because the
	// request context has no client (clientip's handler did not run); err
	// wraps clientip.ErrNoClient. Such requests are neither redirected
	// nor served: the middleware fails closed. Default: 500 Internal
	// Server Error with a fixed text.
	OnError func(w http.ResponseWriter, r *http.Request, err error)
}

// Redirect is middleware that sends plain-HTTP requests to the same path
// and query over HTTPS with 308 Permanent Redirect, which keeps the method
// and body. It is safe for concurrent use.
type Redirect struct {
	hosts   []string
	port    string // ":8443", or "" for 443
	exempt  map[string]bool
	deny    func(http.ResponseWriter, *http.Request, error)
	onError func(http.ResponseWriter, *http.Request, error)
}

// NewRedirect returns the HTTPS redirect. Whether a request already
// arrived over HTTPS is decided by its own TLS or by the scheme in
// clientip.FromContext (a trusted proxy's). allowedHosts lists the host
// names (without port; IP literals allowed) the redirect may point to: a
// request whose Host is not on it gets the OnDeny hook, never a redirect,
// so the middleware cannot be used as an open redirect. Matching ignores
// case and a trailing dot.
func NewRedirect(allowedHosts []string, cfg RedirectConfig) (*Redirect, error) {
	if len(allowedHosts) == 0 {
		return nil, errors.New("headers: NewRedirect: empty allowedHosts: list the host names the site is served under, such as \"example.com\"")
	}
	rd := &Redirect{exempt: make(map[string]bool), deny: cfg.OnDeny, onError: cfg.OnError}
	for _, h := range allowedHosts {
		n, ok := normalHost(h)
		if !ok {
			return nil, fmt.Errorf("headers: NewRedirect: invalid host %q: want a host name or IP address without scheme, port or path", h)
		}
		rd.hosts = append(rd.hosts, n)
	}
	switch p := cfg.HTTPSPort; {
	case p == 0 || p == 443:
	case p < 1 || p > 65535:
		return nil, fmt.Errorf("headers: RedirectConfig.HTTPSPort %d: want 1 to 65535", p)
	default:
		rd.port = ":" + strconv.Itoa(p)
	}
	for _, p := range cfg.ExemptPaths {
		if !strings.HasPrefix(p, "/") {
			return nil, fmt.Errorf("headers: RedirectConfig.ExemptPaths: %q does not start with /", p)
		}
		rd.exempt[p] = true
	}
	if rd.deny == nil {
		rd.deny = func(w http.ResponseWriter, _ *http.Request, _ error) { plainError(w, http.StatusBadRequest) }
	}
	if rd.onError == nil {
		rd.onError = func(w http.ResponseWriter, _ *http.Request, _ error) { plainError(w, http.StatusInternalServerError) }
	}
	return rd, nil
}

// normalHost lower-cases h, drops one trailing dot and the brackets of an
// IPv6 literal, and rejects anything that is not a bare host.
func normalHost(h string) (string, bool) {
	h = strings.TrimSuffix(strings.ToLower(h), ".")
	if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
		h = h[1 : len(h)-1]
		if !strings.Contains(h, ":") {
			return "", false
		}
	}
	if h == "" || len(h) > 253 {
		return "", false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == ':') {
			return "", false
		}
	}
	if strings.Contains(h, ":") && net.ParseIP(h) == nil {
		return "", false // a port, or a malformed IPv6 literal
	}
	return h, true
}

// Location returns where r must be redirected: "" when it needs no
// redirect (it arrived over HTTPS, or its path is exempt), the https URL
// otherwise, or an error wrapping [ErrHostNotAllowed] or [ErrBadTarget].
// It fails closed: a Host that does not parse is not allowed, and a
// request over plain TCP whose context has no client (so no scheme a
// proxy reported) gets an error wrapping clientip.ErrNoClient.
func (rd *Redirect) Location(r *http.Request) (string, error) {
	if r.TLS != nil || rd.exempt[r.URL.Path] {
		return "", nil
	}
	info, ok := clientip.FromContext(r.Context())
	if !ok {
		return "", fmt.Errorf("headers: redirect: %w", clientip.ErrNoClient)
	}
	if info.HTTPS() {
		return "", nil
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host, ok = normalHost(host)
	if !ok || !slices.Contains(rd.hosts, host) {
		return "", ErrHostNotAllowed
	}
	path := r.URL.EscapedPath()
	query, ok := escapeQuery(r.URL.RawQuery)
	if !ok || !strings.HasPrefix(path, "/") || hasCTL(path) {
		return "", ErrBadTarget
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	loc := "https://" + host + rd.port + path
	if query != "" {
		loc += "?" + query
	}
	return loc, nil
}

// escapeQuery percent-encodes non-ASCII bytes of a raw query and rejects
// controls and spaces.
func escapeQuery(q string) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(q); i++ {
		switch c := q[i]; {
		case c < 0x21 || c == 0x7f:
			return "", false
		case c >= 0x80:
			if b.Len() == 0 {
				b.WriteString(q[:i])
			}
			fmt.Fprintf(&b, "%%%02X", c)
		case b.Len() > 0:
			b.WriteByte(c)
		}
	}
	if b.Len() == 0 {
		return q, true
	}
	return b.String(), true
}

func hasCTL(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] >= 0x7f {
			return true
		}
	}
	return false
}

// Handler is middleware that redirects plain-HTTP requests as
// [Redirect.Location] decides and passes the others to next; refusals go
// to the OnDeny hook, and requests without a client in their context to
// OnError. The redirect
// carries no Strict-Transport-Security header: RFC 6797 §7.2 forbids it
// over HTTP; the HTTPS response sets it.
func (rd *Redirect) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		loc, err := rd.Location(r)
		switch {
		case errors.Is(err, clientip.ErrNoClient):
			rd.onError(w, r, err)
		case err != nil:
			rd.deny(w, r, err)
		case loc == "":
			next.ServeHTTP(w, r)
		default:
			w.Header().Set("Location", loc)
			w.WriteHeader(http.StatusPermanentRedirect)
		}
	})
}
