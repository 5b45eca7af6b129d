// Package storetest checks a session.Store against the behaviour the
// Manager relies on, end to end through session.Manager: every store
// package runs [Run] on its own backend.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/clientip"
	"github.com/deployedworks/rampart/internal/testenv"
	"github.com/deployedworks/rampart/secrets"
	"github.com/deployedworks/rampart/session"
)

// Harness describes the store under test.
type Harness struct {
	// New returns an empty store, isolated from every other test (its own
	// table or key prefix). Two calls may share nothing.
	New func(t *testing.T) session.Store
	// Dump returns everything the store holds, read directly from the
	// backend (keys, columns, values), for the tokens-at-rest check.
	Dump func(t *testing.T, s session.Store) string
	// Broken returns a store whose backend is unreachable.
	Broken func(t *testing.T) session.Store
}

// NewClock returns a manual clock for Config.Now set to the real time, so
// that the backend's own expiry, which runs on the real clock, agrees with
// it.
func NewClock() *testenv.Clock { return testenv.NewClock(time.Now()) }

// Env is one Manager under test with its app.
type Env struct {
	M     *session.Manager
	H     http.Handler
	Clock *testenv.Clock
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
func NewEnv(t *testing.T, store session.Store, clock *testenv.Clock, mod func(*session.Config)) *Env {
	t.Helper()
	sink := &audit.MemorySink{}
	cfg := session.Config{Store: store, Now: clock.Now, Audit: audit.MustNew(sink, audit.Config{Now: clock.Now})}
	if _, mem := store.(*session.MemoryStore); !mem {
		cfg.Keyring = Keyring
	}
	if mod != nil {
		mod(&cfg)
	}
	m, err := session.New(clientip.MustNew(nil, clientip.Config{}), cfg)
	require.NoError(t, err)
	return &Env{M: m, H: App(m, clock.Now), Clock: clock, Audit: sink}
}

// App is a small application exercising the Manager, with now as the
// clock of logins (the time the user was read):
//
//	/put?v=       Put("k", v)          /get        Get("k")
//	/login?user=&roles=a,b&remember=1&revoke-others=1
//	/mfa          MarkMFA("totp")
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
		if !check(w, m.Login(r.Context(), r.FormValue("user"), roles, now(), "password")) {
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
		if check(w, m.MarkMFA(r.Context(), "totp")) {
			_, _ = w.Write([]byte("ok"))
		}
	})
	mux.HandleFunc("/logout", func(w http.ResponseWriter, r *http.Request) {
		if check(w, m.Logout(r.Context())) {
			_, _ = w.Write([]byte("ok"))
		}
	})
	mux.HandleFunc("/whoami", func(w http.ResponseWriter, r *http.Request) {
		id, ok := m.Identity(r.Context())
		if !ok {
			_, _ = w.Write([]byte("anonymous"))
			return
		}
		mfa := "-"
		if !id.MFATime.IsZero() {
			mfa = id.MFAMethod
		}
		_, _ = w.Write([]byte(id.UserID + "|" + strings.Join(id.Roles, ",") + "|" + strings.Join(id.Methods, ",") + "|" + mfa))
	})
	mux.HandleFunc("/sessions", func(w http.ResponseWriter, r *http.Request) {
		id, ok := m.Identity(r.Context())
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
	return m.Handler(mux)
}

// Resp is one response as a browser holding Token would see it.
type Resp struct {
	Code   int
	Body   string
	Token  string // the token the browser holds afterwards
	Cookie *http.Cookie
}

// Do sends path with token as the session cookie through h.
func Do(t *testing.T, h http.Handler, path, token string) Resp {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "https://app.example"+path, nil)
	if token != "" {
		req.AddCookie(&http.Cookie{Name: session.DefaultCookieName, Value: token})
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
func (e *Env) Login(t *testing.T, user, roles string) string {
	t.Helper()
	r := Do(t, e.H, "/login?user="+user+"&roles="+roles, "")
	require.Equal(t, http.StatusOK, r.Code, r.Body)
	require.NotEmpty(t, r.Token)
	return r.Token
}

// WhoAmI returns /whoami for token.
func (e *Env) WhoAmI(t *testing.T, token string) string {
	t.Helper()
	r := Do(t, e.H, "/whoami", token)
	require.Equal(t, http.StatusOK, r.Code, r.Body)
	return r.Body
}

// Run runs the conformance tests.
func Run(t *testing.T, h Harness) {
	t.Run("StoreContract", func(t *testing.T) { storeContract(t, h.New(t)) })
	t.Run("Watermark", func(t *testing.T) { watermark(t, h.New(t)) })
	t.Run("DeleteUserRacesRenewal", func(t *testing.T) { renewalRace(t, h.New(t)) })
	t.Run("TokenChangesAtLoginAndMFA", func(t *testing.T) { tokenChanges(t, h) })
	t.Run("Browser", func(t *testing.T) { browser(t, h) })
	t.Run("IdleTimeout", func(t *testing.T) { idleTimeout(t, h) })
	t.Run("AbsoluteLifetime", func(t *testing.T) { absoluteLifetime(t, h) })
	t.Run("RevokeUserAcrossInstances", func(t *testing.T) { revokeAcross(t, h) })
	t.Run("RevokeOneAndOthers", func(t *testing.T) { revokeOne(t, h) })
	t.Run("LogoutTokenRejected", func(t *testing.T) { logout(t, h) })
	t.Run("RevokedWhileInFlight", func(t *testing.T) { inFlight(t, h) })
	t.Run("LoginRacesRevocation", func(t *testing.T) { loginRace(t, h) })
	t.Run("ChallengeTakenOnce", func(t *testing.T) { challengeRace(t, h) })
	t.Run("HashedTokensAtRest", func(t *testing.T) { atRest(t, h, false) })
	t.Run("EncryptedAtRest", func(t *testing.T) { atRest(t, h, true) })
	t.Run("OutageFailsClosed", func(t *testing.T) { outage(t, h) })
	t.Run("Claim", func(t *testing.T) { claimContract(t, h.New(t)) })
	t.Run("AnonymousRequestsWriteNothing", func(t *testing.T) { anonymousWritesNothing(t, h) })
}

func key(s string) string { return strings.Repeat(s, 43)[:43] }

// contract wraps a store with helpers that fail the test on errors.
type contract struct {
	t   *testing.T
	s   session.Store
	ctx context.Context
}

func (c contract) save(replace string, r session.Record) bool {
	c.t.Helper()
	ok, err := c.s.Save(c.ctx, replace, r)
	require.NoError(c.t, err)
	return ok
}

func (c contract) find(k string) string {
	c.t.Helper()
	b, ok, err := c.s.Find(c.ctx, k)
	require.NoError(c.t, err)
	if !ok {
		return "<none>"
	}
	return string(b)
}

// keys lists the sessions of user as "key=data".
func (c contract) keys(user string) []string {
	c.t.Helper()
	recs, err := c.s.List(c.ctx, user)
	require.NoError(c.t, err)
	var ks []string
	for _, r := range recs {
		ks = append(ks, r.Key+"="+string(r.Data))
		assert.Equal(c.t, user, r.UserID)
	}
	return ks
}

func (c contract) deleteUser(user, except string, at time.Time) {
	c.t.Helper()
	require.NoError(c.t, c.s.DeleteUser(c.ctx, user, except, session.Revocation{At: at, Until: time.Now().Add(time.Hour)}))
}

func storeContract(t *testing.T, s session.Store) {
	c := contract{t: t, s: s, ctx: context.Background()}
	save, find, keys := c.save, c.find, c.keys
	exp := time.Now().Add(time.Hour)
	// Every session here was established after the revocations below, so
	// that only the deletes count; watermark checks the watermark.
	authAt := time.Now()
	revokedAt := authAt.Add(-time.Minute).Truncate(time.Microsecond)
	rec := func(k, user, data string) session.Record {
		r := session.Record{Key: key(k), UserID: user, Data: []byte(data), Expiry: exp}
		if user != "" {
			r.AuthAt = authAt
		}
		return r
	}

	assert.Equal(t, "<none>", find(key("a")))
	require.True(t, save("", rec("a", "", "anon")))
	assert.Equal(t, "anon", find(key("a")))
	assert.Empty(t, keys(""), "anonymous sessions are not indexed")

	// Conditional update in place.
	require.True(t, save(key("a"), rec("a", "", "anon2")))
	assert.Equal(t, "anon2", find(key("a")))
	assert.False(t, save(key("x"), rec("x", "", "ghost")), "update of a missing session")
	assert.Equal(t, "<none>", find(key("x")), "a failed update writes nothing")

	// Users.
	require.True(t, save("", rec("b", "u1", "b")))
	require.True(t, save("", rec("c", "u1", "c")))
	require.True(t, save("", rec("d", "u2", "d")))
	assert.ElementsMatch(t, []string{key("b") + "=b", key("c") + "=c"}, keys("u1"))

	// Rename (token renewal) moves the record and its index entry.
	require.True(t, save(key("b"), rec("e", "u1", "e")))
	assert.Equal(t, "<none>", find(key("b")))
	assert.Equal(t, "e", find(key("e")))
	assert.ElementsMatch(t, []string{key("c") + "=c", key("e") + "=e"}, keys("u1"))
	assert.False(t, save(key("b"), rec("f", "u1", "f")), "rename from a gone key")
	assert.Equal(t, "<none>", find(key("f")))
	assert.False(t, save(key("d"), rec("g", "u1", "g")), "rename across users")
	assert.Equal(t, "d", find(key("d")))

	// Delete.
	require.NoError(t, s.Delete(c.ctx, "u1", key("c")))
	require.NoError(t, s.Delete(c.ctx, "u1", key("c")), "deleting twice is fine")
	assert.Equal(t, "<none>", find(key("c")))
	assert.ElementsMatch(t, []string{key("e") + "=e"}, keys("u1"))

	// DeleteUser, with and without an exception.
	require.True(t, save("", rec("h", "u1", "h")))
	c.deleteUser("u1", key("h"), revokedAt)
	assert.ElementsMatch(t, []string{key("h") + "=h"}, keys("u1"))
	assert.Equal(t, "<none>", find(key("e")))
	c.deleteUser("u1", "", revokedAt)
	assert.Empty(t, keys("u1"))
	assert.Equal(t, "<none>", find(key("h")))
	assert.Equal(t, "d", find(key("d")), "other users untouched")
	assert.Equal(t, "anon2", find(key("a")), "anonymous sessions untouched")
	assert.False(t, save(key("h"), rec("h", "u1", "back")), "no resurrection after DeleteUser")
	assert.Equal(t, "<none>", find(key("h")))
	c.deleteUser("", "", authAt.Add(time.Hour).Truncate(time.Microsecond))
	assert.Equal(t, "anon2", find(key("a")), "DeleteUser of no user does nothing")

	// Expired records are neither found, listed nor updated.
	expired := rec("i", "u3", "i")
	expired.Expiry = time.Now().Add(-time.Second)
	require.True(t, save("", expired))
	assert.Equal(t, "<none>", find(key("i")))
	assert.Empty(t, keys("u3"))
	assert.False(t, save(key("i"), rec("i", "u3", "i2")))
}

// watermark checks the revocation watermark DeleteUser sets: sessions
// established before it are refused at save and at load, whoever writes
// them, while the session DeleteUser kept can be saved again re-stamped.
func watermark(t *testing.T, s session.Store) {
	c := contract{t: t, s: s, ctx: context.Background()}
	save, find, keys := c.save, c.find, c.keys
	exp := time.Now().Add(time.Hour)
	w := time.Now().Truncate(time.Microsecond) // as the Manager passes it
	before, after := w.Add(-time.Second), w.Add(time.Second)
	rec := func(k, user string, authAt time.Time) session.Record {
		return session.Record{Key: key(k), UserID: user, Data: []byte(k), Expiry: exp, AuthAt: authAt}
	}

	require.True(t, save("", rec("a", "wu", before)))
	require.True(t, save("", rec("b", "wu", before)))
	require.True(t, save("", rec("o", "other", before)))
	require.True(t, save("", rec("n", "", time.Time{})))
	c.deleteUser("wu", key("a"), w)

	assert.Equal(t, "<none>", find(key("b")), "deleted")
	assert.Equal(t, "<none>", find(key("a")),
		"kept by DeleteUser but established before the watermark: not found, like a session a racing Save wrote")
	assert.Empty(t, keys("wu"), "nor listed")

	// A new session established before the watermark is refused: a login
	// that read the user before the revocation.
	assert.False(t, save("", rec("c", "wu", before)), "established before the watermark")
	assert.False(t, save("", rec("c", "wu", w.Add(-time.Microsecond))), "a microsecond before")
	assert.False(t, save("", rec("c", "wu", w.Add(-time.Nanosecond))), "a nanosecond before")
	assert.False(t, save("", rec("c", "wu", time.Time{})), "with no time at all")
	assert.Equal(t, "<none>", find(key("c")), "a refused save writes nothing")
	assert.True(t, save("", rec("d", "wu", w)), "established at the watermark")
	assert.True(t, save("", rec("e", "wu", after)), "established after it")
	assert.Equal(t, "d", find(key("d")))

	// The kept session moves to a new key only re-stamped.
	assert.False(t, save(key("a"), rec("f", "wu", before)), "renewal of the kept session with its old stamp")
	assert.Equal(t, "<none>", find(key("f")))
	assert.True(t, save(key("a"), rec("g", "wu", w)), "the kept session, re-stamped")
	assert.Equal(t, "g", find(key("g")))
	assert.Equal(t, "<none>", find(key("a")), "moved")
	assert.ElementsMatch(t, []string{key("d") + "=d", key("e") + "=e", key("g") + "=g"}, keys("wu"))

	// The watermark never moves back.
	c.deleteUser("wu", key("g"), before.Add(-time.Hour).Truncate(time.Microsecond))
	assert.ElementsMatch(t, []string{key("g") + "=g"}, keys("wu"), "an earlier revocation deletes all the same")
	assert.False(t, save("", rec("h", "wu", before)), "but leaves the watermark where it was")
	assert.True(t, save("", rec("h", "wu", after)))

	// A later one raises it.
	c.deleteUser("wu", "", after)
	assert.False(t, save("", rec("i", "wu", w)))
	assert.True(t, save("", rec("i", "wu", after)))
	assert.Equal(t, "i", find(key("i")))

	// Other users and anonymous sessions have no watermark.
	assert.Equal(t, "o", find(key("o")))
	assert.Equal(t, "n", find(key("n")))
	assert.True(t, save("", rec("p", "other", before)))
	assert.True(t, save(key("n"), rec("n", "", time.Time{})))
}

// renewalRace renews tokens in a loop on several sessions of one user while
// DeleteUser runs once: afterwards no session of the user may remain, so no
// renewal slipped past the revocation.
func renewalRace(t *testing.T, s session.Store) {
	ctx := context.Background()
	const chains, maxRenewals = 6, 300
	exp := time.Now().Add(time.Hour)
	randKey := func() string {
		var b [32]byte
		_, _ = rand.Read(b[:])
		return base64.RawURLEncoding.EncodeToString(b[:])
	}
	var wg sync.WaitGroup
	var started sync.WaitGroup
	started.Add(chains)
	for range chains {
		k := randKey()
		ok, err := s.Save(ctx, "", session.Record{Key: k, UserID: "racer", Data: []byte("x"), Expiry: exp})
		require.NoError(t, err)
		require.True(t, ok)
		wg.Go(func() {
			for n := range maxRenewals {
				if n == 3 {
					started.Done()
				}
				nk := randKey()
				ok, err := s.Save(ctx, k, session.Record{Key: nk, UserID: "racer", Data: []byte("x"), Expiry: exp})
				if err != nil {
					t.Errorf("renewal: %v", err)
				}
				if err != nil || !ok {
					if n < 3 {
						started.Done()
					}
					return
				}
				k = nk
			}
		})
	}
	started.Wait() // every chain is renewing
	require.NoError(t, s.DeleteUser(ctx, "racer", "", session.Revocation{At: time.Now().Truncate(time.Microsecond), Until: exp}))
	wg.Wait()
	recs, err := s.List(ctx, "racer")
	require.NoError(t, err)
	assert.Empty(t, recs, "a renewal survived DeleteUser")
}

func tokenChanges(t *testing.T, h Harness) {
	e := NewEnv(t, h.New(t), NewClock(), nil)
	r := Do(t, e.H, "/put?v=cart", "")
	require.Equal(t, http.StatusOK, r.Code)
	anon := r.Token
	require.NotEmpty(t, anon, "Put starts an anonymous session")

	r = Do(t, e.H, "/login?user=alice&roles=admin", anon)
	require.Equal(t, http.StatusOK, r.Code, r.Body)
	login := r.Token
	assert.NotEqual(t, anon, login, "the token changes at login (session fixation)")
	assert.Equal(t, "anonymous", e.WhoAmI(t, anon), "the pre-login token is dead")
	assert.Equal(t, "alice|admin|password|-", e.WhoAmI(t, login))
	assert.Equal(t, "cart", Do(t, e.H, "/get", login).Body, "values survive login")

	r = Do(t, e.H, "/mfa", login)
	require.Equal(t, http.StatusOK, r.Code, r.Body)
	mfa := r.Token
	assert.NotEqual(t, login, mfa, "the token changes at MFA step-up")
	assert.Equal(t, "anonymous", e.WhoAmI(t, login), "the pre-MFA token is dead")
	assert.Equal(t, "alice|admin|password,totp|totp", e.WhoAmI(t, mfa))

	// A forged or unknown token is ignored and its cookie deleted.
	r = Do(t, e.H, "/whoami", key("Z"))
	assert.Equal(t, "anonymous", r.Body)
	require.NotNil(t, r.Cookie)
	assert.Negative(t, r.Cookie.MaxAge)
}

// browser drives the flow with a real TLS server and cookie jar.
func browser(t *testing.T, h Harness) {
	e := NewEnv(t, h.New(t), NewClock(), nil)
	srv := httptest.NewTLSServer(e.H)
	t.Cleanup(srv.Close)
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	c := srv.Client()
	c.Jar = jar
	get := func(path string) string {
		t.Helper()
		res, err := c.Post(srv.URL+path, "", nil)
		require.NoError(t, err)
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, res.StatusCode, string(b))
		return string(b)
	}
	u, _ := url.Parse(srv.URL)
	jarToken := func() string {
		for _, ck := range jar.Cookies(u) {
			if ck.Name == session.DefaultCookieName {
				return ck.Value
			}
		}
		return ""
	}
	assert.Equal(t, "anonymous", get("/whoami"))
	assert.Empty(t, jarToken(), "reading creates no session")
	get("/put?v=1")
	t0 := jarToken()
	require.NotEmpty(t, t0)
	get("/login?user=bob")
	t1 := jarToken()
	assert.NotEqual(t, t0, t1)
	assert.Equal(t, "bob||password|-", get("/whoami"))
	assert.Equal(t, "1", get("/get"))
	get("/logout")
	assert.Empty(t, jarToken(), "logout deletes the cookie")
	assert.Equal(t, "anonymous", get("/whoami"))
}

func idleTimeout(t *testing.T, h Harness) {
	e := NewEnv(t, h.New(t), NewClock(), nil)
	tok := e.Login(t, "carol", "")
	for range 5 { // activity every 20 minutes keeps the session alive
		e.Clock.Add(20 * time.Minute)
		require.Equal(t, "carol||password|-", e.WhoAmI(t, tok))
	}
	e.Clock.Add(30*time.Minute + time.Second)
	r := Do(t, e.H, "/whoami", tok)
	assert.Equal(t, "anonymous", r.Body, "idle for more than 30 minutes")
	require.NotNil(t, r.Cookie)
	assert.Negative(t, r.Cookie.MaxAge, "the cookie is deleted")
	assert.Equal(t, "anonymous", e.WhoAmI(t, tok), "and the session is gone from the store")
	assertEvent(t, e.Audit, "session.expired", "idle timeout")
}

func absoluteLifetime(t *testing.T, h Harness) {
	e := NewEnv(t, h.New(t), NewClock(), nil)
	tok := e.Login(t, "dave", "")
	for range 12*3 - 1 { // active every 20 minutes for 11h40m
		e.Clock.Add(20 * time.Minute)
		require.Equal(t, "dave||password|-", e.WhoAmI(t, tok))
	}
	e.Clock.Add(20 * time.Minute) // 12h after login
	assert.Equal(t, "anonymous", e.WhoAmI(t, tok), "12 hours after login, however active")
	assertEvent(t, e.Audit, "session.expired", "absolute lifetime")
}

func revokeAcross(t *testing.T, h Harness) {
	store := h.New(t)
	clock := NewClock()
	a := NewEnv(t, store, clock, nil)
	b := NewEnv(t, store, clock, nil) // a second instance sharing the store
	t1 := a.Login(t, "erin", "admin")
	t2 := b.Login(t, "erin", "admin")
	t3 := a.Login(t, "erin", "admin")
	r := Do(t, b.H, "/mfa", t3)
	require.Equal(t, http.StatusOK, r.Code, r.Body)
	t3 = r.Token
	other := b.Login(t, "frank", "")
	for _, tok := range []string{t1, t2, t3} {
		require.Contains(t, a.WhoAmI(t, tok), "erin|")
		require.Contains(t, b.WhoAmI(t, tok), "erin|")
	}
	list, err := b.M.Sessions(context.Background(), "erin")
	require.NoError(t, err)
	require.Len(t, list, 3)

	require.NoError(t, b.M.RevokeUser(context.Background(), "erin"))
	for _, tok := range []string{t1, t2, t3} {
		assert.Equal(t, "anonymous", a.WhoAmI(t, tok), "revoked on the instance that did not revoke")
		assert.Equal(t, "anonymous", b.WhoAmI(t, tok))
	}
	assert.Equal(t, "frank||password|-", a.WhoAmI(t, other), "other users keep their sessions")
	list, err = a.M.Sessions(context.Background(), "erin")
	require.NoError(t, err)
	assert.Empty(t, list)
	assertEvent(t, b.Audit, "session.revoke_all", "")

	// A user revoking their own sessions from a request loses that one too.
	t4 := a.Login(t, "frank", "")
	r = Do(t, a.H, "/revoke-user?user=frank", t4)
	require.Equal(t, http.StatusOK, r.Code, r.Body)
	assert.Empty(t, r.Token, "own cookie deleted")
	assert.Equal(t, "anonymous", a.WhoAmI(t, t4))
	assert.Equal(t, "anonymous", a.WhoAmI(t, other))
}

func revokeOne(t *testing.T, h Harness) {
	e := NewEnv(t, h.New(t), NewClock(), nil)
	t1 := e.Login(t, "gina", "")
	t2 := e.Login(t, "gina", "")
	t3 := e.Login(t, "gina", "")
	mallory := e.Login(t, "mallory", "")

	r := Do(t, e.H, "/sessions", t1)
	require.Equal(t, http.StatusOK, r.Code, r.Body)
	lines := strings.Split(strings.TrimSpace(r.Body), "\n")
	require.Len(t, lines, 3)
	var mine, others []string
	for _, l := range lines {
		if h, ok := strings.CutSuffix(l, " current"); ok {
			mine = append(mine, h)
		} else {
			others = append(others, l)
		}
		assert.NotContains(t, []string{t1, t2, t3}, strings.TrimSuffix(l, " current"), "a handle is never the token")
	}
	require.Len(t, mine, 1)

	list, err := e.M.Sessions(context.Background(), "gina")
	require.NoError(t, err)
	for _, s := range list {
		assert.False(t, s.Created.IsZero())
		assert.False(t, s.LastSeen.IsZero())
		assert.Equal(t, "192.0.2.1", s.IP.String(), "httptest's client address")
		assert.Equal(t, []string{"password"}, s.Methods)
	}

	// Mallory cannot revoke Gina's session by handle: Revoke is scoped by user.
	r = Do(t, e.H, "/revoke?user=mallory&h="+others[0], mallory)
	assert.Equal(t, http.StatusInternalServerError, r.Code)
	assert.Contains(t, r.Body, session.ErrUnknownSession.Error())

	r = Do(t, e.H, "/revoke?user=gina&h="+others[0], t1)
	require.Equal(t, http.StatusOK, r.Code, r.Body)
	alive := 0
	for _, tok := range []string{t2, t3} {
		if e.WhoAmI(t, tok) != "anonymous" {
			alive++
		}
	}
	assert.Equal(t, 1, alive, "exactly one other session revoked")
	assert.Contains(t, e.WhoAmI(t, t1), "gina|")

	// Password change: revoke the others, keep (and renew) this one.
	r = Do(t, e.H, "/revoke-others", t1)
	require.Equal(t, http.StatusOK, r.Code, r.Body)
	require.NotEqual(t, t1, r.Token, "the current token is renewed")
	assert.Contains(t, e.WhoAmI(t, r.Token), "gina|")
	assert.Equal(t, "anonymous", e.WhoAmI(t, t1))
	assert.Equal(t, "anonymous", e.WhoAmI(t, t2))
	assert.Equal(t, "anonymous", e.WhoAmI(t, t3))
	assert.Contains(t, e.WhoAmI(t, mallory), "mallory|")
	list, err = e.M.Sessions(context.Background(), "gina")
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Equal(t, mine[0], list[0].Handle, "the handle survives token renewal")
}

func logout(t *testing.T, h Harness) {
	e := NewEnv(t, h.New(t), NewClock(), nil)
	tok := e.Login(t, "hank", "")
	r := Do(t, e.H, "/logout", tok)
	require.Equal(t, http.StatusOK, r.Code)
	require.NotNil(t, r.Cookie)
	assert.Negative(t, r.Cookie.MaxAge)
	assert.Equal(t, "anonymous", e.WhoAmI(t, tok), "a logged-out token is rejected")
	list, err := e.M.Sessions(context.Background(), "hank")
	require.NoError(t, err)
	assert.Empty(t, list)
	assertEvent(t, e.Audit, "session.logout", "")
}

// inFlight revokes a session while a request holding it runs: the request
// must not write the session back, neither by touching it nor by renewing
// its token.
func inFlight(t *testing.T, h Harness) {
	store := h.New(t)
	clock := NewClock()
	admin := NewEnv(t, store, clock, nil)
	for _, step := range []string{"put", "mfa"} {
		t.Run(step, func(t *testing.T) {
			var m *session.Manager
			mux := http.NewServeMux()
			mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
				require.NoError(t, admin.M.RevokeUser(context.Background(), "ivan"))
				if step == "put" {
					require.NoError(t, m.Put(r.Context(), "k", "v"))
				} else {
					require.NoError(t, m.MarkMFA(r.Context(), "totp"))
				}
				_, _ = w.Write([]byte("done"))
			})
			user := NewEnv(t, store, clock, nil)
			m = user.M
			tok := user.Login(t, "ivan", "")
			r := Do(t, m.Handler(mux), "/", tok)
			assert.Equal(t, "done", r.Body)
			assert.Empty(t, r.Token, "the cookie is deleted")
			assert.Equal(t, "anonymous", user.WhoAmI(t, tok))
			list, err := m.Sessions(context.Background(), "ivan")
			require.NoError(t, err)
			assert.Empty(t, list, "not resurrected")
			assertEvent(t, user.Audit, "session.ended_in_flight", "")
		})
	}
}

// challengeRace sends one session's challenge to be taken by four
// requests at once, on two instances sharing the store: each request has
// loaded the session, challenge included, before any takes it. Exactly one
// may get it (a WebAuthn assertion replayed in parallel must not sign in
// four times), nor may the same cookie sent again later, whether the
// session is anonymous (passwordless login: the challenge travels in the
// cookie) or signed in (second-factor verification).
func challengeRace(t *testing.T, h Harness) {
	const racers = 4
	for _, signedIn := range []bool{false, true} {
		name := "anonymous"
		if signedIn {
			name = "signed in"
		}
		t.Run(name, func(t *testing.T) {
			store := h.New(t)
			clock := NewClock()
			var arrived sync.WaitGroup
			var mu sync.Mutex
			var taken []string
			var refused []error
			handler := func(m *session.Manager) http.Handler {
				mux := http.NewServeMux()
				mux.HandleFunc("/begin", func(w http.ResponseWriter, r *http.Request) {
					if err := m.PutChallenge(r.Context(), "webauthn.login", []byte("ceremony")); err != nil {
						http.Error(w, err.Error(), http.StatusInternalServerError)
					}
				})
				mux.HandleFunc("/finish", func(w http.ResponseWriter, r *http.Request) {
					arrived.Done()
					arrived.Wait() // every request has loaded the session
					b, err := m.TakeChallenge(r.Context(), "webauthn.login")
					mu.Lock()
					if err != nil {
						refused = append(refused, err)
					} else {
						taken = append(taken, string(b))
					}
					mu.Unlock()
				})
				mux.Handle("/", App(m, clock.Now))
				return m.Handler(mux)
			}
			mod := func(c *session.Config) { c.Keyring = Keyring }
			a := NewEnv(t, store, clock, mod)
			b := NewEnv(t, store, clock, mod) // a second instance
			ha, hb := handler(a.M), handler(b.M)
			tok := ""
			if signedIn {
				tok = a.Login(t, "olga", "admin")
			}
			r := Do(t, ha, "/begin", tok)
			require.Equal(t, http.StatusOK, r.Code, r.Body)
			tok = r.Token
			require.NotEmpty(t, tok)

			arrived.Add(racers)
			var wg sync.WaitGroup
			tokens := make([]string, racers)
			for i := range racers {
				h := ha
				if i%2 == 1 {
					h = hb
				}
				wg.Go(func() {
					req := httptest.NewRequest(http.MethodPost, "https://app.example/finish", nil)
					req.AddCookie(&http.Cookie{Name: session.DefaultCookieName, Value: tok})
					rec := httptest.NewRecorder()
					h.ServeHTTP(rec, req)
					for _, c := range rec.Result().Cookies() {
						if c.Name == session.DefaultCookieName && c.MaxAge >= 0 {
							tokens[i] = c.Value
						}
					}
				})
			}
			wg.Wait()
			assert.Equal(t, []string{"ceremony"}, taken, "taken exactly once")
			require.Len(t, refused, racers-1)
			for _, err := range refused {
				assert.ErrorIs(t, err, session.ErrNoChallenge)
			}

			// The same cookie, sent again later to the other instance.
			arrived.Add(1)
			r = Do(t, hb, "/finish", tok)
			require.Equal(t, http.StatusOK, r.Code, r.Body)
			assert.Equal(t, []string{"ceremony"}, taken, "replayed later")
			require.Len(t, refused, racers)
			assert.ErrorIs(t, refused[racers-1], session.ErrNoChallenge)
			if signedIn {
				// The session lives on, one of it: the losers only lost the
				// challenge.
				for _, tk := range tokens {
					if tk != "" {
						assert.Equal(t, "olga|admin|password|-", a.WhoAmI(t, tk))
					}
				}
				assert.Equal(t, "olga|admin|password|-", a.WhoAmI(t, tok), "the session continues")
				list, err := a.M.Sessions(context.Background(), "olga")
				require.NoError(t, err)
				assert.Len(t, list, 1, "no copy of the session was written")
			}
		})
	}
}

func atRest(t *testing.T, h Harness, encrypt bool) {
	store := h.New(t)
	e := NewEnv(t, store, NewClock(), func(c *session.Config) {
		if encrypt {
			kr, err := secrets.NewKeyring(secrets.Key{ID: "k1", Secret: secrets.Random(32)})
			require.NoError(t, err)
			c.Keyring = kr
		}
	})
	var tokens []string
	tok := e.Login(t, "judy", "admin")
	tokens = append(tokens, tok)
	r := Do(t, e.H, "/put?v=secret-flash-value", tok)
	require.Equal(t, http.StatusOK, r.Code)
	r = Do(t, e.H, "/mfa", tok)
	tokens = append(tokens, r.Token)
	anon := Do(t, e.H, "/put?v=x", "")
	tokens = append(tokens, anon.Token)
	require.Equal(t, "secret-flash-value", Do(t, e.H, "/get", r.Token).Body)

	dump := h.Dump(t, store)
	require.Contains(t, dump, "judy", "the dump must show the store's content")
	for _, tok := range tokens {
		require.NotEmpty(t, tok)
		assert.NotContains(t, dump, tok, "raw token at rest")
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		require.NoError(t, err)
		assert.NotContains(t, dump, string(raw), "raw token bytes at rest")
		assert.NotContains(t, dump, base64.StdEncoding.EncodeToString(raw))
	}
	_, mem := store.(*session.MemoryStore)
	switch {
	case encrypt:
		assert.NotContains(t, dump, "secret-flash-value", "values are encrypted")
		assert.NotContains(t, dump, "Go-http-client", "metadata is encrypted")
	case mem: // other stores require a Keyring
		assert.Contains(t, dump, "secret-flash-value", "without a Keyring, values are stored in clear")
	}
}

func outage(t *testing.T, h Harness) {
	// Sessions issued while the store worked; then it goes away.
	e := NewEnv(t, h.New(t), NewClock(), nil)
	tok := e.Login(t, "kim", "admin")
	down := NewEnv(t, h.Broken(t), e.Clock, nil)
	called := false
	hh := down.M.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		called = true
		_, _ = w.Write([]byte("should not run"))
	}))
	for _, tc := range []struct{ name, token string }{{"with cookie", tok}, {"fresh", ""}} {
		t.Run(tc.name, func(t *testing.T) {
			called = false
			r := Do(t, hh, "/", tc.token)
			if tc.token == "" { // nothing to load: the failure shows on save, if any
				assert.True(t, called)
				return
			}
			assert.False(t, called, "next must not run")
			assert.Equal(t, http.StatusInternalServerError, r.Code)
			assert.Equal(t, "Internal Server Error\n", r.Body, "no internals")
			assertEvent(t, down.Audit, "session.load", "")
		})
	}
	// Login while the store is down: a 500, not a half-signed-in session.
	r := Do(t, down.H, "/login?user=kim", tok)
	assert.Equal(t, http.StatusInternalServerError, r.Code)
	assert.NotContains(t, r.Body, "ok")
	r = Do(t, down.H, "/login?user=kim", "")
	assert.Equal(t, http.StatusInternalServerError, r.Code, "save failure on a new session")
	assert.Equal(t, "Internal Server Error\n", r.Body)
	assert.Empty(t, r.Token, "no cookie for an unsaved session")
	assertEvent(t, down.Audit, "session.save", "")

	// Anonymous state needs no store; a challenge cannot be claimed.
	r = Do(t, down.H, "/put?v=1", "")
	assert.Equal(t, http.StatusOK, r.Code, r.Body)
	assert.Equal(t, "1", Do(t, down.H, "/get", r.Token).Body)
	r = Do(t, down.H, "/begin?v=c", "")
	require.Equal(t, http.StatusOK, r.Code, r.Body)
	r = Do(t, down.H, "/take", r.Token)
	assert.Equal(t, http.StatusInternalServerError, r.Code, "fails closed")
	assert.NotContains(t, r.Body, "c\n")
}

// claimContract checks Store.Claim: once per key, atomically, and apart
// from sessions.
func claimContract(t *testing.T, s session.Store) {
	ctx := context.Background()
	exp := time.Now().Add(time.Hour)
	claim := func(k string) bool {
		t.Helper()
		ok, err := s.Claim(ctx, k, exp)
		require.NoError(t, err)
		return ok
	}
	assert.True(t, claim(key("a")))
	assert.False(t, claim(key("a")), "claimed once only")
	assert.True(t, claim(key("b")), "keys are independent")

	// Claims and sessions live apart, even under the same key: neither
	// finds, lists, replaces or frees the other.
	_, found, err := s.Find(ctx, key("a"))
	require.NoError(t, err)
	assert.False(t, found, "a claim is not a session")
	require.NoError(t, s.Delete(ctx, "", key("a")))
	assert.False(t, claim(key("a")), "deleting a session of the same key does not free a claim")
	c := contract{t: t, s: s, ctx: ctx}
	require.True(t, c.save("", session.Record{Key: key("a"), UserID: "cu", Data: []byte("s"), Expiry: exp, AuthAt: time.Now()}))
	assert.Equal(t, "s", c.find(key("a")), "a session under a claimed key")
	assert.Equal(t, []string{key("a") + "=s"}, c.keys("cu"))
	assert.False(t, claim(key("a")), "saving a session of the same key does not free a claim")
	c.deleteUser("cu", "", time.Now().Truncate(time.Microsecond))
	assert.False(t, claim(key("a")), "nor does DeleteUser")
	require.True(t, c.save("", session.Record{Key: key("d"), UserID: "cu", Data: []byte("s"), Expiry: exp, AuthAt: time.Now()}))
	assert.True(t, claim(key("d")), "a session's key is free to claim")
	assert.Equal(t, "s", c.find(key("d")), "and the session stays")
	require.NoError(t, s.DeleteUser(ctx, "", "", session.Revocation{At: time.Now(), Until: exp}))
	recs, err := s.List(ctx, "")
	require.NoError(t, err)
	assert.Empty(t, recs)

	// Concurrent claims of one key: exactly one wins.
	const n = 16
	var wins atomic.Int32
	testenv.Race(n, func(int) {
		ok, err := s.Claim(ctx, key("c"), exp)
		if err != nil {
			t.Errorf("claim: %v", err)
		}
		if ok {
			wins.Add(1)
		}
	})
	assert.Equal(t, int32(1), wins.Load())
}

// anonymousWritesNothing sends the requests of visitors who are not
// signed in, each of which used to leave a session record: a flash, a
// logout without a session, a ceremony begun; the store must be as before.
// The state travels in the cookie and another instance reads it.
func anonymousWritesNothing(t *testing.T, h Harness) {
	store := h.New(t)
	clock := NewClock()
	mod := func(c *session.Config) { c.Keyring = Keyring }
	a := NewEnv(t, store, clock, mod)
	b := NewEnv(t, store, clock, mod)
	before := h.Dump(t, store)
	for i := range 20 {
		r := Do(t, a.H, "/put?v=flash-"+strconv.Itoa(i), "")
		require.Equal(t, http.StatusOK, r.Code, r.Body)
		require.NotEmpty(t, r.Token)
		assert.Equal(t, "flash-"+strconv.Itoa(i), Do(t, b.H, "/get", r.Token).Body, "the other instance reads it")
		assert.Equal(t, "anonymous", b.WhoAmI(t, r.Token))
		r = Do(t, a.H, "/logout", "")
		require.Equal(t, http.StatusOK, r.Code, r.Body)
		r = Do(t, a.H, "/begin?v=ceremony", "")
		require.Equal(t, http.StatusOK, r.Code, r.Body)
		require.NotEmpty(t, r.Token)
		assert.NotContains(t, r.Token, "ceremony")
	}
	assert.Equal(t, before, h.Dump(t, store), "anonymous requests wrote to the store")

	// Sealed state expires, and is not accepted under another keyring.
	r := Do(t, a.H, "/put?v=late", "")
	other := NewEnv(t, store, clock, func(c *session.Config) {
		kr, err := secrets.NewKeyring(secrets.Key{ID: "other", Secret: secrets.Random(32)})
		require.NoError(t, err)
		c.Keyring = kr
	})
	got := Do(t, other.H, "/get", r.Token)
	assert.Empty(t, got.Body, "another keyring cannot open it")
	assert.Empty(t, got.Token, "and deletes the cookie")
	clock.Add(session.ChallengeTTL + time.Second)
	got = Do(t, b.H, "/get", r.Token)
	assert.Empty(t, got.Body, "expired")
	assert.Empty(t, got.Token)
}

func assertEvent(t *testing.T, sink *audit.MemorySink, action, reason string) {
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
