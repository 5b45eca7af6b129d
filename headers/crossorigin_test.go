package headers

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/audit"
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
			c.Audit = audit.New(sink, audit.Config{})
			co, err := NewCrossOrigin(resolver(t), c)
			require.NoError(t, err)
			r := httptest.NewRequest(tt.method, "https://shop.example"+tt.path, strings.NewReader("qty=1"))
			r.RemoteAddr = "198.51.100.20:443"
			for k, v := range tt.hdr {
				r.Header.Set(k, v)
			}
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
			assert.Equal(t, "csrf.rejected", e.Action)
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

func TestCrossOriginDenyHandlerGetsReason(t *testing.T) {
	var got error
	co, err := NewCrossOrigin(resolver(t), CrossOriginConfig{DenyHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
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
			_, err := NewCrossOrigin(resolver(t), tt.cfg)
			assert.Error(t, err)
		})
	}
	_, err := NewCrossOrigin(nil, CrossOriginConfig{})
	assert.ErrorContains(t, err, "clientip")
}
