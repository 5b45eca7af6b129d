package clientip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"

	"github.com/deployedworks/rampart/internal/reqstate"
)

// Header names a forwarding header a [Resolver] can read.
type Header string

// Forwarding headers understood by a [Resolver].
const (
	// XForwardedFor reads X-Forwarded-For for the address and
	// X-Forwarded-Proto for the scheme. It is the default.
	XForwardedFor Header = "X-Forwarded-For"
	// Forwarded reads the RFC 7239 Forwarded header: its for= and proto=
	// parameters.
	Forwarded Header = "Forwarded"
)

// Config tunes a [Resolver]. The zero value is ready to use.
type Config struct {
	// Header is the forwarding header the trusted proxies write.
	// Default: [XForwardedFor]. Only one is read, so that a client cannot
	// add the other and have it believed.
	Header Header

	// Logger receives the one-time misconfiguration warnings described in
	// the package documentation. Default: slog.Default(), so that the
	// warnings are seen without any set-up.
	Logger *slog.Logger
}

// Info describes the client of one request as a [Resolver] sees it.
type Info struct {
	// Addr is the client's address, with IPv4-mapped IPv6 addresses
	// unmapped and any zone removed. It is the zero netip.Addr when the
	// peer's address could not be parsed (for example a Unix socket
	// listener); callers that key on it must treat that as one shared,
	// unknown client, never as a reason to skip a check.
	Addr netip.Addr

	// Scheme is "https" or "http": the scheme the client used, as reported
	// by a trusted proxy, or else whether the connection itself is TLS.
	Scheme string

	// TrustedPeer reports whether the immediate peer is a trusted proxy,
	// so that other headers it forwards (a request ID, say) may be believed.
	TrustedPeer bool
}

// HTTPS reports whether the client reached the site over HTTPS.
func (i Info) HTTPS() bool { return i.Scheme == "https" }

// Resolver finds the client of a request. It is safe for concurrent use;
// build one with [New] and share it.
type Resolver struct {
	trusted  []netip.Prefix
	header   string
	proto    string // X-Forwarded-Proto when header is X-Forwarded-For
	log      *slog.Logger
	warnedFH atomic.Bool
}

// New returns a Resolver that believes forwarding headers only from peers in
// trustedProxies. A nil or empty list trusts no proxy: the peer's address is
// always the client's, which is the safe choice for a server that faces the
// internet directly.
//
// Prefixes are masked (10.1.2.3/8 becomes 10.0.0.0/8) and IPv4-mapped IPv6
// prefixes are unmapped. New returns an error for an invalid prefix or an
// unknown Header, and logs a warning (once) for a prefix that covers a wide
// range of public addresses.
func New(trustedProxies []netip.Prefix, cfg Config) (*Resolver, error) {
	r := &Resolver{log: cfg.Logger}
	if r.log == nil {
		r.log = slog.Default()
	}
	switch cfg.Header {
	case "", XForwardedFor:
		r.header, r.proto = "X-Forwarded-For", "X-Forwarded-Proto"
	case Forwarded:
		r.header = "Forwarded"
	default:
		return nil, fmt.Errorf("clientip: unknown Header %q: use clientip.XForwardedFor or clientip.Forwarded", cfg.Header)
	}
	var wide []string
	for _, p := range trustedProxies {
		if !p.IsValid() {
			return nil, errors.New("clientip: invalid trusted proxy prefix: build prefixes with netip.ParsePrefix or netip.PrefixFrom")
		}
		p = unmapPrefix(p).Masked()
		if tooWide(p) {
			wide = append(wide, p.String())
		}
		r.trusted = append(r.trusted, p)
	}
	if len(wide) > 0 {
		r.log.Warn("clientip: trusted proxy prefixes cover a wide range of public addresses; any host in them can forge client addresses. Trust only your own proxies' addresses.",
			slog.Any("prefixes", wide))
	}
	return r, nil
}

// MustNew is like [New] but panics if New returns an error. It is meant for
// prefixes written in the program's source.
func MustNew(trustedProxies []netip.Prefix, cfg Config) *Resolver {
	r, err := New(trustedProxies, cfg)
	if err != nil {
		panic(err)
	}
	return r
}

// unmapPrefix turns ::ffff:a.b.c.d/n into a.b.c.d/(n-96).
func unmapPrefix(p netip.Prefix) netip.Prefix {
	if a := p.Addr(); a.Is4In6() {
		bits := p.Bits() - 96
		if bits < 0 {
			bits = 0
		}
		return netip.PrefixFrom(a.Unmap(), bits)
	}
	return p
}

// nonPublic lists ranges that are not routed on the public internet.
// ErrNoClient is the error of a component that decides on the client's
// address (a rate limit, a login throttle) and found none in the request
// context. Such components fail closed: the request is refused.
var ErrNoClient = errors.New("clientip: no client address in the request context: wrap the handler with (*clientip.Resolver).Handler, outermost")

var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("::1/128"),
	netip.MustParsePrefix("fc00::/7"),
	netip.MustParsePrefix("fe80::/10"),
}

// tooWide reports whether p covers a wide range of public addresses: wider
// than /8 for IPv4 or /16 for IPv6, outside the private and local ranges.
// Real proxy and CDN ranges are far narrower.
func tooWide(p netip.Prefix) bool {
	for _, np := range nonPublic {
		if np.Bits() <= p.Bits() && np.Contains(p.Addr()) {
			return false
		}
	}
	if p.Addr().Is4() {
		return p.Bits() < 8
	}
	return p.Bits() < 16
}

// Trusted reports whether a is one of the trusted proxies. It is for
// decisions made before there is a request, such as a per-address
// connection limit that must not count a proxy as one client.
func (r *Resolver) Trusted(a netip.Addr) bool {
	a = a.Unmap().WithZone("")
	for _, p := range r.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Resolve returns the client of req. When [Resolver.Handler] has already
// resolved this request, its result is returned without further work.
// Components read the client with [FromContext] instead, so that one
// resolution, made outermost, serves every decision about the request.
//
// Resolve fails closed: a header value that cannot be parsed (garbage, an
// RFC 7239 obfuscated identifier, "unknown") ends the walk, and the client
// is taken to be the trusted hop that reported it, never an address further
// left that the client could have written. A Forwarded line is read from its
// 16 rightmost elements only; if all of them are trusted proxies, the walk
// ends at the last one in the same way.
func (r *Resolver) Resolve(req *http.Request) Info {
	if c, ok := req.Context().Value(ctxKey).(*ctxValue); ok && (c.res == r || c.res == nil) {
		return c.info
	}
	return r.resolve(req)
}

func (r *Resolver) resolve(req *http.Request) Info {
	info := Info{Scheme: "http"}
	if req.TLS != nil {
		info.Scheme = "https"
	}
	peer, ok := parseHost(req.RemoteAddr)
	if !ok {
		return info
	}
	info.Addr = peer
	if !r.Trusted(peer) {
		r.warnForwarded(req)
		return info
	}
	info.TrustedPeer = true
	if r.proto == "" {
		info.Addr, info.Scheme = r.walkForwarded(req.Header[r.header], peer, info.Scheme)
		return info
	}
	var hop int
	info.Addr, hop = r.walkXFF(req.Header[r.header], peer)
	info.Scheme = xfProto(req.Header[r.proto], hop, info.Scheme)
	return info
}

// warnForwarded logs, once per Resolver, that forwarding headers came from
// an untrusted peer.
func (r *Resolver) warnForwarded(req *http.Request) {
	if r.warnedFH.Load() {
		return
	}
	if len(req.Header["X-Forwarded-For"]) == 0 && len(req.Header["Forwarded"]) == 0 {
		return
	}
	if r.warnedFH.Swap(true) {
		return
	}
	r.log.Warn("clientip: a request carried forwarding headers from a peer that is not a trusted proxy; they were ignored. If this app runs behind a proxy or load balancer, pass its address prefixes to clientip.New, or every client will share the proxy's address.",
		slog.String("peer", req.RemoteAddr))
}

// walkXFF walks X-Forwarded-For lines right to left and returns the first
// address that is not a trusted proxy, with its position counted from the
// right (0 = rightmost element), or -1 when the peer itself is the answer.
func (r *Resolver) walkXFF(lines []string, peer netip.Addr) (netip.Addr, int) {
	client, hop, pos := peer, -1, 0
	for i := len(lines) - 1; i >= 0; i-- {
		rest := lines[i]
		for rest != "" {
			var elem string
			if j := strings.LastIndexByte(rest, ','); j >= 0 {
				elem, rest = rest[j+1:], rest[:j]
			} else {
				elem, rest = rest, ""
			}
			a, ok := parseHost(trimOWS(elem))
			if !ok {
				return client, hop
			}
			client, hop = a, pos
			if !r.Trusted(a) {
				return client, hop
			}
			pos++
		}
	}
	return client, hop
}

// xfProto picks the scheme from X-Forwarded-Proto lines. When the header
// lists one value per hop, the value for the chosen hop is used; otherwise
// the rightmost value, written by the nearest trusted proxy. Anything but
// http or https is ignored.
func xfProto(lines []string, hop int, def string) string {
	n := 0
	for _, l := range lines {
		n += strings.Count(l, ",") + 1
	}
	if n == 0 {
		return def
	}
	want := 0 // index from the right
	if n > 1 && hop >= 0 && hop < n {
		want = hop
	}
	var v string
	found := false
	pos := 0
	for i := len(lines) - 1; i >= 0 && !found; i-- {
		rest := lines[i]
		for {
			elem := rest
			j := strings.LastIndexByte(rest, ',')
			if j >= 0 {
				elem = rest[j+1:]
			}
			if pos == want {
				v, found = trimOWS(elem), true
				break
			}
			pos++
			if j < 0 {
				break
			}
			rest = rest[:j]
		}
	}
	switch {
	case strings.EqualFold(v, "https"):
		return "https"
	case strings.EqualFold(v, "http"):
		return "http"
	}
	return def
}

// maxForwardedElems bounds how many elements of one Forwarded line a walk
// looks at: the rightmost, written by the nearest proxies. A line whose
// last maxForwardedElems elements all name trusted proxies ends the walk at
// the last of them, as a malformed element does (fail closed). Splitting
// keeps only these, so a client's long header costs no memory.
const maxForwardedElems = 16

// walkForwarded walks RFC 7239 Forwarded elements right to left and returns
// the first for= address that is not a trusted proxy and the proto= of the
// element that named it.
func (r *Resolver) walkForwarded(lines []string, peer netip.Addr, scheme string) (netip.Addr, string) {
	client := peer
	var ring [maxForwardedElems]string
	for i := len(lines) - 1; i >= 0; i-- {
		n := lastElems(lines[i], &ring)
		for j := n - 1; j >= 0; j-- {
			if j < n-len(ring) {
				return client, scheme // more trusted hops than kept
			}
			forv, proto, ok := parseForwardedElem(ring[j%len(ring)])
			if !ok {
				return client, scheme
			}
			a, ok := parseHost(forv)
			if !ok {
				return client, scheme
			}
			client = a
			switch {
			case strings.EqualFold(proto, "https"):
				scheme = "https"
			case strings.EqualFold(proto, "http"):
				scheme = "http"
			}
			if !r.Trusted(a) {
				return client, scheme
			}
		}
	}
	return client, scheme
}

// lastElems splits line at commas outside quoted strings, keeps element k
// in ring[k%len(ring)] (so the rightmost ones survive) and returns the
// number of elements.
func lastElems(line string, ring *[maxForwardedElems]string) int {
	for n := 0; ; n++ {
		elem, rest, more := cutQuoted(line, ',')
		ring[n%len(ring)] = elem
		if !more {
			return n + 1
		}
		line = rest
	}
}

// parseForwardedElem returns the for and proto parameters of one Forwarded
// element. ok is false when the element is malformed or has no for=.
func parseForwardedElem(elem string) (forv, proto string, ok bool) {
	var haveFor bool
	for more := true; more; {
		var pair string
		pair, elem, more = cutQuoted(elem, ';')
		pair = trimOWS(pair)
		if pair == "" {
			continue
		}
		k, v, found := strings.Cut(pair, "=")
		k, v = strings.ToLower(trimOWS(k)), trimOWS(v)
		if !found || k == "" || v == "" {
			return "", "", false
		}
		if v[0] == '"' {
			if len(v) < 2 || v[len(v)-1] != '"' {
				return "", "", false
			}
			v = unquote(v[1 : len(v)-1])
		}
		switch k {
		case "for":
			if haveFor {
				return "", "", false // duplicate parameter: ambiguous
			}
			forv, haveFor = v, true
		case "proto":
			proto = v
		}
	}
	return forv, proto, haveFor
}

// cutQuoted slices s around the first sep outside a double-quoted string.
func cutQuoted(s string, sep byte) (before, after string, found bool) {
	inQuote := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && inQuote:
			i++
		case c == '"':
			inQuote = !inQuote
		case c == sep && !inQuote:
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// unquote removes backslash escapes from the inside of a quoted-string.
func unquote(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// parseHost parses an address with an optional port: 192.0.2.1,
// 192.0.2.1:80, 2001:db8::1, [2001:db8::1], [2001:db8::1]:80, with an
// optional zone. The result is unmapped and has no zone.
func parseHost(s string) (netip.Addr, bool) {
	if s == "" || len(s) > 64 {
		return netip.Addr{}, false
	}
	if s[0] == '[' {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return netip.Addr{}, false
		}
		if rest := s[end+1:]; rest != "" && !validPort(rest) {
			return netip.Addr{}, false
		}
		a, err := netip.ParseAddr(s[1:end])
		if err != nil || !a.Is6() {
			return netip.Addr{}, false
		}
		return a.Unmap().WithZone(""), true
	}
	if i := strings.IndexByte(s, ':'); i >= 0 && strings.IndexByte(s[i+1:], ':') < 0 {
		// One colon: IPv4 with a port.
		if !validPort(s[i:]) {
			return netip.Addr{}, false
		}
		s = s[:i]
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap().WithZone(""), true
}

// validPort reports whether s is ":" followed by 1–5 digits.
func validPort(s string) bool {
	if len(s) < 2 || len(s) > 6 || s[0] != ':' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// trimOWS trims HTTP optional white space.
func trimOWS(s string) string {
	return strings.Trim(s, " \t")
}

// ctxKey is the context key of the client: a *ctxValue. It is the request
// state's key for the client, so that the state the Rampart layers share
// finds it without a search.
var ctxKey = reqstate.Client

type ctxValue struct {
	res  *Resolver
	info Info
}

// Handler is middleware that resolves the client of each request once and
// stores it in the request context for [FromContext] and
// [Resolver.Resolve]. The context node it adds also takes the values of
// the Rampart layers after it (audit, headers, session), so that the
// chain copies the request once; a context taken from the request
// between two of those layers therefore shows, once they have run, what
// they found for the same request. Nothing is added to it after the
// request.
func (r *Resolver) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		info := r.resolve(req)
		// The request state the Rampart layers share: the one in the
		// request's context, or one made here (outermost, as usual).
		if p, ok := reqstate.Reserve(req.Context(), ctxKey); ok {
			p.Set(&ctxValue{res: r, info: info})
			next.ServeHTTP(w, req)
			return
		}
		ctx, own := reqstate.New[ctxValue](req.Context(), ctxKey)
		*own = ctxValue{res: r, info: info}
		defer reqstate.Seal(ctx)
		next.ServeHTTP(w, req.WithContext(ctx))
	})
}

// FromContext returns the client stored by [Resolver.Handler]. ok is false
// when no Resolver handled the request: a component that decides on the
// address (a rate limit, a login throttle) must then refuse the request
// with an error wrapping [ErrNoClient], and one that only records it
// (audit) records none.
func FromContext(ctx context.Context) (info Info, ok bool) {
	v, ok := ctx.Value(ctxKey).(*ctxValue)
	if !ok {
		return Info{}, false
	}
	return v.info, true
}

// WithInfo returns a copy of ctx carrying info as if [Resolver.Handler] had
// resolved it. It exists for tests of code that reads [FromContext];
// programs use Resolver.Handler, which believes forwarding headers only
// from trusted proxies.
func WithInfo(ctx context.Context, info Info) context.Context {
	return context.WithValue(ctx, ctxKey, &ctxValue{info: info})
}
