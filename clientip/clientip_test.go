package clientip

import (
	"bytes"
	"crypto/tls"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func prefixes(ss ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestResolveXForwardedFor(t *testing.T) {
	trusted := prefixes("10.0.0.0/8", "2001:db8:ffff::/48")
	tests := []struct {
		name    string
		remote  string
		xff     []string
		xfp     []string
		tls     bool
		want    string
		scheme  string
		trusted bool
	}{
		{name: "direct client, no header", remote: "203.0.113.7:5555", want: "203.0.113.7", scheme: "http"},
		{name: "direct client over TLS", remote: "203.0.113.7:5555", tls: true, want: "203.0.113.7", scheme: "https"},
		{name: "spoof: untrusted peer sends XFF", remote: "203.0.113.7:5555", xff: []string{"1.2.3.4"}, want: "203.0.113.7", scheme: "http"},
		{name: "spoof: untrusted peer sends XFP https", remote: "203.0.113.7:5555", xfp: []string{"https"}, want: "203.0.113.7", scheme: "http"},
		{name: "trusted proxy, one hop", remote: "10.0.0.1:80", xff: []string{"198.51.100.9"}, want: "198.51.100.9", scheme: "http", trusted: true},
		{name: "trusted proxy, no header: the proxy is the client", remote: "10.0.0.1:80", want: "10.0.0.1", scheme: "http", trusted: true},
		{name: "spoof: client prepends a fake address", remote: "10.0.0.1:80", xff: []string{"1.1.1.1, 198.51.100.9"}, want: "198.51.100.9", scheme: "http", trusted: true},
		{name: "spoof: client prepends a trusted-looking address", remote: "10.0.0.1:80", xff: []string{"10.9.9.9, 198.51.100.9"}, want: "198.51.100.9", scheme: "http", trusted: true},
		{name: "two trusted hops skipped", remote: "10.0.0.1:80", xff: []string{"198.51.100.9, 10.0.0.2, 10.0.0.3"}, want: "198.51.100.9", scheme: "http", trusted: true},
		{name: "all hops trusted: leftmost", remote: "10.0.0.1:80", xff: []string{"10.0.0.5, 10.0.0.2"}, want: "10.0.0.5", scheme: "http", trusted: true},
		{name: "multiple header lines are one list", remote: "10.0.0.1:80", xff: []string{"1.1.1.1, 198.51.100.9", "10.0.0.2"}, want: "198.51.100.9", scheme: "http", trusted: true},
		{name: "spoof: forged line before real one", remote: "10.0.0.1:80", xff: []string{"6.6.6.6", "198.51.100.9"}, want: "198.51.100.9", scheme: "http", trusted: true},
		{name: "ipv4 with port", remote: "10.0.0.1:80", xff: []string{"198.51.100.9:4711"}, want: "198.51.100.9", scheme: "http", trusted: true},
		{name: "ipv6 bare", remote: "10.0.0.1:80", xff: []string{"2001:db8::1"}, want: "2001:db8::1", scheme: "http", trusted: true},
		{name: "ipv6 bracketed with port", remote: "10.0.0.1:80", xff: []string{"[2001:db8::1]:4711"}, want: "2001:db8::1", scheme: "http", trusted: true},
		{name: "ipv6 with zone", remote: "10.0.0.1:80", xff: []string{"fe80::1%eth0"}, want: "fe80::1", scheme: "http", trusted: true},
		{name: "ipv4-mapped ipv6 unmapped", remote: "10.0.0.1:80", xff: []string{"::ffff:198.51.100.9"}, want: "198.51.100.9", scheme: "http", trusted: true},
		{name: "trusted peer is ipv4-mapped", remote: "[::ffff:10.0.0.1]:80", xff: []string{"198.51.100.9"}, want: "198.51.100.9", scheme: "http", trusted: true},
		{name: "trusted ipv6 proxy", remote: "[2001:db8:ffff::1]:443", xff: []string{"198.51.100.9"}, want: "198.51.100.9", scheme: "http", trusted: true},
		{name: "garbage ends the walk at the trusted hop", remote: "10.0.0.1:80", xff: []string{"198.51.100.9, garbage"}, want: "10.0.0.1", scheme: "http", trusted: true},
		{name: "garbage left of the client is never read", remote: "10.0.0.1:80", xff: []string{"<script>, 198.51.100.9"}, want: "198.51.100.9", scheme: "http", trusted: true},
		{name: "unknown token ends the walk", remote: "10.0.0.1:80", xff: []string{"198.51.100.9, unknown, 10.0.0.2"}, want: "10.0.0.2", scheme: "http", trusted: true},
		{name: "empty element ends the walk", remote: "10.0.0.1:80", xff: []string{"198.51.100.9,,"}, want: "10.0.0.1", scheme: "http", trusted: true},
		{name: "bad port rejected", remote: "10.0.0.1:80", xff: []string{"198.51.100.9:http"}, want: "10.0.0.1", scheme: "http", trusted: true},
		{name: "overlong element rejected", remote: "10.0.0.1:80", xff: []string{strings.Repeat("1", 100)}, want: "10.0.0.1", scheme: "http", trusted: true},
		{name: "proto from trusted proxy", remote: "10.0.0.1:80", xff: []string{"198.51.100.9"}, xfp: []string{"https"}, want: "198.51.100.9", scheme: "https", trusted: true},
		{name: "proto case-insensitive", remote: "10.0.0.1:80", xfp: []string{"HTTPS"}, want: "10.0.0.1", scheme: "https", trusted: true},
		{name: "proto list aligned with hops", remote: "10.0.0.1:80", xff: []string{"198.51.100.9, 10.0.0.2"}, xfp: []string{"https, http"}, want: "198.51.100.9", scheme: "https", trusted: true},
		{name: "spoof: proto list longer than hops uses rightmost", remote: "10.0.0.1:80", xff: []string{"198.51.100.9"}, xfp: []string{"https, http"}, want: "198.51.100.9", scheme: "http", trusted: true},
		{name: "spoof: empty proto line does not reach the client's line", remote: "10.0.0.1:80", xff: []string{"198.51.100.9"}, xfp: []string{"https", ""}, want: "198.51.100.9", scheme: "http", trusted: true},
		{name: "proto garbage ignored", remote: "10.0.0.1:80", xfp: []string{"gopher"}, tls: true, want: "10.0.0.1", scheme: "https", trusted: true},
		{name: "unix socket peer has no address", remote: "@", xff: []string{"198.51.100.9"}, scheme: "http"},
		{name: "empty remote addr", remote: "", scheme: "http"},
	}
	r, err := New(trusted, Config{Logger: quiet()})
	require.NoError(t, err)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/", nil)
			req.RemoteAddr = tt.remote
			if tt.tls {
				req.TLS = &tls.ConnectionState{}
			} else {
				req.TLS = nil
			}
			for _, v := range tt.xff {
				req.Header.Add("X-Forwarded-For", v)
			}
			for _, v := range tt.xfp {
				req.Header.Add("X-Forwarded-Proto", v)
			}
			info := r.Resolve(req)
			if tt.want == "" {
				assert.False(t, info.Addr.IsValid(), "got %v", info.Addr)
			} else {
				assert.Equal(t, netip.MustParseAddr(tt.want), info.Addr)
			}
			assert.Equal(t, tt.scheme, info.Scheme)
			assert.Equal(t, tt.scheme == "https", info.HTTPS())
			assert.Equal(t, tt.trusted, info.TrustedPeer)
		})
	}
}

func TestResolveForwarded(t *testing.T) {
	r, err := New(prefixes("10.0.0.0/8"), Config{Header: Forwarded, Logger: quiet()})
	require.NoError(t, err)
	tests := []struct {
		name   string
		remote string
		fwd    []string
		xff    string
		want   string
		scheme string
	}{
		{name: "simple", remote: "10.0.0.1:1", fwd: []string{"for=198.51.100.9;proto=https"}, want: "198.51.100.9", scheme: "https"},
		{name: "rfc 7239 example", remote: "10.0.0.1:1", fwd: []string{`for=192.0.2.43, for="[2001:db8:cafe::17]:4711"`}, want: "2001:db8:cafe::17", scheme: "http"},
		{name: "case-insensitive keys, by ignored", remote: "10.0.0.1:1", fwd: []string{"For=198.51.100.9;Proto=HTTPS;by=10.0.0.1"}, want: "198.51.100.9", scheme: "https"},
		{name: "trusted hop skipped", remote: "10.0.0.1:1", fwd: []string{"for=198.51.100.9;proto=https, for=10.0.0.2;proto=http"}, want: "198.51.100.9", scheme: "https"},
		{name: "spoof: client-written element left of real one", remote: "10.0.0.1:1", fwd: []string{"for=1.1.1.1;proto=https, for=198.51.100.9;proto=http"}, want: "198.51.100.9", scheme: "http"},
		{name: "spoof: XFF ignored when Forwarded is configured", remote: "10.0.0.1:1", xff: "1.1.1.1", want: "10.0.0.1", scheme: "http"},
		{name: "spoof: untrusted peer", remote: "203.0.113.1:1", fwd: []string{"for=1.1.1.1;proto=https"}, want: "203.0.113.1", scheme: "http"},
		{name: "obfuscated identifier ends walk", remote: "10.0.0.1:1", fwd: []string{"for=198.51.100.9, for=_hidden"}, want: "10.0.0.1", scheme: "http"},
		{name: "unknown ends walk", remote: "10.0.0.1:1", fwd: []string{"for=unknown"}, want: "10.0.0.1", scheme: "http"},
		{name: "quoted with escapes", remote: "10.0.0.1:1", fwd: []string{`for="198.51.100.9";proto="https"`}, want: "198.51.100.9", scheme: "https"},
		{name: "quoted comma does not split", remote: "10.0.0.1:1", fwd: []string{`for=198.51.100.9;ext="a,b"`}, want: "198.51.100.9", scheme: "http"},
		{name: "duplicate for is ambiguous", remote: "10.0.0.1:1", fwd: []string{"for=198.51.100.9;for=1.1.1.1"}, want: "10.0.0.1", scheme: "http"},
		{name: "element without for ends walk", remote: "10.0.0.1:1", fwd: []string{"for=198.51.100.9, proto=https"}, want: "10.0.0.1", scheme: "http"},
		{name: "unterminated quote", remote: "10.0.0.1:1", fwd: []string{`for="198.51.100.9`}, want: "10.0.0.1", scheme: "http"},
		{name: "multiple lines", remote: "10.0.0.1:1", fwd: []string{"for=1.1.1.1", "for=198.51.100.9;proto=https"}, want: "198.51.100.9", scheme: "https"},
		{name: "fifteen trusted hops skipped", remote: "10.0.0.1:1", fwd: []string{"for=198.51.100.9" + strings.Repeat(", for=10.0.0.2", 15)}, want: "198.51.100.9", scheme: "http"},
		{name: "more trusted hops than kept: walk ends at the last kept", remote: "10.0.0.1:1", fwd: []string{"for=198.51.100.9" + strings.Repeat(", for=10.0.0.2", maxForwardedElems)}, want: "10.0.0.2", scheme: "http"},
		{name: "bound is per line", remote: "10.0.0.1:1", fwd: []string{"for=198.51.100.9", strings.Repeat("for=10.0.0.2, ", maxForwardedElems-1) + "for=10.0.0.3"}, want: "198.51.100.9", scheme: "http"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/", nil)
			req.RemoteAddr = tt.remote
			for _, v := range tt.fwd {
				req.Header.Add("Forwarded", v)
			}
			if tt.xff != "" {
				req.Header.Set("X-Forwarded-For", tt.xff)
			}
			info := r.Resolve(req)
			assert.Equal(t, netip.MustParseAddr(tt.want), info.Addr)
			assert.Equal(t, tt.scheme, info.Scheme)
		})
	}
}

// A client's Forwarded header, passed on by a trusted proxy, can be as long
// as the server allows (1 MiB by default); splitting it must not cost
// memory in proportion, as it did when every element was kept.
func TestResolveLongForwardedDoesNotAllocate(t *testing.T) {
	r := MustNew(prefixes("10.0.0.0/8"), Config{Header: Forwarded, Logger: quiet()})
	req := httptest.NewRequest("GET", "/", nil)
	req.RemoteAddr = "10.0.0.1:80"
	req.Header.Set("Forwarded", strings.Repeat("for=1.1.1.1,", 64<<10)+"for=198.51.100.9;proto=https")
	var info Info
	allocs := testing.AllocsPerRun(5, func() { info = r.Resolve(req) })
	assert.Zero(t, allocs)
	assert.Equal(t, netip.MustParseAddr("198.51.100.9"), info.Addr)
	assert.Equal(t, "https", info.Scheme)
}

func TestNewValidation(t *testing.T) {
	_, err := New([]netip.Prefix{{}}, Config{Logger: quiet()})
	assert.ErrorContains(t, err, "invalid trusted proxy prefix")
	_, err = New(nil, Config{Header: "X-Real-IP", Logger: quiet()})
	assert.ErrorContains(t, err, "unknown Header")
	assert.Panics(t, func() { MustNew(nil, Config{Header: "nope"}) })

	r, err := New(prefixes("::ffff:10.0.0.0/104", "10.1.2.3/8"), Config{Logger: quiet()})
	require.NoError(t, err)
	assert.Equal(t, prefixes("10.0.0.0/8", "10.0.0.0/8"), r.trusted, "prefixes are unmapped and masked")
	assert.True(t, r.Trusted(netip.MustParseAddr("::ffff:10.2.3.4")))
}

type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestWarnings(t *testing.T) {
	t.Run("wide prefix warns once at New", func(t *testing.T) {
		for _, p := range []string{"0.0.0.0/0", "::/0", "128.0.0.0/1", "2000::/3"} {
			var buf logBuf
			_, err := New(prefixes(p, "10.0.0.0/8"), Config{Logger: slog.New(slog.NewTextHandler(&buf, nil))})
			require.NoError(t, err)
			assert.Equal(t, 1, strings.Count(buf.String(), "wide range of public addresses"), p)
			assert.Contains(t, buf.String(), p)
		}
	})
	t.Run("narrow and private prefixes do not warn", func(t *testing.T) {
		var buf logBuf
		_, err := New(prefixes("10.0.0.0/8", "172.16.0.0/12", "fc00::/7", "104.16.0.0/13", "2a06:98c0::/29", "127.0.0.1/32"),
			Config{Logger: slog.New(slog.NewTextHandler(&buf, nil))})
		require.NoError(t, err)
		assert.Empty(t, buf.String())
	})
	t.Run("headers from untrusted peer warn once", func(t *testing.T) {
		var buf logBuf
		r, err := New(nil, Config{Logger: slog.New(slog.NewTextHandler(&buf, nil))})
		require.NoError(t, err)
		var wg sync.WaitGroup
		for range 50 {
			wg.Go(func() {
				req := httptest.NewRequest("GET", "/", nil)
				req.Header.Set("X-Forwarded-For", "1.2.3.4")
				r.Resolve(req)
			})
		}
		wg.Wait()
		assert.Equal(t, 1, strings.Count(buf.String(), "not a trusted proxy"))
	})
	t.Run("no headers, no warning", func(t *testing.T) {
		var buf logBuf
		r, err := New(nil, Config{Logger: slog.New(slog.NewTextHandler(&buf, nil))})
		require.NoError(t, err)
		r.Resolve(httptest.NewRequest("GET", "/", nil))
		assert.Empty(t, buf.String())
	})
}

func TestHandlerAndContext(t *testing.T) {
	r := MustNew(prefixes("10.0.0.0/8"), Config{Logger: quiet()})
	other := MustNew(nil, Config{Logger: quiet()})
	var got, gotOther Info
	var ok bool
	h := r.Handler(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		got, ok = FromContext(req.Context())
		gotOther = other.Resolve(req) // a different Resolver does not reuse r's answer
		assert.Equal(t, got, r.Resolve(req))
	}))
	req := httptest.NewRequest("GET", "/", nil)
	req.RemoteAddr = "10.0.0.1:1"
	req.Header.Set("X-Forwarded-For", "198.51.100.9")
	h.ServeHTTP(httptest.NewRecorder(), req)
	require.True(t, ok)
	assert.Equal(t, netip.MustParseAddr("198.51.100.9"), got.Addr)
	assert.Equal(t, netip.MustParseAddr("10.0.0.1"), gotOther.Addr)

	_, ok = FromContext(req.Context())
	assert.False(t, ok)

	ctx := WithInfo(req.Context(), Info{Addr: netip.MustParseAddr("192.0.2.1"), Scheme: "https"})
	assert.Equal(t, "192.0.2.1", r.Resolve(req.WithContext(ctx)).Addr.String())
}

func FuzzResolve(f *testing.F) {
	f.Add("10.0.0.1:80", "198.51.100.9, 10.0.0.2", "https", `for="[2001:db8::1]:4711";proto=https, for=10.0.0.3`)
	f.Add("10.0.0.1:80", "garbage,,[::1", "http,https", `for="unterminated`)
	f.Add("[::ffff:10.0.0.1]:80", "fe80::1%eth0", "HTTPS", `for=_hidden;for=1.1.1.1`)
	xff := MustNew(prefixes("10.0.0.0/8", "2001:db8::/32"), Config{Logger: quiet()})
	fwd := MustNew(prefixes("10.0.0.0/8", "2001:db8::/32"), Config{Header: Forwarded, Logger: quiet()})
	f.Fuzz(func(t *testing.T, remote, xffv, xfp, fwdv string) {
		req := httptest.NewRequest("GET", "/", nil)
		req.RemoteAddr = remote
		req.Header["X-Forwarded-For"] = strings.Split(xffv, "\n")
		req.Header["X-Forwarded-Proto"] = []string{xfp}
		req.Header["Forwarded"] = strings.Split(fwdv, "\n")
		peer, peerOK := parseHost(remote)
		for _, r := range []*Resolver{xff, fwd} {
			info := r.Resolve(req)
			if info.Scheme != "http" && info.Scheme != "https" {
				t.Fatalf("scheme %q", info.Scheme)
			}
			if !peerOK {
				if info.Addr.IsValid() || info.TrustedPeer {
					t.Fatalf("unparseable peer %q gave %v", remote, info)
				}
				continue
			}
			if !r.Trusted(peer) && info.Addr != peer {
				t.Fatalf("untrusted peer %v: headers believed, got %v", peer, info.Addr)
			}
			if info.Addr.Is4In6() || info.Addr.Zone() != "" {
				t.Fatalf("address not normalised: %v", info.Addr)
			}
		}
	})
}

func BenchmarkResolve(b *testing.B) {
	r := MustNew(prefixes("10.0.0.0/8"), Config{Logger: quiet()})
	direct := httptest.NewRequest("GET", "/", nil)
	direct.RemoteAddr = "203.0.113.7:5555"
	proxied := httptest.NewRequest("GET", "/", nil)
	proxied.RemoteAddr = "10.0.0.1:80"
	proxied.Header.Set("X-Forwarded-For", "198.51.100.9, 10.0.0.2")
	proxied.Header.Set("X-Forwarded-Proto", "https")
	fr := MustNew(prefixes("10.0.0.0/8"), Config{Header: Forwarded, Logger: quiet()})
	fwd := httptest.NewRequest("GET", "/", nil)
	fwd.RemoteAddr = "10.0.0.1:80"
	fwd.Header.Set("Forwarded", "for=198.51.100.9;proto=https, for=10.0.0.2")
	for _, bc := range []struct {
		name string
		r    *Resolver
		req  *http.Request
	}{{"direct", r, direct}, {"xff-two-hops", r, proxied}, {"forwarded-two-hops", fr, fwd}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = bc.r.Resolve(bc.req)
			}
		})
	}
}

func BenchmarkHandler(b *testing.B) {
	r := MustNew(prefixes("10.0.0.0/8"), Config{Logger: quiet()})
	h := r.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	req := httptest.NewRequest("GET", "/", nil)
	req.RemoteAddr = "10.0.0.1:80"
	req.Header.Set("X-Forwarded-For", "198.51.100.9")
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, req)
	}
}
