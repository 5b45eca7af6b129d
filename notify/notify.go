// Package notify delivers messages to people (security notices to users,
// alerts to the security contacts) without letting delivery block or fail
// the request that caused them.
//
// The threat is silence: a password changed, a factor removed or an
// account taken over that nobody is told about, because the mail server
// was down when it happened, or because the request that should have said
// so failed on a slow mail server and was retried into two mails. So a
// [Message] is queued in a durable outbox (a database table, SQLite or
// PostgreSQL) by the request, and sent later through a [Sender] (package
// notify/mail sends over SMTP).
//
// Start with [NewOutbox], then [Outbox.Migrate] at start-up, [Outbox.Run]
// in a goroutine of each instance, [Outbox.Enqueue] (or
// [Outbox.EnqueueTx], in the transaction of the change being notified) in
// requests, and [Outbox.Prune] from time to time.
//
// # Guarantees
//
//   - Enqueue never calls the Sender: a Sender that is down or slow
//     neither fails nor slows a request.
//   - A message is never lost once Enqueue returns (or its transaction
//     commits): it stays in the table until sent or given up.
//   - Many instances running Run on one table send each message once:
//     each claims messages under a lease. A crash between a send and its
//     mark makes the message go out again after the lease, so delivery
//     is at least once at the transport (see [Outbox.Run]).
//   - One Key, one message: an event notified twice is sent once.
//   - Failed sends are retried with exponential backoff and jitter; a
//     message given up is recorded as an audit error event
//     ([ActionGivenUp]) for a person to follow up.
//   - Messages are validated before they are stored: no control
//     characters in To or Subject (header injection), bounded sizes.
//
// A [Template] renders an event's data into a Message. Out of scope: the
// recipients' preferences (a user cannot opt out of security notices),
// and transports (a [Sender] is one method). Messages are stored in clear
// in the table: they hold what the recipient will read, and the database
// is to be protected as such; a reset link in a message is as sensitive
// as the token it carries, so keep such tokens short-lived and
// single-use.
//
// # Notices and alerts from audit events
//
// Audit events are the record of what happened, so notices hang off the
// audit pipeline rather than off each code path that logs an event: an
// [EventSink], an audit sink under the detector of package audit/detect,
// turns the events its rules ([Rule]) name into messages in the outbox.
// [Notice] tells the user an event is about ([ToUser]): a factor added or
// removed, a recovery code used, a sign-in from a new device or address,
// an account disabled, a role granted. [Alert] tells the security
// contacts ([ToAddresses]): credential stuffing, password spraying, a
// sign-in after a burst of failures, a cloned passkey, a flood of browser
// reports. The application passes the actions (package notify imports no
// package above it), and its own ones too. The password and e-mail
// changes are not among them: the account flows notify those themselves.
//
// Each event is one message per recipient however often it is written
// (a retrying audit.AsyncSink, two instances), alerts about one target
// are one message per window, and a rate limit per rule and recipient
// keeps a flood of alerts from becoming a flood of mail, saying in the
// next message how many it held back. A message that cannot be queued is
// recorded as an audit error ([ActionQueueFailed]), never a failed write.
package notify

import (
	"context"
	"errors"
	"time"
)

// Message is one notification to one recipient. [Outbox.Enqueue] refuses,
// with an error naming the field, a message that breaks the bounds below
// or has a text field that is not valid UTF-8.
type Message struct {
	// Key identifies the message for deduplication: the outbox holds at
	// most one message per Key (until [Outbox.Prune] removes it), so that
	// an event notified twice (a retried request, two instances handling
	// one event) is sent once.
	// Build it from the event: "password_changed:" + the audit event's
	// request ID and user ID, say. Required; at most 200 bytes.
	Key string
	// To is the recipient's address. Required; at most 512 bytes, no
	// control characters.
	To string
	// Kind names what the message is about ("password_changed",
	// "security_alert"), for logs, audit events and development pages.
	// Required: lower-case letters, digits, '_' and '.', at most 64.
	Kind string
	// Subject is the subject line: one line, no control characters, at
	// most 1000 bytes.
	Subject string
	// Text is the plain-text body. Required. Line breaks and tabs are its
	// only control characters; a whole message (every field) is at most
	// 256 KiB.
	Text string
	// HTML is the optional HTML body, sent as an alternative to Text.
	HTML string
	// Created is when the message was queued. Default: now.
	Created time.Time
}

// Sender delivers a message: an SMTP mailer, a chat webhook, a console
// writer in development. Send must be safe for concurrent use ([Outbox.Run]
// sends a batch at once) and must return when ctx ends. An error wrapping [ErrPermanent] (the address is
// rejected, the message is refused) is not retried.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// ErrPermanent marks a Sender's error that retrying cannot fix.
var ErrPermanent = errors.New("notify: permanent failure")
