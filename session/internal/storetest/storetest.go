// Package storetest is the test harness shared by package session's tests
// and the store conformance suite (session/sessiontest): a Manager with a
// small app, driven like a browser. It uses the standard library only.
package storetest

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/clientip"
	"github.com/deployedworks/rampart/identity"
	"github.com/deployedworks/rampart/secrets"
	"github.com/deployedworks/rampart/session"
)

// NewClock returns a manual clock for Config.Now set to the real time, so
// that the backend's own expiry, which runs on the real clock, agrees with
// it.
func NewClock() *Clock { return &Clock{t: time.Now()} }

// Clock is a manual clock: Now returns the time it was set to until Add
// moves it. It is safe for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Add moves the clock by d.
func (c *Clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Race calls fn(0), …, fn(n-1), each in its own goroutine, all released
// at once, and returns when every call has returned.
func Race(n int, fn func(i int)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			fn(i)
		})
	}
	close(start)
	wg.Wait()
}

// Env is one Manager under test with its app.
type Env struct {
	M     *session.Manager
	H     http.Handler
	Clock *Clock
	Audit *audit.MemorySink
}

// Keyring is the keyring NewEnv gives a Manager over a store other than
// session.MemoryStore when mod sets none (New requires one there): the
// same for every Manager, so that instances sharing a store open each
// other's records and cookies. Pass it to Managers over a MemoryStore that
// must do the same.
var Keyring = func() *secrets.Keyring {
	kr, err := secrets.NewKeyring(secrets.Key{ID: "storetest", Secret: secrets.Random(32)})
	if err != nil {
		panic(err)
	}
	return kr
}()

// NewEnv returns a Manager over store with a test app.
func NewEnv(t testing.TB, store session.Store, clock *Clock, mod func(*session.Config)) *Env {
	t.Helper()
	sink := &audit.MemorySink{}
	cfg := session.Config{Store: store, Now: clock.Now, Audit: audit.MustNew(sink, audit.Config{Now: clock.Now})}
	if _, mem := store.(*session.MemoryStore); !mem {
		cfg.Keyring = Keyring
	}
	if mod != nil {
		mod(&cfg)
	}
	m, err := session.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &Env{M: m, H: App(m, clock.Now), Clock: clock, Audit: sink}
}

// App is a small application exercising the Manager, with now as the
// clock of logins (the time the user was read):
//
//	/put?v=       Put("k", v)          /get        Get("k")
//	/login?user=&roles=a,b&remember=1&revoke-others=1
//	/mfa          MarkMFA(identity.MethodOTP)
//	/logout        /whoami             /sessions   one "handle current" per line
//	/revoke?user=&h=   /revoke-user?user=   /revoke-others
//	/begin?v=      PutChallenge("c", v)   /take   TakeChallenge("c"), 409 if none
func App(m *session.Manager, now func() time.Time) http.Handler {
	mux := http.NewServeMux()
	check := func(w http.ResponseWriter, err error) bool {
		if err != nil {
			http.Error(w, "app error: "+err.Error(), http.StatusInternalServerError)
			return false
		}
		return true
	}
	mux.HandleFunc("/put", func(w http.ResponseWriter, r *http.Request) {
		if check(w, m.Put(r.Context(), "k", r.FormValue("v"))) {
			_, _ = w.Write([]byte("ok"))
		}
	})
	mux.HandleFunc("/begin", func(w http.ResponseWriter, r *http.Request) {
		if check(w, m.PutChallenge(r.Context(), "c", []byte(r.FormValue("v")))) {
			_, _ = w.Write([]byte("ok"))
		}
	})
	mux.HandleFunc("/take", func(w http.ResponseWriter, r *http.Request) {
		b, err := m.TakeChallenge(r.Context(), "c")
		if errors.Is(err, session.ErrNoChallenge) {
			http.Error(w, "no challenge", http.StatusConflict)
			return
		}
		if check(w, err) {
			_, _ = w.Write(b)
		}
	})
	mux.HandleFunc("/get", func(w http.ResponseWriter, r *http.Request) {
		v, _ := m.Get(r.Context(), "k")
		_, _ = w.Write([]byte(v))
	})
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		var roles []string
		if s := r.FormValue("roles"); s != "" {
			roles = strings.Split(s, ",")
		}
		p := identity.Principal{UserID: r.FormValue("user"), Roles: roles, Methods: []identity.Method{identity.MethodPassword}, AuthTime: now()}
		if !check(w, m.Login(r.Context(), p)) {
			return
		}
		if r.FormValue("remember") == "1" && !check(w, m.Remember(r.Context(), true)) {
			return
		}
		if r.FormValue("revoke-others") == "1" && !check(w, m.RevokeOthers(r.Context())) {
			return
		}
		_, _ = w.Write([]byte("ok"))
	})
	mux.HandleFunc("/mfa", func(w http.ResponseWriter, r *http.Request) {
		if check(w, m.MarkMFA(r.Context(), identity.MethodOTP)) {
			_, _ = w.Write([]byte("ok"))
		}
	})
	mux.HandleFunc("/reauth", func(w http.ResponseWriter, r *http.Request) {
		if check(w, m.Reauthenticate(r.Context(), identity.MethodPassword)) {
			_, _ = w.Write([]byte("ok"))
		}
	})
	mux.HandleFunc("/logout", func(w http.ResponseWriter, r *http.Request) {
		if check(w, m.Logout(r.Context())) {
			_, _ = w.Write([]byte("ok"))
		}
	})
	mux.HandleFunc("/whoami", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(WhoAmI(r.Context())))
	})
	mux.HandleFunc("/sessions", func(w http.ResponseWriter, r *http.Request) {
		id, ok := identity.FromContext(r.Context())
		if !ok {
			http.Error(w, "anonymous", http.StatusForbidden)
			return
		}
		list, err := m.Sessions(r.Context(), id.UserID)
		if !check(w, err) {
			return
		}
		for _, s := range list {
			cur := ""
			if s.Current {
				cur = " current"
			}
			_, _ = w.Write([]byte(s.Handle + cur + "\n"))
		}
	})
	mux.HandleFunc("/revoke", func(w http.ResponseWriter, r *http.Request) {
		if check(w, m.Revoke(r.Context(), r.FormValue("user"), r.FormValue("h"))) {
			_, _ = w.Write([]byte("ok"))
		}
	})
	mux.HandleFunc("/revoke-user", func(w http.ResponseWriter, r *http.Request) {
		if check(w, m.RevokeUser(r.Context(), r.FormValue("user"))) {
			_, _ = w.Write([]byte("ok"))
		}
	})
	mux.HandleFunc("/revoke-others", func(w http.ResponseWriter, r *http.Request) {
		if check(w, m.RevokeOthers(r.Context())) {
			_, _ = w.Write([]byte("ok"))
		}
	})
	return Client(m.Handler(mux))
}

// Client puts the request's client address in its context, as
// clientip's Handler does in front of an app with no proxy.
func Client(h http.Handler) http.Handler { return clientip.MustNew(nil, clientip.Config{}).Handler(h) }

// Resp is one response as a browser holding Token would see it.
type Resp struct {
	Code   int
	Body   string
	Token  string // the token the browser holds afterwards
	Cookie *http.Cookie
}

// Do sends path with token as the session cookie through h.
func Do(t testing.TB, h http.Handler, path, token string) Resp {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "https://app.example"+path, nil)
	if token != "" {
		req.AddCookie(&http.Cookie{Name: session.DefaultCookieName, Value: token}) // #nosec G124 -- a request cookie sent by a test client: attributes apply to Set-Cookie only
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	res := Resp{Code: rec.Code, Body: rec.Body.String(), Token: token}
	for _, c := range rec.Result().Cookies() {
		if c.Name == session.DefaultCookieName {
			res.Cookie = c
			res.Token = c.Value
			if c.MaxAge < 0 {
				res.Token = ""
			}
		}
	}
	return res
}

// Login signs user in on a fresh session and returns the token.
func (e *Env) Login(t testing.TB, user, roles string) string {
	t.Helper()
	r := Do(t, e.H, "/login?user="+user+"&roles="+roles, "")
	if r.Code != http.StatusOK || r.Token == "" {
		t.Fatalf("login %s: %d %q, token %q", user, r.Code, r.Body, r.Token)
	}
	return r.Token
}

// WhoAmI returns /whoami for token.
func (e *Env) WhoAmI(t testing.TB, token string) string {
	t.Helper()
	r := Do(t, e.H, "/whoami", token)
	if r.Code != http.StatusOK {
		t.Fatalf("whoami: %d %q", r.Code, r.Body)
	}
	return r.Body
}

// WhoAmI describes the principal in ctx as "user|roles|methods|mfa", mfa
// "-" before MarkMFA and the last method after; "anonymous" when there is
// none.
func WhoAmI(ctx context.Context) string {
	id, ok := identity.FromContext(ctx)
	if !ok {
		return "anonymous"
	}
	mfa := "-"
	if !id.MFATime.IsZero() && len(id.Methods) > 0 {
		mfa = string(id.Methods[len(id.Methods)-1])
	}
	ms := make([]string, len(id.Methods))
	for i, m := range id.Methods {
		ms[i] = string(m)
	}
	return id.UserID + "|" + strings.Join(id.Roles, ",") + "|" + strings.Join(ms, ",") + "|" + mfa
}

// AssertEvent fails t unless sink holds an event with action and, when
// reason is not "", that reason.
func AssertEvent(t testing.TB, sink *audit.MemorySink, action, reason string) {
	t.Helper()
	for _, ev := range sink.Events() {
		if string(ev.Action) == action && (reason == "" || ev.Reason == reason) {
			return
		}
	}
	t.Errorf("no audit event %q (reason %q) in %+v", action, reason, sink.Events())
}

// Failing is a session.Store whose every operation fails, like a backend
// that is down.
type Failing struct{}

var errDown = errors.New("storetest: connection refused (simulated outage)")

// Find fails.
func (Failing) Find(context.Context, string) ([]byte, bool, error) { return nil, false, errDown }

// Save fails.
func (Failing) Save(context.Context, string, session.Record) (bool, error) { return false, errDown }

// Delete fails.
func (Failing) Delete(context.Context, string, string) error { return errDown }

// List fails.
func (Failing) List(context.Context, string) ([]session.Record, error) { return nil, errDown }

// DeleteUser fails.
func (Failing) DeleteUser(context.Context, string, string, session.Revocation) error {
	return errDown
}

// Claim fails.
func (Failing) Claim(context.Context, string, time.Time) (bool, error) { return false, errDown }
