package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"github.com/deployedworks/rampart/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// suiteCase is a client offering one protocol version and, for TLS 1.2,
// one cipher suite.
type suiteCase struct {
	name    string
	version uint16
	suite   uint16 // TLS 1.2 only
	ok      bool
}

var suiteCases = []suiteCase{
	{"TLS 1.2 ECDHE-ECDSA-AES128-GCM-SHA256", tls.VersionTLS12, tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, true},
	{"TLS 1.2 ECDHE-ECDSA-AES256-GCM-SHA384", tls.VersionTLS12, tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, true},
	{"TLS 1.2 ECDHE-ECDSA-CHACHA20-POLY1305", tls.VersionTLS12, tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, true},
	{"TLS 1.3", tls.VersionTLS13, 0, true},
	{"attack: TLS 1.2 CBC ECDHE-ECDSA-AES128-SHA", tls.VersionTLS12, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, false},
	{"attack: TLS 1.2 CBC ECDHE-ECDSA-AES256-SHA", tls.VersionTLS12, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA, false},
	{"attack: TLS 1.2 CBC ECDHE-ECDSA-AES128-SHA256", tls.VersionTLS12, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256, false},
	{"attack: TLS 1.1", tls.VersionTLS11, 0, false},
}

// checkSuites handshakes with addr once per suiteCase, trusting pool and
// naming serverName, and checks which succeed.
func checkSuites(t *testing.T, addr, serverName string, pool *x509.CertPool) {
	t.Helper()
	for _, tc := range suiteCases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &tls.Config{RootCAs: pool, ServerName: serverName, MinVersion: tc.version, MaxVersion: tc.version,
				NextProtos: []string{"h2", "http/1.1"}}
			if tc.version == tls.VersionTLS11 {
				cfg.MinVersion = tls.VersionTLS10
			}
			if tc.suite != 0 {
				cfg.CipherSuites = []uint16{tc.suite}
			}
			conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, cfg)
			if !tc.ok {
				require.Error(t, err, "the server accepted it")
				return
			}
			require.NoError(t, err)
			defer conn.Close()
			st := conn.ConnectionState()
			assert.Equal(t, tc.version, st.Version)
			if tc.suite != 0 {
				assert.Equal(t, tc.suite, st.CipherSuite)
			}
			assert.Equal(t, "h2", st.NegotiatedProtocol, "HTTP/2 is still offered")
		})
	}
	t.Run("HTTP/2 request", func(t *testing.T) {
		hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{ForceAttemptHTTP2: true,
			TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: serverName},
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, network, addr)
			}}}
		res, err := hc.Get("https://" + serverName + "/healthz")
		require.NoError(t, err)
		defer res.Body.Close()
		assert.Equal(t, http.StatusOK, res.StatusCode)
		assert.Equal(t, 2, res.ProtoMajor)
	})
}

// TestServe_TLSSuites_CertFile: with -tls-cert/-tls-key, TLS 1.2 offers
// only ECDHE AEAD suites: a CBC handshake fails, GCM and ChaCha20 work.
func TestServe_TLSSuites_CertFile(t *testing.T) {
	t.Parallel()
	certFile, keyFile, pool := selfSignedCert(t, t.TempDir())
	s := startServe(t, nil, "-data", t.TempDir(), "-addr", "127.0.0.1:0",
		"-tls-cert", certFile, "-tls-key", keyFile, "-public-url", "https://localhost:8443")
	checkSuites(t, s.addrs["https"], "localhost", pool)
}

// TestServe_TLSSuites_ACME: the -domain (autocert) set-up has the same
// policy. The certificate comes from autocert's cache, put there as if
// issued before, so that no ACME server is asked.
func TestServe_TLSSuites_ACME(t *testing.T) {
	t.Parallel()
	const domain = "market.test" // autocert refuses names without a dot
	dir := t.TempDir()
	pool := cacheACMECert(t, filepath.Join(dir, "autocert"), domain)
	s := startServe(t, nil, "-data", dir, "-addr", "127.0.0.1:0", "-http-addr", "127.0.0.1:0", "-domain", domain)
	checkSuites(t, s.addrs["https"], domain, pool)
}

// cacheACMECert writes an ECDSA and an RSA certificate for domain into
// autocert's DirCache dir, in its format (the key, then the chain, PEM;
// the RSA one under "DOMAIN+rsa", which autocert serves to clients that
// offer no ECDHE-ECDSA suite, TLS 1.3-only ones among them), and returns a
// pool trusting their CA.
func cacheACMECert(t *testing.T, dir, domain string) *x509.CertPool {
	t.Helper()
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ACME test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	ca, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(dir, 0o700))
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	ecDER, err := x509.MarshalECPrivateKey(ecKey)
	require.NoError(t, err)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	for i, k := range []struct {
		name, pemType string
		der           []byte
		pub           any
	}{
		{domain, "EC PRIVATE KEY", ecDER, &ecKey.PublicKey},
		{domain + "+rsa", "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey), &rsaKey.PublicKey},
	} {
		leafDER, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: big.NewInt(int64(2 + i)),
			Subject: pkix.Name{CommonName: domain}, DNSNames: []string{domain},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}},
			ca, k.pub, caKey)
		require.NoError(t, err)
		pemData := pem.EncodeToMemory(&pem.Block{Type: k.pemType, Bytes: k.der})
		pemData = append(pemData, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER})...)
		pemData = append(pemData, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})...)
		require.NoError(t, os.WriteFile(filepath.Join(dir, k.name), pemData, 0o600))
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return pool
}

// TestTicketKeys: a session ticket resumes a session for one rotation
// period and the next, and no longer: its key has been dropped. The
// control row, Go's own ticket keys, still resumes a day later, which is
// what the rotation is for.
func TestTicketKeys(t *testing.T) {
	t.Parallel()
	cert := testenv.LocalTLS(t).Cert
	tests := []struct {
		name    string
		version uint16
		rotate  bool
		after   time.Duration
		resumes bool
	}{
		{"TLS 1.3 within the period", tls.VersionTLS13, true, time.Hour, true},
		{"TLS 1.3 after one rotation", tls.VersionTLS13, true, ticketKeyRotation + time.Hour, true},
		{"TLS 1.3 after two rotations: key gone", tls.VersionTLS13, true, 2*ticketKeyRotation + time.Minute, false},
		{"TLS 1.2 within the period", tls.VersionTLS12, true, time.Hour, true},
		{"TLS 1.2 after two rotations: key gone", tls.VersionTLS12, true, 2*ticketKeyRotation + time.Minute, false},
		{"control: Go's keys resume after a day", tls.VersionTLS13, false, 2*ticketKeyRotation + time.Minute, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				ctx, cancel := context.WithCancel(t.Context())
				defer cancel()
				srv := hardenTLS(&tls.Config{Certificates: []tls.Certificate{cert}})
				if tt.rotate {
					startTicketKeys(ctx, srv, ticketKeyRotation)
				}
				// The test's client trusts any certificate: the certificate
				// is valid in real time, not in the bubble's, and expiry
				// must not be what ends a resumption here.
				cli := &tls.Config{InsecureSkipVerify: true, ClientSessionCache: tls.NewLRUClientSessionCache(4), // #nosec G402 -- test client, see above
					MinVersion: tt.version, MaxVersion: tt.version}
				first := handshake(t, srv, cli)
				require.False(t, first.DidResume)
				time.Sleep(tt.after)
				again := handshake(t, srv, cli)
				assert.Equal(t, tt.resumes, again.DidResume)
			})
		})
	}
}

// handshake connects cli to a server with srv over a pipe, reads the one
// byte the server sends (so the client takes its TLS 1.3 session ticket),
// and returns the client's connection state.
func handshake(t *testing.T, srv, cli *tls.Config) tls.ConnectionState {
	t.Helper()
	c, s := net.Pipe()
	done := make(chan error, 1)
	go func() {
		sc := tls.Server(s, srv)
		defer sc.Close()
		if err := sc.Handshake(); err != nil {
			done <- err
			return
		}
		_, err := sc.Write([]byte{1})
		done <- err
	}()
	cc := tls.Client(c, cli)
	defer cc.Close()
	_, err := io.ReadFull(cc, make([]byte, 1))
	require.NoError(t, err)
	require.NoError(t, <-done)
	return cc.ConnectionState()
}
