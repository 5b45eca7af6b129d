package sqlstore_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	_ "modernc.org/sqlite"

	"github.com/deployedworks/rampart/sqldb"
	"github.com/deployedworks/rampart/token"
	"github.com/deployedworks/rampart/token/sqlstore"
)

func Example() {
	dir, err := os.MkdirTemp("", "tokens")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "app.db")+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)")
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	ctx := context.Background()
	store, err := sqlstore.New(db, sqldb.SQLite, sqlstore.Config{})
	if err != nil {
		log.Fatal(err)
	}
	if err := store.Migrate(ctx); err != nil { // creates the table; New runs no SQL
		log.Fatal(err)
	}
	issuer, err := token.New(store, token.Config{})
	if err != nil {
		log.Fatal(err)
	}

	// Confirming a new address: the link goes to the new address, which
	// the record carries.
	tok, err := issuer.Issue(ctx, "alice", token.EmailChange, "alice@new.example")
	if err != nil {
		log.Fatal(err)
	}
	rec, err := issuer.Redeem(ctx, tok, token.EmailChange)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("change", rec.UserID, "to", rec.Data)

	_, err = issuer.Redeem(ctx, tok, token.EmailChange)
	fmt.Println("used again:", errors.Is(err, token.ErrInvalid))

	// Run now and then to keep the table small.
	n, err := store.DeleteExpired(ctx, rec.Expires)
	fmt.Println("expired rows deleted:", n, err)
	// Output:
	// change alice to alice@new.example
	// used again: true
	// expired rows deleted: 0 <nil>
}
