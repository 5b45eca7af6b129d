package mail_test

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/require"
)

// testCA is a certificate authority made for one test, with a server
// certificate for 127.0.0.1.
type testCA struct {
	pool       *x509.CertPool
	serverCert tls.Certificate
}

func newTestCA(t testing.TB) testCA {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "rampart test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	caCert, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	return testCA{pool: pool, serverCert: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}}
}

func (ca testCA) serverConfig() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{ca.serverCert}, MinVersion: tls.VersionTLS12}
}

// received is one message the test server accepted.
type received struct {
	from, to string
	data     []byte
	tls      bool // the session was encrypted when DATA ended
}

// testServer is an in-process SMTP server on 127.0.0.1 that records what
// it receives and answers as a test tells it to.
type testServer struct {
	port int

	// Behaviour, set before the first Send.
	user, pass string                   // accept AUTH PLAIN with these; "" offers no AUTH
	rcptErr    error                    // answer to every RCPT
	dataErrs   []error                  // answers to successive DATA, then accept
	dataHook   func(r io.Reader) error  // replaces the DATA handling when set
	mailHook   func(c *smtp.Conn) error // runs at MAIL

	mu       sync.Mutex
	msgs     []received
	mails    int  // MAIL commands seen
	auths    int  // AUTH attempts seen
	authTLS  bool // the last AUTH came over TLS
	dataSeen int
}

type serverOpts struct {
	tls          *tls.Config // offer STARTTLS with this
	implicit     bool        // speak TLS from the first byte
	insecureAuth bool        // offer AUTH without TLS
}

func newTestServer(t testing.TB, o serverOpts, configure func(*testServer)) *testServer {
	t.Helper()
	ts := &testServer{}
	if configure != nil {
		configure(ts)
	}
	s := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{ts: ts, conn: c}, nil
	}))
	s.Domain = "127.0.0.1"
	s.AllowInsecureAuth = o.insecureAuth
	s.ErrorLog = nopLogger{}
	var l net.Listener
	var err error
	if o.implicit {
		l, err = tls.Listen("tcp", "127.0.0.1:0", o.tls)
	} else {
		s.TLSConfig = o.tls
		l, err = net.Listen("tcp", "127.0.0.1:0")
	}
	require.NoError(t, err)
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Serve(l) }()
	t.Cleanup(func() { _ = s.Close(); <-done })
	ts.port = l.Addr().(*net.TCPAddr).Port
	return ts
}

func (ts *testServer) received() []received {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return append([]received(nil), ts.msgs...)
}

func (ts *testServer) mailCount() int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.mails
}

func (ts *testServer) authCount() (int, bool) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.auths, ts.authTLS
}

type nopLogger struct{}

func (nopLogger) Printf(string, ...any) {}
func (nopLogger) Println(...any)        {}

type session struct {
	ts       *testServer
	conn     *smtp.Conn
	from, to string
}

func (s *session) isTLS() bool {
	_, ok := s.conn.TLSConnectionState()
	return ok
}

func (s *session) AuthMechanisms() []string {
	if s.ts.user == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		s.ts.mu.Lock()
		s.ts.auths++
		s.ts.authTLS = s.isTLS()
		s.ts.mu.Unlock()
		if user != s.ts.user || pass != s.ts.pass {
			return smtp.ErrAuthFailed
		}
		return nil
	}), nil
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	s.ts.mu.Lock()
	s.ts.mails++
	s.ts.mu.Unlock()
	if s.ts.mailHook != nil {
		if err := s.ts.mailHook(s.conn); err != nil {
			return err
		}
	}
	s.from = from
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if s.ts.rcptErr != nil {
		return s.ts.rcptErr
	}
	s.to = to
	return nil
}

func (s *session) Data(r io.Reader) error {
	if s.ts.dataHook != nil {
		return s.ts.dataHook(r)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.ts.mu.Lock()
	defer s.ts.mu.Unlock()
	n := s.ts.dataSeen
	s.ts.dataSeen++
	if n < len(s.ts.dataErrs) && s.ts.dataErrs[n] != nil {
		return s.ts.dataErrs[n]
	}
	s.ts.msgs = append(s.ts.msgs, received{from: s.from, to: s.to, data: bytes.Clone(b), tls: s.isTLS()})
	return nil
}

func (s *session) Reset()        { s.from, s.to = "", "" }
func (s *session) Logout() error { return nil }

// smtpErr builds a server answer with the given code.
func smtpErr(code int) *smtp.SMTPError {
	return &smtp.SMTPError{Code: code, EnhancedCode: smtp.NoEnhancedCode, Message: "test answer " + strconv.Itoa(code)}
}

// hungListener accepts connections and never answers; accepted receives
// each connection as it arrives.
func hungListener(t testing.TB) (port int, accepted <-chan net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ch := make(chan net.Conn, 8)
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			ch <- c
		}
	}()
	t.Cleanup(func() {
		_ = l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return l.Addr().(*net.TCPAddr).Port, ch
}

var errBlocked = errors.New("blocked")

// refusingServer offers STARTTLS and then refuses it (454, RFC 3207 §4),
// recording every command it receives after that.
func refusingServer(t testing.TB) (port int, after func() []string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var mu sync.Mutex
	var cmds []string
	var conn net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := l.Accept()
		if err != nil {
			return
		}
		mu.Lock()
		conn = c
		mu.Unlock()
		defer c.Close()
		r := bufio.NewReader(c)
		_, _ = io.WriteString(c, "220 127.0.0.1 ESMTP test\r\n")
		refused := false
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			cmd := strings.ToUpper(strings.TrimSpace(line))
			if refused {
				mu.Lock()
				cmds = append(cmds, cmd)
				mu.Unlock()
			}
			switch {
			case strings.HasPrefix(cmd, "EHLO"):
				_, _ = io.WriteString(c, "250-127.0.0.1\r\n250-AUTH PLAIN\r\n250 STARTTLS\r\n")
			case cmd == "STARTTLS":
				refused = true
				_, _ = io.WriteString(c, "454 4.7.0 TLS not available\r\n")
			case cmd == "QUIT":
				_, _ = io.WriteString(c, "221 bye\r\n")
				return
			default:
				_, _ = io.WriteString(c, "250 ok\r\n")
			}
		}
	}()
	t.Cleanup(func() {
		_ = l.Close()
		mu.Lock()
		if conn != nil {
			_ = conn.Close()
		}
		mu.Unlock()
		<-done
	})
	return l.Addr().(*net.TCPAddr).Port, func() []string {
		select {
		case <-done: // the client closed the connection
		case <-time.After(20 * time.Second): // a watchdog, not a timing
			t.Error("the client left the connection open")
		}
		mu.Lock()
		defer mu.Unlock()
		return cmds
	}
}
