package backup_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	_ "modernc.org/sqlite"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/examples/marketplace/internal/backup"
	"github.com/deployedworks/rampart/secrets"
)

// Back up a live database, check the backup, refuse a tampered copy, and
// restore the genuine one, with every step in the audit log.
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "backup-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)

	// The application's keyring (APP_KEYS) and audit logger.
	keys, err := secrets.ParseKeyring(secrets.NewValue([]byte("2026-06:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")))
	if err != nil {
		fmt.Println(err)
		return
	}
	events := &audit.MemorySink{}
	bk, err := backup.New(keys, backup.Config{Audit: audit.MustNew(events, audit.Config{})})
	if err != nil {
		fmt.Println(err)
		return
	}

	// The live database.
	db, err := sql.Open("sqlite", filepath.Join(dir, "app.db"))
	if err != nil {
		fmt.Println(err)
		return
	}
	_, err = db.ExecContext(ctx, `CREATE TABLE listings (title TEXT);
		INSERT INTO listings VALUES ('teapot'), ('lamp'), ('bicycle')`)
	if err != nil {
		fmt.Println(err)
		return
	}

	// marketplace backup -out FILE
	var file bytes.Buffer
	made, err := bk.Create(ctx, db, &file)
	if err != nil {
		fmt.Println(err)
		return
	}
	db.Close()
	fmt.Println("backup sealed under key", made.KeyID)

	// marketplace backup-verify -in FILE
	if _, err := bk.Verify(ctx, bytes.NewReader(file.Bytes())); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("verified")

	tampered := bytes.Clone(file.Bytes())
	tampered[len(tampered)/2] ^= 1
	_, err = bk.Verify(ctx, bytes.NewReader(tampered))
	fmt.Println("tampered copy refused:", errors.Is(err, backup.ErrTampered))

	// marketplace restore -in FILE, with the application stopped.
	restored, err := bk.Restore(ctx, bytes.NewReader(file.Bytes()), filepath.Join(dir, "app.db"))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("restored backup is the one made:", restored.ID == made.ID)

	db, err = sql.Open("sqlite", filepath.Join(dir, "app.db"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM listings`).Scan(&n); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("listings:", n)

	for _, e := range events.Events() {
		fmt.Println(e.Category, e.Action, e.Outcome)
	}
	// Output:
	// backup sealed under key 2026-06
	// verified
	// tampered copy refused: true
	// restored backup is the one made: true
	// listings: 3
	// admin backup.created success
	// admin backup.verified success
	// security_alert backup.rejected failure
	// admin backup.restored success
}
