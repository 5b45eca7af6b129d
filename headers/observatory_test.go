package headers

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"html/template"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/audit"
)

// observatoryResult is the JSON that scripts/observatory/check.mjs prints.
type observatoryResult struct {
	Observatory struct {
		Grade         string `json:"grade"`
		Score         int    `json:"score"`
		TestsPassed   int    `json:"testsPassed"`
		TestsQuantity int    `json:"testsQuantity"`
		Tests         map[string]struct {
			Pass          bool   `json:"pass"`
			Result        string `json:"result"`
			ScoreModifier int    `json:"scoreModifier"`
		} `json:"tests"`
	} `json:"observatory"`
	CSPEvaluator struct {
		Policy   string `json:"policy"`
		Findings []struct {
			Severity     int    `json:"severity"`
			SeverityName string `json:"severityName"`
			Directive    string `json:"directive"`
			Description  string `json:"description"`
			Blocking     bool   `json:"blocking"`
		} `json:"findings"`
	} `json:"cspEvaluator"`
}

// TestObservatory serves a page with the package defaults over TLS (a CA
// and an IP:127.0.0.1 certificate made here, plain HTTP redirecting to
// HTTPS) and scores it with the MDN HTTP Observatory and Google's CSP
// Evaluator through scripts/observatory/check.mjs. It needs Node and
// `npm ci --ignore-scripts` in scripts/observatory, so it runs only with
// RAMPART_OBSERVATORY=1; scripts/observatory/run.sh does both.
func TestObservatory(t *testing.T) {
	if os.Getenv("RAMPART_OBSERVATORY") != "1" {
		t.Skip("set RAMPART_OBSERVATORY=1 (or run scripts/observatory/run.sh) to score the defaults with the MDN HTTP Observatory; needs Node 20+")
	}
	node, err := exec.LookPath("node")
	require.NoError(t, err, "RAMPART_OBSERVATORY=1 needs node in PATH")
	script, err := filepath.Abs(filepath.Join("..", "scripts", "observatory", "check.mjs"))
	require.NoError(t, err)
	_, err = os.Stat(filepath.Join(filepath.Dir(script), "node_modules", "@mdn", "mdn-http-observatory"))
	require.NoError(t, err, "run `npm ci --ignore-scripts` in scripts/observatory first (scripts/observatory/run.sh does)")

	caPEM, serverCert := testCA(t)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(caFile, caPEM, 0o600))

	httpsURL, httpURL := serveDefaults(t, serverCert)
	httpsPort := httpsURL[strings.LastIndexByte(httpsURL, ':')+1:]
	httpPort := httpURL[strings.LastIndexByte(httpURL, ':')+1:]

	cmd := exec.CommandContext(t.Context(), node, script, "--host", "127.0.0.1", "--http-port", httpPort, "--https-port", httpsPort)
	cmd.Env = append(os.Environ(), "NODE_EXTRA_CA_CERTS="+caFile)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	t.Logf("check.mjs:\n%s", stderr.String())

	var res observatoryResult
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &res), "check.mjs output: %s", stdout.String())
	obs := res.Observatory
	t.Logf("Observatory grade %s, score %d, %d/%d tests passed", obs.Grade, obs.Score, obs.TestsPassed, obs.TestsQuantity)
	assert.Equal(t, "A+", obs.Grade)
	assert.GreaterOrEqual(t, obs.Score, 100)
	assert.Equal(t, 10, obs.TestsQuantity)
	assert.Equal(t, obs.TestsQuantity, obs.TestsPassed)
	for name, tr := range obs.Tests {
		assert.True(t, tr.Pass, "%s: %s", name, tr.Result)
		assert.GreaterOrEqual(t, tr.ScoreModifier, 0, "%s: %s", name, tr.Result)
	}
	for _, f := range res.CSPEvaluator.Findings {
		t.Logf("CSP Evaluator: %s %s: %s", f.SeverityName, f.Directive, f.Description)
		// Severity: lower is worse; HIGH 10, SYNTAX 20, MEDIUM 30,
		// HIGH_MAYBE 40, STRICT_CSP 45, MEDIUM_MAYBE 50, INFO 60.
		assert.True(t, f.SeverityName == "STRICT_CSP" || f.Severity >= 60, "finding of medium severity or worse: %+v", f)
	}
	assert.Contains(t, res.CSPEvaluator.Policy, "'strict-dynamic'")
	assert.NoError(t, runErr, "check.mjs exit status")
}

// serveDefaults starts the HTTPS site with the package defaults and a
// plain-HTTP listener that redirects to it, and returns both base URLs.
func serveDefaults(t *testing.T, cert tls.Certificate) (httpsURL, httpURL string) {
	t.Helper()
	res := resolver(t)
	sec, err := New(res, Config{CSP: CSP{ReportURI: "/csp-report"}})
	require.NoError(t, err)
	reports, err := NewReports(res, ReportsConfig{Audit: audit.New(&audit.MemorySink{}, audit.Config{})})
	require.NoError(t, err)
	txt, err := NewSecurityTxt(SecurityTxtConfig{Contact: []string{"mailto:security@deployed.works"}})
	require.NoError(t, err)
	co, err := NewCrossOrigin(res, CrossOriginConfig{InsecureBypassPatterns: []string{"POST /csp-report"}})
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

	tlsSrv := httptest.NewUnstartedServer(sec.Handler(co.Handler(mux)))
	tlsSrv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	tlsSrv.StartTLS()
	t.Cleanup(tlsSrv.Close)
	port, err := strconv.Atoi(tlsSrv.URL[strings.LastIndexByte(tlsSrv.URL, ':')+1:])
	require.NoError(t, err)

	rd, err := NewRedirect(res, []string{"127.0.0.1"}, RedirectConfig{HTTPSPort: port, ExemptPaths: []string{"/healthz"}})
	require.NoError(t, err)
	plain := httptest.NewServer(rd.Handler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n")) // only /healthz gets here
	})))
	t.Cleanup(plain.Close)
	return tlsSrv.URL, plain.URL
}

// testCA returns a fresh CA certificate (PEM) and a server certificate it
// signed for IP:127.0.0.1.
func testCA(t *testing.T) ([]byte, tls.Certificate) {
	t.Helper()
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "Rampart test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	caCert, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, caCert, &key.PublicKey, caKey)
	require.NoError(t, err)
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	return caPEM, tls.Certificate{Certificate: [][]byte{leafDER, caDER}, PrivateKey: key}
}

// The test server itself, checked without Node: the HTTP listener
// redirects to the HTTPS one, which sends the defaults, verified against
// the test CA.
func TestObservatoryServer(t *testing.T) {
	caPEM, cert := testCA(t)
	httpsURL, httpURL := serveDefaults(t, cert)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(caPEM))
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
