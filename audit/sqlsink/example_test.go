package sqlsink_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/audit/sqlsink"
	"github.com/deployedworks/rampart/identity"
	"github.com/deployedworks/rampart/sqldb"
	_ "modernc.org/sqlite"
)

// Store events in SQLite through an async batching sink, then page through
// one actor's events as an admin audit-log page would.
func Example() {
	dir, _ := os.MkdirTemp("", "sqlsink")
	defer os.RemoveAll(dir)
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "app.db")+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)")
	if err != nil {
		panic(err)
	}
	defer db.Close()
	ctx := context.Background()
	store, err := sqlsink.New(db, sqldb.SQLite, sqlsink.Config{})
	if err != nil {
		panic(err)
	}
	if err := store.Migrate(ctx); err != nil { // at start-up: creates the table
		panic(err)
	}
	async, err := audit.NewAsyncSink(store, audit.AsyncConfig{})
	if err != nil {
		panic(err)
	}
	start := time.Date(2026, 6, 25, 9, 0, 0, 0, time.UTC)
	events := audit.MustNew(async, audit.Config{})
	for i, action := range []audit.Action{"user.disabled", "role.granted", "listing.hidden", "user.enabled"} {
		events.Log(ctx, audit.Event{
			Time: start.Add(time.Duration(i) * time.Minute), Category: audit.CategoryAdmin, Action: action,
			Outcome: audit.OutcomeSuccess, Actor: identity.Principal{UserID: "admin-1"},
		})
	}
	async.Close(ctx) // flush

	q := sqlsink.Query{ActorID: "admin-1", Categories: []audit.Category{audit.CategoryAdmin}, Limit: 3}
	for page := 1; ; page++ {
		res, err := store.Query(ctx, q)
		if err != nil {
			panic(err)
		}
		for _, r := range res.Records {
			fmt.Println(page, r.Event.Time.Format("15:04"), r.Event.Action)
		}
		if res.Next == "" {
			break
		}
		q.Cursor = res.Next
	}
	// Output:
	// 1 09:03 user.enabled
	// 1 09:02 listing.hidden
	// 1 09:01 role.granted
	// 2 09:00 user.disabled
}
