package session_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/identity"
	"github.com/deployedworks/rampart/secrets"
	"github.com/deployedworks/rampart/session"
	st "github.com/deployedworks/rampart/session/internal/storetest"
)

func TestNewValidation(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cfg     session.Config
		wantErr string
	}{
		{"defaults", session.Config{}, ""},
		{"custom host cookie", session.Config{CookieName: "__Host-app"}, ""},
		{"dev mode", session.Config{AllowInsecureCookie: true}, ""},
		{"negative idle", session.Config{IdleTimeout: -time.Second}, "negative"},
		{"negative lifetime", session.Config{Lifetime: -time.Second}, "negative"},
		{"idle above lifetime", session.Config{IdleTimeout: 2 * time.Hour, Lifetime: time.Hour}, "exceeds Lifetime"},
		{"attack: no __Host- prefix", session.Config{CookieName: "session"}, "must begin with __Host-"},
		{"attack: __Secure- prefix only", session.Config{CookieName: "__Secure-s"}, "must begin with __Host-"},
		{"dev mode with __Host-", session.Config{AllowInsecureCookie: true, CookieName: "__Host-s"}, "needs the Secure attribute"},
		{"dev mode with __Secure-", session.Config{AllowInsecureCookie: true, CookieName: "__Secure-s"}, "needs the Secure attribute"},
		{"attack: header injection in name", session.Config{CookieName: "__Host-a;b=c"}, "not a valid cookie name"},
		{"space in name", session.Config{CookieName: "__Host-a b"}, "not a valid cookie name"},
		{"zero Keyring", session.Config{Keyring: &secrets.Keyring{}}, "Keyring holds no key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			m, err := session.New(cfg)
			if tc.wantErr == "" {
				require.NoError(t, err)
				assert.NotNil(t, m)
				assert.Equal(t, tc.cfg, cfg, "New does not write to the caller's Config")
			} else {
				assert.ErrorContains(t, err, tc.wantErr)
			}
		})
	}
}

// newEnv is a Manager on a MemoryStore with a test clock.
func newEnv(t *testing.T, mod func(*session.Config)) *st.Env {
	return st.NewEnv(t, session.NewMemoryStore(), st.NewClock(), mod)
}

func setCookie(t *testing.T, h http.Handler, path, token string, mod func(*http.Request)) (string, *httptest.ResponseRecorder) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "https://app.example"+path, nil)
	if token != "" {
		req.AddCookie(&http.Cookie{Name: session.DefaultCookieName, Value: token})
	}
	if mod != nil {
		mod(req)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Header().Get("Set-Cookie"), rec
}

func TestCookieAttributes(t *testing.T) {
	e := newEnv(t, nil)
	sc, rec := setCookie(t, e.H, "/login?user=ann", "", nil)
	require.Equal(t, http.StatusOK, rec.Code)
	tok := strings.TrimSuffix(strings.TrimPrefix(sc, "__Host-session="), "; Path=/; HttpOnly; Secure; SameSite=Lax")
	assert.Len(t, tok, 43)
	assert.Equal(t, "__Host-session="+tok+"; Path=/; HttpOnly; Secure; SameSite=Lax", sc,
		"session cookie: __Host-, Secure, HttpOnly, Lax, Path=/, no Domain, no Expires")
	assert.Equal(t, "Cookie", rec.Header().Get("Vary"))
	assert.Equal(t, `no-cache="Set-Cookie"`, rec.Header().Get("Cache-Control"))

	sc, _ = setCookie(t, e.H, "/whoami", tok, nil)
	assert.Empty(t, sc, "an unchanged session sets no cookie")

	strict := e.M.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		require.NoError(t, e.M.Put(r.Context(), "k", "v"))
	}))
	_, rec = setCookie(t, strict, "/", "", nil)
	assert.Equal(t, []string{"no-store"}, rec.Header().Values("Cache-Control"), "never weakens the app's caching rule")

	sc, _ = setCookie(t, e.H, "/logout", tok, nil)
	assert.Equal(t, "__Host-session=; Path=/; Expires=Thu, 01 Jan 1970 00:00:01 GMT; Max-Age=0; HttpOnly; Secure; SameSite=Lax", sc)

	t.Run("remember me", func(t *testing.T) {
		sc, _ := setCookie(t, e.H, "/login?user=ann&remember=1", "", nil)
		c, err := http.ParseSetCookie(sc)
		require.NoError(t, err)
		assert.Equal(t, 12*60*60, c.MaxAge, "persistent until the absolute lifetime ends")
		assert.WithinDuration(t, e.Clock.Now().Add(12*time.Hour), c.Expires, time.Second)
		assert.True(t, c.Secure)
		assert.True(t, c.HttpOnly)
		assert.Equal(t, http.SameSiteLaxMode, c.SameSite)
		assert.Empty(t, c.Domain)
	})

	t.Run("dev mode", func(t *testing.T) {
		d := newEnv(t, func(c *session.Config) { c.AllowInsecureCookie = true })
		sc, rec := setCookie(t, d.H, "/login?user=ann", "", func(r *http.Request) { r.Host = "localhost:8080" })
		require.Equal(t, http.StatusOK, rec.Code)
		assert.Regexp(t, `^session=[A-Za-z0-9_-]{43}; Path=/; HttpOnly; SameSite=Lax$`, sc, "no Secure, no prefix")
	})
}

func TestCookieInBrowser(t *testing.T) {
	e := newEnv(t, nil)
	srv := httptest.NewTLSServer(e.H)
	t.Cleanup(srv.Close)
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	c := srv.Client()
	c.Jar = jar
	res, err := c.Post(srv.URL+"/login?user=bea", "", nil)
	require.NoError(t, err)
	_ = res.Body.Close()
	u, _ := url.Parse(srv.URL)
	cookies := jar.Cookies(u)
	require.Len(t, cookies, 1)
	assert.Equal(t, session.DefaultCookieName, cookies[0].Name)
	assert.Len(t, cookies[0].Value, 43, "the jar accepted the __Host- cookie over TLS")
	res, err = c.Post(srv.URL+"/whoami", "", nil)
	require.NoError(t, err)
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	assert.Equal(t, "bea||pwd|-", string(b))
}

func TestDevModeOnlyOnLocalhost(t *testing.T) {
	e := newEnv(t, func(c *session.Config) { c.AllowInsecureCookie = true })
	for _, tc := range []struct {
		host string
		ok   bool
	}{
		{"localhost", true},
		{"localhost:3000", true},
		{"app.localhost", true},
		{"127.0.0.1:8080", true},
		{"[::1]:8080", true},
		{"LOCALHOST.", true},
		{"example.com", false},
		{"localhost.example.com", false},
		{"10.0.0.1", false},
		{"", false},
	} {
		t.Run(tc.host, func(t *testing.T) {
			_, rec := setCookie(t, e.H, "/whoami", "", func(r *http.Request) { r.Host = tc.host })
			if tc.ok {
				assert.Equal(t, http.StatusOK, rec.Code)
			} else {
				assert.Equal(t, http.StatusInternalServerError, rec.Code)
				assert.Equal(t, "Internal Server Error\n", rec.Body.String())
			}
		})
	}
}

// counting wraps a store and counts writes.
type counting struct {
	session.Store
	saves atomic.Int32
}

func (c *counting) Save(ctx context.Context, replace string, r session.Record) (bool, error) {
	c.saves.Add(1)
	return c.Store.Save(ctx, replace, r)
}

func TestReadsDoNotWrite(t *testing.T) {
	store := &counting{Store: session.NewMemoryStore()}
	e := st.NewEnv(t, store, st.NewClock(), nil)
	tok := e.Login(t, "cy", "")
	require.Equal(t, int32(1), store.saves.Load())
	for range 10 {
		e.Clock.Add(5 * time.Second)
		require.Equal(t, "cy||pwd|-", e.WhoAmI(t, tok))
	}
	assert.Equal(t, int32(1), store.saves.Load(), "activity within a minute is not written")
	e.Clock.Add(time.Minute)
	e.WhoAmI(t, tok)
	assert.Equal(t, int32(2), store.saves.Load(), "LastSeen is refreshed after a minute")
}

// TestAddressChangeWritesOncePerInterval: a client whose address (or
// User-Agent) alternates from request to request within the touch
// interval writes nothing; once the interval has passed, one request
// writes, recording the address it came from, which Sessions then shows.
// A request that writes the session anyway records its address at once.
func TestAddressChangeWritesOncePerInterval(t *testing.T) {
	store := &counting{Store: session.NewMemoryStore()}
	e := st.NewEnv(t, store, st.NewClock(), nil)
	tok := e.Login(t, "ann", "") // from httptest's 192.0.2.1, "Go-http-client"
	require.Equal(t, int32(1), store.saves.Load())
	from := func(addr, agent string) func(*http.Request) {
		return func(r *http.Request) { r.RemoteAddr, r.Header["User-Agent"] = addr+":1234", []string{agent} }
	}
	seen := func() (string, string) {
		t.Helper()
		list, err := e.M.Sessions(context.Background(), "ann")
		require.NoError(t, err)
		require.Len(t, list, 1)
		return list[0].IP.String(), list[0].UserAgent
	}
	ip0, ua0 := seen()
	for i := range 10 {
		e.Clock.Add(5 * time.Second)
		addr := []string{"198.51.100.7", "203.0.113.9"}[i%2]
		cookie, rec := setCookie(t, e.H, "/whoami", tok, from(addr, fmt.Sprintf("agent/%d", i)))
		require.Equal(t, "ann||pwd|-", rec.Body.String())
		assert.Empty(t, cookie)
	}
	assert.Equal(t, int32(1), store.saves.Load(), "new addresses within the touch interval write nothing")
	ip, ua := seen()
	assert.Equal(t, ip0, ip, "the address recorded at login is still shown")
	assert.Equal(t, ua0, ua)

	e.Clock.Add(time.Minute)
	for range 3 {
		_, rec := setCookie(t, e.H, "/whoami", tok, from("198.51.100.7", "agent/new"))
		require.Equal(t, "ann||pwd|-", rec.Body.String())
	}
	assert.Equal(t, int32(2), store.saves.Load(), "after the interval, one write")
	ip, ua = seen()
	assert.Equal(t, "198.51.100.7", ip, "the write records the address of the request that made it")
	assert.Equal(t, "agent/new", ua)

	e.Clock.Add(time.Second)
	_, rec := setCookie(t, e.H, "/put?v=x", tok, from("203.0.113.9", "agent/put"))
	require.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, int32(3), store.saves.Load())
	ip, ua = seen()
	assert.Equal(t, "203.0.113.9", ip, "a request that writes the session anyway records its address")
	assert.Equal(t, "agent/put", ua)
}

// TestIdleTimeoutSynctest runs with the default clock inside a synctest
// bubble, where time.Now is virtual. The Manager is built inside the
// bubble: synctest.Test fails if it leaves a goroutine behind (as scs.New's
// memory store sweeper would).
func TestIdleTimeoutSynctest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m, err := session.New(session.Config{})
		require.NoError(t, err)
		h := st.App(m, time.Now)
		tok := st.Do(t, h, "/login?user=dee", "").Token
		time.Sleep(29 * time.Minute)
		assert.Equal(t, "dee||pwd|-", st.Do(t, h, "/whoami", tok).Body)
		time.Sleep(29 * time.Minute)
		assert.Equal(t, "dee||pwd|-", st.Do(t, h, "/whoami", tok).Body, "each request restarts the idle timer")
		time.Sleep(30*time.Minute + time.Second)
		assert.Equal(t, "anonymous", st.Do(t, h, "/whoami", tok).Body)
	})
}

// TestNoGoroutine: a Manager starts no goroutine, so there is nothing to
// close. Managers are built and serve requests, signed in and anonymous,
// inside a synctest bubble, which fails the test if any goroutine started
// in it is still there at the end (counting runtime.NumGoroutine instead
// is at the mercy of other tests' goroutines).
func TestNoGoroutine(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		for range 10 {
			m, err := session.New(session.Config{})
			require.NoError(t, err)
			h := st.App(m, time.Now)
			tok := st.Do(t, h, "/login?user=gil", "").Token
			require.Equal(t, "gil||pwd|-", st.Do(t, h, "/whoami", tok).Body)
			require.Equal(t, http.StatusOK, st.Do(t, h, "/put?v=1", "").Code)
		}
	})
}

func TestPrincipal(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	assert.ErrorIs(t, e.M.Login(ctx, identity.Principal{UserID: "u", AuthTime: time.Now()}), session.ErrNoSession)
	assert.ErrorIs(t, e.M.MarkMFA(ctx, identity.MethodOTP), session.ErrNoSession)
	assert.ErrorIs(t, e.M.Logout(ctx), session.ErrNoSession)
	assert.ErrorIs(t, e.M.RevokeOthers(ctx), session.ErrNoSession)
	assert.ErrorIs(t, e.M.Remember(ctx, true), session.ErrNoSession)

	var errs []error
	var ref string
	h := st.Client(e.M.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		if p, ok := identity.FromContext(ctx); ok {
			_, _ = w.Write([]byte(st.WhoAmI(ctx)))
			p.Roles[0] = "mutated" // a copy: the session is unchanged
			ref = p.SessionRef
			return
		}
		errs = append(errs,
			e.M.MarkMFA(ctx, identity.MethodOTP),
			e.M.Remember(ctx, true),
			e.M.RevokeOthers(ctx),
			e.M.Login(ctx, identity.Principal{UserID: "", AuthTime: e.Clock.Now()}),
			e.M.Login(ctx, identity.Principal{UserID: "u", AuthTime: time.Time{}}),
			e.M.Login(ctx, identity.Principal{UserID: "u", AuthTime: e.Clock.Now().Add(-session.DefaultIdleTimeout - time.Second)}),
		)
		roles := []string{"admin", "seller"}
		require.NoError(t, e.M.Login(ctx, identity.Principal{UserID: "eve", Roles: roles, Methods: []identity.Method{identity.MethodHardwareKey, identity.MethodHardwareKey}, AuthTime: e.Clock.Now()}))
		roles[0] = "mutated"
		errs = append(errs, e.M.MarkMFA(ctx, ""))
		require.NoError(t, e.M.MarkMFA(ctx, identity.MethodOTP))
		require.NoError(t, e.M.MarkMFA(ctx, identity.MethodOTP))
	})))
	tok := st.Do(t, h, "/", "").Token
	assert.ErrorIs(t, errs[0], session.ErrNotLoggedIn)
	assert.ErrorIs(t, errs[1], session.ErrNotLoggedIn)
	assert.ErrorIs(t, errs[2], session.ErrNotLoggedIn)
	assert.ErrorContains(t, errs[3], "empty user ID")
	assert.ErrorContains(t, errs[4], "zero Principal.AuthTime")
	assert.ErrorContains(t, errs[5], "more than IdleTimeout")
	assert.ErrorContains(t, errs[6], "empty method")
	assert.Equal(t, "eve|admin,seller|hwk,otp|otp", st.Do(t, h, "/", tok).Body, "copies in; a method is listed once")
	assert.Equal(t, "eve|admin,seller|hwk,otp|otp", st.Do(t, h, "/", tok).Body, "copies out")

	var actions []string
	for _, ev := range e.Audit.Events() {
		actions = append(actions, string(ev.Action))
		assert.Equal(t, ref, ev.SessionRef, "the principal carries the session's handle")
		assert.Equal(t, "192.0.2.1", ev.ClientIP.String())
	}
	assert.Equal(t, []string{"session.login", "session.mfa", "session.mfa"}, actions)
}

// TestPrincipalTimes: AuthTime is the login's time and MFATime the last
// step-up's; SessionRef is stable across the step-up's token renewal and
// is not the token.
// TestPrincipalCopiesSurviveWrite: the principal the Handler hands out
// holds copies of the session's roles and methods, even in a request that
// writes the session (its activity after the touch interval, a value put):
// a handler changing them, in place or by appending, changes nothing
// stored.
func TestPrincipalCopiesSurviveWrite(t *testing.T) {
	store := &counting{Store: session.NewMemoryStore()}
	e := st.NewEnv(t, store, st.NewClock(), nil)
	tok := e.Login(t, "ida", "admin,seller")
	h := st.Client(e.M.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := identity.FromContext(r.Context())
		require.True(t, ok)
		p.Roles[0], p.Methods[0] = "mutated", "mutated"
		_ = append(p.Roles, "appended")
		_ = append(p.Methods[:1], "appended")
		require.NoError(t, e.M.Put(r.Context(), "k", "v"))
	})))
	for _, wait := range []time.Duration{0, time.Minute} {
		e.Clock.Add(wait)
		before := store.saves.Load()
		st.Do(t, h, "/", tok)
		require.Equal(t, before+1, store.saves.Load(), "the session was written")
		assert.Equal(t, "ida|admin,seller|pwd|-", e.WhoAmI(t, tok))
	}
}

func TestPrincipalTimes(t *testing.T) {
	e := newEnv(t, nil)
	tok := e.Login(t, "fay", "admin")
	loginAt := e.Clock.Now()
	var got []identity.Principal
	h := e.M.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := identity.FromContext(r.Context())
		got = append(got, p)
		if r.URL.Path == "/mfa" {
			require.NoError(t, e.M.MarkMFA(r.Context(), identity.MethodOTP))
		}
	}))
	e.Clock.Add(time.Minute)
	tok = st.Do(t, h, "/mfa", tok).Token
	st.Do(t, h, "/", tok)
	require.Len(t, got, 2)
	assert.Equal(t, "fay", got[0].UserID)
	assert.Equal(t, []string{"admin"}, got[0].Roles)
	assert.False(t, got[0].MFA())
	assert.True(t, got[0].AuthTime.Equal(loginAt))
	assert.NotEmpty(t, got[0].SessionRef)
	assert.NotEqual(t, tok, got[0].SessionRef)
	assert.True(t, got[1].MFA())
	assert.True(t, got[1].MFATime.Equal(e.Clock.Now()))
	assert.True(t, got[1].AuthTime.Equal(loginAt))
	assert.Equal(t, got[0].SessionRef, got[1].SessionRef, "stable across renewal")
}

// TestPrincipalOnlyFromSession: a principal an outer layer put in the
// context does not survive the Handler of an anonymous session.
func TestPrincipalOnlyFromSession(t *testing.T) {
	e := newEnv(t, nil)
	h := e.M.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(st.WhoAmI(r.Context())))
	}))
	req := httptest.NewRequest(http.MethodGet, "https://app.example/", nil)
	req = req.WithContext(identity.NewContext(req.Context(), identity.Principal{UserID: "forged"}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	assert.Equal(t, "anonymous", rec.Body.String())
}

func TestValues(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	assert.ErrorIs(t, e.M.Put(ctx, "k", "v"), session.ErrNoSession)
	_, ok := e.M.Get(ctx, "k")
	assert.False(t, ok)
	_, ok = e.M.Pop(ctx, "k")
	assert.False(t, ok)
	e.M.Remove(ctx, "k") // no panic

	type step struct{ got, ok any }
	var out []step
	h := e.M.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		switch r.URL.Path {
		case "/set":
			require.NoError(t, e.M.Put(ctx, "flash", "saved!"))
			require.NoError(t, e.M.Put(ctx, "form", `{"title":"x"}`))
			for _, bad := range []string{"", "\x00m", "\x00c:x", strings.Repeat("k", 129)} {
				assert.ErrorIs(t, e.M.Put(ctx, bad, "v"), session.ErrInvalidKey, "key %q", bad)
				_, ok := e.M.Get(ctx, bad)
				assert.False(t, ok, "reserved keys are not readable: %q", bad)
			}
		case "/read":
			v, ok := e.M.Pop(ctx, "flash")
			out = append(out, step{v, ok})
			v, ok = e.M.Pop(ctx, "flash")
			out = append(out, step{v, ok})
			v, ok = e.M.Get(ctx, "form")
			out = append(out, step{v, ok})
			e.M.Remove(ctx, "form")
			v, ok = e.M.Get(ctx, "form")
			out = append(out, step{v, ok})
		}
	}))
	tok := st.Do(t, h, "/set", "").Token
	require.NotEmpty(t, tok)
	next := st.Do(t, h, "/read", tok).Token
	assert.Equal(t, []step{{"saved!", true}, {"", false}, {`{"title":"x"}`, true}, {"", false}}, out)
	assert.Empty(t, next, "nothing left: the cookie is deleted")
	st.Do(t, h, "/read", next)
	assert.Equal(t, step{"", false}, out[4], "Pop removed it for a client that follows the cookie")

	// Signed in, values live in the store: Pop removes them for good, even
	// for a client that resends the cookie.
	tok = e.Login(t, "val", "")
	st.Do(t, h, "/set", tok)
	st.Do(t, h, "/read", tok)
	st.Do(t, h, "/read", tok)
	assert.Equal(t, step{"saved!", true}, out[8])
	assert.Equal(t, step{"", false}, out[12], "Pop removed it for good")
}

func TestLogoutThenFlash(t *testing.T) {
	e := newEnv(t, nil)
	tok := e.Login(t, "gus", "")
	h := e.M.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		require.NoError(t, e.M.Logout(r.Context()))
		require.NoError(t, e.M.Put(r.Context(), "k", "you are signed out"))
	}))
	r := st.Do(t, h, "/", tok)
	require.NotEmpty(t, r.Token)
	assert.NotEqual(t, tok, r.Token, "a new anonymous session carries the flash")
	assert.Equal(t, "anonymous", e.WhoAmI(t, r.Token))
	assert.Equal(t, "you are signed out", st.Do(t, e.H, "/get", r.Token).Body)
	assert.Equal(t, "anonymous", e.WhoAmI(t, tok))
}

func TestChallenges(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	assert.ErrorIs(t, e.M.PutChallenge(ctx, "webauthn.login", []byte("x")), session.ErrNoSession)
	_, err := e.M.TakeChallenge(ctx, "webauthn.login")
	assert.ErrorIs(t, err, session.ErrNoSession)

	var taken [][]byte
	var errs []error
	h := e.M.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		switch r.URL.Path {
		case "/begin":
			data := []byte("ceremony-state")
			require.NoError(t, e.M.PutChallenge(ctx, "webauthn.login", data))
			data[0] = 'X' // copied
			assert.ErrorIs(t, e.M.PutChallenge(ctx, "", data), session.ErrInvalidKey)
		case "/login":
			require.NoError(t, e.M.Login(ctx, identity.Principal{UserID: "hal", Methods: []identity.Method{identity.MethodPassword}, AuthTime: e.Clock.Now()}))
		case "/finish":
			b, err := e.M.TakeChallenge(ctx, "webauthn.login")
			taken, errs = append(taken, b), append(errs, err)
		}
	}))
	tok := st.Do(t, h, "/begin", "").Token
	require.NotEmpty(t, tok, "a challenge starts an anonymous session")
	tok = st.Do(t, h, "/login", tok).Token
	st.Do(t, h, "/finish", tok)
	st.Do(t, h, "/finish", tok)
	require.NoError(t, errs[0])
	assert.Equal(t, "ceremony-state", string(taken[0]), "survives login")
	assert.ErrorIs(t, errs[1], session.ErrNoChallenge, "taken once only")

	st.Do(t, h, "/begin", tok)
	e.Clock.Add(session.ChallengeTTL + time.Second)
	tok = st.Do(t, h, "/login", tok).Token // keeps the session alive
	st.Do(t, h, "/finish", tok)
	assert.ErrorIs(t, errs[2], session.ErrNoChallenge, "expired")
}

// flaky fails Save only.
type flaky struct{ session.Store }

func (flaky) Save(context.Context, string, session.Record) (bool, error) {
	return false, errors.New("disk full at 10.0.0.5:5432")
}

func TestSaveFailureReplacesResponse(t *testing.T) {
	sink := &audit.MemorySink{}
	m, err := session.New(session.Config{Store: flaky{session.NewMemoryStore()}, Keyring: st.Keyring, Audit: audit.MustNew(sink, audit.Config{})})
	require.NoError(t, err)
	var writeErr error
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		require.NoError(t, m.Login(r.Context(), identity.Principal{UserID: "ida", Methods: []identity.Method{identity.MethodPassword}, AuthTime: time.Now()}))
		w.Header().Set("Location", "/dashboard")
		w.Header().Set("X-Frame-Options", "DENY") // set by outer middleware: kept
		w.WriteHeader(http.StatusSeeOther)
		_, writeErr = w.Write([]byte("welcome"))
	}))
	_, rec := setCookie(t, h, "/", "", nil)
	assert.Equal(t, http.StatusInternalServerError, rec.Code)
	assert.Equal(t, "Internal Server Error\n", rec.Body.String(), "no internals, not the handler's body")
	assert.Empty(t, rec.Header().Get("Location"), "no redirect into the app")
	assert.Empty(t, rec.Header().Get("Set-Cookie"))
	assert.Equal(t, "DENY", rec.Header().Get("X-Frame-Options"))
	assert.Error(t, writeErr)
	evs := sink.Events()
	require.NotEmpty(t, evs)
	last := evs[len(evs)-1]
	assert.Equal(t, audit.CategoryError, last.Category)
	assert.Equal(t, session.ActionSaveFailed, last.Action)
	assert.Contains(t, last.Reason, "disk full", "details go to audit")
}

func TestCustomErrorHandler(t *testing.T) {
	var got error
	m, err := session.New(session.Config{
		Store:   st.Failing{},
		Keyring: st.Keyring,
		OnError: func(w http.ResponseWriter, r *http.Request, err error) {
			got = err
			http.Error(w, "try again later", http.StatusServiceUnavailable)
		},
	})
	require.NoError(t, err)
	_, rec := setCookie(t, st.App(m, time.Now), "/whoami", strings.Repeat("a", 43), nil)
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
	assert.ErrorIs(t, got, session.ErrStore)
}

func TestCorruptAndForeignData(t *testing.T) {
	store := session.NewMemoryStore()
	kr := func() *secrets.Keyring {
		k, err := secrets.NewKeyring(secrets.Key{ID: "k", Secret: secrets.Random(32)})
		require.NoError(t, err)
		return k
	}
	clock := st.NewClock()
	a := st.NewEnv(t, store, clock, func(c *session.Config) { c.Keyring = kr() })
	b := st.NewEnv(t, store, clock, func(c *session.Config) { c.Keyring = kr() }) // another key
	plain := st.NewEnv(t, store, clock, nil)
	tok := a.Login(t, "jo", "")
	require.Equal(t, "jo||pwd|-", a.WhoAmI(t, tok))

	r := st.Do(t, b.H, "/whoami", tok)
	assert.Equal(t, "anonymous", r.Body, "data under an unknown key ends the session")
	assert.Empty(t, r.Token, "and deletes the cookie")
	assert.Equal(t, session.ActionCorrupt, b.Audit.Events()[0].Action)
	assert.Equal(t, "anonymous", a.WhoAmI(t, tok), "the unusable record was deleted")

	tok = plain.Login(t, "jo", "")
	assert.Equal(t, "anonymous", a.WhoAmI(t, tok), "unencrypted data is refused by an encrypting manager")
}

// TestEncryptedRecordBoundToKey backs Config.Keyring's promise that a
// record copied to another key fails to decrypt: someone who can write to
// the store copies the victim's record under the key of their own token.
func TestEncryptedRecordBoundToKey(t *testing.T) {
	storeKey := func(token string) string { // scs's HashTokenInStore
		h := sha256.Sum256([]byte(token))
		return base64.RawURLEncoding.EncodeToString(h[:])
	}
	kr, err := secrets.NewKeyring(secrets.Key{ID: "k", Secret: secrets.Random(32)})
	require.NoError(t, err)
	for _, tc := range []struct {
		name    string
		keyring *secrets.Keyring
		want    string
	}{
		{"attack: with a Keyring the copy does not decrypt", kr, "anonymous"},
		{"without a Keyring the copy signs in (what the binding prevents)", nil, "victim|admin|pwd|-"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := session.NewMemoryStore()
			e := st.NewEnv(t, store, st.NewClock(), func(c *session.Config) { c.Keyring = tc.keyring })
			victim := e.Login(t, "victim", "admin")
			attacker := e.Login(t, "attacker", "")
			ctx := context.Background()
			data, ok, err := store.Find(ctx, storeKey(victim))
			require.NoError(t, err)
			require.True(t, ok)
			ok, err = store.Save(ctx, storeKey(attacker), session.Record{
				Key: storeKey(attacker), UserID: "attacker", Data: data, Expiry: time.Now().Add(time.Hour),
			})
			require.NoError(t, err)
			require.True(t, ok)
			assert.Equal(t, tc.want, e.WhoAmI(t, attacker))
			assert.Equal(t, "victim|admin|pwd|-", e.WhoAmI(t, victim), "the original is untouched")
		})
	}
}

func TestNestedHandler(t *testing.T) {
	e := newEnv(t, nil)
	h := e.M.Handler(e.H)
	tok := st.Do(t, h, "/login?user=kit", "").Token
	assert.Equal(t, "kit||pwd|-", st.Do(t, h, "/whoami", tok).Body)
}

func TestSessionsInfo(t *testing.T) {
	e := newEnv(t, nil)
	tok := e.Login(t, "lou", "")
	e.Clock.Add(2 * time.Minute)
	h := e.M.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		list, err := e.M.Sessions(r.Context(), "lou")
		require.NoError(t, err)
		require.Len(t, list, 2)
		assert.True(t, list[0].Current, "most recently used first: this request")
		assert.False(t, list[1].Current)
		assert.Equal(t, "test-agent/1.0", list[0].UserAgent)
		assert.Equal(t, "198.51.100.7", list[0].IP.String())
		assert.Equal(t, e.Clock.Now(), list[0].LastSeen)
		list[0].Methods[0] = "mutated"
		list, err = e.M.Sessions(r.Context(), "lou")
		require.NoError(t, err)
		assert.Equal(t, []identity.Method{identity.MethodPassword}, list[0].Methods, "Info.Methods does not alias the live session")
	}))
	h = st.Client(h)
	e.Clock.Add(time.Minute)
	e.Login(t, "lou", "")
	e.Clock.Add(time.Minute)
	setCookie(t, h, "/", tok, func(r *http.Request) {
		r.Header.Set("User-Agent", "test-agent/1.0")
		r.RemoteAddr = "198.51.100.7:1234"
	})
	list, err := e.M.Sessions(context.Background(), "")
	require.NoError(t, err)
	assert.Empty(t, list)

	fresh := e.M.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		require.NoError(t, e.M.Login(r.Context(), identity.Principal{UserID: "new-user", Methods: []identity.Method{identity.MethodPassword}, AuthTime: e.Clock.Now()}))
		list, err := e.M.Sessions(r.Context(), "new-user")
		require.NoError(t, err)
		require.Len(t, list, 1, "the session signed in by this request, before it is saved")
		assert.True(t, list[0].Current)
	}))
	setCookie(t, fresh, "/", "", nil)
	assert.ErrorIs(t, e.M.Revoke(context.Background(), "lou", ""), session.ErrUnknownSession)
	assert.ErrorIs(t, e.M.Revoke(context.Background(), "lou", "nope"), session.ErrUnknownSession)
	assert.Error(t, e.M.RevokeUser(context.Background(), ""))
}

func TestUserAgentTruncated(t *testing.T) {
	e := newEnv(t, nil)
	_, rec := setCookie(t, e.H, "/login?user=max", "", func(r *http.Request) {
		r.Header.Set("User-Agent", strings.Repeat("é", 200)) // 400 bytes
	})
	require.Equal(t, http.StatusOK, rec.Code)
	list, err := e.M.Sessions(context.Background(), "max")
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Len(t, list[0].UserAgent, 256)
	assert.Equal(t, strings.Repeat("é", 128), list[0].UserAgent, "cut on a character boundary")
}
