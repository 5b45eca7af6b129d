package sessiontest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
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

	"github.com/deployedworks/rampart/identity"
	"github.com/deployedworks/rampart/secrets"
	"github.com/deployedworks/rampart/session"
	"github.com/deployedworks/rampart/session/internal/storetest"
)

func run(t *testing.T, h Backend) {
	t.Run("StoreContract", func(t *testing.T) { storeContract(t, h.New(t)) })
	t.Run("Watermark", func(t *testing.T) { watermark(t, h.New(t)) })
	t.Run("DeleteUserRacesRenewal", func(t *testing.T) { renewalRace(t, h.New(t)) })
	t.Run("TokenChangesAtLoginAndMFA", func(t *testing.T) { tokenChanges(t, h) })
	t.Run("Browser", func(t *testing.T) { browser(t, h) })
	t.Run("IdleTimeout", func(t *testing.T) { idleTimeout(t, h) })
	t.Run("AbsoluteLifetime", func(t *testing.T) { absoluteLifetime(t, h) })
	t.Run("RevokeUserAcrossInstances", func(t *testing.T) { revokeAcross(t, h) })
	t.Run("RevokeOneAndOthers", func(t *testing.T) { revokeOne(t, h) })
	t.Run("SessionCap", func(t *testing.T) { sessionCap(t, h) })
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
	requireNoError(c.t, err)
	return ok
}

func (c contract) find(k string) string {
	c.t.Helper()
	b, ok, err := c.s.Find(c.ctx, k)
	requireNoError(c.t, err)
	if !ok {
		return "<none>"
	}
	return string(b)
}

// keys lists the sessions of user as "key=data".
func (c contract) keys(user string) []string {
	c.t.Helper()
	recs, err := c.s.List(c.ctx, user)
	requireNoError(c.t, err)
	var ks []string
	for _, r := range recs {
		ks = append(ks, r.Key+"="+string(r.Data))
		assertEqual(c.t, user, r.UserID)
	}
	return ks
}

func (c contract) deleteUser(user, except string, at time.Time) {
	c.t.Helper()
	requireNoError(c.t, c.s.DeleteUser(c.ctx, user, except, session.Revocation{At: at, Until: time.Now().Add(time.Hour)}))
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

	assertEqual(t, "<none>", find(key("a")))
	requireTrue(t, save("", rec("a", "", "anon")))
	assertEqual(t, "anon", find(key("a")))
	assertEmpty(t, keys(""), "anonymous sessions are not indexed")

	// Conditional update in place.
	requireTrue(t, save(key("a"), rec("a", "", "anon2")))
	assertEqual(t, "anon2", find(key("a")))
	assertFalse(t, save(key("x"), rec("x", "", "ghost")), "update of a missing session")
	assertEqual(t, "<none>", find(key("x")), "a failed update writes nothing")

	// Users.
	requireTrue(t, save("", rec("b", "u1", "b")))
	requireTrue(t, save("", rec("c", "u1", "c")))
	requireTrue(t, save("", rec("d", "u2", "d")))
	assertElementsMatch(t, []string{key("b") + "=b", key("c") + "=c"}, keys("u1"))

	// Rename (token renewal) moves the record and its index entry.
	requireTrue(t, save(key("b"), rec("e", "u1", "e")))
	assertEqual(t, "<none>", find(key("b")))
	assertEqual(t, "e", find(key("e")))
	assertElementsMatch(t, []string{key("c") + "=c", key("e") + "=e"}, keys("u1"))
	assertFalse(t, save(key("b"), rec("f", "u1", "f")), "rename from a gone key")
	assertEqual(t, "<none>", find(key("f")))
	assertFalse(t, save(key("d"), rec("g", "u1", "g")), "rename across users")
	assertEqual(t, "d", find(key("d")))

	// Delete.
	requireNoError(t, s.Delete(c.ctx, "u1", key("c")))
	requireNoError(t, s.Delete(c.ctx, "u1", key("c")), "deleting twice is fine")
	assertEqual(t, "<none>", find(key("c")))
	assertElementsMatch(t, []string{key("e") + "=e"}, keys("u1"))

	// DeleteUser, with and without an exception.
	requireTrue(t, save("", rec("h", "u1", "h")))
	c.deleteUser("u1", key("h"), revokedAt)
	assertElementsMatch(t, []string{key("h") + "=h"}, keys("u1"))
	assertEqual(t, "<none>", find(key("e")))
	c.deleteUser("u1", "", revokedAt)
	assertEmpty(t, keys("u1"))
	assertEqual(t, "<none>", find(key("h")))
	assertEqual(t, "d", find(key("d")), "other users untouched")
	assertEqual(t, "anon2", find(key("a")), "anonymous sessions untouched")
	assertFalse(t, save(key("h"), rec("h", "u1", "back")), "no resurrection after DeleteUser")
	assertEqual(t, "<none>", find(key("h")))
	c.deleteUser("", "", authAt.Add(time.Hour).Truncate(time.Microsecond))
	assertEqual(t, "anon2", find(key("a")), "DeleteUser of no user does nothing")

	// Expired records are neither found, listed nor updated.
	expired := rec("i", "u3", "i")
	expired.Expiry = time.Now().Add(-time.Second)
	requireTrue(t, save("", expired))
	assertEqual(t, "<none>", find(key("i")))
	assertEmpty(t, keys("u3"))
	assertFalse(t, save(key("i"), rec("i", "u3", "i2")))
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

	requireTrue(t, save("", rec("a", "wu", before)))
	requireTrue(t, save("", rec("b", "wu", before)))
	requireTrue(t, save("", rec("o", "other", before)))
	requireTrue(t, save("", rec("n", "", time.Time{})))
	c.deleteUser("wu", key("a"), w)

	assertEqual(t, "<none>", find(key("b")), "deleted")
	assertEqual(t, "<none>", find(key("a")),
		"kept by DeleteUser but established before the watermark: not found, like a session a racing Save wrote")
	assertEmpty(t, keys("wu"), "nor listed")

	// A new session established before the watermark is refused: a login
	// that read the user before the revocation.
	assertFalse(t, save("", rec("c", "wu", before)), "established before the watermark")
	assertFalse(t, save("", rec("c", "wu", w.Add(-time.Microsecond))), "a microsecond before")
	assertFalse(t, save("", rec("c", "wu", w.Add(-time.Nanosecond))), "a nanosecond before")
	assertFalse(t, save("", rec("c", "wu", time.Time{})), "with no time at all")
	assertEqual(t, "<none>", find(key("c")), "a refused save writes nothing")
	assertTrue(t, save("", rec("d", "wu", w)), "established at the watermark")
	assertTrue(t, save("", rec("e", "wu", after)), "established after it")
	assertEqual(t, "d", find(key("d")))

	// The kept session moves to a new key only re-stamped.
	assertFalse(t, save(key("a"), rec("f", "wu", before)), "renewal of the kept session with its old stamp")
	assertEqual(t, "<none>", find(key("f")))
	assertTrue(t, save(key("a"), rec("g", "wu", w)), "the kept session, re-stamped")
	assertEqual(t, "g", find(key("g")))
	assertEqual(t, "<none>", find(key("a")), "moved")
	assertElementsMatch(t, []string{key("d") + "=d", key("e") + "=e", key("g") + "=g"}, keys("wu"))

	// The watermark never moves back.
	c.deleteUser("wu", key("g"), before.Add(-time.Hour).Truncate(time.Microsecond))
	assertElementsMatch(t, []string{key("g") + "=g"}, keys("wu"), "an earlier revocation deletes all the same")
	assertFalse(t, save("", rec("h", "wu", before)), "but leaves the watermark where it was")
	assertTrue(t, save("", rec("h", "wu", after)))

	// A later one raises it.
	c.deleteUser("wu", "", after)
	assertFalse(t, save("", rec("i", "wu", w)))
	assertTrue(t, save("", rec("i", "wu", after)))
	assertEqual(t, "i", find(key("i")))

	// Other users and anonymous sessions have no watermark.
	assertEqual(t, "o", find(key("o")))
	assertEqual(t, "n", find(key("n")))
	assertTrue(t, save("", rec("p", "other", before)))
	assertTrue(t, save(key("n"), rec("n", "", time.Time{})))
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
		requireNoError(t, err)
		requireTrue(t, ok)
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
	requireNoError(t, s.DeleteUser(ctx, "racer", "", session.Revocation{At: time.Now().Truncate(time.Microsecond), Until: exp}))
	wg.Wait()
	recs, err := s.List(ctx, "racer")
	requireNoError(t, err)
	assertEmpty(t, recs, "a renewal survived DeleteUser")
}

func tokenChanges(t *testing.T, h Backend) {
	e := storetest.NewEnv(t, h.New(t), storetest.NewClock(), nil)
	r := storetest.Do(t, e.H, "/put?v=cart", "")
	requireEqual(t, http.StatusOK, r.Code)
	anon := r.Token
	requireNotEmpty(t, anon, "Put starts an anonymous session")

	r = storetest.Do(t, e.H, "/login?user=alice&roles=admin", anon)
	requireEqual(t, http.StatusOK, r.Code, r.Body)
	login := r.Token
	assertNotEqual(t, anon, login, "the token changes at login (session fixation)")
	assertEqual(t, "anonymous", e.WhoAmI(t, anon), "the pre-login token is dead")
	assertEqual(t, "alice|admin|pwd|-", e.WhoAmI(t, login))
	assertEqual(t, "cart", storetest.Do(t, e.H, "/get", login).Body, "values survive login")

	r = storetest.Do(t, e.H, "/mfa", login)
	requireEqual(t, http.StatusOK, r.Code, r.Body)
	mfa := r.Token
	assertNotEqual(t, login, mfa, "the token changes at MFA step-up")
	assertEqual(t, "anonymous", e.WhoAmI(t, login), "the pre-MFA token is dead")
	assertEqual(t, "alice|admin|pwd,otp|otp", e.WhoAmI(t, mfa))

	// A forged or unknown token is ignored and its cookie deleted.
	r = storetest.Do(t, e.H, "/whoami", key("Z"))
	assertEqual(t, "anonymous", r.Body)
	requireNotNil(t, r.Cookie)
	assertNegative(t, r.Cookie.MaxAge)
}

// browser drives the flow with a real TLS server and cookie jar.
func browser(t *testing.T, h Backend) {
	e := storetest.NewEnv(t, h.New(t), storetest.NewClock(), nil)
	srv := httptest.NewTLSServer(e.H)
	t.Cleanup(srv.Close)
	jar, err := cookiejar.New(nil)
	requireNoError(t, err)
	c := srv.Client()
	c.Jar = jar
	get := func(path string) string {
		t.Helper()
		res, err := c.Post(srv.URL+path, "", nil)
		requireNoError(t, err)
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		requireNoError(t, err)
		requireEqual(t, http.StatusOK, res.StatusCode, string(b))
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
	assertEqual(t, "anonymous", get("/whoami"))
	assertEmpty(t, jarToken(), "reading creates no session")
	get("/put?v=1")
	t0 := jarToken()
	requireNotEmpty(t, t0)
	get("/login?user=bob")
	t1 := jarToken()
	assertNotEqual(t, t0, t1)
	assertEqual(t, "bob||pwd|-", get("/whoami"))
	assertEqual(t, "1", get("/get"))
	get("/logout")
	assertEmpty(t, jarToken(), "logout deletes the cookie")
	assertEqual(t, "anonymous", get("/whoami"))
}

func idleTimeout(t *testing.T, h Backend) {
	e := storetest.NewEnv(t, h.New(t), storetest.NewClock(), nil)
	tok := e.Login(t, "carol", "")
	for range 5 { // activity every 20 minutes keeps the session alive
		e.Clock.Add(20 * time.Minute)
		requireEqual(t, "carol||pwd|-", e.WhoAmI(t, tok))
	}
	e.Clock.Add(30*time.Minute + time.Second)
	r := storetest.Do(t, e.H, "/whoami", tok)
	assertEqual(t, "anonymous", r.Body, "idle for more than 30 minutes")
	requireNotNil(t, r.Cookie)
	assertNegative(t, r.Cookie.MaxAge, "the cookie is deleted")
	assertEqual(t, "anonymous", e.WhoAmI(t, tok), "and the session is gone from the store")
	storetest.AssertEvent(t, e.Audit, "session.expired", "idle timeout")
}

func absoluteLifetime(t *testing.T, h Backend) {
	e := storetest.NewEnv(t, h.New(t), storetest.NewClock(), nil)
	tok := e.Login(t, "dave", "")
	for range 12*3 - 1 { // active every 20 minutes for 11h40m
		e.Clock.Add(20 * time.Minute)
		requireEqual(t, "dave||pwd|-", e.WhoAmI(t, tok))
	}
	e.Clock.Add(20 * time.Minute) // 12h after login
	assertEqual(t, "anonymous", e.WhoAmI(t, tok), "12 hours after login, however active")
	storetest.AssertEvent(t, e.Audit, "session.expired", "absolute lifetime")
}

func revokeAcross(t *testing.T, h Backend) {
	store := h.New(t)
	clock := storetest.NewClock()
	a := storetest.NewEnv(t, store, clock, nil)
	b := storetest.NewEnv(t, store, clock, nil) // a second instance sharing the store
	t1 := a.Login(t, "erin", "admin")
	t2 := b.Login(t, "erin", "admin")
	t3 := a.Login(t, "erin", "admin")
	r := storetest.Do(t, b.H, "/mfa", t3)
	requireEqual(t, http.StatusOK, r.Code, r.Body)
	t3 = r.Token
	other := b.Login(t, "frank", "")
	for _, tok := range []string{t1, t2, t3} {
		requireContains(t, a.WhoAmI(t, tok), "erin|")
		requireContains(t, b.WhoAmI(t, tok), "erin|")
	}
	list, err := b.M.Sessions(context.Background(), "erin")
	requireNoError(t, err)
	requireLen(t, list, 3)

	requireNoError(t, b.M.RevokeUser(context.Background(), "erin"))
	for _, tok := range []string{t1, t2, t3} {
		assertEqual(t, "anonymous", a.WhoAmI(t, tok), "revoked on the instance that did not revoke")
		assertEqual(t, "anonymous", b.WhoAmI(t, tok))
	}
	assertEqual(t, "frank||pwd|-", a.WhoAmI(t, other), "other users keep their sessions")
	list, err = a.M.Sessions(context.Background(), "erin")
	requireNoError(t, err)
	assertEmpty(t, list)
	storetest.AssertEvent(t, b.Audit, "session.revoke_all", "")

	// A user revoking their own sessions from a request loses that one too.
	t4 := a.Login(t, "frank", "")
	r = storetest.Do(t, a.H, "/revoke-user?user=frank", t4)
	requireEqual(t, http.StatusOK, r.Code, r.Body)
	assertEmpty(t, r.Token, "own cookie deleted")
	assertEqual(t, "anonymous", a.WhoAmI(t, t4))
	assertEqual(t, "anonymous", a.WhoAmI(t, other))
}

func revokeOne(t *testing.T, h Backend) {
	e := storetest.NewEnv(t, h.New(t), storetest.NewClock(), nil)
	t1 := e.Login(t, "gina", "")
	t2 := e.Login(t, "gina", "")
	t3 := e.Login(t, "gina", "")
	mallory := e.Login(t, "mallory", "")

	r := storetest.Do(t, e.H, "/sessions", t1)
	requireEqual(t, http.StatusOK, r.Code, r.Body)
	lines := strings.Split(strings.TrimSpace(r.Body), "\n")
	requireLen(t, lines, 3)
	var mine, others []string
	for _, l := range lines {
		if h, ok := strings.CutSuffix(l, " current"); ok {
			mine = append(mine, h)
		} else {
			others = append(others, l)
		}
		assertNotContains(t, []string{t1, t2, t3}, strings.TrimSuffix(l, " current"), "a handle is never the token")
	}
	requireLen(t, mine, 1)

	list, err := e.M.Sessions(context.Background(), "gina")
	requireNoError(t, err)
	for _, s := range list {
		assertFalse(t, s.Created.IsZero())
		assertFalse(t, s.LastSeen.IsZero())
		assertEqual(t, "192.0.2.1", s.IP.String(), "httptest's client address")
		assertEqual(t, []identity.Method{identity.MethodPassword}, s.Methods)
	}

	// Mallory cannot revoke Gina's session by handle: Revoke is scoped by user.
	r = storetest.Do(t, e.H, "/revoke?user=mallory&h="+others[0], mallory)
	assertEqual(t, http.StatusInternalServerError, r.Code)
	assertContains(t, r.Body, session.ErrUnknownSession.Error())

	r = storetest.Do(t, e.H, "/revoke?user=gina&h="+others[0], t1)
	requireEqual(t, http.StatusOK, r.Code, r.Body)
	alive := 0
	for _, tok := range []string{t2, t3} {
		if e.WhoAmI(t, tok) != "anonymous" {
			alive++
		}
	}
	assertEqual(t, 1, alive, "exactly one other session revoked")
	assertContains(t, e.WhoAmI(t, t1), "gina|")

	// Password change: revoke the others, keep (and renew) this one.
	r = storetest.Do(t, e.H, "/revoke-others", t1)
	requireEqual(t, http.StatusOK, r.Code, r.Body)
	requireNotEqual(t, t1, r.Token, "the current token is renewed")
	assertContains(t, e.WhoAmI(t, r.Token), "gina|")
	assertEqual(t, "anonymous", e.WhoAmI(t, t1))
	assertEqual(t, "anonymous", e.WhoAmI(t, t2))
	assertEqual(t, "anonymous", e.WhoAmI(t, t3))
	assertContains(t, e.WhoAmI(t, mallory), "mallory|")
	list, err = e.M.Sessions(context.Background(), "gina")
	requireNoError(t, err)
	requireLen(t, list, 1)
	assertEqual(t, mine[0], list[0].Handle, "the handle survives token renewal")
}

// sessionCap: a login over Config.MaxSessions signs out the user's least
// recently used sessions, so that the newest are kept, whatever store
// keeps the per-user index; other users are untouched.
func sessionCap(t *testing.T, h Backend) {
	e := storetest.NewEnv(t, h.New(t), storetest.NewClock(), func(c *session.Config) { c.MaxSessions = 3 })
	other := e.Login(t, "olga", "")
	var toks []string
	for range 3 {
		toks = append(toks, e.Login(t, "hana", ""))
		e.Clock.Add(2 * time.Minute)
	}
	// The oldest is used again: it is now the most recently used.
	assertContains(t, e.WhoAmI(t, toks[0]), "hana|")
	e.Clock.Add(2 * time.Minute)

	toks = append(toks, e.Login(t, "hana", "")) // a fourth: the least recently used goes
	assertEqual(t, "anonymous", e.WhoAmI(t, toks[1]), "the least recently used session is signed out")
	for _, i := range []int{0, 2, 3} {
		assertContains(t, e.WhoAmI(t, toks[i]), "hana|", "session", i, "is kept")
	}
	list, err := e.M.Sessions(context.Background(), "hana")
	requireNoError(t, err)
	assertLen(t, list, 3)
	assertContains(t, e.WhoAmI(t, other), "olga|", "another user's session is untouched")

	e.Clock.Add(2 * time.Minute)
	e.Login(t, "hana", "")
	e.Login(t, "hana", "")
	list, err = e.M.Sessions(context.Background(), "hana")
	requireNoError(t, err)
	assertLen(t, list, 3, "never more than MaxSessions")
	evicted := 0
	for _, ev := range e.Audit.Events() {
		if ev.Action == session.ActionEvicted {
			evicted++
			assertEqual(t, "hana", ev.Target.ID)
		}
	}
	assertEqual(t, 3, evicted, "each eviction is audited")
}

func logout(t *testing.T, h Backend) {
	e := storetest.NewEnv(t, h.New(t), storetest.NewClock(), nil)
	tok := e.Login(t, "hank", "")
	r := storetest.Do(t, e.H, "/logout", tok)
	requireEqual(t, http.StatusOK, r.Code)
	requireNotNil(t, r.Cookie)
	assertNegative(t, r.Cookie.MaxAge)
	assertEqual(t, "anonymous", e.WhoAmI(t, tok), "a logged-out token is rejected")
	list, err := e.M.Sessions(context.Background(), "hank")
	requireNoError(t, err)
	assertEmpty(t, list)
	storetest.AssertEvent(t, e.Audit, "session.logout", "")
}

// inFlight revokes a session while a request holding it runs: the request
// must not write the session back, neither by touching it nor by renewing
// its token.
func inFlight(t *testing.T, h Backend) {
	store := h.New(t)
	clock := storetest.NewClock()
	admin := storetest.NewEnv(t, store, clock, nil)
	for _, step := range []string{"put", "mfa"} {
		t.Run(step, func(t *testing.T) {
			var m *session.Manager
			mux := http.NewServeMux()
			mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
				requireNoError(t, admin.M.RevokeUser(context.Background(), "ivan"))
				if step == "put" {
					requireNoError(t, m.Put(r.Context(), "k", "v"))
				} else {
					requireNoError(t, m.MarkMFA(r.Context(), identity.MethodOTP))
				}
				_, _ = w.Write([]byte("done"))
			})
			user := storetest.NewEnv(t, store, clock, nil)
			m = user.M
			tok := user.Login(t, "ivan", "")
			r := storetest.Do(t, m.Handler(mux), "/", tok)
			assertEqual(t, "done", r.Body)
			assertEmpty(t, r.Token, "the cookie is deleted")
			assertEqual(t, "anonymous", user.WhoAmI(t, tok))
			list, err := m.Sessions(context.Background(), "ivan")
			requireNoError(t, err)
			assertEmpty(t, list, "not resurrected")
			storetest.AssertEvent(t, user.Audit, "session.ended_in_flight", "")
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
func challengeRace(t *testing.T, h Backend) {
	const racers = 4
	for _, signedIn := range []bool{false, true} {
		name := "anonymous"
		if signedIn {
			name = "signed in"
		}
		t.Run(name, func(t *testing.T) {
			store := h.New(t)
			clock := storetest.NewClock()
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
				mux.Handle("/", storetest.App(m, clock.Now))
				return m.Handler(mux)
			}
			mod := func(c *session.Config) { c.Keyring = storetest.Keyring }
			a := storetest.NewEnv(t, store, clock, mod)
			b := storetest.NewEnv(t, store, clock, mod) // a second instance
			ha, hb := handler(a.M), handler(b.M)
			tok := ""
			if signedIn {
				tok = a.Login(t, "olga", "admin")
			}
			r := storetest.Do(t, ha, "/begin", tok)
			requireEqual(t, http.StatusOK, r.Code, r.Body)
			tok = r.Token
			requireNotEmpty(t, tok)

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
					req.AddCookie(&http.Cookie{Name: session.DefaultCookieName, Value: tok}) // #nosec G124 -- a request cookie sent by a test client: attributes apply to Set-Cookie only
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
			assertEqual(t, []string{"ceremony"}, taken, "taken exactly once")
			requireLen(t, refused, racers-1)
			for _, err := range refused {
				assertErrorIs(t, err, session.ErrNoChallenge)
			}

			// The same cookie, sent again later to the other instance.
			arrived.Add(1)
			r = storetest.Do(t, hb, "/finish", tok)
			requireEqual(t, http.StatusOK, r.Code, r.Body)
			assertEqual(t, []string{"ceremony"}, taken, "replayed later")
			requireLen(t, refused, racers)
			assertErrorIs(t, refused[racers-1], session.ErrNoChallenge)
			if signedIn {
				// The session lives on, one of it: the losers only lost the
				// challenge.
				for _, tk := range tokens {
					if tk != "" {
						assertEqual(t, "olga|admin|pwd|-", a.WhoAmI(t, tk))
					}
				}
				assertEqual(t, "olga|admin|pwd|-", a.WhoAmI(t, tok), "the session continues")
				list, err := a.M.Sessions(context.Background(), "olga")
				requireNoError(t, err)
				assertLen(t, list, 1, "no copy of the session was written")
			}
		})
	}
}

func atRest(t *testing.T, h Backend, encrypt bool) {
	store := h.New(t)
	e := storetest.NewEnv(t, store, storetest.NewClock(), func(c *session.Config) {
		if encrypt {
			kr, err := secrets.NewKeyring(secrets.Key{ID: "k1", Secret: secrets.Random(32)})
			requireNoError(t, err)
			c.Keyring = kr
		}
	})
	var tokens []string
	tok := e.Login(t, "judy", "admin")
	tokens = append(tokens, tok)
	r := storetest.Do(t, e.H, "/put?v=secret-flash-value", tok)
	requireEqual(t, http.StatusOK, r.Code)
	r = storetest.Do(t, e.H, "/mfa", tok)
	tokens = append(tokens, r.Token)
	anon := storetest.Do(t, e.H, "/put?v=x", "")
	tokens = append(tokens, anon.Token)
	requireEqual(t, "secret-flash-value", storetest.Do(t, e.H, "/get", r.Token).Body)

	dump := h.Dump(t, store)
	requireContains(t, dump, "judy", "the dump must show the store's content")
	for _, tok := range tokens {
		requireNotEmpty(t, tok)
		assertNotContains(t, dump, tok, "raw token at rest")
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		requireNoError(t, err)
		assertNotContains(t, dump, string(raw), "raw token bytes at rest")
		assertNotContains(t, dump, base64.StdEncoding.EncodeToString(raw))
	}
	_, mem := store.(*session.MemoryStore)
	switch {
	case encrypt:
		assertNotContains(t, dump, "secret-flash-value", "values are encrypted")
		assertNotContains(t, dump, "Go-http-client", "metadata is encrypted")
	case mem: // other stores require a storetest.Keyring
		assertContains(t, dump, "secret-flash-value", "without a storetest.Keyring, values are stored in clear")
	}
}

func outage(t *testing.T, h Backend) {
	// Sessions issued while the store worked; then it goes away.
	e := storetest.NewEnv(t, h.New(t), storetest.NewClock(), nil)
	tok := e.Login(t, "kim", "admin")
	down := storetest.NewEnv(t, h.Broken(t), e.Clock, nil)
	called := false
	hh := down.M.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		called = true
		_, _ = w.Write([]byte("should not run"))
	}))
	for _, tc := range []struct{ name, token string }{{"with cookie", tok}, {"fresh", ""}} {
		t.Run(tc.name, func(t *testing.T) {
			called = false
			r := storetest.Do(t, hh, "/", tc.token)
			if tc.token == "" { // nothing to load: the failure shows on save, if any
				assertTrue(t, called)
				return
			}
			assertFalse(t, called, "next must not run")
			assertEqual(t, http.StatusInternalServerError, r.Code)
			assertEqual(t, "Internal Server Error\n", r.Body, "no internals")
			storetest.AssertEvent(t, down.Audit, "session.load", "")
		})
	}
	// Login while the store is down: a 500, not a half-signed-in session.
	r := storetest.Do(t, down.H, "/login?user=kim", tok)
	assertEqual(t, http.StatusInternalServerError, r.Code)
	assertNotContains(t, r.Body, "ok")
	r = storetest.Do(t, down.H, "/login?user=kim", "")
	assertEqual(t, http.StatusInternalServerError, r.Code, "save failure on a new session")
	assertEqual(t, "Internal Server Error\n", r.Body)
	assertEmpty(t, r.Token, "no cookie for an unsaved session")
	storetest.AssertEvent(t, down.Audit, "session.save", "")

	// Anonymous state needs no store; a challenge cannot be claimed.
	r = storetest.Do(t, down.H, "/put?v=1", "")
	assertEqual(t, http.StatusOK, r.Code, r.Body)
	assertEqual(t, "1", storetest.Do(t, down.H, "/get", r.Token).Body)
	r = storetest.Do(t, down.H, "/begin?v=c", "")
	requireEqual(t, http.StatusOK, r.Code, r.Body)
	r = storetest.Do(t, down.H, "/take", r.Token)
	assertEqual(t, http.StatusInternalServerError, r.Code, "fails closed")
	assertNotContains(t, r.Body, "c\n")
}

// claimContract checks Store.Claim: once per key, atomically, and apart
// from sessions.
func claimContract(t *testing.T, s session.Store) {
	ctx := context.Background()
	exp := time.Now().Add(time.Hour)
	claim := func(k string) bool {
		t.Helper()
		ok, err := s.Claim(ctx, k, exp)
		requireNoError(t, err)
		return ok
	}
	assertTrue(t, claim(key("a")))
	assertFalse(t, claim(key("a")), "claimed once only")
	assertTrue(t, claim(key("b")), "keys are independent")

	// Claims and sessions live apart, even under the same key: neither
	// finds, lists, replaces or frees the other.
	_, found, err := s.Find(ctx, key("a"))
	requireNoError(t, err)
	assertFalse(t, found, "a claim is not a session")
	requireNoError(t, s.Delete(ctx, "", key("a")))
	assertFalse(t, claim(key("a")), "deleting a session of the same key does not free a claim")
	c := contract{t: t, s: s, ctx: ctx}
	requireTrue(t, c.save("", session.Record{Key: key("a"), UserID: "cu", Data: []byte("s"), Expiry: exp, AuthAt: time.Now()}))
	assertEqual(t, "s", c.find(key("a")), "a session under a claimed key")
	assertEqual(t, []string{key("a") + "=s"}, c.keys("cu"))
	assertFalse(t, claim(key("a")), "saving a session of the same key does not free a claim")
	c.deleteUser("cu", "", time.Now().Truncate(time.Microsecond))
	assertFalse(t, claim(key("a")), "nor does DeleteUser")
	requireTrue(t, c.save("", session.Record{Key: key("d"), UserID: "cu", Data: []byte("s"), Expiry: exp, AuthAt: time.Now()}))
	assertTrue(t, claim(key("d")), "a session's key is free to claim")
	assertEqual(t, "s", c.find(key("d")), "and the session stays")
	requireNoError(t, s.DeleteUser(ctx, "", "", session.Revocation{At: time.Now(), Until: exp}))
	recs, err := s.List(ctx, "")
	requireNoError(t, err)
	assertEmpty(t, recs)

	// Concurrent claims of one key: exactly one wins.
	const n = 16
	var wins atomic.Int32
	storetest.Race(n, func(int) {
		ok, err := s.Claim(ctx, key("c"), exp)
		if err != nil {
			t.Errorf("claim: %v", err)
		}
		if ok {
			wins.Add(1)
		}
	})
	assertEqual(t, int32(1), wins.Load())
}

// anonymousWritesNothing sends the requests of visitors who are not
// signed in, each of which used to leave a session record: a flash, a
// logout without a session, a ceremony begun; the store must be as before.
// The state travels in the cookie and another instance reads it.
func anonymousWritesNothing(t *testing.T, h Backend) {
	store := h.New(t)
	clock := storetest.NewClock()
	mod := func(c *session.Config) { c.Keyring = storetest.Keyring }
	a := storetest.NewEnv(t, store, clock, mod)
	b := storetest.NewEnv(t, store, clock, mod)
	before := h.Dump(t, store)
	for i := range 20 {
		r := storetest.Do(t, a.H, "/put?v=flash-"+strconv.Itoa(i), "")
		requireEqual(t, http.StatusOK, r.Code, r.Body)
		requireNotEmpty(t, r.Token)
		assertEqual(t, "flash-"+strconv.Itoa(i), storetest.Do(t, b.H, "/get", r.Token).Body, "the other instance reads it")
		assertEqual(t, "anonymous", b.WhoAmI(t, r.Token))
		r = storetest.Do(t, a.H, "/logout", "")
		requireEqual(t, http.StatusOK, r.Code, r.Body)
		r = storetest.Do(t, a.H, "/begin?v=ceremony", "")
		requireEqual(t, http.StatusOK, r.Code, r.Body)
		requireNotEmpty(t, r.Token)
		assertNotContains(t, r.Token, "ceremony")
	}
	assertEqual(t, before, h.Dump(t, store), "anonymous requests wrote to the store")

	// Sealed state expires, and is not accepted under another keyring.
	r := storetest.Do(t, a.H, "/put?v=late", "")
	other := storetest.NewEnv(t, store, clock, func(c *session.Config) {
		kr, err := secrets.NewKeyring(secrets.Key{ID: "other", Secret: secrets.Random(32)})
		requireNoError(t, err)
		c.Keyring = kr
	})
	got := storetest.Do(t, other.H, "/get", r.Token)
	assertEmpty(t, got.Body, "another keyring cannot open it")
	assertEmpty(t, got.Token, "and deletes the cookie")
	clock.Add(session.ChallengeTTL + time.Second)
	got = storetest.Do(t, b.H, "/get", r.Token)
	assertEmpty(t, got.Body, "expired")
	assertEmpty(t, got.Token)
}
