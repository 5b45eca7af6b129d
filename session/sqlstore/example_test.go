package sqlstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	_ "modernc.org/sqlite"

	"github.com/deployedworks/rampart/identity"
	"github.com/deployedworks/rampart/secrets"
	"github.com/deployedworks/rampart/session"
	"github.com/deployedworks/rampart/session/sqlstore"
	"github.com/deployedworks/rampart/sqldb"
)

// Example keeps sessions in SQLite and revokes a user's sessions with one
// indexed DELETE.
func Example() {
	db, err := sql.Open("sqlite", "file::memory:")
	if err != nil {
		panic(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1) // one writer; and :memory: is per connection

	store, err := sqlstore.New(db, sqldb.SQLite, sqlstore.Config{})
	if err != nil {
		panic(err)
	}
	if err := store.Migrate(context.Background()); err != nil {
		panic(err)
	}
	// A shared store needs a keyring every instance shares: it encrypts
	// sessions at rest and seals the state of visitors not signed in,
	// which travels in the cookie. Load it with secrets.ParseKeyring.
	keys, err := secrets.NewKeyring(secrets.Key{ID: "2026-06", Secret: secrets.Random(32)})
	if err != nil {
		panic(err)
	}
	m, err := session.New(session.Config{Store: store, Keyring: keys})
	if err != nil {
		panic(err)
	}
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = m.Login(r.Context(), identity.Principal{UserID: "user-1", Methods: []identity.Method{identity.MethodPassword}, AuthTime: time.Now()})
	}))
	for range 2 {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "https://shop.example/login", nil))
	}

	var n int
	_ = db.QueryRow(`SELECT count(*) FROM rampart_sessions WHERE user_id = 'user-1'`).Scan(&n)
	fmt.Println("rows:", n)
	_ = m.RevokeUser(context.Background(), "user-1")
	_ = db.QueryRow(`SELECT count(*) FROM rampart_sessions WHERE user_id = 'user-1'`).Scan(&n)
	fmt.Println("rows after RevokeUser:", n)
	// Output:
	// rows: 2
	// rows after RevokeUser: 0
}
