package headers

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/clientip"
)

func TestRedirect(t *testing.T) {
	tests := []struct {
		name   string
		cfg    RedirectConfig
		method string            // default GET
		target string            // request target (path, or absolute URL)
		query  string            // raw query set after parsing, for bytes no parser accepts
		host   string            // Host header; default shop.example
		tls    bool              // request arrived over TLS
		remote string            // peer; default 192.0.2.1:1234
		hdr    map[string]string // extra request headers
		want   int
		loc    string
	}{
		{name: "root", target: "/", want: 308, loc: "https://shop.example/"},
		{name: "path and query kept", target: "/items/42?sort=price&q=a%20b", want: 308, loc: "https://shop.example/items/42?sort=price&q=a%20b"},
		{name: "escaped path kept", target: "/a%2Fb/%C3%A9", want: 308, loc: "https://shop.example/a%2Fb/%C3%A9"},
		{name: "non-ASCII query escaped", target: "/s?q=caf\xc3\xa9", want: 308, loc: "https://shop.example/s?q=caf%C3%A9"},
		{name: "second allowed host", target: "/", host: "www.shop.example", want: 308, loc: "https://www.shop.example/"},
		{name: "host case and trailing dot", target: "/", host: "SHOP.Example.", want: 308, loc: "https://shop.example/"},
		{name: "host with port", target: "/x", host: "shop.example:8080", want: 308, loc: "https://shop.example/x"},
		{name: "HTTPS port", cfg: RedirectConfig{HTTPSPort: 8443}, target: "/x", want: 308, loc: "https://shop.example:8443/x"},
		{name: "port 443 left out", cfg: RedirectConfig{HTTPSPort: 443}, target: "/x", want: 308, loc: "https://shop.example/x"},
		{name: "IP host", target: "/", host: "127.0.0.1:80", want: 308, loc: "https://127.0.0.1/"},
		{name: "IPv6 host", target: "/", host: "[::1]:80", want: 308, loc: "https://[::1]/"},
		{name: "POST keeps method with 308", method: "POST", target: "/checkout", want: 308, loc: "https://shop.example/checkout"},
		{name: "already TLS", target: "/", tls: true, want: 200},
		{name: "trusted proxy says https", target: "/", remote: "10.1.1.1:5000",
			hdr: map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.2"}, want: 200},
		{name: "trusted proxy says http", target: "/a", remote: "10.1.1.1:5000",
			hdr: map[string]string{"X-Forwarded-Proto": "http", "X-Forwarded-For": "198.51.100.2"}, want: 308, loc: "https://shop.example/a"},
		{name: "attack: untrusted peer claims https", target: "/a", remote: "198.51.100.9:5000",
			hdr: map[string]string{"X-Forwarded-Proto": "https"}, want: 308, loc: "https://shop.example/a"},
		{name: "health check exempt", cfg: RedirectConfig{ExemptPaths: []string{"/healthz"}}, target: "/healthz", want: 200},
		{name: "exemption is exact", cfg: RedirectConfig{ExemptPaths: []string{"/healthz"}}, target: "/healthz/x", want: 308, loc: "https://shop.example/healthz/x"},

		{name: "attack: foreign host", target: "/", host: "evil.example", want: 400},
		{name: "attack: allowed host as subdomain", target: "/", host: "shop.example.evil.example", want: 400},
		{name: "attack: userinfo trick", target: "/", host: "shop.example@evil.example", want: 400},
		{name: "attack: backslash trick", target: "/", host: `evil.example\shop.example`, want: 400},
		{name: "attack: absolute-form target", target: "http://evil.example/x", host: "shop.example", want: 400},
		{name: "attack: empty host", target: "/", host: "", want: 400},
		{name: "attack: header injection in host", target: "/", host: "shop.example\r\nSet-Cookie: a=b", want: 400},
		{name: "attack: protocol-relative path stays on host", target: "//evil.example/x", want: 308, loc: "https://shop.example//evil.example/x"},
		{name: "attack: CRLF in query", target: "/", query: "a=b\r\nSet-Cookie:x", want: 400},
		{name: "OPTIONS *", target: "*", want: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rd, err := NewRedirect([]string{"shop.example", "www.shop.example", "127.0.0.1", "::1"}, tt.cfg)
			require.NoError(t, err)
			r := &http.Request{Method: "GET", Header: http.Header{}, RemoteAddr: "192.0.2.1:1234", Host: "shop.example"}
			if tt.method != "" {
				r.Method = tt.method
			}
			r.URL, err = url.ParseRequestURI(tt.target)
			require.NoError(t, err)
			if tt.query != "" {
				r.URL.RawQuery = tt.query
			}
			if tt.host != "" || tt.name == "attack: empty host" {
				r.Host = tt.host
			}
			if r.URL.Host != "" {
				r.Host = r.URL.Host // what net/http does for absolute-form targets
			}
			if tt.tls {
				r.TLS = httptest.NewRequest("GET", "https://x/", nil).TLS
			}
			if tt.remote != "" {
				r.RemoteAddr = tt.remote
			}
			for k, v := range tt.hdr {
				r.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			proxyResolver(t).Handler(rd.Handler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(200)
			}))).ServeHTTP(rec, r)
			assert.Equal(t, tt.want, rec.Code)
			assert.Equal(t, tt.loc, rec.Header().Get("Location"))
			assert.NotContains(t, rec.Header(), "Strict-Transport-Security", "RFC 6797 §7.2: never over HTTP")
			assert.NotContains(t, rec.Body.String(), "evil")
		})
	}
}

func TestRedirectOnDenyGetsReason(t *testing.T) {
	var got error
	rd, err := NewRedirect([]string{"shop.example"}, RedirectConfig{
		OnDeny: func(w http.ResponseWriter, _ *http.Request, err error) {
			got = err
			w.WriteHeader(http.StatusMisdirectedRequest)
		},
	})
	require.NoError(t, err)
	rec := httptest.NewRecorder()
	r := httptest.NewRequest("GET", "http://evil.example/", nil)
	resolver(t).Handler(rd.Handler(http.NotFoundHandler())).ServeHTTP(rec, r)
	assert.Equal(t, http.StatusMisdirectedRequest, rec.Code)
	assert.ErrorIs(t, got, ErrHostNotAllowed)

	loc, err := rd.Location(via(resolver(t), httptest.NewRequest("GET", "http://shop.example/a?b=c", nil)))
	require.NoError(t, err)
	assert.Equal(t, "https://shop.example/a?b=c", loc)
}

func TestNewRedirectRejects(t *testing.T) {
	for _, tt := range []struct {
		name  string
		hosts []string
		cfg   RedirectConfig
	}{
		{"no hosts", nil, RedirectConfig{}},
		{"scheme in host", []string{"https://shop.example"}, RedirectConfig{}},
		{"port in host", []string{"shop.example:443"}, RedirectConfig{}},
		{"path in host", []string{"shop.example/x"}, RedirectConfig{}},
		{"wildcard host", []string{"*.shop.example"}, RedirectConfig{}},
		{"bad port", []string{"shop.example"}, RedirectConfig{HTTPSPort: 70000}},
		{"relative exempt path", []string{"shop.example"}, RedirectConfig{ExemptPaths: []string{"healthz"}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewRedirect(tt.hosts, tt.cfg)
			assert.Error(t, err)
		})
	}
}

// Attack (misconfiguration): without clientip's handler the scheme a proxy
// reported is unknown. The redirect neither serves the request (it may be
// plain HTTP) nor redirects it (behind a TLS proxy that would loop): it
// fails closed through OnError, with an error wrapping clientip.ErrNoClient.
// Requests over the server's own TLS and exempt paths need no scheme.
func TestRedirectNoClientFailsClosed(t *testing.T) {
	var got error
	rd, err := NewRedirect([]string{"shop.example"}, RedirectConfig{
		ExemptPaths: []string{"/healthz"},
		OnError: func(w http.ResponseWriter, _ *http.Request, err error) {
			got = err
			w.WriteHeader(http.StatusInternalServerError)
		},
	})
	require.NoError(t, err)
	served := false
	next := http.HandlerFunc(func(http.ResponseWriter, *http.Request) { served = true })

	rec := httptest.NewRecorder()
	rd.Handler(next).ServeHTTP(rec, httptest.NewRequest("GET", "http://shop.example/a", nil))
	assert.Equal(t, http.StatusInternalServerError, rec.Code)
	assert.ErrorIs(t, got, clientip.ErrNoClient)
	assert.False(t, served)
	assert.Empty(t, rec.Header().Get("Location"))
	_, err = rd.Location(httptest.NewRequest("GET", "http://shop.example/a", nil))
	assert.ErrorIs(t, err, clientip.ErrNoClient)

	for _, u := range []string{"https://shop.example/a", "http://shop.example/healthz"} {
		loc, err := rd.Location(httptest.NewRequest("GET", u, nil))
		assert.NoError(t, err, u)
		assert.Empty(t, loc, u)
	}

	// The default OnError answers 500 with a fixed text.
	rd, err = NewRedirect([]string{"shop.example"}, RedirectConfig{})
	require.NoError(t, err)
	rec = httptest.NewRecorder()
	rd.Handler(next).ServeHTTP(rec, httptest.NewRequest("GET", "http://shop.example/a", nil))
	assert.Equal(t, http.StatusInternalServerError, rec.Code)
	assert.NotContains(t, rec.Body.String(), "clientip")
}

// FuzzRedirectLocation feeds attacker-controlled Host headers and request
// targets to Location: every redirect it produces must be https, to an
// allowed host, and free of characters that could split the header.
func FuzzRedirectLocation(f *testing.F) {
	for _, s := range [][2]string{
		{"shop.example", "/a?b=c"}, {"evil.example", "/"}, {"shop.example:80", "//evil.example/x"},
		{"[::1]:80", "/"}, {"SHOP.EXAMPLE.", "/%2F"}, {"shop.example@evil.example", "/"}, {"shop.example", "/?q=\xff"},
	} {
		f.Add(s[0], s[1])
	}
	rd, err := NewRedirect([]string{"shop.example", "::1"}, RedirectConfig{HTTPSPort: 8443})
	require.NoError(f, err)
	f.Fuzz(func(t *testing.T, host, target string) {
		u, err := url.ParseRequestURI(target)
		if err != nil {
			return
		}
		r := &http.Request{Method: "GET", Host: host, URL: u, Header: http.Header{}, RemoteAddr: "192.0.2.1:1"}
		loc, err := rd.Location(r.WithContext(clientip.WithInfo(context.Background(), clientip.Info{Scheme: "http"})))
		if err != nil || loc == "" {
			return
		}
		if hasCTL(loc) {
			t.Fatalf("control or space in Location %q", loc)
		}
		lu, err := url.Parse(loc)
		if err != nil {
			t.Fatalf("Location %q does not parse: %v", loc, err)
		}
		if lu.Scheme != "https" || (lu.Hostname() != "shop.example" && lu.Hostname() != "::1") || lu.Port() != "8443" || lu.User != nil {
			t.Fatalf("Location %q leaves the allow-list", loc)
		}
	})
}
