package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/internal/testenv"
	"github.com/deployedworks/rampart/notify"
	notifymail "github.com/deployedworks/rampart/notify/mail"
	"github.com/deployedworks/rampart/secrets"
)

func TestMailerConfig(t *testing.T) {
	t.Parallel()
	const from = "Marketplace <no-reply@market.example>"
	good := []struct {
		url      string
		prod     bool
		want     notifymail.Config
		password string
	}{
		{"smtp://mailer:s3cret-pw@smtp.example:587", true,
			notifymail.Config{Host: "smtp.example", Port: 587, From: from, Username: "mailer", TLS: notifymail.RequireSTARTTLS}, "s3cret-pw"},
		{"smtps://mailer:p%40ss@smtp.example", true,
			notifymail.Config{Host: "smtp.example", From: from, Username: "mailer", TLS: notifymail.ImplicitTLS}, "p@ss"},
		{"smtp://relay.internal", true, notifymail.Config{Host: "relay.internal", From: from}, ""},
		{"smtp+plain://localhost:1025", false, notifymail.Config{Host: "localhost", Port: 1025, From: from, TLS: notifymail.AllowPlaintext}, ""},
	}
	for _, tt := range good {
		got, err := mailerConfig(secrets.NewValue([]byte(tt.url)), from, tt.prod)
		require.NoError(t, err, tt.url)
		assert.Equal(t, tt.password, string(got.Password.Reveal()), tt.url)
		got.Password = secrets.Value{}
		assert.Equal(t, tt.want, got, tt.url)
	}
	bad := []struct {
		url  string
		prod bool
		want string
	}{
		{"smtp+plain://mailer:s3cret-pw@localhost:1025", true, "development server only"},
		{"http://mailer:s3cret-pw@smtp.example", true, "scheme must be smtp or smtps"},
		{"smtp://mailer@smtp.example", true, "both a user name and a password"},
		{"smtp://:s3cret-pw@smtp.example", true, "both a user name and a password"},
		{"smtp://mailer:s3cret-pw@smtp.example:99999", true, "bad port"},
		{"smtp://mailer:s3cret-pw@smtp.example/path", true, "host and port only"},
		{"smtp://mailer:s3cret-pw@", true, "host and port only"},
		{"smtp://mailer:s3cret-pw@smtp.example\n", true, "not a URL"},
	}
	for _, tt := range bad {
		_, err := mailerConfig(secrets.NewValue([]byte(tt.url)), from, tt.prod)
		require.Error(t, err, tt.url)
		assert.Contains(t, err.Error(), tt.want, tt.url)
		assert.Contains(t, err.Error(), envSMTPURL)
		assert.NotContains(t, err.Error(), "s3cret-pw", "an error never quotes the password")
	}
}

// TestNew_ProdMailer: production sends through SMTP, from the secrets, and
// has no development outbox page.
func TestNew_ProdMailer(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, "https://market.example", testenv.NewClock(time.Now()), &syncBuffer{})
	cfg.Prod = true
	cfg.Secrets = secrets.Env{LookupEnv: mapEnv(prodEnv(t))}
	app, err := New(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, app.Close(context.Background())) })
	assert.IsType(t, &notifymail.Mailer{}, app.sender)
	assert.Nil(t, app.devMail)
}

// TestOutbox_Development: in development a queued message is delivered by
// the outbox's goroutine to the console and to /account/outbox, where its
// recipient, and nobody else, reads it.
func TestOutbox_Development(t *testing.T) {
	t.Parallel()
	console := &syncBuffer{}
	ta := newTestApp(t, func(c *Config) { c.Logger = slog.New(slog.NewTextHandler(console, nil)) })
	alice, _ := ta.userClient("alice@example.com", "Alice")
	bob, _ := ta.userClient("bob@example.com", "Bob")

	r := alice.get("/account")
	assert.Contains(t, r.Body, `href="/account/outbox"`)
	r = alice.get("/account/outbox")
	require.Equal(t, http.StatusOK, r.Status, r.Body)
	assert.Contains(t, r.Body, `id="outbox-empty"`)

	ctx := context.Background()
	require.NoError(t, ta.outbox.Enqueue(ctx, notify.Message{Key: "test:1", To: "Alice@Example.com", Kind: "test",
		Subject: "Hello <Alice>", Text: "Open https://market.example/reset?token=abc\n<script>x</script>"}))
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	msgs := ta.devMail.wait(wctx, "alice@example.com", func(m notify.Message) bool { return m.Key == "test:1" })
	require.Len(t, msgs, 1, "the outbox delivered the message")

	r = alice.get("/account/outbox")
	require.Equal(t, http.StatusOK, r.Status)
	assert.Contains(t, r.Body, "Hello &lt;Alice&gt;")
	assert.Contains(t, r.Body, "https://market.example/reset?token=abc")
	assert.Contains(t, r.Body, "&lt;script&gt;x&lt;/script&gt;", "the message is escaped")
	assert.NotContains(t, r.Body, "<script>x")
	r = bob.get("/account/outbox")
	assert.NotContains(t, r.Body, "Hello", "only the recipient reads a message")
	assert.Contains(t, console.String(), "mail printed here")
	assert.Contains(t, console.String(), "reset?token=abc")

	// Queued twice under one Key: sent once.
	require.NoError(t, ta.outbox.Enqueue(ctx, notify.Message{Key: "test:1", To: "alice@example.com", Kind: "test", Subject: "Again", Text: "again"}))
	require.NoError(t, ta.outbox.Enqueue(ctx, notify.Message{Key: "test:2", To: "alice@example.com", Kind: "test", Subject: "Second", Text: "second"}))
	msgs = ta.devMail.wait(wctx, "alice@example.com", func(m notify.Message) bool { return m.Key == "test:2" })
	require.Len(t, msgs, 2)
	assert.Equal(t, "Second", msgs[0].Subject, "newest first")

	// Signed out, the page is the login's.
	r = ta.client().get("/account/outbox")
	assert.Equal(t, http.StatusSeeOther, r.Status)
}

// TestDevSender_Bounded: the development Sender keeps the last messages of
// the last recipients only, and shows a retried message once.
func TestDevSender_Bounded(t *testing.T) {
	t.Parallel()
	d := newDevSender(slog.New(slog.DiscardHandler))
	ctx := context.Background()
	for i := range devMailPerRecipient + 10 {
		require.NoError(t, d.Send(ctx, notify.Message{Key: fmt.Sprint("k", i), To: "a@example.com", Subject: fmt.Sprint(i)}))
	}
	require.NoError(t, d.Send(ctx, notify.Message{Key: "k0", To: "b@example.com", Subject: "b"}))
	require.NoError(t, d.Send(ctx, notify.Message{Key: "k0", To: "b@example.com", Subject: "b again"}))
	got := d.sent("A@example.com")
	require.Len(t, got, devMailPerRecipient)
	assert.Equal(t, fmt.Sprint(devMailPerRecipient+9), got[0].Subject)
	assert.Len(t, d.sent("b@example.com"), 1, "a retry is shown once")
	for i := range devMailRecipients {
		require.NoError(t, d.Send(ctx, notify.Message{Key: "x", To: fmt.Sprintf("u%d@example.com", i)}))
	}
	assert.Empty(t, d.sent("a@example.com"), "the oldest recipients are forgotten")
	assert.Len(t, d.sent("u0@example.com"), 1)
	d.mu.Lock()
	assert.Len(t, d.byTo, devMailRecipients)
	d.mu.Unlock()
	assert.False(t, strings.Contains(fmt.Sprint(d.order[:1]), "a@example.com"))
}
