package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deployedworks/rampart/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// lineLog is a console that also hands every complete line to a channel,
// so a test can wait for the server to say it is up without polling.
type lineLog struct {
	mu      sync.Mutex
	all     bytes.Buffer
	partial []byte
	lines   chan string
}

func newLineLog() *lineLog { return &lineLog{lines: make(chan string, 4096)} }

func (l *lineLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all.Write(p)
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			return len(p), nil
		}
		select {
		case l.lines <- string(l.partial[:i]):
		default: // nobody is listening any more
		}
		l.partial = l.partial[i+1:]
	}
}

func (l *lineLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.all.String()
}

// runningServer is "marketplace serve" running in the test.
type runningServer struct {
	t      testing.TB
	log    *lineLog
	addrs  map[string]string // scheme → listening address (http: the redirect listener when there is TLS)
	stop   context.CancelFunc
	code   chan int
	stdout *bytes.Buffer
}

var listeningRE = regexp.MustCompile(`msg=listening addr=(\S+) scheme=(https?)`)

// startServe runs the serve command with args and env, and returns once
// it says it is up; it fails the test if the command exits first.
func startServe(t testing.TB, env map[string]string, args ...string) *runningServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &runningServer{t: t, log: newLineLog(), addrs: map[string]string{}, stop: cancel, code: make(chan int, 1), stdout: &bytes.Buffer{}}
	go func() {
		s.code <- run(ctx, append([]string{"serve"}, args...), strings.NewReader(""), s.stdout, s.log, mapEnv(env))
	}()
	t.Cleanup(func() { s.shutdown() })
	timeout := time.After(30 * time.Second)
	for {
		select {
		case line := <-s.log.lines:
			if m := listeningRE.FindStringSubmatch(line); m != nil {
				s.addrs[m[2]] = m[1]
			}
			if strings.Contains(line, `msg="marketplace is up"`) {
				return s
			}
		case code := <-s.code:
			s.code <- code
			t.Fatalf("serve exited with %d before it was up:\n%s", code, s.log)
		case <-timeout:
			t.Fatalf("serve did not come up:\n%s", s.log)
		}
	}
}

// shutdown stops the server as SIGINT would, and returns its exit code.
func (s *runningServer) shutdown() int {
	s.stop()
	select {
	case code := <-s.code:
		s.code <- code
		return code
	case <-time.After(30 * time.Second):
		s.t.Errorf("serve did not shut down:\n%s", s.log)
		return -1
	}
}

// selfSignedCert writes a certificate chain for localhost and 127.0.0.1
// (from a throwaway CA), and its key, into dir, and returns their paths and
// a pool trusting the CA.
func selfSignedCert(t testing.TB, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	c := testenv.LocalTLS(t)
	certFile, keyFile, _ = c.WriteFiles(t, dir)
	return certFile, keyFile, c.Pool
}

// noRedirects is an HTTP client that returns redirects instead of
// following them.
func noRedirects(tr *http.Transport) *http.Client {
	return &http.Client{Transport: tr, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// send makes a request to addr with the Host header host, and returns the
// response with its body read.
func send(t testing.TB, hc *http.Client, method, scheme, addr, host, path string, hdr map[string]string) resp {
	t.Helper()
	req, err := http.NewRequest(method, scheme+"://"+addr+path, nil)
	require.NoError(t, err)
	req.Host = host
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := hc.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return resp{Status: res.StatusCode, Body: string(b), Header: res.Header, Location: res.Header.Get("Location")}
}

func TestParseServeFlags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name             string
		env              map[string]string
		args             []string
		addr, httpAddr   string
		publicURL, wantE string
	}{
		{name: "defaults", addr: "localhost:8080", publicURL: "http://localhost:8080"},
		{name: "flag", args: []string{"-addr", "127.0.0.1:9000"}, addr: "127.0.0.1:9000", publicURL: "http://localhost:9000"},
		{name: "env", env: map[string]string{"MARKETPLACE_ADDR": ":7000"}, addr: ":7000", publicURL: "http://localhost:7000"},
		{name: "flag beats env", env: map[string]string{"MARKETPLACE_ADDR": ":7000"}, args: []string{"-addr", ":7001"}, addr: ":7001", publicURL: "http://localhost:7001"},
		{name: "public URL from env", env: map[string]string{"MARKETPLACE_PUBLIC_URL": "https://market.example/"}, addr: "localhost:8080", publicURL: "https://market.example"},
		{name: "TLS files", args: []string{"-tls-cert", "c.pem", "-tls-key", "k.pem", "-addr", ":8443", "-http-addr", ":8080"}, addr: ":8443", httpAddr: ":8080", publicURL: "https://localhost:8443"},
		{name: "TLS on 443", args: []string{"-tls-cert", "c.pem", "-tls-key", "k.pem", "-addr", "market.example:443"}, addr: "market.example:443", publicURL: "https://market.example"},
		{name: "ACME", env: map[string]string{"MARKETPLACE_DOMAIN": "market.example"}, addr: ":443", httpAddr: ":80", publicURL: "https://market.example"},
		{name: "cert without key", args: []string{"-tls-cert", "c.pem"}, wantE: "give both -tls-cert and -tls-key"},
		{name: "ACME and files", args: []string{"-domain", "market.example", "-tls-cert", "c.pem", "-tls-key", "k.pem"}, wantE: "drop -tls-cert"},
		{name: "redirect listener without TLS", args: []string{"-http-addr", ":80"}, wantE: "-http-addr redirects to HTTPS"},
		{name: "stray argument", args: []string{"now"}, wantE: `unexpected argument "now"`},
		{name: "bad address", args: []string{"-addr", "nope"}, wantE: `-addr "nope"`},
		{name: "any port with a public URL", args: []string{"-addr", "127.0.0.1:0", "-public-url", "http://localhost:8080"}, addr: "127.0.0.1:0", publicURL: "http://localhost:8080"},
		{name: "unknown flag", args: []string{"-port", "80"}, wantE: "flag provided but not defined: -port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := parseServeFlags(tt.args, io.Discard, mapEnv(tt.env))
			var pub string
			if err == nil {
				pub, err = f.defaultPublicURL()
			}
			if tt.wantE != "" {
				require.ErrorContains(t, err, tt.wantE)
				var ue usageError
				assert.ErrorAs(t, err, &ue, "exit status 2")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.addr, f.addr)
			assert.Equal(t, tt.httpAddr, f.httpAddr)
			assert.Equal(t, tt.publicURL, pub)
			assert.True(t, filepath.IsAbs(f.dataDir), "the data directory is made absolute")
		})
	}
}

// flagCase is a row of a table test of one setting of serve: the
// arguments and environment, and the setting wanted or an error (a usage
// error, exit status 2) containing wantE.
type flagCase[T any] struct {
	name  string
	env   map[string]string
	args  []string
	want  T
	wantE string
}

// testServeFlag runs each case through parseServeFlags and compares the
// setting get reads.
func testServeFlag[T any](t *testing.T, get func(serveFlags) T, cases []flagCase[T]) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, err := parseServeFlags(tc.args, io.Discard, mapEnv(tc.env))
			if tc.wantE != "" {
				require.ErrorContains(t, err, tc.wantE)
				var ue usageError
				assert.ErrorAs(t, err, &ue, "exit status 2")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, get(f))
		})
	}
}

func TestServe_ProdRefusals(t *testing.T) {
	t.Parallel()
	certFile, keyFile, _ := selfSignedCert(t, t.TempDir())
	tls := []string{"-tls-cert", certFile, "-tls-key", keyFile, "-addr", "127.0.0.1:0", "-public-url", "https://localhost"}
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want []string
	}{
		{"no secrets: every one named", nil, tls, []string{envSessionKeys, envDataKeys, envAuditKey, envPepper, envRecoveryKey, envSMTPURL, "NAME_FILE"}},
		{"prod from the environment", map[string]string{"MARKETPLACE_PROD": "1"}, tls, []string{envSessionKeys, envRecoveryKey}},
		{"one missing", func() map[string]string { e := prodEnv(t); delete(e, envPepper); return e }(), tls, []string{"cannot start without " + envPepper + " "}},
		{"no HTTPS", prodEnv(t), []string{"-addr", "127.0.0.1:0"}, []string{"-prod needs HTTPS", "-tls-cert", "-domain", "-trusted-proxies"}},
		{"proxy but http public URL", prodEnv(t), []string{"-addr", "127.0.0.1:0", "-trusted-proxies", "10.0.0.0/8", "-public-url", "http://market.example"},
			[]string{"-prod needs an https public URL"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			args := append([]string{"serve", "-data", dir}, tt.args...)
			if tt.env == nil || tt.env["MARKETPLACE_PROD"] == "" {
				args = append(args, "-prod")
			}
			res := runCLI(t, tt.env, args...)
			assert.Equal(t, 1, res.Code, res.Stderr)
			for _, w := range tt.want {
				assert.Contains(t, res.Stderr, w)
			}
			assert.NotContains(t, res.Stderr, "marketplace is up")
			assert.NoFileExists(t, filepath.Join(dir, devSecretsFile), "production never generates secrets")
		})
	}
}

// TestServe_DevSecrets: development mode generates the missing secrets,
// says so on the console (naming them and where they are kept), keeps them
// private, and reuses them on the next start.
func TestServe_DevSecrets(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := startServe(t, nil, "-data", dir, "-addr", "127.0.0.1:0")
	require.Equal(t, 0, s.shutdown())
	out := s.log.String()
	assert.Contains(t, out, "DEVELOPMENT MODE: generated secrets")
	assert.Contains(t, out, "never use them in production")
	for _, n := range []string{envSessionKeys, envDataKeys, envAuditKey, envPepper, envRecoveryKey} {
		assert.Contains(t, out, n)
	}
	assert.Contains(t, out, filepath.Join(dir, devSecretsFile))
	assert.Contains(t, out, "mode=development")
	info, err := os.Stat(filepath.Join(dir, devSecretsFile))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())
	first, err := os.ReadFile(filepath.Join(dir, devSecretsFile))
	require.NoError(t, err)

	s = startServe(t, nil, "-data", dir, "-addr", "127.0.0.1:0")
	require.Equal(t, 0, s.shutdown())
	assert.NotContains(t, s.log.String(), "generated secrets")
	assert.Contains(t, s.log.String(), "DEVELOPMENT MODE: using development secrets")
	again, err := os.ReadFile(filepath.Join(dir, devSecretsFile))
	require.NoError(t, err)
	assert.Equal(t, first, again, "the second start reuses them")
}

// TestServe_RelativeDataDir is the regression test for the default -data
// ./data, which SQLite read as a URL host ("file://data/…") and refused.
func TestServe_RelativeDataDir(t *testing.T) {
	t.Chdir(t.TempDir())
	s := startServe(t, map[string]string{"MARKETPLACE_ADDR": "127.0.0.1:0"})
	hc := noRedirects(&http.Transport{})
	r := send(t, hc, http.MethodGet, "http", s.addrs["http"], "localhost", "/healthz", nil)
	assert.Equal(t, http.StatusOK, r.Status)
	assert.Equal(t, "127.0.0.1", strings.Split(s.addrs["http"], ":")[0], "MARKETPLACE_ADDR was used")
	_, port, err := net.SplitHostPort(s.addrs["http"])
	require.NoError(t, err)
	require.Equal(t, 0, s.shutdown())
	assert.Contains(t, s.log.String(), "url=http://localhost:"+port+" ", "port 0: the public URL names the port chosen")
	assert.FileExists(t, filepath.Join("data", dbFile))
}

// TestServe_TLS: with -tls-cert/-tls-key the site is HTTPS only; the
// -http-addr listener answers nothing but redirects (308, keeping the
// method) to the public URL, for allowed hosts only, and /healthz for load
// balancers.
func TestServe_TLS(t *testing.T) {
	t.Parallel()
	certFile, keyFile, pool := selfSignedCert(t, t.TempDir())
	s := startServe(t, nil, "-data", t.TempDir(), "-addr", "127.0.0.1:0", "-http-addr", "127.0.0.1:0",
		"-tls-cert", certFile, "-tls-key", keyFile, "-public-url", "https://localhost:8443")
	require.NotEmpty(t, s.addrs["https"])
	require.NotEmpty(t, s.addrs["http"])

	hs := noRedirects(&http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"}})
	r := send(t, hs, http.MethodGet, "https", s.addrs["https"], "localhost:8443", "/", nil)
	assert.Equal(t, http.StatusOK, r.Status)
	assert.Contains(t, r.Header.Get("Strict-Transport-Security"), "max-age=", "HSTS over HTTPS")
	assert.Contains(t, r.Body, "Marketplace")
	r = send(t, hs, http.MethodGet, "https", s.addrs["https"], "localhost:8443", "/healthz", nil)
	assert.Equal(t, http.StatusOK, r.Status)

	// Old TLS versions are refused.
	old := noRedirects(&http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost", MaxVersion: tls.VersionTLS11}})
	_, err := old.Get("https://" + s.addrs["https"] + "/")
	assert.Error(t, err, "TLS 1.1 refused")

	// Plain HTTP to the HTTPS port is not served.
	hc := noRedirects(&http.Transport{})
	r = send(t, hc, http.MethodGet, "http", s.addrs["https"], "localhost:8443", "/", nil)
	assert.Equal(t, http.StatusBadRequest, r.Status)

	tests := []struct {
		name, method, host, path string
		want                     int
		location                 string
	}{
		{"page", http.MethodGet, "localhost", "/listings?q=lamp", http.StatusPermanentRedirect, "https://localhost:8443/listings?q=lamp"},
		{"form post keeps its method", http.MethodPost, "localhost", "/login", http.StatusPermanentRedirect, "https://localhost:8443/login"},
		{"host in any case", http.MethodGet, "LOCALHOST:80", "/", http.StatusPermanentRedirect, "https://localhost:8443/"},
		{"health check is exempt", http.MethodGet, "localhost", "/healthz", http.StatusOK, ""},
		{"attack: foreign host is no open redirect", http.MethodGet, "evil.example", "/login", http.StatusBadRequest, ""},
		{"attack: host with userinfo trick", http.MethodGet, "localhost@evil.example", "/", http.StatusBadRequest, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := send(t, hc, tt.method, "http", s.addrs["http"], tt.host, tt.path, nil)
			assert.Equal(t, tt.want, r.Status, r.Body)
			assert.Equal(t, tt.location, r.Location)
			assert.Empty(t, r.Header.Values("Set-Cookie"), "the plain listener starts no session")
			if tt.want == http.StatusPermanentRedirect {
				assert.Empty(t, r.Header.Get("Strict-Transport-Security"), "no HSTS over plain HTTP (RFC 6797 §7.2)")
				assert.NotContains(t, r.Body, "<form", "nothing of the site is served")
			}
		})
	}
	require.Equal(t, 0, s.shutdown())
}

// TestServe_BadCertificate: a certificate that does not load stops the
// start with the flag named, instead of a server that is "up" and fails
// every handshake.
func TestServe_BadCertificate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	certFile, _, _ := selfSignedCert(t, dir)
	_, otherKey, _ := selfSignedCert(t, t.TempDir())
	res := runCLI(t, nil, "serve", "-data", dir, "-addr", "127.0.0.1:0", "-tls-cert", certFile, "-tls-key", otherKey)
	assert.Equal(t, 1, res.Code)
	assert.Contains(t, res.Stderr, "-tls-cert/-tls-key")
	assert.NotContains(t, res.Stderr, "marketplace is up")
	res = runCLI(t, nil, "serve", "-data", dir, "-addr", "127.0.0.1:0", "-tls-cert", filepath.Join(dir, "nope.pem"), "-tls-key", otherKey)
	assert.Equal(t, 1, res.Code)
	assert.Contains(t, res.Stderr, "nope.pem")
}

// TestServe_TrustedProxy: behind a TLS-terminating proxy in
// -trusted-proxies, its X-Forwarded-Proto and X-Forwarded-For are
// believed (HSTS is sent, the session records the client's address); the
// same headers from a peer outside the list are ignored.
func TestServe_TrustedProxy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		proxies string
		trusted bool
	}{
		{"trusted proxy", "127.0.0.1/32", true},
		{"attack: untrusted peer forges the headers", "10.0.0.0/8", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{"MARKETPLACE_TRUSTED_PROXIES": tt.proxies, "MARKETPLACE_ADDR": "127.0.0.1:0",
				"MARKETPLACE_PUBLIC_URL": "https://market.example"}
			s := startServe(t, env, "-data", t.TempDir())
			hc := noRedirects(&http.Transport{})
			fwd := map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}
			r := send(t, hc, http.MethodGet, "http", s.addrs["http"], "market.example", "/", fwd)
			require.Equal(t, http.StatusOK, r.Status)
			if tt.trusted {
				assert.Contains(t, r.Header.Get("Strict-Transport-Security"), "max-age=")
			} else {
				assert.Empty(t, r.Header.Get("Strict-Transport-Security"))
			}
			r = send(t, hc, http.MethodGet, "http", s.addrs["http"], "market.example", "/", map[string]string{"X-Forwarded-Proto": "http"})
			assert.Empty(t, r.Header.Get("Strict-Transport-Security"), "plain HTTP, as the proxy says")

			// Sign up, wait for the account (its verification mail, which
			// development mode prints), log in (the cookie is Secure:
			// carried by hand, as the proxy would) and read the address the
			// session recorded.
			post := func(path string, form url.Values) *http.Response {
				req, err := http.NewRequest(http.MethodPost, "http://"+s.addrs["http"]+path, strings.NewReader(form.Encode()))
				require.NoError(t, err)
				req.Host = "market.example"
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				for k, v := range fwd {
					req.Header.Set(k, v)
				}
				res, err := hc.Do(req)
				require.NoError(t, err)
				_ = res.Body.Close()
				return res
			}
			res := post("/signup", signupForm("proxied@example.com", "Proxied", goodPassword, goodPassword))
			require.Equal(t, http.StatusOK, res.StatusCode, s.log.String())
			timeout := time.After(30 * time.Second)
			for mailed := false; !mailed; {
				select {
				case line := <-s.log.lines:
					mailed = strings.Contains(line, "mail printed here") && strings.Contains(line, "kind=email_verify")
				case <-timeout:
					t.Fatalf("no verification mail:\n%s", s.log)
				}
			}
			res = post("/login", url.Values{"email": {"proxied@example.com"}, "password": {goodPassword}})
			require.Equal(t, http.StatusSeeOther, res.StatusCode, s.log.String())
			var cookie string
			for _, c := range res.Cookies() {
				if strings.Contains(c.Name, "session") {
					assert.True(t, c.Secure, "the session cookie is Secure with an https public URL")
					cookie = c.Name + "=" + c.Value
				}
			}
			require.NotEmpty(t, cookie)
			hdr := map[string]string{"Cookie": cookie}
			for k, v := range fwd {
				hdr[k] = v
			}
			r = send(t, hc, http.MethodGet, "http", s.addrs["http"], "market.example", "/account/sessions", hdr)
			require.Equal(t, http.StatusOK, r.Status)
			if tt.trusted {
				assert.Contains(t, r.Body, "203.0.113.7")
			} else {
				assert.NotContains(t, r.Body, "203.0.113.7")
				assert.Contains(t, r.Body, "127.0.0.1")
			}
			require.Equal(t, 0, s.shutdown())
			assert.NotContains(t, s.log.String(), "level=ERROR")
		})
	}
}
