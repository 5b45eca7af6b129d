package headers

import (
	"crypto/tls"
	"html/template"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/internal/observatory"
	"github.com/deployedworks/rampart/internal/testenv"
)

// TestObservatory serves a page with the package defaults over TLS (a CA
// and an IP:127.0.0.1 certificate made here, plain HTTP redirecting to
// HTTPS) and scores it with the MDN HTTP Observatory and Google's CSP
// Evaluator through scripts/observatory/check.mjs. It needs Node and
// `npm ci --ignore-scripts` in scripts/observatory, so it runs only with
// RAMPART_OBSERVATORY=1; scripts/observatory/run.sh does both.
func TestObservatory(t *testing.T) {
	observatory.Skip(t)
	ca := testenv.LocalTLS(t)
	httpsURL, httpURL := serveDefaults(t, ca.Cert)
	res, err := observatory.Scan(t, port(t, httpURL), port(t, httpsURL), "/", ca.CAPEM)
	observatory.AssertAPlus(t, res)
	assert.NoError(t, err, "check.mjs exit status")
}

// port returns the port of a URL served on loopback.
func port(t *testing.T, u string) int {
	t.Helper()
	p, err := strconv.Atoi(u[strings.LastIndexByte(u, ':')+1:])
	require.NoError(t, err)
	return p
}

// serveDefaults starts the HTTPS site with the package defaults and a
// plain-HTTP listener that redirects to it, and returns both base URLs.
func serveDefaults(t *testing.T, cert tls.Certificate) (httpsURL, httpURL string) {
	t.Helper()
	res := resolver(t)
	sec, err := New(Config{CSP: CSP{ReportURI: "/csp-report"}})
	require.NoError(t, err)
	reports, err := NewReports(ReportsConfig{Audit: audit.MustNew(&audit.MemorySink{}, audit.Config{})})
	require.NoError(t, err)
	txt, err := NewSecurityTxt(SecurityTxtConfig{Contact: []string{"mailto:security@deployed.works"}})
	require.NoError(t, err)
	co, err := NewCrossOrigin(CrossOriginConfig{InsecureBypassPatterns: []string{"POST /csp-report"}})
	require.NoError(t, err)

	page := template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Rampart headers</title>
<style nonce="{{.}}">body { font-family: sans-serif }</style></head>
<body><h1>Rampart</h1><p id="out"></p>
<script nonce="{{.}}">document.getElementById("out").textContent = "nonce ok";</script>
</body></html>`))
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = page.Execute(w, Nonce(r.Context()))
	})
	mux.HandleFunc("GET /robots.txt", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("User-agent: *\nDisallow:\n"))
	})
	mux.Handle("GET /.well-known/security.txt", txt)
	mux.Handle("POST /csp-report", reports)

	tlsSrv := httptest.NewUnstartedServer(res.Handler(sec.Handler(co.Handler(mux))))
	tlsSrv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	tlsSrv.StartTLS()
	t.Cleanup(tlsSrv.Close)
	rd, err := NewRedirect([]string{"127.0.0.1"}, RedirectConfig{HTTPSPort: port(t, tlsSrv.URL), ExemptPaths: []string{"/healthz"}})
	require.NoError(t, err)
	plain := httptest.NewServer(res.Handler(rd.Handler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n")) // only /healthz gets here
	}))))
	t.Cleanup(plain.Close)
	return tlsSrv.URL, plain.URL
}

// The test server itself, checked without Node: the HTTP listener
// redirects to the HTTPS one, which sends the defaults, verified against
// the test CA.
func TestObservatoryServer(t *testing.T) {
	ca := testenv.LocalTLS(t)
	httpsURL, httpURL := serveDefaults(t, ca.Cert)
	pool := ca.Pool
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}

	resp, err := client.Get(httpURL + "/?q=1")
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, httpsURL+"/?q=1", resp.Request.URL.String())
	require.NotNil(t, resp.Request.Response)
	assert.Equal(t, http.StatusPermanentRedirect, resp.Request.Response.StatusCode)
	assert.Equal(t, defaultHSTS, resp.Header.Get("Strict-Transport-Security"))
	assert.Contains(t, resp.Header.Get("Content-Security-Policy"), "'strict-dynamic'")

	resp, err = client.Get(httpURL + "/healthz")
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, httpURL+"/healthz", resp.Request.URL.String(), "health checks are not redirected")
}
