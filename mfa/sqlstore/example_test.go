package sqlstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"log"
	"os"
	"path/filepath"

	_ "modernc.org/sqlite"

	"github.com/deployedworks/rampart/mfa"
	"github.com/deployedworks/rampart/mfa/sqlstore"
	"github.com/deployedworks/rampart/sqldb"
)

func Example() {
	dir, err := os.MkdirTemp("", "mfa")
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
	store, err := sqlstore.New(db, sqldb.SQLite, sqlstore.Config{})
	if err != nil {
		log.Fatal(err)
	}
	if err := store.Migrate(ctx); err != nil { // creates the tables; New runs no SQL
		log.Fatal(err)
	}
	// Pass store to mfa.NewTOTP, mfa.NewRecovery and the passkey
	// constructor. What they rely on:

	// A TOTP time step is accepted once, however many requests carry it.
	_ = store.SaveTOTP(ctx, "alice", mfa.TOTPRecord{Secret: []byte("sealed secret")})
	first, _ := store.AcceptTOTPStep(ctx, "alice", 59_000_000)
	replay, _ := store.AcceptTOTPStep(ctx, "alice", 59_000_000)
	fmt.Println("step accepted:", first, "replay accepted:", replay)

	// A recovery code is used once.
	_ = store.ReplaceRecoveryCodes(ctx, "alice", [][]byte{[]byte("hash of code 1"), []byte("hash of code 2")})
	used, _ := store.ConsumeRecoveryCode(ctx, "alice", []byte("hash of code 1"))
	again, _ := store.ConsumeRecoveryCode(ctx, "alice", []byte("hash of code 1"))
	left, _ := store.CountRecoveryCodes(ctx, "alice")
	fmt.Println("code used:", used, "used again:", again, "left:", left)

	// The last factor stays.
	removed, _ := store.DeleteTOTPUnlessLast(ctx, "alice")
	fmt.Println("last factor removed:", removed)
	// Output:
	// step accepted: true replay accepted: false
	// code used: true used again: false left: 1
	// last factor removed: false
}
