package mail

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base32"
	"errors"
	"fmt"
	"net"
	netmail "net/mail"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/deployedworks/rampart/notify"
	"github.com/deployedworks/rampart/secrets"
)

// TLSPolicy says how the connection to the SMTP server is encrypted.
type TLSPolicy int

const (
	// RequireSTARTTLS, the default, connects in plain text and upgrades
	// with STARTTLS (RFC 3207) before anything else is said; a server that
	// does not offer STARTTLS, or whose certificate does not verify, is
	// refused. Default port 587 (RFC 8314 §3.3 submission).
	RequireSTARTTLS TLSPolicy = iota
	// ImplicitTLS speaks TLS from the first byte (RFC 8314 §3.3, port 465,
	// the default port for this policy).
	ImplicitTLS
	// AllowPlaintext never encrypts: anyone on the path reads every
	// message. Use it only for a development server on the same machine or
	// network (Mailpit, MailHog). The password still never travels in
	// clear: with credentials, the server must offer a challenge-response
	// mechanism (SCRAM, CRAM-MD5), or Send fails without sending them.
	AllowPlaintext
)

// String returns the policy's name.
func (p TLSPolicy) String() string {
	switch p {
	case RequireSTARTTLS:
		return "RequireSTARTTLS"
	case ImplicitTLS:
		return "ImplicitTLS"
	case AllowPlaintext:
		return "AllowPlaintext"
	}
	return "TLSPolicy(" + strconv.Itoa(int(p)) + ")"
}

// Config configures a [Mailer]. Host and From are required; every other
// zero value is the secure default.
type Config struct {
	// Host is the SMTP server's host name, also the name its certificate
	// must carry. Required.
	Host string
	// Port is the server's port. Default: 587, or 465 with [ImplicitTLS].
	Port int
	// From is the sender, "Name <address>" or a bare address (RFC 5322).
	// Required. Its domain also names the Message-ID.
	From string
	// Username and Password authenticate to the server (SMTP AUTH, the
	// strongest mechanism both sides support). Both or neither: default,
	// no authentication.
	Username string
	Password secrets.Value
	// TLS is how the connection is encrypted. Default: [RequireSTARTTLS].
	TLS TLSPolicy
	// RootCAs verify the server's certificate. Default: the system roots.
	RootCAs *x509.CertPool
	// Timeout bounds each Send, from dialing to the server's last answer;
	// Send also ends when its context does. Default: 30 seconds.
	Timeout time.Duration
	// HELO is the name this client gives in EHLO. Default: the machine's
	// host name.
	HELO string
}

// Limits on what Send accepts; anything larger is refused as permanent.
const (
	maxSubject = 998     // RFC 5322 §2.1.1: a header line
	maxAddress = 254     // RFC 5321 §4.5.3.1.3 path, less the brackets
	maxBody    = 1 << 20 // Text and HTML together
)

// Mailer sends messages over SMTP, one connection per message. It
// implements [notify.Sender] and is safe for concurrent use. It starts no
// goroutine and holds no connection between sends, so it needs no Close.
type Mailer struct {
	client  *gomail.Client
	from    *netmail.Address
	domain  string
	timeout time.Duration
	tls     TLSPolicy
	tlsConf *tls.Config
}

var _ notify.Sender = (*Mailer)(nil)

// New validates cfg and returns a Mailer. It does not connect: a wrong
// host or password shows in the first Send.
func New(cfg Config) (*Mailer, error) {
	if cfg.Host == "" {
		return nil, errors.New("mail: Config.Host is required: the SMTP server's host name")
	}
	if strings.ContainsAny(cfg.Host, " /:\r\n\t") {
		return nil, fmt.Errorf("mail: Config.Host %q is not a host name: give the port in Config.Port, and a name rather than an IPv6 literal", cfg.Host)
	}
	if cfg.TLS < RequireSTARTTLS || cfg.TLS > AllowPlaintext {
		return nil, fmt.Errorf("mail: Config.TLS: unknown policy %d", int(cfg.TLS))
	}
	port := cfg.Port
	if port == 0 {
		port = 587
		if cfg.TLS == ImplicitTLS {
			port = 465
		}
	}
	if port < 1 || port > 65535 {
		return nil, fmt.Errorf("mail: Config.Port %d is out of range", cfg.Port)
	}
	if cfg.From == "" {
		return nil, errors.New("mail: Config.From is required: the sender's address")
	}
	if hasControl(cfg.From) {
		return nil, errors.New("mail: Config.From holds a control character")
	}
	from, err := netmail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("mail: Config.From %q: %w", cfg.From, err)
	}
	domain := from.Address[strings.LastIndexByte(from.Address, '@')+1:]
	if (cfg.Username == "") != (cfg.Password.Len() == 0) {
		return nil, errors.New("mail: Config.Username and Config.Password go together: set both or neither")
	}
	if hasControl(cfg.Username) {
		return nil, errors.New("mail: Config.Username holds a control character")
	}
	if cfg.HELO != "" && (hasControl(cfg.HELO) || strings.ContainsRune(cfg.HELO, ' ')) {
		return nil, fmt.Errorf("mail: Config.HELO %q is not a host name", cfg.HELO)
	}
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	if timeout < 0 {
		return nil, errors.New("mail: Config.Timeout is negative")
	}

	m := &Mailer{
		from:    from,
		domain:  domain,
		timeout: timeout,
		tls:     cfg.TLS,
		tlsConf: &tls.Config{ServerName: cfg.Host, RootCAs: cfg.RootCAs, MinVersion: tls.VersionTLS12},
	}
	opts := []gomail.Option{
		gomail.WithPort(port),
		// Send's context (with Timeout) bounds the whole conversation and
		// closes the connection when it ends; go-mail's own per-command
		// deadline is only a backstop, set later so that a Send that runs
		// out of time reports the deadline, not an i/o timeout.
		gomail.WithTimeout(timeout + 10*time.Second),
		gomail.WithTLSConfig(m.tlsConf),
		gomail.WithDialContextFunc(m.dial),
	}
	switch cfg.TLS {
	case RequireSTARTTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case ImplicitTLS:
		// dial does the TLS handshake; "opportunistic" then only makes
		// go-mail read the connection state and treat it as encrypted.
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
	case AllowPlaintext:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	}
	if cfg.HELO != "" {
		opts = append(opts, gomail.WithHELO(cfg.HELO))
	}
	if cfg.Username != "" {
		// Auto-discovery picks the strongest mechanism the server offers
		// and, on a connection that is not encrypted, none that reveals
		// the password (PLAIN, LOGIN).
		opts = append(opts,
			gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(cfg.Username),
			gomail.WithPassword(string(cfg.Password.Reveal())))
	}
	c, err := gomail.NewClient(cfg.Host, opts...)
	if err != nil {
		return nil, fmt.Errorf("mail: %w", err)
	}
	m.client = c
	return m, nil
}

// sendKey carries a sendState from Send to dial through the context.
type sendKey struct{}

// sendState lets dial tie the connection to the Send's context.
type sendState struct {
	ctx  context.Context
	raw  net.Conn    // the TCP connection, nil until dialed
	stop func() bool // cancels the close on ctx's end
}

// end closes the connection, which go-mail leaves open when the
// conversation fails before a message (a refused STARTTLS, failed AUTH).
func (st *sendState) end() {
	if st.raw == nil {
		return
	}
	st.stop()
	_ = st.raw.Close()
}

// dial connects for one Send and arranges for the raw connection to be
// closed when the Send's context ends, which unblocks any read or write of
// the SMTP conversation (go-mail itself only applies the context to
// dialing).
func (m *Mailer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	raw, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	if st, ok := ctx.Value(sendKey{}).(*sendState); ok {
		st.raw = raw
		st.stop = context.AfterFunc(st.ctx, func() { _ = raw.Close() })
	}
	if m.tls != ImplicitTLS {
		return raw, nil
	}
	tc := tls.Client(raw, m.tlsConf)
	if err := tc.HandshakeContext(ctx); err != nil {
		_ = raw.Close()
		return nil, err
	}
	return tc, nil
}

// Send delivers msg to msg.To. It returns when the server has accepted
// the message, on failure, or when ctx ends or [Config.Timeout] passes,
// whichever is first. Errors wrap [notify.ErrPermanent] when retrying
// cannot help (see the package doc) and never contain the password.
func (m *Mailer) Send(ctx context.Context, msg notify.Message) error {
	gm, err := m.compose(msg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, m.timeout)
	defer cancel()
	st := &sendState{ctx: ctx}
	err = m.client.DialAndSendWithContext(context.WithValue(ctx, sendKey{}, st), gm)
	st.end()
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("mail: send %s to %s: %w: %w", msg.Kind, msg.To, context.Cause(ctx), err)
	}
	if permanent(err) {
		return fmt.Errorf("mail: send %s to %s: %w: %w", msg.Kind, msg.To, notify.ErrPermanent, err)
	}
	return fmt.Errorf("mail: send %s to %s: %w", msg.Kind, msg.To, err)
}

// permanent reports whether err is the server's 5xx answer to a recipient
// or to the message: retrying the same message cannot succeed.
func permanent(err error) bool {
	var se *gomail.SendError
	if !errors.As(err, &se) {
		return false
	}
	switch se.Reason {
	case gomail.ErrSMTPRcptTo, gomail.ErrSMTPData, gomail.ErrSMTPDataClose:
		return se.ErrorCode() >= 500 && se.ErrorCode() < 600
	}
	return false
}

// compose checks msg and builds the MIME message: text/plain, or
// multipart/alternative with text/html after it when msg.HTML is set.
func (m *Mailer) compose(msg notify.Message) (*gomail.Msg, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("mail: %w: "+format, append([]any{notify.ErrPermanent}, args...)...)
	}
	if msg.To == "" {
		return nil, bad("Message.To is empty")
	}
	if len(msg.To) > maxAddress || hasControl(msg.To) {
		return nil, bad("Message.To is too long or holds a control character")
	}
	to, err := netmail.ParseAddress(msg.To)
	if err != nil {
		return nil, bad("Message.To %q: %v", msg.To, err)
	}
	if len(msg.Subject) > maxSubject || hasControl(msg.Subject) {
		return nil, bad("Message.Subject is longer than %d bytes or holds a control character (a line break?)", maxSubject)
	}
	if msg.Text == "" {
		return nil, bad("Message.Text is empty")
	}
	if len(msg.Text)+len(msg.HTML) > maxBody {
		return nil, bad("Message.Text and HTML exceed %d bytes", maxBody)
	}

	gm := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	gm.FromMailAddress(m.from)
	gm.ToMailAddress(to)
	gm.Subject(msg.Subject)
	gm.SetMessageIDWithValue(m.messageID(msg))
	date := msg.Created
	if date.IsZero() {
		date = time.Now()
	}
	gm.SetDateWithValue(date)
	gm.SetBodyString(gomail.TypeTextPlain, msg.Text)
	if msg.HTML != "" {
		gm.AddAlternativeString(gomail.TypeTextHTML, msg.HTML)
	}
	return gm, nil
}

var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// messageID returns the Message-ID's value (without brackets). A message
// with a Key gets an ID derived from it, so that a message the outbox
// sends again (the server accepted it, but the answer was lost) reaches the
// recipient as the same message, which mail clients show once; the Key is
// unique to one message, so the ID is too. Without a Key the ID is random.
func (m *Mailer) messageID(msg notify.Message) string {
	var b []byte
	if msg.Key != "" {
		h := sha256.Sum256([]byte("rampart notify/mail Message-ID\x00" + m.from.Address + "\x00" + msg.To + "\x00" + msg.Key))
		b = h[:20]
	} else {
		b = make([]byte, 20)
		_, _ = rand.Read(b) // never fails (Go 1.24+)
	}
	return strings.ToLower(idEncoding.EncodeToString(b)) + "@" + m.domain
}

// hasControl reports whether s holds an ASCII or Unicode control
// character (CR and LF among them).
func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u2028' || r == '\u2029' {
			return true
		}
	}
	return false
}
