package main

import (
	"context"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/audit/sqlsink"
	"github.com/deployedworks/rampart/internal/testenv"
	"github.com/deployedworks/rampart/mfa"
	"github.com/deployedworks/rampart/notify"
	"github.com/deployedworks/rampart/ratelimit"
	"github.com/deployedworks/rampart/secrets"
	"github.com/deployedworks/rampart/sqldb"
)

// sharedBackends returns a DATABASE_URL for a fresh PostgreSQL schema and a
// REDIS_URL with a fresh key prefix, both removed when the test ends, so
// that reruns start clean. It skips without PostgreSQL or Redis (and fails
// under RAMPART_REQUIRE_INTEGRATION=1).
func sharedBackends(t testing.TB) (databaseURL, redisURL, redisPrefix string) {
	t.Helper()
	dsn := testenv.PostgresDSN(t)
	addr := testenv.RedisAddr(t)
	suffix := hex.EncodeToString(secrets.Random(6).Reveal())

	schema := "mkt_test_" + suffix
	admin, err := sql.Open("pgx", dsn)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = admin.ExecContext(ctx, "CREATE SCHEMA "+schema)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := admin.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE")
		assert.NoError(t, err)
		assert.NoError(t, admin.Close())
	})
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	q := u.Query()
	q.Set("search_path", schema) // pgx passes it as a run-time parameter
	u.RawQuery = q.Encode()

	redisPrefix = "mkt-test-" + suffix + ":"
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		iter := rdb.Scan(ctx, 0, redisPrefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			assert.NoError(t, rdb.Del(ctx, iter.Val()).Err())
		}
		assert.NoError(t, iter.Err())
		assert.NoError(t, rdb.Close())
	})
	return u.String(), "redis://" + addr + "/0", redisPrefix
}

// newInstances starts n instances of the app at once (as a deployment
// does, so that they race for the migrations), each on its own port and
// data directory, sharing one PostgreSQL schema, one Redis prefix and the
// same secrets.
func newInstances(t *testing.T, n int, opts ...func(*Config)) []*testApp {
	t.Helper()
	dbURL, redisURL, prefix := sharedBackends(t)
	env := prodEnv(t)       // the same secrets everywhere: one site
	delete(env, envSMTPURL) // development mode: mail goes to the console
	tas := make([]*testApp, n)
	cfgs := make([]Config, n)
	for i := range tas {
		srv := httptest.NewUnstartedServer(nil)
		port := srv.Listener.Addr().(*net.TCPAddr).Port
		tas[i] = &testApp{t: t, URL: fmt.Sprintf("http://localhost:%d", port), Clock: testenv.NewClock(time.Now()), Logs: &syncBuffer{}, srv: srv}
		cfgs[i] = testConfig(t, tas[i].URL, tas[i].Clock, tas[i].Logs)
		cfgs[i].DatabaseURL, cfgs[i].RedisURL, cfgs[i].RedisPrefix = dbURL, redisURL, prefix
		cfgs[i].Secrets = secrets.Env{LookupEnv: mapEnv(env)}
		for _, o := range opts {
			o(&cfgs[i])
		}
	}
	apps := make([]*App, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range tas {
		wg.Go(func() { apps[i], errs[i] = New(context.Background(), cfgs[i]) })
	}
	wg.Wait()
	for i, ta := range tas {
		require.NoError(t, errs[i], "instance %d: %s", i, ta.Logs)
		ta.App = apps[i]
		routeListMu.Lock()
		routeList = append(routeList, ta.routes...)
		routeListMu.Unlock()
		ta.observe = func(p string) { routeHits.Store(p, true) }
		ta.srv.Config.Handler = ta.Handler()
		ta.srv.Start()
		t.Cleanup(func() {
			ta.srv.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			assert.NoError(t, ta.Close(ctx))
			if t.Failed() {
				t.Logf("instance %d logs:\n%s", i, ta.Logs)
			}
		})
	}
	return tas
}

// on returns a browser with the same cookie jar as c, talking to ta: the
// load balancer sent the next request to another instance. (Cookies are
// not bound to a port, so both instances see the same cookies.)
func (c *client) on(ta *testApp) *client {
	return &client{t: c.t, base: ta.URL, hc: c.hc}
}

// copyOf returns a browser with its own jar holding c's cookies for ta: a
// second device, or a stolen cookie.
func (c *client) copyOf(ta *testApp) *client {
	jar, err := cookiejar.New(nil)
	require.NoError(c.t, err)
	u, err := url.Parse(ta.URL)
	require.NoError(c.t, err)
	jar.SetCookies(u, c.hc.Jar.Cookies(u))
	return &client{t: c.t, base: ta.URL, hc: &http.Client{Jar: jar, Timeout: c.hc.Timeout, CheckRedirect: c.hc.CheckRedirect}}
}

// TestMultiInstance runs two instances against one PostgreSQL and one
// Redis, as behind a load balancer, and checks that they behave as one
// site: sessions, sign-outs, rate limits and the audit log are shared.
func TestMultiInstance(t *testing.T) {
	t.Parallel()
	signupLimit := ratelimit.Limit{Events: 4, Per: time.Hour, Burst: 4}
	tas := newInstances(t, 2, func(c *Config) { c.Limits.Signup = signupLimit })
	a, b := tas[0], tas[1]
	require.Equal(t, dialectPostgres, a.db.dialect)
	require.NotNil(t, a.rdb)
	for _, ta := range tas {
		assert.NotContains(t, ta.Logs.String(), "shared DATABASE_URL/REDIS_URL", "every secret comes from the environment")
	}

	// The sign-up limit (4 an hour per address) is one budget: sign-ups
	// alternate between the instances, and the fifth is refused even on
	// the instance that has seen only two. Per-instance limits would let
	// it through.
	users := map[string]string{} // e-mail → instance that created it
	var browsers []*client
	for i, ta := range []*testApp{a, b, a, b} {
		email := fmt.Sprintf("user%d@example.com", i)
		c := ta.client()
		ta.signUp(c, email, fmt.Sprintf("User %d", i), a, b) // either instance may send the mail
		users[email] = ta.URL
		browsers = append(browsers, c)
	}
	r := a.client().post("/signup", signupForm("user4@example.com", "User 4", goodPassword, goodPassword))
	assert.Equal(t, http.StatusTooManyRequests, r.Status, "the limit is shared through Redis")
	r = b.client().post("/signup", signupForm("user5@example.com", "User 5", goodPassword, goodPassword))
	assert.Equal(t, http.StatusTooManyRequests, r.Status)

	// A session made on A is valid on B, and the other way round.
	alice := browsers[0] // signed up on A
	r = alice.on(b).get("/account")
	require.Equal(t, http.StatusOK, r.Status, "signed in on B with A's session")
	assert.Contains(t, r.Body, "user0@example.com")
	bob := browsers[1] // signed up on B
	r = bob.on(a).get("/account")
	require.Equal(t, http.StatusOK, r.Status)
	assert.Contains(t, r.Body, "user1@example.com")

	// Logging out on B ends the session everywhere: a copy of the cookie
	// (another tab, or a thief) is refused by A.
	aliceCopy := alice.copyOf(a)
	require.Equal(t, http.StatusOK, aliceCopy.get("/account").Status)
	r = alice.on(b).post("/logout", nil)
	require.Equal(t, http.StatusSeeOther, r.Status, r.Body)
	r = aliceCopy.get("/account")
	assert.Equal(t, http.StatusSeeOther, r.Status, "the session revoked on B is gone on A")
	assert.Contains(t, r.Location, "/login")

	// "Log out everywhere" on A ends Bob's session on his other device,
	// which talks to B.
	bobPhone, _ := b.login("user1@example.com")
	require.Equal(t, http.StatusOK, bobPhone.get("/account").Status)
	r = bob.on(a).post("/logout/everywhere", nil)
	require.Equal(t, http.StatusSeeOther, r.Status, r.Body)
	assert.Equal(t, http.StatusSeeOther, bobPhone.get("/account").Status, "revoked on A, refused by B")
	assert.Equal(t, http.StatusSeeOther, bobPhone.on(a).get("/account").Status)

	// The audit log is one table: an administrator on B reads what A
	// wrote. Closing A flushes its audit queue (it is asynchronous).
	require.NoError(t, a.Close(context.Background()))
	admin, _, _ := b.adminClient("admin@example.com")
	for _, email := range []string{"user0@example.com", "user2@example.com"} { // signed up on A
		require.Equal(t, a.URL, users[email])
		u, err := b.db.userByEmail(context.Background(), email)
		require.NoError(t, err)
		r = admin.get("/admin/audit?action=account.created&target=" + u.ID)
		require.Equal(t, http.StatusOK, r.Status, r.Body)
		assert.Contains(t, r.Body, `<p id="audit-total">1 matching events.</p>`, "B's admin page shows A's event for %s", email)
	}

	// Closing B too: the table holds both instances' sign-ups and the
	// sign-outs each one did.
	require.NoError(t, b.Close(context.Background()))
	st, err := openStore(context.Background(), "", b.cfg.DatabaseURL, time.Now)
	require.NoError(t, err)
	defer st.Close()
	sink, err := sqlsink.New(st.db, sqldb.PostgreSQL, sqlsink.Config{})
	require.NoError(t, err)
	page, err := sink.Query(context.Background(), sqlsink.Query{Limit: 1000})
	require.NoError(t, err)
	byAction := map[string]int{}
	for _, rec := range page.Records {
		byAction[string(rec.Event.Action)]++
	}
	assert.Equal(t, 4, byAction["account.created"], "A's and B's sign-ups: %v", byAction)
	assert.Equal(t, 2, byAction["ratelimit.exceeded"], "one refusal on each")
	assert.Equal(t, 1, byAction["session.logout"], "on B")
	assert.Equal(t, 1, byAction["session.revoke_all"], "on A")
}

// TestMultiInstance_DevSecretsWarning: an instance on shared backends
// whose secrets come from its own data directory says that the other
// instances will not share them.
func TestMultiInstance_DevSecretsWarning(t *testing.T) {
	t.Parallel()
	addr := testenv.RedisAddr(t)
	prefix := "mkt-test-" + hex.EncodeToString(secrets.Random(6).Reveal()) + ":"
	env := prodEnv(t)
	delete(env, envPepper)
	ta := newTestApp(t, func(c *Config) {
		c.RedisURL, c.RedisPrefix = "redis://"+addr+"/0", prefix
		c.Secrets = secrets.Env{LookupEnv: mapEnv(env)}
	})
	assert.Contains(t, ta.Logs.String(), "shared DATABASE_URL/REDIS_URL")
	assert.Contains(t, ta.Logs.String(), "from_data_dir="+envPepper)
	assert.Equal(t, []string{envPepper}, ta.keys.FromDataDir)

	// With every secret from the environment there is nothing to say.
	ta = newTestApp(t, func(c *Config) {
		c.RedisURL, c.RedisPrefix = "redis://"+addr+"/0", prefix
		c.Secrets = secrets.Env{LookupEnv: mapEnv(prodEnv(t))}
	})
	assert.NotContains(t, ta.Logs.String(), "shared DATABASE_URL/REDIS_URL")
	assert.Empty(t, ta.keys.FromDataDir)
}

// TestMultiInstance_MailOnce: two instances deliver one outbox: a notice
// (a second factor set up on A) and a reset link (asked on B) each reach
// the user once, whichever instance sends them.
func TestMultiInstance_MailOnce(t *testing.T) {
	tas := newInstances(t, 2)
	a, b := tas[0], tas[1]
	email := "mail-once-" + newID()[:8] + "@example.com"
	c, _ := a.userClient(email, "Once")
	a.enrolTOTP(c)
	mailToAny(t, tas, email, string(mfa.ActionTOTPConfirm))
	r := b.client().post("/forgot", url.Values{"email": {email}})
	require.Equal(t, http.StatusOK, r.Status, r.Body)
	mailToAny(t, tas, email, "password_reset")

	// A marker queued on each instance after those: once both are
	// delivered, so is anything queued before them.
	ctx := context.Background()
	for i, ta := range tas {
		require.NoError(t, ta.outbox.Enqueue(ctx, notify.Message{Key: fmt.Sprint("marker:", email, i), To: email, Kind: fmt.Sprint("marker", i), Subject: "m", Text: "m"}))
	}
	mailToAny(t, tas, email, "marker0")
	mailToAny(t, tas, email, "marker1")
	kinds := map[string]int{}
	for _, ta := range tas {
		for _, m := range ta.devMail.sent(email) {
			kinds[m.Kind]++
		}
	}
	assert.Equal(t, 1, kinds[string(mfa.ActionTOTPConfirm)], "%v", kinds)
	assert.Equal(t, 1, kinds["password_reset"], "%v", kinds)
}
