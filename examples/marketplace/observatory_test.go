package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/headers"
	"github.com/deployedworks/rampart/internal/observatory"
	"github.com/deployedworks/rampart/internal/testenv"
)

// serveTLS serves the app over HTTPS on 127.0.0.1 with a certificate
// from a throwaway CA, and plain HTTP that only redirects to it, as
// `marketplace serve -tls-cert … -http-addr …` does. It returns both
// ports and the CA.
func serveTLS(t *testing.T) (httpPort, httpsPort int, ca testenv.TLS) {
	t.Helper()
	ca = testenv.LocalTLS(t)
	srv := httptest.NewUnstartedServer(nil)
	httpsPort = srv.Listener.Addr().(*net.TCPAddr).Port
	clock := testenv.NewClock(time.Now())
	logs := &syncBuffer{}
	app, err := New(context.Background(), testConfig(t, fmt.Sprintf("https://localhost:%d", httpsPort), clock, logs))
	require.NoError(t, err, "logs: %s", logs)
	srv.Config.Handler = app.Handler()
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{ca.Cert}, MinVersion: tls.VersionTLS12}
	srv.StartTLS()

	rd, err := headers.NewRedirect([]string{"localhost", "127.0.0.1"}, headers.RedirectConfig{HTTPSPort: httpsPort, ExemptPaths: []string{"/healthz"}})
	require.NoError(t, err)
	plain := httptest.NewServer(app.ips.Handler(rd.Handler(app.Handler())))
	t.Cleanup(func() {
		plain.Close()
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		assert.NoError(t, app.Close(ctx))
	})
	return plain.Listener.Addr().(*net.TCPAddr).Port, httpsPort, ca
}

// The app, served over TLS with its defaults, scores A+ with all 10
// tests passed on the MDN HTTP Observatory, and its CSP has no finding of
// medium severity or worse in Google's CSP Evaluator: on the home page
// and on the login form (with its script).
func TestObservatory(t *testing.T) {
	observatory.Skip(t)
	for _, path := range []string{"/", "/login"} {
		t.Run(path, func(t *testing.T) {
			httpPort, httpsPort, ca := serveTLS(t)
			res, err := observatory.Scan(t, httpPort, httpsPort, path, ca.CAPEM)
			observatory.AssertAPlus(t, res)
			assert.NoError(t, err, "check.mjs exit status")
		})
	}
}

// Without Node: the plain listener redirects to HTTPS, which sends HSTS.
func TestServeTLSRedirects(t *testing.T) {
	httpPort, httpsPort, ca := serveTLS(t)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool}}}
	resp, err := hc.Get(fmt.Sprintf("http://127.0.0.1:%d/listings?q=lamp", httpPort))
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, fmt.Sprintf("https://127.0.0.1:%d/listings?q=lamp", httpsPort), resp.Request.URL.String())
	assert.Contains(t, resp.Header.Get("Strict-Transport-Security"), "max-age=")
}
