package mail_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/deployedworks/rampart/notify"
	"github.com/deployedworks/rampart/notify/mail"
	"github.com/deployedworks/rampart/secrets"
)

// A production mailer: STARTTLS on the submission port, verified against
// the system roots, with the password from the secrets store. Give it to
// the outbox as its notify.Sender.
func ExampleNew() {
	password := secrets.NewValue([]byte("from your secrets store")) // see package secrets
	m, err := mail.New(mail.Config{
		Host:     "smtp.example.org",
		From:     "Shop security <security@shop.example>",
		Username: "security@shop.example",
		Password: password,
	})
	if err != nil {
		log.Fatal(err) // refuse to start without a working configuration
	}
	var _ notify.Sender = m
}

// A message whose subject would add a header is refused before any
// connection, as a permanent failure the outbox does not retry.
func ExampleMailer_Send() {
	m, err := mail.New(mail.Config{Host: "smtp.example.org", From: "security@shop.example"})
	if err != nil {
		log.Fatal(err)
	}
	err = m.Send(context.Background(), notify.Message{
		Key:     "password_changed:req-1:user-42",
		To:      "alice@example.com",
		Kind:    "password_changed",
		Subject: "Your password was changed\r\nBcc: eve@example.net",
		Text:    "Hello Alice, your password was changed.",
	})
	fmt.Println(errors.Is(err, notify.ErrPermanent))
	// Output: true
}
