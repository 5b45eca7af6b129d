package account_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"

	"github.com/deployedworks/rampart/account"
	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/auth"
	"github.com/deployedworks/rampart/auth/password"
	"github.com/deployedworks/rampart/clientip"
	"github.com/deployedworks/rampart/identity"
	"github.com/deployedworks/rampart/notify"
	"github.com/deployedworks/rampart/token"
)

// table is the app's user table (a database in a real app).
type table struct {
	mu    sync.Mutex
	users map[string]*auth.User
}

func (t *table) find(match func(*auth.User) bool) (auth.User, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, u := range t.users {
		if match(u) {
			return *u, nil
		}
	}
	return auth.User{}, auth.ErrUserNotFound
}

func (t *table) UserByLogin(_ context.Context, login string) (auth.User, error) {
	return t.find(func(u *auth.User) bool { return u.Login == login })
}

func (t *table) UserByID(_ context.Context, id string) (auth.User, error) {
	return t.find(func(u *auth.User) bool { return u.ID == id })
}

func (t *table) UserByEmail(_ context.Context, email string) (auth.User, error) {
	return t.find(func(u *auth.User) bool { return strings.EqualFold(u.Email, email) })
}

func (t *table) SetPasswordHash(_ context.Context, id, oldHash, newHash string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if u := t.users[id]; u != nil && u.PasswordHash == oldHash {
		u.PasswordHash = newHash
		return nil
	}
	return auth.ErrHashConflict
}

func (t *table) SetEmail(_ context.Context, id, oldEmail, newEmail string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if u := t.users[id]; u != nil && u.Email == oldEmail {
		u.Email = newEmail
		return nil
	}
	return account.ErrEmailConflict
}

func (t *table) SetEmailVerified(context.Context, string, string) error { return nil }

// mailbox stands for notify's outbox.
type mailbox struct{ last notify.Message }

func (m *mailbox) Enqueue(_ context.Context, msg notify.Message) error {
	m.last = msg
	return nil
}

// signOut stands for the *session.Manager.
type signOut struct{}

func (signOut) Login(context.Context, identity.Principal) error { return nil }
func (signOut) RevokeUser(_ context.Context, id string) error {
	fmt.Println("every session of", id, "ended")
	return nil
}

// A password reset for a user without a second factor: the request,
// the link in the mail, the form, the new password.
func Example() {
	ctx := context.Background()
	hasher, _ := password.NewHasher(password.HasherConfig{})
	hash, _ := hasher.Hash(ctx, "the password alice forgot")
	users := &table{users: map[string]*auth.User{
		"u1": {ID: "u1", Login: "alice", Email: "alice@example.com", PasswordHash: hash},
	}}
	store, _ := token.NewMemoryStore(token.MemoryStoreConfig{})
	issuer, _ := token.New(store, token.Config{})
	outbox := &mailbox{}
	sink, _ := audit.NewJSONLSink(io.Discard)
	flows, err := account.New(account.Config{
		Users: users, Tokens: issuer, Notifier: outbox, Sessions: signOut{},
		AllowNoFactors: true, // this app offers no second factor
		Hasher:         hasher,
		Link: func(p token.Purpose, tok string) (string, error) {
			return "https://example.com/account/" + string(p) + "?token=" + tok, nil
		},
		Audit: audit.MustNew(sink, audit.Config{}),
	})
	if err != nil {
		panic(err)
	}

	// POST /forgot, behind clientip's Handler.
	r := httptest.NewRequest(http.MethodPost, "/forgot", nil)
	r = r.WithContext(clientip.WithInfo(r.Context(), clientip.Info{Addr: netip.MustParseAddr("192.0.2.1")}))
	fmt.Println("request:", flows.RequestReset(r, "alice@example.com"))
	_ = flows.Close(ctx) // at shutdown; here, to wait for the mail
	fmt.Println("mailed:", outbox.last.To, "/", outbox.last.Subject)

	// GET and POST /account/password_reset?token=…
	_, rest, _ := strings.Cut(outbox.last.Text, "?token=")
	tok := strings.Fields(rest)[0]
	res, err := flows.BeginReset(r, tok)
	fmt.Println("open link:", err, "needs MFA:", res.NeedsMFA)
	fmt.Println("reset:", flows.CompleteReset(r, tok, "a long new passphrase for alice"))
	fmt.Println("mailed:", outbox.last.Subject)
	fmt.Println("again:", flows.CompleteReset(r, tok, "another new passphrase"))
	// Output:
	// request: <nil>
	// mailed: alice@example.com / Reset your password
	// open link: <nil> needs MFA: false
	// every session of u1 ended
	// reset: <nil>
	// mailed: Your password was changed
	// again: account: reset: token: invalid or expired token
}
