package headers

import (
	"context"
	"html"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/clientip"
)

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// resolver trusts no proxy.
func resolver(t testing.TB) *clientip.Resolver {
	t.Helper()
	res, err := clientip.New(nil, clientip.Config{Logger: quietLogger()})
	require.NoError(t, err)
	return res
}

// via returns r as res's handler passes it on, its client in the context.
func via(res *clientip.Resolver, r *http.Request) (out *http.Request) {
	res.Handler(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { out = r })).ServeHTTP(nil, r)
	return out
}

// proxyResolver trusts 10.0.0.0/8 as proxies.
func proxyResolver(t testing.TB) *clientip.Resolver {
	t.Helper()
	res, err := clientip.New([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, clientip.Config{Logger: quietLogger()})
	require.NoError(t, err)
	return res
}

const (
	defaultHSTS  = "max-age=63072000; includeSubDomains"
	defaultPerms = "accelerometer=(), camera=(), display-capture=(), geolocation=(), gyroscope=(), magnetometer=(), microphone=(), midi=(), payment=(), usb=()"
	// defaultCSP has NONCE where the nonce goes.
	defaultCSP = "default-src 'self'; script-src 'nonce-NONCE' 'strict-dynamic'; style-src 'self' 'nonce-NONCE'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)

var nonceRE = regexp.MustCompile(`^[A-Za-z0-9+/]{22}==$`)

// serve runs h over r and returns the response headers and the nonce the
// handler saw.
func serve(t *testing.T, h *Policy, r *http.Request) (http.Header, string) {
	t.Helper()
	if _, ok := clientip.FromContext(r.Context()); !ok {
		r = via(resolver(t), r)
	}
	var nonce string
	rec := httptest.NewRecorder()
	h.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		nonce = Nonce(r.Context())
	})).ServeHTTP(rec, r)
	return rec.Result().Header, nonce
}

func TestDefaults(t *testing.T) {
	h, err := New(Config{})
	require.NoError(t, err)

	hdr, nonce := serve(t, h, httptest.NewRequest("GET", "https://example.com/", nil))
	require.Regexp(t, nonceRE, nonce)
	want := map[string]string{
		"Strict-Transport-Security":    defaultHSTS,
		"Content-Security-Policy":      strings.ReplaceAll(defaultCSP, "NONCE", nonce),
		"X-Content-Type-Options":       "nosniff",
		"Referrer-Policy":              "same-origin",
		"Cross-Origin-Opener-Policy":   "same-origin",
		"Cross-Origin-Resource-Policy": "same-origin",
		"Permissions-Policy":           defaultPerms,
		"X-Frame-Options":              "DENY",
	}
	for k, v := range want {
		assert.Equal(t, []string{v}, hdr[k], k)
	}
	assert.Len(t, hdr, len(want), "no other header: %v", hdr)
}

func TestHSTSOnlyOverHTTPS(t *testing.T) {
	tests := []struct {
		name   string
		url    string
		remote string
		hdr    map[string]string
		proxy  bool
		want   bool
	}{
		{name: "TLS", url: "https://example.com/", want: true},
		{name: "plain HTTP", url: "http://example.com/"},
		{name: "attack: untrusted peer claims https", url: "http://example.com/", remote: "203.0.113.9:4000",
			hdr: map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.1"}},
		{name: "attack: untrusted peer claims https, proxies configured", url: "http://example.com/", remote: "203.0.113.9:4000", proxy: true,
			hdr: map[string]string{"X-Forwarded-Proto": "https"}},
		{name: "trusted proxy says https", url: "http://example.com/", remote: "10.0.0.2:4000", proxy: true,
			hdr: map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.1"}, want: true},
		{name: "trusted proxy says http", url: "http://example.com/", remote: "10.0.0.2:4000", proxy: true,
			hdr: map[string]string{"X-Forwarded-Proto": "http", "X-Forwarded-For": "198.51.100.1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := resolver(t)
			if tt.proxy {
				res = proxyResolver(t)
			}
			h, err := New(Config{})
			require.NoError(t, err)
			r := httptest.NewRequest("GET", tt.url, nil)
			if tt.remote != "" {
				r.RemoteAddr = tt.remote
			}
			for k, v := range tt.hdr {
				r.Header.Set(k, v)
			}
			hdr, _ := serve(t, h, via(res, r))
			if tt.want {
				assert.Equal(t, defaultHSTS, hdr.Get("Strict-Transport-Security"))
			} else {
				assert.NotContains(t, hdr, "Strict-Transport-Security")
			}
			// Everything else is sent either way.
			assert.Equal(t, "nosniff", hdr.Get("X-Content-Type-Options"))
			assert.Contains(t, hdr, "Content-Security-Policy")
		})
	}
}

func TestOptions(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want map[string]string // "" means absent; NONCE is replaced
	}{
		{name: "HSTS preload", cfg: Config{HSTS: HSTS{Preload: true}},
			want: map[string]string{"Strict-Transport-Security": "max-age=63072000; includeSubDomains; preload"}},
		{name: "HSTS one year without subdomains", cfg: Config{HSTS: HSTS{MaxAge: 365 * 24 * time.Hour, ExcludeSubdomains: true}},
			want: map[string]string{"Strict-Transport-Security": "max-age=31536000"}},
		{name: "HSTS rounds down to seconds", cfg: Config{HSTS: HSTS{MaxAge: 400*24*time.Hour + 1500*time.Millisecond}},
			want: map[string]string{"Strict-Transport-Security": "max-age=34560001; includeSubDomains"}},
		{name: "report-only with reporting", cfg: Config{CSP: CSP{ReportOnly: true, ReportURI: "/csp-report"}},
			want: map[string]string{
				"Content-Security-Policy":             "",
				"Content-Security-Policy-Report-Only": defaultCSP + "; report-uri /csp-report; report-to csp-endpoint",
				"Reporting-Endpoints":                 `csp-endpoint="/csp-report"`,
				"X-Frame-Options":                     "DENY",
			}},
		{name: "absolute report URI", cfg: Config{CSP: CSP{ReportURI: "https://reports.example/csp?site=a"}},
			want: map[string]string{
				"Content-Security-Policy": defaultCSP + "; report-uri https://reports.example/csp?site=a; report-to csp-endpoint",
				"Reporting-Endpoints":     `csp-endpoint="https://reports.example/csp?site=a"`,
			}},
		{name: "typed builder", cfg: Config{CSP: CSP{
			ScriptSrc:               []Source{NonceSource, StrictDynamic, SHA256("alert(1)"), ReportSample},
			StyleSrc:                []Source{Self, UnsafeInline},
			ImgSrc:                  []Source{Self, "data:", "https://img.example"},
			ConnectSrc:              []Source{Self, "wss://live.example"},
			FrameAncestors:          []Source{Self},
			UpgradeInsecureRequests: true,
			RequireTrustedTypes:     true,
		}}, want: map[string]string{
			"Content-Security-Policy": "default-src 'self'; script-src 'nonce-NONCE' 'strict-dynamic' 'sha256-bhHHL3z2vDgxUt0W3dWQOrprscmda2Y5pLsLg4GF+pI=' 'report-sample'; " +
				"style-src 'self' 'unsafe-inline'; img-src 'self' data: https://img.example; connect-src 'self' wss://live.example; " +
				"object-src 'none'; base-uri 'none'; frame-ancestors 'self'; form-action 'self'; upgrade-insecure-requests; require-trusted-types-for 'script'",
			"X-Frame-Options": "SAMEORIGIN",
		}},
		// Hash values checked with: printf x | openssl dgst -sha256 -binary | base64
		{name: "no nonce: script hash only", cfg: Config{CSP: CSP{ScriptSrc: []Source{SHA256("x")}, StyleSrc: []Source{Self}}},
			want: map[string]string{"Content-Security-Policy": "default-src 'self'; script-src 'sha256-LXEWQrcmsEQBYnyp+6wy9chTD7GQPMTbAiWHF5IaSIE='; style-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"}},
		{name: "framing by a partner drops X-Frame-Options", cfg: Config{CSP: CSP{FrameAncestors: []Source{Self, "https://partner.example"}}},
			want: map[string]string{"X-Frame-Options": ""}},
		{name: "referrer, opener, resource policies", cfg: Config{ReferrerPolicy: "strict-origin-when-cross-origin", OpenerPolicy: "same-origin-allow-popups", ResourcePolicy: "same-site"},
			want: map[string]string{
				"Referrer-Policy":              "strict-origin-when-cross-origin",
				"Cross-Origin-Opener-Policy":   "same-origin-allow-popups",
				"Cross-Origin-Resource-Policy": "same-site",
			}},
		{name: "permissions", cfg: Config{Permissions: map[string][]string{"geolocation": {"self", "https://maps.example"}, "camera": {}, "fullscreen": {"*"}}},
			want: map[string]string{"Permissions-Policy": `camera=(), fullscreen=(*), geolocation=(self "https://maps.example")`}},
		{name: "no permissions policy", cfg: Config{Permissions: map[string][]string{}},
			want: map[string]string{"Permissions-Policy": ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := New(tt.cfg)
			require.NoError(t, err)
			hdr, nonce := serve(t, h, httptest.NewRequest("GET", "https://example.com/", nil))
			for k, v := range tt.want {
				if v == "" {
					assert.NotContains(t, hdr, k)
					continue
				}
				assert.Equal(t, []string{strings.ReplaceAll(v, "NONCE", nonce)}, hdr[k], k)
			}
			if !strings.Contains(hdr.Get("Content-Security-Policy")+hdr.Get("Content-Security-Policy-Report-Only"), "'nonce-") {
				assert.Empty(t, nonce, "no nonce in the context without a nonce in the policy")
			}
		})
	}
}

func TestNewRejects(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string // in the error
	}{
		{"attack: unsafe-inline scripts", Config{CSP: CSP{ScriptSrc: []Source{NonceSource, UnsafeInline}}}, "unsafe-inline"},
		{"attack: unsafe-eval", Config{CSP: CSP{ScriptSrc: []Source{Self, "'unsafe-eval'"}}}, "unsafe-eval"},
		{"attack: data: scripts", Config{CSP: CSP{ScriptSrc: []Source{Self, "data:"}}}, "data:"},
		{"attack: wildcard scripts", Config{CSP: CSP{ScriptSrc: []Source{"*"}}}, "*"},
		{"attack: https: scripts", Config{CSP: CSP{ScriptSrc: []Source{"https:"}}}, "https:"},
		{"attack: http host scripts", Config{CSP: CSP{ScriptSrc: []Source{"http://cdn.example"}}}, "http://cdn.example"},
		{"attack: wildcard object-src", Config{CSP: CSP{ObjectSrc: []Source{"*"}}}, "object-src"},
		{"attack: header injection in a source", Config{CSP: CSP{ImgSrc: []Source{"https://a.example\r\nSet-Cookie: x=1"}}}, "invalid source"},
		{"attack: directive injection in a source", Config{CSP: CSP{ImgSrc: []Source{"https://a.example; script-src *"}}}, "invalid source"},
		{"attack: directive injection in ReportURI", Config{CSP: CSP{ReportURI: "/r; script-src *"}}, "ReportURI"},
		{"attack: quote in ReportURI", Config{CSP: CSP{ReportURI: `/r"x`}}, "ReportURI"},
		{"protocol-relative ReportURI", Config{CSP: CSP{ReportURI: "//evil.example/r"}}, "ReportURI"},
		{"http ReportURI", Config{CSP: CSP{ReportURI: "http://r.example/"}}, "ReportURI"},
		{"unknown keyword", Config{CSP: CSP{StyleSrc: []Source{"'unsafe-hashes'"}}}, "unsupported keyword"},
		{"empty directive", Config{CSP: CSP{ImgSrc: []Source{}}}, "empty source list"},
		{"none with others", Config{CSP: CSP{ObjectSrc: []Source{None, Self}}}, "only source"},
		{"duplicate source", Config{CSP: CSP{ImgSrc: []Source{Self, Self}}}, "twice"},
		{"strict-dynamic without nonce", Config{CSP: CSP{ScriptSrc: []Source{StrictDynamic}}}, "strict-dynamic"},
		{"strict-dynamic outside script-src", Config{CSP: CSP{StyleSrc: []Source{StrictDynamic}}}, "only valid in script-src"},
		{"nonce in img-src", Config{CSP: CSP{ImgSrc: []Source{NonceSource}}}, "nonce"},
		{"malformed hash", Config{CSP: CSP{ScriptSrc: []Source{"'sha256-abc'"}}}, "unsupported keyword"},
		{"HSTS too short", Config{HSTS: HSTS{MaxAge: 180 * 24 * time.Hour}}, "below one year"},
		{"HSTS preload without subdomains", Config{HSTS: HSTS{Preload: true, ExcludeSubdomains: true}}, "includeSubDomains"},
		{"leaky referrer policy", Config{ReferrerPolicy: "unsafe-url"}, "ReferrerPolicy"},
		{"referrer no-referrer-when-downgrade", Config{ReferrerPolicy: "no-referrer-when-downgrade"}, "ReferrerPolicy"},
		{"opener unsafe-none", Config{OpenerPolicy: "unsafe-none"}, "OpenerPolicy"},
		{"resource policy typo", Config{ResourcePolicy: "same_origin"}, "ResourcePolicy"},
		{"attack: injection in permission origin", Config{Permissions: map[string][]string{"camera": {`https://a.example")`}}}, "invalid item"},
		{"permission origin with path", Config{Permissions: map[string][]string{"camera": {"https://a.example/x"}}}, "invalid item"},
		{"permission feature name", Config{Permissions: map[string][]string{"Camera=()": {}}}, "feature"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			assert.True(t, strings.HasPrefix(err.Error(), "headers: "), err.Error())
		})
	}
}

func TestNewDoesNotKeepCallerSlices(t *testing.T) {
	cfg := Config{CSP: CSP{ImgSrc: []Source{Self}}, Permissions: map[string][]string{"camera": {}}}
	h, err := New(cfg)
	require.NoError(t, err)
	cfg.CSP.ImgSrc[0] = "*"
	cfg.Permissions["camera"] = []string{"*"}
	d, err := h.With(func(*Config) {})
	require.NoError(t, err)
	hdr, _ := serve(t, d, httptest.NewRequest("GET", "https://example.com/", nil))
	assert.Contains(t, hdr.Get("Content-Security-Policy"), "img-src 'self';")
	assert.Equal(t, "camera=()", hdr.Get("Permissions-Policy"))
}

func TestNonceUniqueAndInTemplate(t *testing.T) {
	h, err := New(Config{})
	require.NoError(t, err)
	page := template.Must(template.New("p").Parse(`<script nonce="{{.}}">go()</script>`))
	handler := h.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = page.Execute(w, Nonce(r.Context()))
	}))

	const n = 2000
	seen := make(map[string]bool, n)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Go(func() {
			for i := 0; i < n/4; i++ {
				rec := httptest.NewRecorder()
				handler.ServeHTTP(rec, httptest.NewRequest("GET", "https://example.com/", nil))
				csp := rec.Header().Get("Content-Security-Policy")
				m := regexp.MustCompile(`script-src 'nonce-([^']*)'`).FindStringSubmatch(csp)
				if !assert.Len(t, m, 2, csp) {
					return
				}
				nonce := m[1]
				assert.Regexp(t, nonceRE, nonce)
				assert.Contains(t, csp, "style-src 'self' 'nonce-"+nonce+"'", "one nonce per response")
				assert.Equal(t, `<script nonce="`+nonce+`">go()</script>`, html.UnescapeString(rec.Body.String()))
				mu.Lock()
				assert.False(t, seen[nonce], "nonce reused: %s", nonce)
				seen[nonce] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	assert.Len(t, seen, n)
}

func TestNonceAccessors(t *testing.T) {
	assert.Empty(t, Nonce(context.Background()))
	ctx := WithNonce(context.Background(), "fixed")
	assert.Equal(t, "fixed", Nonce(ctx))

	// The middleware mints its own nonce even when a test nonce is present.
	h, err := New(Config{})
	require.NoError(t, err)
	r := httptest.NewRequest("GET", "https://example.com/", nil).WithContext(ctx)
	_, nonce := serve(t, h, r)
	assert.NotEqual(t, "fixed", nonce)
	assert.Regexp(t, nonceRE, nonce)
}

// The request context keeps working through the nonce node: values,
// cancellation and deadlines of the parent stay visible.
func TestNonceContextDelegates(t *testing.T) {
	h, err := New(Config{})
	require.NoError(t, err)
	type key struct{}
	parent, cancel := context.WithCancel(context.WithValue(context.Background(), key{}, "v"))
	r := httptest.NewRequest("GET", "https://example.com/", nil).WithContext(parent)
	var got context.Context
	h.Handler(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { got = r.Context() })).ServeHTTP(httptest.NewRecorder(), r)
	require.NotNil(t, got)
	assert.Equal(t, "v", got.Value(key{}))
	child, stop := context.WithCancel(got)
	defer stop()
	cancel()
	<-child.Done()
	assert.ErrorIs(t, child.Err(), context.Canceled)
}

func TestWithOverridesOneRoute(t *testing.T) {
	base, err := New(Config{CSP: CSP{ReportURI: "/csp-report"}})
	require.NoError(t, err)
	embed, err := base.With(func(c *Config) {
		c.CSP.FrameAncestors = []Source{"https://partner.example"}
		c.Permissions["geolocation"] = []string{"self"}
	})
	require.NoError(t, err)

	hdr, nonce := serve(t, embed, httptest.NewRequest("GET", "https://example.com/embed", nil))
	assert.Equal(t, strings.ReplaceAll(strings.Replace(defaultCSP, "frame-ancestors 'none'", "frame-ancestors https://partner.example", 1), "NONCE", nonce)+
		"; report-uri /csp-report; report-to csp-endpoint", hdr.Get("Content-Security-Policy"))
	assert.NotContains(t, hdr, "X-Frame-Options")
	assert.Contains(t, hdr.Get("Permissions-Policy"), "geolocation=(self)")
	assert.Equal(t, defaultHSTS, hdr.Get("Strict-Transport-Security"))

	// The base is unchanged.
	hdr, nonce = serve(t, base, httptest.NewRequest("GET", "https://example.com/", nil))
	assert.Equal(t, strings.ReplaceAll(defaultCSP, "NONCE", nonce)+"; report-uri /csp-report; report-to csp-endpoint", hdr.Get("Content-Security-Policy"))
	assert.Equal(t, "DENY", hdr.Get("X-Frame-Options"))
	assert.Equal(t, defaultPerms, hdr.Get("Permissions-Policy"))

	// A cleared field takes its default again; an invalid one is an error.
	d, err := base.With(func(c *Config) { c.CSP.ScriptSrc = nil })
	require.NoError(t, err)
	hdr, _ = serve(t, d, httptest.NewRequest("GET", "https://example.com/", nil))
	assert.Contains(t, hdr.Get("Content-Security-Policy"), "'strict-dynamic'")
	_, err = base.With(func(c *Config) { c.CSP.ScriptSrc = append(c.CSP.ScriptSrc, UnsafeInline) })
	assert.ErrorContains(t, err, "unsafe-inline")
}

// Regression guard for sharing precomputed []string values between
// responses: a handler that writes into a header slice in place must not
// change the next response.
func TestHeaderValuesNotSharedBetweenResponses(t *testing.T) {
	h, err := New(Config{})
	require.NoError(t, err)
	mutate := h.Handler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		for _, vs := range w.Header() {
			for i := range vs {
				vs[i] = "tampered"
			}
		}
	}))
	mutate.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "https://example.com/", nil))
	hdr, _ := serve(t, h, httptest.NewRequest("GET", "https://example.com/", nil))
	assert.Equal(t, "nosniff", hdr.Get("X-Content-Type-Options"))
	assert.Equal(t, defaultHSTS, hdr.Get("Strict-Transport-Security"))
}

func TestNoStore(t *testing.T) {
	rec := httptest.NewRecorder()
	NoStore(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "account")
	})).ServeHTTP(rec, httptest.NewRequest("GET", "https://example.com/account", nil))
	assert.Equal(t, []string{"no-store"}, rec.Header()["Cache-Control"])
}

func BenchmarkHandler(b *testing.B) {
	h, err := New(Config{CSP: CSP{ReportURI: "/csp-report"}})
	require.NoError(b, err)
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if Nonce(r.Context()) == "" {
			b.Fatal("no nonce")
		}
	})
	handler := h.Handler(next)
	r := via(resolver(b), httptest.NewRequest("GET", "https://example.com/", nil))
	w := &discardWriter{h: make(http.Header)}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		handler.ServeHTTP(w, r)
	}
}

type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardWriter) WriteHeader(int)             {}

// Without clientip's handler the scheme is unknown: Strict-Transport-Security
// is sent anyway (browsers ignore it over plain HTTP), never left out of a
// response that may be HTTPS behind a proxy.
func TestHSTSWithoutClientIsSent(t *testing.T) {
	h, err := New(Config{})
	require.NoError(t, err)
	rec := httptest.NewRecorder()
	h.Handler(http.NotFoundHandler()).ServeHTTP(rec, httptest.NewRequest("GET", "http://example.com/", nil))
	assert.Equal(t, defaultHSTS, rec.Header().Get("Strict-Transport-Security"))
}
