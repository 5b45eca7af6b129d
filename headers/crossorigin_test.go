package headers

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/clientip"
)

func TestCrossOrigin(t *testing.T) {
	cfg := CrossOriginConfig{
		TrustedOrigins:         []string{"https://partner.example"},
		InsecureBypassPatterns: []string{"POST /webhooks/", "/csp-report"},
	}
	tests := []struct {
		name   string
		method string
		path   string
		hdr    map[string]string
		want   int
	}{
		{name: "same-origin POST", method: "POST", path: "/cart", hdr: map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": "https://shop.example"}, want: 200},
		{name: "user-initiated navigation POST", method: "POST", path: "/cart", hdr: map[string]string{"Sec-Fetch-Site": "none"}, want: 200},
		{name: "old browser same-origin POST", method: "POST", path: "/cart", hdr: map[string]string{"Origin": "https://shop.example"}, want: 200},
		{name: "non-browser client", method: "POST", path: "/api/orders", want: 200},
		{name: "cross-site GET", method: "GET", path: "/cart", hdr: map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}, want: 200},
		{name: "cross-site HEAD", method: "HEAD", path: "/cart", hdr: map[string]string{"Sec-Fetch-Site": "cross-site"}, want: 200},
		{name: "trusted origin", method: "POST", path: "/cart", hdr: map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://partner.example"}, want: 200},
		{name: "bypass pattern", method: "POST", path: "/webhooks/stripe", hdr: map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://stripe.example"}, want: 200},
		{name: "report endpoint bypass", method: "POST", path: "/csp-report", hdr: map[string]string{"Sec-Fetch-Site": "cross-site"}, want: 200},

		{name: "attack: cross-site form POST", method: "POST", path: "/cart", hdr: map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}, want: 403},
		{name: "attack: same-site subdomain POST", method: "POST", path: "/cart", hdr: map[string]string{"Sec-Fetch-Site": "same-site", "Origin": "https://blog.shop.example"}, want: 403},
		{name: "attack: cross-site DELETE", method: "DELETE", path: "/account", hdr: map[string]string{"Sec-Fetch-Site": "cross-site"}, want: 403},
		{name: "attack: old browser cross-origin POST", method: "POST", path: "/cart", hdr: map[string]string{"Origin": "https://evil.example"}, want: 403},
		{name: "attack: null origin", method: "POST", path: "/cart", hdr: map[string]string{"Origin": "null"}, want: 403},
		{name: "attack: trusted origin prefix", method: "POST", path: "/cart", hdr: map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://partner.example.evil.example"}, want: 403},
		{name: "attack: bypass pattern is method-bound", method: "PUT", path: "/webhooks/stripe", hdr: map[string]string{"Sec-Fetch-Site": "cross-site"}, want: 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sink := &audit.MemorySink{}
			c := cfg
			c.Audit = audit.MustNew(sink, audit.Config{})
			co, err := NewCrossOrigin(c)
			require.NoError(t, err)
			r := httptest.NewRequest(tt.method, "https://shop.example"+tt.path, strings.NewReader("qty=1"))
			r.RemoteAddr = "198.51.100.20:443"
			for k, v := range tt.hdr {
				r.Header.Set(k, v)
			}
			r = via(resolver(t), r)
			rec := httptest.NewRecorder()
			co.Handler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(200) })).ServeHTTP(rec, r)
			assert.Equal(t, tt.want, rec.Code)
			ev := sink.Events()
			if tt.want == 200 {
				assert.NoError(t, co.Check(r))
				assert.Empty(t, ev)
				return
			}
			assert.ErrorIs(t, co.Check(r), ErrCrossOrigin)
			assert.NotContains(t, rec.Body.String(), "Sec-Fetch-Site", "the reason goes to audit, not the client")
			require.Len(t, ev, 1)
			e := ev[0]
			assert.Equal(t, audit.CategorySecurityAlert, e.Category)
			assert.Equal(t, ActionCrossOriginRejected, e.Action)
			assert.Equal(t, audit.OutcomeDenied, e.Outcome)
			assert.Equal(t, netip.MustParseAddr("198.51.100.20"), e.ClientIP)
			assert.Equal(t, audit.Target{Kind: "route", ID: tt.method + " " + tt.path}, e.Target)
			assert.Contains(t, e.Reason, "cross-origin request rejected")
			assert.Equal(t, tt.hdr["Sec-Fetch-Site"], e.Meta["sec-fetch-site"])
			assert.Equal(t, tt.hdr["Origin"], e.Meta["origin"])
			assert.Equal(t, "shop.example", e.Meta["host"])
		})
	}
}

func TestCrossOriginOnDenyGetsReason(t *testing.T) {
	var got error
	co, err := NewCrossOrigin(CrossOriginConfig{OnDeny: func(w http.ResponseWriter, _ *http.Request, err error) {
		got = err
		http.Error(w, "custom", http.StatusForbidden)
	}})
	require.NoError(t, err)
	r := httptest.NewRequest("POST", "https://shop.example/cart", nil)
	r.Header.Set("Sec-Fetch-Site", "cross-site")
	rec := httptest.NewRecorder()
	co.Handler(http.NotFoundHandler()).ServeHTTP(rec, r)
	assert.Equal(t, 403, rec.Code)
	assert.Equal(t, "custom\n", rec.Body.String())
	assert.ErrorIs(t, got, ErrCrossOrigin)
	assert.Contains(t, got.Error(), "Sec-Fetch-Site")
}

func TestNewCrossOriginRejects(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  CrossOriginConfig
	}{
		{"origin with path", CrossOriginConfig{TrustedOrigins: []string{"https://partner.example/"}}},
		{"origin without scheme", CrossOriginConfig{TrustedOrigins: []string{"partner.example"}}},
		{"wildcard origin", CrossOriginConfig{TrustedOrigins: []string{"*"}}},
		{"bad pattern", CrossOriginConfig{InsecureBypassPatterns: []string{"POST /{x"}}},
		{"conflicting patterns", CrossOriginConfig{InsecureBypassPatterns: []string{"/a", "/a"}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewCrossOrigin(tt.cfg)
			assert.Error(t, err)
		})
	}
}

// TestCrossOriginSchemeRegression: without Sec-Fetch-Site, the fallback
// compared only Origin's host with Host, so http://shop.example could post
// to https://shop.example. Whole origins are compared now, with the scheme
// as clientip resolves it, behind trusted proxies too.
func TestCrossOriginSchemeRegression(t *testing.T) {
	tests := []struct {
		name   string
		public string // CrossOriginConfig.PublicOrigin
		url    string
		remote string
		hdr    map[string]string
		want   int
	}{
		{name: "https page to https", url: "https://shop.example/cart", hdr: map[string]string{"Origin": "https://shop.example"}, want: 200},
		{name: "explicit default port", url: "https://shop.example/cart", hdr: map[string]string{"Origin": "https://shop.example:443"}, want: 200},
		{name: "host case", url: "https://Shop.Example/cart", hdr: map[string]string{"Origin": "https://shop.example"}, want: 200},
		{name: "http page to http", url: "http://shop.example/cart", hdr: map[string]string{"Origin": "http://shop.example"}, want: 200},
		{name: "with port", url: "http://localhost:8080/cart", hdr: map[string]string{"Origin": "http://localhost:8080"}, want: 200},
		{name: "attack: http page to https", url: "https://shop.example/cart", hdr: map[string]string{"Origin": "http://shop.example"}, want: 403},
		{name: "attack: https page to http", url: "http://shop.example/cart", hdr: map[string]string{"Origin": "https://shop.example"}, want: 403},
		{name: "attack: other port", url: "https://shop.example/cart", hdr: map[string]string{"Origin": "https://shop.example:8443"}, want: 403},
		{name: "attack: http default port to https", url: "https://shop.example/cart", hdr: map[string]string{"Origin": "http://shop.example:443"}, want: 403},

		{name: "proxy: TLS ended at a trusted proxy", url: "http://shop.example/cart", remote: "10.0.0.1:5000",
			hdr: map[string]string{"X-Forwarded-For": "198.51.100.9", "X-Forwarded-Proto": "https", "Origin": "https://shop.example"}, want: 200},
		{name: "attack: proxy: http page to https", url: "http://shop.example/cart", remote: "10.0.0.1:5000",
			hdr: map[string]string{"X-Forwarded-For": "198.51.100.9", "X-Forwarded-Proto": "https", "Origin": "http://shop.example"}, want: 403},
		{name: "attack: X-Forwarded-Proto from an untrusted peer", url: "http://shop.example/cart", remote: "198.51.100.9:5000",
			hdr: map[string]string{"X-Forwarded-Proto": "https", "Origin": "https://shop.example"}, want: 403},

		{name: "public origin: proxy rewrote Host", public: "https://shop.example", url: "http://app.internal:8080/cart", remote: "10.0.0.1:5000",
			hdr: map[string]string{"Origin": "https://shop.example"}, want: 200},
		{name: "attack: public origin: http page", public: "https://shop.example", url: "https://shop.example/cart",
			hdr: map[string]string{"Origin": "http://shop.example"}, want: 403},
		{name: "attack: public origin: Host is not enough", public: "https://shop.example", url: "https://other.example/cart",
			hdr: map[string]string{"Origin": "https://other.example"}, want: 403},

		{name: "IPv6 host", url: "http://[2001:db8::1]:8080/cart", hdr: map[string]string{"Origin": "http://[2001:db8::1]:8080"}, want: 200},
		{name: "IPv6 host, default port", url: "https://[2001:db8::1]/cart", hdr: map[string]string{"Origin": "https://[2001:db8::1]"}, want: 200},
		{name: "attack: IPv6 host, http page to https", url: "https://[2001:db8::1]/cart", hdr: map[string]string{"Origin": "http://[2001:db8::1]"}, want: 403},
		{name: "attack: IPv6 host, other address", url: "https://[2001:db8::1]/cart", hdr: map[string]string{"Origin": "https://[2001:db8::2]"}, want: 403},
		{name: "attack: opaque origin", url: "https://shop.example/cart", hdr: map[string]string{"Origin": "null"}, want: 403},
		{name: "attack: origin with a path", url: "https://shop.example/cart", hdr: map[string]string{"Origin": "https://shop.example/x"}, want: 403},
		{name: "no Origin, no Sec-Fetch-Site: not from a browser", url: "https://shop.example/cart", want: 200},

		{name: "trusted http origin", url: "https://shop.example/cart", hdr: map[string]string{"Origin": "http://partner.example"}, want: 200},
		{name: "bypassed route", url: "https://shop.example/webhooks/x", hdr: map[string]string{"Origin": "http://shop.example"}, want: 200},
		{name: "Sec-Fetch-Site decides when present", url: "https://shop.example/cart", hdr: map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": "https://shop.example"}, want: 200},
		{name: "safe method", url: "https://shop.example/cart", hdr: map[string]string{"Origin": "http://shop.example"}, want: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sink := &audit.MemorySink{}
			co, err := NewCrossOrigin(CrossOriginConfig{
				PublicOrigin:           tt.public,
				TrustedOrigins:         []string{"http://partner.example"},
				InsecureBypassPatterns: []string{"POST /webhooks/"},
				Audit:                  audit.MustNew(sink, audit.Config{}),
			})
			require.NoError(t, err)
			method := "POST"
			if tt.name == "safe method" {
				method = "GET"
			}
			r := httptest.NewRequest(method, tt.url, strings.NewReader("qty=1"))
			if tt.remote != "" {
				r.RemoteAddr = tt.remote
			}
			for k, v := range tt.hdr {
				r.Header.Set(k, v)
			}
			r = via(proxyResolver(t), r)
			rec := httptest.NewRecorder()
			co.Handler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(200) })).ServeHTTP(rec, r)
			assert.Equal(t, tt.want, rec.Code)
			if tt.want == 403 {
				assert.ErrorIs(t, co.Check(r), ErrCrossOrigin)
				require.Len(t, sink.Events(), 1)
				assert.Contains(t, sink.Events()[0].Reason, "scheme, host and port")
			} else {
				assert.NoError(t, co.Check(r))
			}
		})
	}
}

func TestNewCrossOriginRejectsPublicOrigin(t *testing.T) {
	for _, o := range []string{"shop.example", "https://shop.example/", "ftp://shop.example", "null", "https://"} {
		_, err := NewCrossOrigin(CrossOriginConfig{PublicOrigin: o})
		assert.ErrorContains(t, err, "PublicOrigin", o)
	}
}

// Attack (misconfiguration): without clientip's handler the request's
// scheme is unknown, so an old browser's Origin cannot be compared with
// the site's origin: the request is rejected (fail closed), and the reason
// says why. Sec-Fetch-Site needs no scheme and still decides.
func TestCrossOriginNoClientFailsClosed(t *testing.T) {
	co, err := NewCrossOrigin(CrossOriginConfig{})
	require.NoError(t, err)
	r := httptest.NewRequest("POST", "https://shop.example/cart", nil)
	r.Header.Set("Origin", "https://shop.example")
	err = co.Check(r)
	assert.ErrorIs(t, err, ErrCrossOrigin)
	assert.ErrorIs(t, err, clientip.ErrNoClient)
	assert.NoError(t, co.Check(via(resolver(t), r)), "the same request through clientip's handler")

	r = httptest.NewRequest("POST", "https://shop.example/cart", nil)
	r.Header.Set("Sec-Fetch-Site", "same-origin")
	assert.NoError(t, co.Check(r))

	// With PublicOrigin set, the scheme is known without the context.
	co, err = NewCrossOrigin(CrossOriginConfig{PublicOrigin: "https://shop.example"})
	require.NoError(t, err)
	r = httptest.NewRequest("POST", "https://shop.example/cart", nil)
	r.Header.Set("Origin", "https://shop.example")
	assert.NoError(t, co.Check(r))
}

// A flood of cross-origin requests, which any web page can make its
// visitors send, costs the audit log a bounded number of records.
func TestCrossOriginAuditIsPaced(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sink := &audit.MemorySink{}
		c, err := NewCrossOrigin(CrossOriginConfig{Audit: audit.MustNew(sink, audit.Config{})})
		require.NoError(t, err)
		h := c.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
		attack := func() {
			r := httptest.NewRequest("POST", "https://shop.example/cart", nil)
			r.Header.Set("Sec-Fetch-Site", "cross-site")
			h.ServeHTTP(httptest.NewRecorder(), r)
		}
		for range 500 {
			attack()
		}
		require.Len(t, sink.Events(), 20)
		time.Sleep(time.Second)
		attack()
		ev := sink.Events()
		require.Len(t, ev, 21)
		assert.Equal(t, ActionCrossOriginRejected, ev[20].Action)
		assert.Equal(t, "480", ev[20].Meta["suppressed"])
	})
}
