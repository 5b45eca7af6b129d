package headers

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/deployedworks/rampart/clientip"
	"github.com/deployedworks/rampart/internal/reqstate"
)

// Config tunes the middleware built by [New]. The zero value is the strict
// baseline listed in the package documentation; each field documents its
// default. [New] keeps a private copy.
type Config struct {
	// HSTS tunes Strict-Transport-Security.
	HSTS HSTS

	// CSP is the Content-Security-Policy. The zero value is a strict,
	// nonce-based policy; see [CSP].
	CSP CSP

	// ReferrerPolicy is the Referrer-Policy value. Default: "same-origin",
	// which sends no Referer to other sites and still lets same-origin
	// POSTs carry an Origin header ("no-referrer" would turn it into
	// "null" and break the Origin check of [CrossOrigin] for browsers
	// without Fetch Metadata). Accepted: "same-origin", "no-referrer",
	// "strict-origin", "strict-origin-when-cross-origin"; the values that
	// leak paths to other sites are rejected.
	ReferrerPolicy string

	// Permissions is the Permissions-Policy: feature name to allow-list,
	// whose items are "self", "*" or an origin such as
	// "https://pay.example". An empty allow-list disables the feature.
	// Default (nil): accelerometer, camera, display-capture, geolocation,
	// gyroscope, magnetometer, microphone, midi, payment and usb all
	// disabled, powerful APIs a marketplace page does not need; change one
	// with [Policy.With]. A non-nil empty map sends no Permissions-Policy
	// header.
	Permissions map[string][]string

	// OpenerPolicy is the Cross-Origin-Opener-Policy value. Default:
	// "same-origin", which cuts the window.opener link to cross-origin
	// pages (cross-window leaks, tab-nabbing). Accepted also:
	// "same-origin-allow-popups" (for OAuth or payment pop-ups) and
	// "noopener-allow-popups".
	OpenerPolicy string

	// ResourcePolicy is the Cross-Origin-Resource-Policy value. Default:
	// "same-origin", so other sites cannot embed the responses (Spectre-
	// style leaks). Accepted also: "same-site" and "cross-origin" (for
	// public assets).
	ResourcePolicy string
}

// HSTS tunes Strict-Transport-Security (RFC 6797). The header is sent only
// on responses to HTTPS requests (§7.2); browsers ignore it over HTTP.
type HSTS struct {
	// MaxAge is how long browsers must use HTTPS only. Default: two years
	// (63072000 seconds). Minimum: one year (365 days), the value the
	// preload list requires; shorter values are rejected. It is rounded
	// down to whole seconds.
	MaxAge time.Duration

	// ExcludeSubdomains drops includeSubDomains, so subdomains may still
	// be reached over HTTP (and can set cookies for the parent domain).
	// Default: false (includeSubDomains is sent).
	ExcludeSubdomains bool

	// Preload adds the preload directive, the consent that
	// https://hstspreload.org asks for. It is hard to undo, so it is
	// opt-in; it requires includeSubDomains. Default: false.
	Preload bool
}

// defaultPermissions are the features the default Permissions-Policy
// disables.
var defaultPermissions = []string{
	"accelerometer", "camera", "display-capture", "geolocation", "gyroscope",
	"magnetometer", "microphone", "midi", "payment", "usb",
}

const (
	defaultMaxAge = 2 * 365 * 24 * time.Hour
	minMaxAge     = 365 * 24 * time.Hour
)

// clone returns a deep copy of c.
func (c Config) clone() Config {
	c.CSP = c.CSP.clone()
	if c.Permissions != nil {
		m := make(map[string][]string, len(c.Permissions))
		for k, v := range c.Permissions {
			m[k] = slices.Clone(v)
		}
		c.Permissions = m
	}
	return c
}

// withDefaults returns a deep copy of c with every default made explicit.
func (c Config) withDefaults() Config {
	c = c.clone()
	if c.HSTS.MaxAge == 0 {
		c.HSTS.MaxAge = defaultMaxAge
	}
	c.CSP = c.CSP.withDefaults()
	if c.ReferrerPolicy == "" {
		c.ReferrerPolicy = "same-origin"
	}
	if c.Permissions == nil {
		c.Permissions = make(map[string][]string, len(defaultPermissions))
		for _, f := range defaultPermissions {
			c.Permissions[f] = []string{}
		}
	}
	if c.OpenerPolicy == "" {
		c.OpenerPolicy = "same-origin"
	}
	if c.ResourcePolicy == "" {
		c.ResourcePolicy = "same-origin"
	}
	return c
}

// field is one precomputed response header.
type field struct{ key, value string }

// Policy is a site's security response headers (Strict-Transport-Security,
// Content-Security-Policy with its nonce, Referrer-Policy, the
// cross-origin policies, Permissions-Policy and the rest), resolved and
// ready to send: its [Policy.Handler] is the middleware. Build it with
// [New]; it is safe for concurrent use.
type Policy struct {
	cfg    Config  // resolved, private
	secure []field // headers for HTTPS responses, HSTS first
	plain  []field // the same without HSTS
	csp    compiledCSP
	nonces *nonceSource
}

// maxFields bounds len(secure)+1 (the CSP); reqState holds that many.
const maxFields = 10

// New returns the header policy for cfg, or an error that names the
// offending field. New validates everything once; the middleware only
// copies precomputed values and mints a nonce.
func New(cfg Config) (*Policy, error) {
	return build(cfg.withDefaults())
}

func build(cfg Config) (*Policy, error) {
	h := &Policy{cfg: cfg, nonces: newNonceSource()}

	hsts, err := cfg.HSTS.value()
	if err != nil {
		return nil, err
	}
	h.csp, err = cfg.CSP.compile()
	if err != nil {
		return nil, err
	}
	if !oneOf(cfg.ReferrerPolicy, "same-origin", "no-referrer", "strict-origin", "strict-origin-when-cross-origin") {
		return nil, fmt.Errorf("headers: ReferrerPolicy %q: want same-origin, no-referrer, strict-origin or strict-origin-when-cross-origin", cfg.ReferrerPolicy)
	}
	if !oneOf(cfg.OpenerPolicy, "same-origin", "same-origin-allow-popups", "noopener-allow-popups") {
		return nil, fmt.Errorf("headers: OpenerPolicy %q: want same-origin, same-origin-allow-popups or noopener-allow-popups", cfg.OpenerPolicy)
	}
	if !oneOf(cfg.ResourcePolicy, "same-origin", "same-site", "cross-origin") {
		return nil, fmt.Errorf("headers: ResourcePolicy %q: want same-origin, same-site or cross-origin", cfg.ResourcePolicy)
	}
	perms, err := permissionsValue(cfg.Permissions)
	if err != nil {
		return nil, err
	}

	h.plain = []field{
		{"X-Content-Type-Options", "nosniff"},
		{"Referrer-Policy", cfg.ReferrerPolicy},
		{"Cross-Origin-Opener-Policy", cfg.OpenerPolicy},
		{"Cross-Origin-Resource-Policy", cfg.ResourcePolicy},
	}
	if perms != "" {
		h.plain = append(h.plain, field{"Permissions-Policy", perms})
	}
	if h.csp.xfo != "" {
		h.plain = append(h.plain, field{"X-Frame-Options", h.csp.xfo})
	}
	if cfg.CSP.ReportURI != "" {
		h.plain = append(h.plain, field{"Reporting-Endpoints", reportEndpoint + `="` + cfg.CSP.ReportURI + `"`})
	}
	h.secure = append([]field{{"Strict-Transport-Security", hsts}}, h.plain...)
	if len(h.secure)+1 > maxFields {
		return nil, errors.New("headers: internal error: too many headers for reqState; please report this bug")
	}
	return h, nil
}

// value renders the Strict-Transport-Security header.
func (s HSTS) value() (string, error) {
	if s.MaxAge < minMaxAge {
		return "", fmt.Errorf("headers: HSTS.MaxAge %v is below one year (8760h): browsers and the preload list need at least a year; leave it zero for two years", s.MaxAge)
	}
	if s.Preload && s.ExcludeSubdomains {
		return "", errors.New("headers: HSTS.Preload requires includeSubDomains: unset ExcludeSubdomains")
	}
	v := "max-age=" + strconv.FormatInt(int64(s.MaxAge/time.Second), 10)
	if !s.ExcludeSubdomains {
		v += "; includeSubDomains"
	}
	if s.Preload {
		v += "; preload"
	}
	return v, nil
}

// permissionsValue renders a Permissions-Policy structured-field
// dictionary, features sorted.
func permissionsValue(p map[string][]string) (string, error) {
	var b strings.Builder
	for _, feature := range slices.Sorted(maps.Keys(p)) {
		if !validFeature(feature) {
			return "", fmt.Errorf("headers: Permissions: invalid feature name %q: want lower-case letters, digits and '-'", feature)
		}
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		b.WriteString(feature + "=(")
		for i, item := range p[feature] {
			if i > 0 {
				b.WriteByte(' ')
			}
			switch item {
			case "self", "*":
				b.WriteString(item)
			default:
				if !validOrigin(item) {
					return "", fmt.Errorf("headers: Permissions %s: invalid item %q: want \"self\", \"*\" or an origin such as \"https://pay.example\"", feature, item)
				}
				b.WriteString(`"` + item + `"`)
			}
		}
		b.WriteByte(')')
	}
	return b.String(), nil
}

func validFeature(s string) bool {
	if s == "" || len(s) > 64 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// validOrigin accepts scheme://host[:port] with nothing else.
func validOrigin(s string) bool {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" ||
		u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil || u.Opaque != "" {
		return false
	}
	return validSourceText(s)
}

func oneOf(v string, allowed ...string) bool {
	return slices.Contains(allowed, v)
}

// With returns a middleware for some routes that starts from h's resolved
// configuration (every default filled in) and applies fn to a private deep
// copy of it. h itself is unchanged. Use it for per-route overrides:
//
//	embed, err := h.With(func(c *headers.Config) {
//		c.CSP.FrameAncestors = []headers.Source{"https://partner.example"}
//	})
//
// Mount the derived middleware instead of h on those routes; when both run,
// the inner one's headers and nonce win, so they still agree.
func (h *Policy) With(fn func(*Config)) (*Policy, error) {
	cfg := h.cfg.clone()
	fn(&cfg)
	// Fields fn cleared take their defaults again.
	return build(cfg.withDefaults())
}

// reqState carries one response's header values and its nonce, which
// [Nonce] finds under nonceKey in the request state the Rampart layers
// share. Each response gets its own backing array: a handler that writes
// into a header's []string in place cannot change another response.
type reqState struct {
	nonce string
	vals  [maxFields]string
}

// Handler is middleware that sets the configured headers on every
// response before calling next. Strict-Transport-Security goes only on
// responses to requests that arrived over HTTPS: over the server's own TLS,
// or as the client's scheme in clientip.FromContext says (a trusted
// proxy's X-Forwarded-Proto or Forwarded). When the context has no client
// (clientip's handler did not run), the scheme is unknown and the header
// is sent: browsers ignore it over plain HTTP (RFC 6797 §8.1), and leaving
// it out could drop it from HTTPS responses. When the policy has a
// [NonceSource], it puts a fresh 128-bit nonce in the CSP header and in
// the request context for [Nonce]. Handlers may still change any header.
func (h *Policy) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r2 := h.apply(w.Header(), r); r2 != r {
			// apply made the request state: it ends with this handler.
			defer reqstate.Seal(r2.Context())
			r = r2
		}
		next.ServeHTTP(w, r)
	})
}

// apply writes the headers for r into hdr and returns r, with the nonce in
// its context when there is one.
func (h *Policy) apply(hdr http.Header, r *http.Request) *http.Request {
	fields := h.plain
	if info, ok := clientip.FromContext(r.Context()); r.TLS != nil || !ok || info.HTTPS() {
		fields = h.secure
	}
	nonce := len(h.csp.parts) > 1
	// With a nonce, st goes into the request state the Rampart layers share
	// (see clientip's Handler), or into a new one, in the same allocation.
	var (
		st    *reqState
		place reqstate.Place
		ctx   context.Context
	)
	if nonce {
		var ok bool
		if place, ok = reqstate.Reserve(r.Context(), nonceKey); !ok {
			ctx, st = reqstate.New[reqState](r.Context(), nonceKey)
		}
	}
	if st == nil {
		st = &reqState{}
	}
	for i, f := range fields {
		st.vals[i] = f.value
		hdr[f.key] = st.vals[i : i+1 : i+1]
	}
	n := len(fields)
	if !nonce {
		st.vals[n] = h.csp.parts[0]
		hdr[h.csp.header] = st.vals[n : n+1 : n+1]
		return r
	}
	var raw [nonceLen]byte
	h.nonces.encode(&raw)
	var b strings.Builder
	b.Grow(h.csp.size)
	b.WriteString(h.csp.parts[0])
	for _, p := range h.csp.parts[1:] {
		b.Write(raw[:])
		b.WriteString(p)
	}
	v := b.String()
	st.vals[n] = v
	hdr[h.csp.header] = st.vals[n : n+1 : n+1]
	off := len(h.csp.parts[0])
	st.nonce = v[off : off+nonceLen]
	if ctx == nil {
		place.Set(st)
		return r
	}
	return r.WithContext(ctx)
}

// NoStore is middleware that sets Cache-Control: no-store, so that no
// browser or shared cache keeps the response. Put it on every route that
// serves authenticated or personal data, and on pages that carry a CSP
// nonce. Handlers may still override the header.
func NoStore(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Cache-Control"] = []string{"no-store"}
		next.ServeHTTP(w, r)
	})
}
