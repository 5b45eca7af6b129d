// Package notify delivers messages to people (security notices to users,
// alerts to the security contacts) without letting delivery block or fail
// the request that caused them.
//
// A [Message] is queued in a durable outbox (a database table) in the
// request, and sent later through a [Sender] (package
// notify/mail sends over SMTP). The outbox delivers each message once
// across many instances, retries failures with backoff, and records the
// ones it gives up on as audit errors.
package notify

import (
	"context"
	"errors"
	"time"
)

// Message is one notification to one recipient.
type Message struct {
	// Key identifies the message for deduplication: the outbox holds at
	// most one message per Key, ever, so that an event notified twice (a
	// retried request, two instances handling one event) is sent once.
	// Build it from the event: "password_changed:" + the audit event's
	// request ID and user ID, say. Required; at most 200 bytes.
	Key string
	// To is the recipient's address. Required.
	To string
	// Kind names what the message is about ("password_changed",
	// "security_alert"), for logs, audit events and development pages.
	// Required: lower-case letters, digits, '_' and '.'.
	Kind string
	// Subject is the subject line: one line, no control characters.
	Subject string
	// Text is the plain-text body. Required.
	Text string
	// HTML is the optional HTML body, sent as an alternative to Text.
	HTML string
	// Created is when the message was queued. Default: now.
	Created time.Time
}

// Sender delivers a message: an SMTP mailer, a chat webhook, a console
// writer in development. Send must be safe for concurrent use and must
// return when ctx ends. An error wrapping [ErrPermanent] (the address is
// rejected, the message is refused) is not retried.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// ErrPermanent marks a Sender's error that retrying cannot fix.
var ErrPermanent = errors.New("notify: permanent failure")
