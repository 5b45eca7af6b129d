package notify_test

import (
	"context"
	"database/sql"
	"fmt"
	"log"
	"os"
	"path/filepath"

	_ "modernc.org/sqlite"

	"github.com/deployedworks/rampart/notify"
	"github.com/deployedworks/rampart/sqldb"
)

// console is a development Sender: it prints each message.
type console struct{ sent chan<- struct{} }

func (c console) Send(ctx context.Context, m notify.Message) error {
	fmt.Printf("to %s: %s\n%s\n", m.To, m.Subject, m.Text)
	c.sent <- struct{}{}
	return nil
}

func Example() {
	dir, err := os.MkdirTemp("", "outbox")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "app.db")+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)")
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)

	ctx := context.Background()
	outbox, err := notify.NewOutbox(db, sqldb.SQLite, notify.OutboxConfig{})
	if err != nil {
		log.Fatal(err)
	}
	if err := outbox.Migrate(ctx); err != nil { // creates the table; NewOutbox runs no SQL
		log.Fatal(err)
	}

	// One goroutine per instance delivers; in production the Sender is a
	// notify/mail mailer.
	sent := make(chan struct{})
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- outbox.Run(runCtx, console{sent}) }()

	// In the request: queue, never wait for the mail server. The same
	// Key twice (a retried request) is one message.
	m := notify.Message{
		Key:     "password_changed:user-42:req-7f3a",
		To:      "alice@example.com",
		Kind:    "password_changed",
		Subject: "Your password was changed",
		Text:    "If this was not you, reset your password now.",
	}
	for range 2 {
		if err := outbox.Enqueue(ctx, m); err != nil {
			log.Fatal(err)
		}
	}
	<-sent
	stop()
	fmt.Println("Run:", <-done)
	// Output:
	// to alice@example.com: Your password was changed
	// If this was not you, reset your password now.
	// Run: context canceled
}
