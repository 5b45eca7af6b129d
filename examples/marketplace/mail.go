package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/mail"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/deployedworks/rampart/notify"
	notifymail "github.com/deployedworks/rampart/notify/mail"
	"github.com/deployedworks/rampart/secrets"
)

// envSMTPURL is the SMTP server the app sends its mail through, with its
// credentials: "smtp://user:password@host:587" (STARTTLS, required),
// "smtps://user:password@host:465" (TLS from the first byte), or, in
// development only, "smtp+plain://host:1025" (no encryption: a local
// Mailpit). Required in production; optional in development, where
// messages are printed to the console and shown on /account/outbox.
const envSMTPURL = "MARKETPLACE_SMTP_URL"

// smtpSpec is the specification of envSMTPURL.
var smtpSpec = secrets.Spec{Name: envSMTPURL, Encoding: secrets.Raw}

// mailerConfig parses an envSMTPURL value into the mailer's Config. Errors
// never quote the value: it holds the password.
func mailerConfig(v secrets.Value, from string, prod bool) (notifymail.Config, error) {
	bad := func(why string) (notifymail.Config, error) {
		return notifymail.Config{}, fmt.Errorf("secrets: %s: %s (want smtp://user:password@host:587 or smtps://user:password@host:465)", envSMTPURL, why)
	}
	u, err := url.Parse(string(v.Reveal()))
	if err != nil {
		return bad("not a URL")
	}
	cfg := notifymail.Config{Host: u.Hostname(), From: from}
	switch u.Scheme {
	case "smtp":
		cfg.TLS = notifymail.RequireSTARTTLS
	case "smtps":
		cfg.TLS = notifymail.ImplicitTLS
	case "smtp+plain":
		if prod {
			return bad("smtp+plain (no encryption) is for a development server only")
		}
		cfg.TLS = notifymail.AllowPlaintext
	default:
		return bad("scheme must be smtp or smtps")
	}
	if cfg.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return bad("give scheme, credentials, host and port only")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return bad("bad port")
		}
		cfg.Port = n
	}
	if u.User != nil {
		pw, ok := u.User.Password()
		if u.User.Username() == "" || !ok || pw == "" {
			return bad("give both a user name and a password, or neither")
		}
		cfg.Username = u.User.Username()
		cfg.Password = secrets.NewValue([]byte(pw))
	}
	return cfg, nil
}

// buildNotify creates the outbox (its table is migrated with the others)
// and chooses its Sender: SMTP when configured (always in production),
// and in development the console, with a copy of each message kept for
// /account/outbox.
func (a *App) buildNotify() error {
	var err error
	if a.outbox, err = notify.NewOutbox(a.db.db, a.db.sqlDialect(), notify.OutboxConfig{Audit: a.audit, ErrorLog: a.log, Now: a.cfg.Now}); err != nil {
		return err
	}
	from := a.cfg.MailFrom
	if from == "" {
		from = "Marketplace <no-reply@" + a.origin.Host + ">"
	}
	if _, err := mail.ParseAddress(from); err != nil {
		return fmt.Errorf("config: MailFrom %q: %w (want an address, or Name <address>)", from, err)
	}
	// Development first: the console shows a message even while a
	// development SMTP server is down.
	var senders []notify.Sender
	if !a.cfg.Prod {
		a.devMail = newDevSender(a.log)
		senders = append(senders, a.devMail)
	}
	if a.keys.SMTP.Len() > 0 {
		mc, err := mailerConfig(a.keys.SMTP, from, a.cfg.Prod)
		if err != nil {
			return err
		}
		m, err := notifymail.New(mc)
		if err != nil {
			return fmt.Errorf("mail: %w", err)
		}
		senders = append(senders, m)
	} else if a.cfg.Prod { // loadSecrets refuses this already
		return fmt.Errorf("secrets: cannot start without %s in production", envSMTPURL)
	}
	if a.cfg.sender != nil {
		senders = []notify.Sender{a.cfg.sender}
	}
	a.sender = senders[0]
	if len(senders) > 1 {
		a.sender = teeSender(senders)
	}
	return nil
}

// startOutbox delivers the outbox's messages in a goroutine until Close.
func (a *App) startOutbox() error {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = a.outbox.Run(ctx, a.sender)
	}()
	// Registered after the audit queues: closers run in reverse, so the
	// outbox stops first and its last events still reach the audit log.
	a.onClose(func(cctx context.Context) error {
		cancel()
		select {
		case <-done:
			return nil
		case <-cctx.Done():
			return fmt.Errorf("outbox: stop: %w", cctx.Err())
		}
	})
	return nil
}

// teeSender sends each message through every Sender in turn: the
// development console, then SMTP. The first error stops it; the outbox
// then retries the whole message, and the console skips what it has shown.
type teeSender []notify.Sender

func (t teeSender) Send(ctx context.Context, m notify.Message) error {
	for _, s := range t {
		if err := s.Send(ctx, m); err != nil {
			return err
		}
	}
	return nil
}

// Bounds of what the development Sender keeps.
const (
	devMailPerRecipient = 50
	devMailRecipients   = 1000
)

// devSender is the development Sender: it prints each message to the
// app's logger and keeps the last devMailPerRecipient messages of each of
// the last devMailRecipients recipients, for /account/outbox. It never
// fails.
type devSender struct {
	log   *slog.Logger
	mu    sync.Mutex
	byTo  map[string][]notify.Message
	order []string // recipients, oldest first
	// changed is closed, and replaced, by every Send: tests wait on it.
	changed chan struct{}
}

func newDevSender(log *slog.Logger) *devSender {
	return &devSender{log: log, byTo: map[string][]notify.Message{}, changed: make(chan struct{})}
}

// wait returns the messages sent to address, newest first, once there is
// one that match accepts, or nil when ctx ends first.
func (d *devSender) wait(ctx context.Context, address string, match func(notify.Message) bool) []notify.Message {
	for {
		d.mu.Lock()
		ch := d.changed
		d.mu.Unlock()
		msgs := d.sent(address)
		if slices.ContainsFunc(msgs, match) {
			return msgs
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil
		}
	}
}

func (d *devSender) Send(ctx context.Context, m notify.Message) error {
	to := strings.ToLower(m.To)
	d.mu.Lock()
	defer d.mu.Unlock()
	msgs, seen := d.byTo[to]
	if slices.ContainsFunc(msgs, func(o notify.Message) bool { return o.Key == m.Key }) {
		return nil // a retry of a message SMTP failed to send
	}
	if !seen {
		if len(d.order) >= devMailRecipients {
			delete(d.byTo, d.order[0])
			d.order = d.order[1:]
		}
		d.order = append(d.order, to)
	}
	msgs = append(msgs, m)
	if len(msgs) > devMailPerRecipient {
		msgs = slices.Clone(msgs[len(msgs)-devMailPerRecipient:])
	}
	d.byTo[to] = msgs
	d.log.InfoContext(ctx, "DEVELOPMENT MODE: mail printed here, not sent (see /account/outbox)",
		"to", m.To, "kind", m.Kind, "subject", m.Subject, "text", m.Text)
	close(d.changed)
	d.changed = make(chan struct{})
	return nil
}

// sent returns the messages sent to address, newest first.
func (d *devSender) sent(address string) []notify.Message {
	d.mu.Lock()
	defer d.mu.Unlock()
	msgs := slices.Clone(d.byTo[strings.ToLower(address)])
	slices.Reverse(msgs)
	return msgs
}

// outboxPage shows the signed-in user the messages sent to their address
// by the development Sender. It does not exist in production.
func (a *App) outboxPage(w http.ResponseWriter, r *http.Request) {
	if a.devMail == nil {
		a.notFound(w, r)
		return
	}
	u, err := a.db.userByID(r.Context(), currentUser(r))
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	a.render(w, r, http.StatusOK, "outbox", page{Title: "Your mail (development)", Data: a.devMail.sent(u.Email)})
}

// outboxKeep is how long sent and given-up messages stay in the outbox
// (and their Keys keep an event from being notified twice).
const outboxKeep = 30 * 24 * time.Hour
