package mail_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	netmail "net/mail"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/notify"
	"github.com/deployedworks/rampart/notify/mail"
	"github.com/deployedworks/rampart/secrets"
)

const testPassword = "correct-horse-battery-staple-7731"

func newMailer(t testing.TB, cfg mail.Config) *mail.Mailer {
	t.Helper()
	if cfg.Host == "" {
		cfg.Host = "127.0.0.1"
	}
	if cfg.From == "" {
		cfg.From = "Rampart <security@example.org>"
	}
	m, err := mail.New(cfg)
	require.NoError(t, err)
	return m
}

func textMsg(key string) notify.Message {
	return notify.Message{
		Key:     key,
		To:      "alice@example.com",
		Kind:    "password_changed",
		Subject: "Your password was changed",
		Text:    "Hello Alice,\n\nyour password was changed.\n",
	}
}

// parsed is a received message taken apart.
type parsed struct {
	header     netmail.Header
	text, html string
}

func parse(t *testing.T, data []byte) parsed {
	t.Helper()
	m, err := netmail.ReadMessage(bytes.NewReader(data))
	require.NoError(t, err)
	p := parsed{header: m.Header}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	require.NoError(t, err)
	if mt == "text/plain" {
		p.text = decodeBody(t, m.Header.Get("Content-Transfer-Encoding"), m.Body)
		return p
	}
	require.Equal(t, "multipart/alternative", mt)
	mr := multipart.NewReader(m.Body, params["boundary"])
	var types []string
	for {
		part, err := mr.NextPart() // decodes quoted-printable itself
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		pt, _, err := mime.ParseMediaType(part.Header.Get("Content-Type"))
		require.NoError(t, err)
		types = append(types, pt)
		body := decodeBody(t, part.Header.Get("Content-Transfer-Encoding"), part)
		switch pt {
		case "text/plain":
			p.text = body
		case "text/html":
			p.html = body
		}
	}
	// RFC 2046 §5.1.4: the preferred (richest) alternative comes last.
	require.Equal(t, []string{"text/plain", "text/html"}, types)
	return p
}

func decodeBody(t *testing.T, cte string, r io.Reader) string {
	t.Helper()
	if strings.EqualFold(cte, "quoted-printable") {
		r = quotedprintable.NewReader(r)
	}
	b, err := io.ReadAll(r)
	require.NoError(t, err)
	return strings.ReplaceAll(string(b), "\r\n", "\n")
}

var messageIDRe = regexp.MustCompile(`^<[a-z2-7]{32}@example\.org>$`)

func TestSendText(t *testing.T) {
	ca := newTestCA(t)
	ts := newTestServer(t, serverOpts{tls: ca.serverConfig()}, nil)
	m := newMailer(t, mail.Config{Port: ts.port, RootCAs: ca.pool})

	msg := textMsg("k1")
	msg.Subject = "Ihr Passwort wurde geändert"
	created := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	msg.Created = created
	require.NoError(t, m.Send(t.Context(), msg))

	got := ts.received()
	require.Len(t, got, 1)
	assert.True(t, got[0].tls, "the message travelled over STARTTLS")
	assert.Equal(t, "security@example.org", got[0].from)
	assert.Equal(t, "alice@example.com", got[0].to)

	p := parse(t, got[0].data)
	from, err := p.header.AddressList("From")
	require.NoError(t, err)
	assert.Equal(t, []*netmail.Address{{Name: "Rampart", Address: "security@example.org"}}, from)
	to, err := p.header.AddressList("To")
	require.NoError(t, err)
	assert.Equal(t, []*netmail.Address{{Address: "alice@example.com"}}, to)
	subject, err := new(mime.WordDecoder).DecodeHeader(p.header.Get("Subject"))
	require.NoError(t, err)
	assert.Equal(t, msg.Subject, subject)
	date, err := p.header.Date()
	require.NoError(t, err)
	assert.True(t, date.Equal(created), "Date is the message's Created time: %v", date)
	assert.Regexp(t, messageIDRe, p.header.Get("Message-ID"))
	assert.Empty(t, p.header.Get("Bcc"))
	assert.Equal(t, msg.Text, p.text)
	assert.Empty(t, p.html)
}

func TestSendTextAndHTML(t *testing.T) {
	ca := newTestCA(t)
	ts := newTestServer(t, serverOpts{tls: ca.serverConfig()}, nil)
	m := newMailer(t, mail.Config{Port: ts.port, RootCAs: ca.pool})

	msg := textMsg("k2")
	msg.HTML = "<p>Hello Alice,</p><p>your password was <b>changed</b>. Não foi você?</p>\n"
	before := time.Now().Add(-time.Second)
	require.NoError(t, m.Send(t.Context(), msg))

	got := ts.received()
	require.Len(t, got, 1)
	p := parse(t, got[0].data)
	assert.Equal(t, msg.Text, p.text)
	assert.Equal(t, msg.HTML, p.html)
	assert.Equal(t, "1.0", p.header.Get("MIME-Version"))
	date, err := p.header.Date()
	require.NoError(t, err)
	assert.False(t, date.Before(before.Truncate(time.Second)), "Date defaults to now: %v", date)
	assert.Regexp(t, messageIDRe, p.header.Get("Message-ID"))
}

func TestImplicitTLS(t *testing.T) {
	ca := newTestCA(t)
	ts := newTestServer(t, serverOpts{tls: ca.serverConfig(), implicit: true}, func(s *testServer) {
		s.user, s.pass = "mailer", testPassword
	})
	m := newMailer(t, mail.Config{Port: ts.port, RootCAs: ca.pool, TLS: mail.ImplicitTLS,
		Username: "mailer", Password: secrets.NewValue([]byte(testPassword))})
	require.NoError(t, m.Send(t.Context(), textMsg("k3")))
	got := ts.received()
	require.Len(t, got, 1)
	assert.True(t, got[0].tls)
	n, overTLS := ts.authCount()
	assert.Equal(t, 1, n)
	assert.True(t, overTLS)
}

// TestRefusesPlaintext: with the default policy, a server that cannot
// give a verified TLS connection gets nothing, neither the message nor
// the password.
func TestRefusesPlaintext(t *testing.T) {
	ca, other := newTestCA(t), newTestCA(t)
	tests := []struct {
		name   string
		opts   serverOpts
		policy mail.TLSPolicy
	}{
		{"server offers no STARTTLS", serverOpts{insecureAuth: true}, mail.RequireSTARTTLS},
		{"STARTTLS certificate from an unknown CA", serverOpts{tls: other.serverConfig(), insecureAuth: true}, mail.RequireSTARTTLS},
		{"implicit TLS certificate from an unknown CA", serverOpts{tls: other.serverConfig(), implicit: true}, mail.ImplicitTLS},
		{"implicit TLS against a plain-text server", serverOpts{insecureAuth: true}, mail.ImplicitTLS},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, tt.opts, func(s *testServer) { s.user, s.pass = "mailer", testPassword })
			m := newMailer(t, mail.Config{Port: ts.port, RootCAs: ca.pool, TLS: tt.policy, Timeout: time.Minute,
				Username: "mailer", Password: secrets.NewValue([]byte(testPassword))})
			err := m.Send(t.Context(), textMsg("k4"))
			require.Error(t, err)
			assert.NotErrorIs(t, err, notify.ErrPermanent, "a TLS failure may be fixed on the server: retry")
			assert.NotContains(t, err.Error(), testPassword)
			assert.Zero(t, ts.mailCount(), "no MAIL command in plain text")
			n, _ := ts.authCount()
			assert.Zero(t, n, "no AUTH in plain text")
			assert.Empty(t, ts.received())
		})
	}
}

// TestSTARTTLSRefused: a server that offers STARTTLS and then answers
// 454 gets no further command but QUIT, and the connection is closed
// (go-mail leaves it open when the conversation fails before MAIL).
func TestSTARTTLSRefused(t *testing.T) {
	port, after := refusingServer(t)
	m := newMailer(t, mail.Config{Port: port, Username: "mailer", Password: secrets.NewValue([]byte(testPassword))})
	err := m.Send(t.Context(), textMsg("s1"))
	require.Error(t, err)
	assert.NotErrorIs(t, err, notify.ErrPermanent)
	assert.NotContains(t, err.Error(), testPassword)
	for _, cmd := range after() {
		assert.Equal(t, "QUIT", cmd, "only QUIT after the refusal")
	}
}

func TestAuth(t *testing.T) {
	ca := newTestCA(t)
	t.Run("PLAIN over STARTTLS", func(t *testing.T) {
		ts := newTestServer(t, serverOpts{tls: ca.serverConfig()}, func(s *testServer) { s.user, s.pass = "mailer", testPassword })
		m := newMailer(t, mail.Config{Port: ts.port, RootCAs: ca.pool,
			Username: "mailer", Password: secrets.NewValue([]byte(testPassword))})
		require.NoError(t, m.Send(t.Context(), textMsg("a1")))
		n, overTLS := ts.authCount()
		assert.Equal(t, 1, n)
		assert.True(t, overTLS, "the password went over TLS")
		assert.Len(t, ts.received(), 1)
	})
	t.Run("wrong password", func(t *testing.T) {
		ts := newTestServer(t, serverOpts{tls: ca.serverConfig()}, func(s *testServer) { s.user, s.pass = "mailer", "something-else" })
		m := newMailer(t, mail.Config{Port: ts.port, RootCAs: ca.pool,
			Username: "mailer", Password: secrets.NewValue([]byte(testPassword))})
		err := m.Send(t.Context(), textMsg("a2"))
		require.Error(t, err)
		assert.NotContains(t, err.Error(), testPassword)
		assert.NotContains(t, fmt.Sprintf("%+v %#v", err, err), testPassword)
		assert.NotErrorIs(t, err, notify.ErrPermanent)
		assert.Zero(t, ts.mailCount())
	})
	t.Run("AllowPlaintext never sends the password in clear", func(t *testing.T) {
		ts := newTestServer(t, serverOpts{insecureAuth: true}, func(s *testServer) { s.user, s.pass = "mailer", testPassword })
		m := newMailer(t, mail.Config{Port: ts.port, TLS: mail.AllowPlaintext,
			Username: "mailer", Password: secrets.NewValue([]byte(testPassword))})
		err := m.Send(t.Context(), textMsg("a3"))
		require.Error(t, err)
		assert.NotContains(t, err.Error(), testPassword)
		n, _ := ts.authCount()
		assert.Zero(t, n, "PLAIN is not offered a password over plain text")
		assert.Zero(t, ts.mailCount())
	})
}

func TestAllowPlaintext(t *testing.T) {
	ts := newTestServer(t, serverOpts{}, nil)
	m := newMailer(t, mail.Config{Port: ts.port, TLS: mail.AllowPlaintext})
	require.NoError(t, m.Send(t.Context(), textMsg("p1")))
	got := ts.received()
	require.Len(t, got, 1)
	assert.False(t, got[0].tls)
}

// TestFailsThenRecovers: a server that answers 4xx once and then accepts
// gets the message exactly once, on the retry.
func TestFailsThenRecovers(t *testing.T) {
	ca := newTestCA(t)
	ts := newTestServer(t, serverOpts{tls: ca.serverConfig()}, func(s *testServer) {
		s.dataErrs = []error{smtpErr(451)}
	})
	m := newMailer(t, mail.Config{Port: ts.port, RootCAs: ca.pool})
	msg := textMsg("r1")

	err := m.Send(t.Context(), msg)
	require.Error(t, err)
	assert.NotErrorIs(t, err, notify.ErrPermanent, "451 is temporary")
	assert.Empty(t, ts.received())

	require.NoError(t, m.Send(t.Context(), msg))
	got := ts.received()
	require.Len(t, got, 1, "exactly one message delivered")
	assert.Equal(t, msg.Text, parse(t, got[0].data).text)
}

func TestErrorClass(t *testing.T) {
	ca := newTestCA(t)
	tests := []struct {
		name      string
		configure func(*testServer)
		permanent bool
	}{
		{"RCPT 550 no such user", func(s *testServer) { s.rcptErr = smtpErr(550) }, true},
		{"RCPT 553 mailbox name not allowed", func(s *testServer) { s.rcptErr = smtpErr(553) }, true},
		{"RCPT 450 mailbox busy", func(s *testServer) { s.rcptErr = smtpErr(450) }, false},
		{"DATA 554 refused", func(s *testServer) { s.dataErrs = []error{smtpErr(554)} }, true},
		{"DATA 452 out of storage", func(s *testServer) { s.dataErrs = []error{smtpErr(452)} }, false},
		{"MAIL 421 shutting down", func(s *testServer) {
			s.mailHook = func(*smtp.Conn) error { return smtpErr(421) }
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, serverOpts{tls: ca.serverConfig()}, tt.configure)
			m := newMailer(t, mail.Config{Port: ts.port, RootCAs: ca.pool})
			err := m.Send(t.Context(), textMsg("c1"))
			require.Error(t, err)
			assert.Equal(t, tt.permanent, errors.Is(err, notify.ErrPermanent), "%v", err)
			assert.Contains(t, err.Error(), "password_changed", "the error names the message")
			assert.Empty(t, ts.received())
		})
	}
	t.Run("connection refused", func(t *testing.T) {
		m := newMailer(t, mail.Config{Port: closedPort(t)})
		err := m.Send(t.Context(), textMsg("c2"))
		require.Error(t, err)
		assert.NotErrorIs(t, err, notify.ErrPermanent)
	})
}

// closedPort returns a port on 127.0.0.1 that nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close())
	return port
}

// TestHungServer: Send returns when its context ends, whether the server
// hangs before its greeting or in the middle of DATA.
func TestHungServer(t *testing.T) {
	t.Run("no greeting, context canceled", func(t *testing.T) {
		port, accepted := hungListener(t)
		m := newMailer(t, mail.Config{Port: port, TLS: mail.AllowPlaintext, Timeout: time.Hour})
		ctx, cancel := context.WithCancel(t.Context())
		errc := make(chan error, 1)
		go func() { errc <- m.Send(ctx, textMsg("h1")) }()
		<-accepted
		cancel()
		err := waitErr(t, errc)
		require.Error(t, err)
		assert.ErrorIs(t, err, context.Canceled)
		assert.NotErrorIs(t, err, notify.ErrPermanent)
	})
	t.Run("no greeting, context deadline", func(t *testing.T) {
		port, _ := hungListener(t)
		m := newMailer(t, mail.Config{Port: port, TLS: mail.AllowPlaintext})
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		err := m.Send(ctx, textMsg("h2"))
		assert.ErrorIs(t, err, context.DeadlineExceeded)
	})
	t.Run("no greeting, Config.Timeout", func(t *testing.T) {
		port, _ := hungListener(t)
		m := newMailer(t, mail.Config{Port: port, TLS: mail.AllowPlaintext, Timeout: 50 * time.Millisecond})
		err := m.Send(t.Context(), textMsg("h3"))
		assert.ErrorIs(t, err, context.DeadlineExceeded)
	})
	t.Run("hangs in DATA over TLS", func(t *testing.T) {
		ca := newTestCA(t)
		entered, release := make(chan struct{}), make(chan struct{})
		defer close(release)
		ts := newTestServer(t, serverOpts{tls: ca.serverConfig()}, func(s *testServer) {
			s.dataHook = func(r io.Reader) error {
				_, _ = io.Copy(io.Discard, r)
				close(entered)
				<-release
				return errBlocked
			}
		})
		m := newMailer(t, mail.Config{Port: ts.port, RootCAs: ca.pool, Timeout: time.Hour})
		ctx, cancel := context.WithCancel(t.Context())
		errc := make(chan error, 1)
		go func() { errc <- m.Send(ctx, textMsg("h4")) }()
		<-entered
		cancel()
		err := waitErr(t, errc)
		assert.ErrorIs(t, err, context.Canceled)
	})
}

// waitErr waits for a Send that should already be returning: the
// watchdog only turns a hang into a failure, it times nothing.
func waitErr(t *testing.T, errc <-chan error) error {
	t.Helper()
	select {
	case err := <-errc:
		return err
	case <-time.After(20 * time.Second):
		t.Fatal("Send did not return after its context ended")
		return nil
	}
}

// TestHeaderInjection: a recipient or subject that could add headers is
// refused before any connection, as a permanent failure.
func TestHeaderInjection(t *testing.T) {
	ca := newTestCA(t)
	ts := newTestServer(t, serverOpts{tls: ca.serverConfig()}, nil)
	m := newMailer(t, mail.Config{Port: ts.port, RootCAs: ca.pool})
	tests := []struct {
		name string
		edit func(*notify.Message)
	}{
		{"CRLF in To", func(m *notify.Message) { m.To = "alice@example.com\r\nBcc: eve@example.net" }},
		{"LF in To", func(m *notify.Message) { m.To = "alice@example.com\nBcc: eve@example.net" }},
		{"two recipients", func(m *notify.Message) { m.To = "alice@example.com, eve@example.net" }},
		{"not an address", func(m *notify.Message) { m.To = "alice" }},
		{"empty To", func(m *notify.Message) { m.To = "" }},
		{"overlong To", func(m *notify.Message) { m.To = strings.Repeat("a", 250) + "@example.com" }},
		{"CRLF in Subject", func(m *notify.Message) { m.Subject = "Hi\r\nBcc: eve@example.net" }},
		{"LF in Subject", func(m *notify.Message) { m.Subject = "Hi\n\n<html>" }},
		{"bare CR in Subject", func(m *notify.Message) { m.Subject = "Hi\rBcc: eve@example.net" }},
		{"NUL in Subject", func(m *notify.Message) { m.Subject = "Hi\x00" }},
		{"line separator in Subject", func(m *notify.Message) { m.Subject = "Hi\u2028there" }},
		{"overlong Subject", func(m *notify.Message) { m.Subject = strings.Repeat("s", 999) }},
		{"empty Text", func(m *notify.Message) { m.Text = "" }},
		{"oversized body", func(m *notify.Message) { m.HTML = strings.Repeat("x", 1<<20) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := textMsg("i1")
			tt.edit(&msg)
			err := m.Send(t.Context(), msg)
			require.Error(t, err)
			assert.ErrorIs(t, err, notify.ErrPermanent)
		})
	}
	assert.Zero(t, ts.mailCount(), "nothing reached the server")
}

func TestNew(t *testing.T) {
	ok := mail.Config{Host: "smtp.example.org", From: "security@example.org"}
	tests := []struct {
		name string
		edit func(*mail.Config)
		want string // "" means New succeeds
	}{
		{"minimal", func(*mail.Config) {}, ""},
		{"implicit TLS", func(c *mail.Config) { c.TLS = mail.ImplicitTLS }, ""},
		{"credentials", func(c *mail.Config) { c.Username, c.Password = "u", secrets.NewValue([]byte("p")) }, ""},
		{"no Host", func(c *mail.Config) { c.Host = "" }, "Config.Host is required"},
		{"Host with port", func(c *mail.Config) { c.Host = "smtp.example.org:25" }, "Config.Port"},
		{"Host with CRLF", func(c *mail.Config) { c.Host = "smtp\r\n.example.org" }, "not a host name"},
		{"port out of range", func(c *mail.Config) { c.Port = 70000 }, "out of range"},
		{"negative port", func(c *mail.Config) { c.Port = -1 }, "out of range"},
		{"no From", func(c *mail.Config) { c.From = "" }, "Config.From is required"},
		{"bad From", func(c *mail.Config) { c.From = "not an address" }, "Config.From"},
		{"From with CRLF", func(c *mail.Config) { c.From = "a@example.org\r\nBcc: e@example.net" }, "control character"},
		{"username without password", func(c *mail.Config) { c.Username = "u" }, "both or neither"},
		{"password without username", func(c *mail.Config) { c.Password = secrets.NewValue([]byte("p")) }, "both or neither"},
		{"unknown TLS policy", func(c *mail.Config) { c.TLS = 7 }, "unknown policy"},
		{"negative timeout", func(c *mail.Config) { c.Timeout = -time.Second }, "negative"},
		{"HELO with space", func(c *mail.Config) { c.HELO = "a b" }, "HELO"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ok
			tt.edit(&cfg)
			m, err := mail.New(cfg)
			if tt.want == "" {
				require.NoError(t, err)
				assert.NotNil(t, m)
				return
			}
			require.Error(t, err)
			assert.Nil(t, m)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

// TestPasswordNotPrinted: neither the Config nor the Mailer prints the
// password.
func TestPasswordNotPrinted(t *testing.T) {
	cfg := mail.Config{Host: "smtp.example.org", From: "security@example.org",
		Username: "u", Password: secrets.NewValue([]byte(testPassword))}
	m, err := mail.New(cfg)
	require.NoError(t, err)
	for _, s := range []string{
		fmt.Sprintf("%v %+v %#v", cfg, cfg, cfg),
		fmt.Sprintf("%v %+v %#v", m, m, m),
	} {
		assert.NotContains(t, s, testPassword)
	}
}

func TestMessageID(t *testing.T) {
	ca := newTestCA(t)
	ts := newTestServer(t, serverOpts{tls: ca.serverConfig()}, nil)
	m := newMailer(t, mail.Config{Port: ts.port, RootCAs: ca.pool})
	for _, key := range []string{"same", "same", "other", "", ""} {
		require.NoError(t, m.Send(t.Context(), textMsg(key)))
	}
	got := ts.received()
	require.Len(t, got, 5)
	var ids []string
	for _, r := range got {
		id := parse(t, r.data).header.Get("Message-ID")
		assert.Regexp(t, messageIDRe, id)
		ids = append(ids, id)
	}
	assert.Equal(t, ids[0], ids[1], "a message sent again keeps its Message-ID, so clients show it once")
	assert.NotEqual(t, ids[0], ids[2])
	assert.NotEqual(t, ids[3], ids[4], "without a Key, IDs are random")
	assert.NotEqual(t, ids[0], ids[3])
}

func TestConcurrentSends(t *testing.T) {
	ca := newTestCA(t)
	ts := newTestServer(t, serverOpts{tls: ca.serverConfig()}, func(s *testServer) { s.user, s.pass = "mailer", testPassword })
	m := newMailer(t, mail.Config{Port: ts.port, RootCAs: ca.pool,
		Username: "mailer", Password: secrets.NewValue([]byte(testPassword))})
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			msg := textMsg(fmt.Sprint("c", i))
			msg.To = fmt.Sprintf("user%d@example.com", i)
			errs[i] = m.Send(t.Context(), msg)
		})
	}
	wg.Wait()
	for _, err := range errs {
		assert.NoError(t, err)
	}
	got := ts.received()
	require.Len(t, got, n)
	seen := map[string]bool{}
	for _, r := range got {
		seen[r.to] = true
	}
	assert.Len(t, seen, n, "each recipient got its own message")
}

// BenchmarkSend measures one delivery over STARTTLS to an in-process
// server: dial, EHLO, STARTTLS handshake, MAIL, RCPT, DATA, QUIT.
func BenchmarkSend(b *testing.B) {
	ca := newTestCA(b)
	ts := newTestServer(b, serverOpts{tls: ca.serverConfig()}, nil)
	m := newMailer(b, mail.Config{Port: ts.port, RootCAs: ca.pool})
	msg := textMsg("bench")
	msg.HTML = "<p>Hello Alice,</p><p>your password was changed.</p>"
	b.ReportAllocs()
	for b.Loop() {
		if err := m.Send(b.Context(), msg); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSendPlaintext is BenchmarkSend without TLS, to show what the
// encryption costs (AllowPlaintext is for development only).
func BenchmarkSendPlaintext(b *testing.B) {
	ts := newTestServer(b, serverOpts{}, nil)
	m := newMailer(b, mail.Config{Port: ts.port, TLS: mail.AllowPlaintext})
	msg := textMsg("bench")
	msg.HTML = "<p>Hello Alice,</p><p>your password was changed.</p>"
	b.ReportAllocs()
	for b.Loop() {
		if err := m.Send(b.Context(), msg); err != nil {
			b.Fatal(err)
		}
	}
}
