package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/auth"
	"github.com/deployedworks/rampart/auth/password"
	"github.com/deployedworks/rampart/internal/testenv"
	"github.com/deployedworks/rampart/ratelimit"
	"github.com/deployedworks/rampart/secrets"
)

// routeHits collects the route patterns served by every test app, for
// TestMain's check that every route has a test.
var (
	routeHits   sync.Map // pattern → true
	routeListMu sync.Mutex
	routeList   []string
)

// TestMain runs the tests and then, when the whole suite ran (no -run or
// -skip filter, not -short), fails if a route was never requested by any
// test.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 && flagEmpty("test.run") && flagEmpty("test.skip") && !testing.Short() {
		routeListMu.Lock()
		var missing []string
		for _, p := range routeList {
			if _, ok := routeHits.Load(p); !ok {
				missing = append(missing, p)
			}
		}
		routeListMu.Unlock()
		if len(missing) > 0 {
			sort.Strings(missing)
			fmt.Fprintf(os.Stderr, "FAIL: routes no test requested (add them to TestRoutes_AccessMatrix): %s\n", strings.Join(slices.Compact(missing), ", "))
			code = 1
		}
	}
	os.Exit(code)
}

// flagEmpty reports whether the named test flag exists and is unset.
func flagEmpty(name string) bool {
	f := flag.Lookup(name)
	return f != nil && f.Value.String() == ""
}

// syncBuffer is a log destination safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// noEnv is a secrets source with nothing set: development mode generates.
var noEnv = secrets.Env{LookupEnv: func(string) (string, bool) { return "", false }}

// cheapHashing makes Argon2id fast for tests.
var cheapHashing = &password.HasherConfig{Params: password.Params{Memory: 64, Time: 1, Threads: 1}, AllowWeakParams: true}

// testApp is the whole app behind an httptest server on
// http://localhost:PORT, with a test clock. Browser tests can use it too:
// open URL in Chromium.
type testApp struct {
	*App
	t     testing.TB
	URL   string
	Clock *testenv.Clock // of sessions, MFA and rate limits; starts at the real time, which the session stores expire records by
	Logs  *syncBuffer
	srv   *httptest.Server
}

// testConfig returns the Config a test app starts from: development mode,
// data in a temp dir, cheap hashing, the test clock, and a route limit
// high enough not to get in the way.
func testConfig(t testing.TB, publicURL string, clock *testenv.Clock, logs io.Writer) Config {
	return Config{
		PublicURL:         publicURL,
		DataDir:           t.TempDir(),
		Secrets:           noEnv,
		Logger:            slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Console:           logs,
		Now:               clock.Now,
		PasswordHashing:   cheapHashing,
		DisableSetupToken: true,
		Limits: Limits{ // generous: the rate-limit tests set tight ones
			Signup: lots, LoginIP: lots, Report: lots, Write: lots, Setup: lots, PerRoute: lots,
			AccountPerAddress: lots, AccountPerMailbox: lots,
		},
		// Generous too: a login at the default Argon2id cost (create-admin's
		// hashes) can take many seconds under -race on a loaded machine. The
		// outage tests set a short one.
		RequestTimeout: maxRequestTimeout,
		// A healthy Redis under -race on a loaded machine can take longer
		// than the 250 ms default (TestMultiInstance got 503s): the fault
		// tests bound calls by their short RequestTimeout instead.
		RedisTimeout: maxRequestTimeout,
	}
}

// lots is a limit tests do not reach.
var lots = ratelimit.Limit{Events: 1_000_000, Per: time.Second}

// newTestApp builds and serves the app; opts adjust the Config.
func newTestApp(t testing.TB, opts ...func(*Config)) *testApp {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	ta := &testApp{t: t, URL: fmt.Sprintf("http://localhost:%d", port), Clock: testenv.NewClock(time.Now()), Logs: &syncBuffer{}, srv: srv}
	cfg := testConfig(t, ta.URL, ta.Clock, ta.Logs)
	for _, o := range opts {
		o(&cfg)
	}
	app, err := New(context.Background(), cfg)
	require.NoError(t, err, "logs: %s", ta.Logs)
	ta.App = app
	routeListMu.Lock()
	routeList = append(routeList, app.routes...)
	routeListMu.Unlock()
	app.observe = func(p string) { routeHits.Store(p, true) }
	srv.Config.Handler = app.Handler()
	srv.Start()
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, app.Close(ctx))
		if t.Failed() {
			t.Logf("app logs:\n%s", ta.Logs)
		}
	})
	return ta
}

// client is a browser: a cookie jar and no automatic redirects.
type client struct {
	t    testing.TB
	base string
	hc   *http.Client
}

func (ta *testApp) client() *client {
	jar, err := cookiejar.New(nil)
	require.NoError(ta.t, err)
	return &client{t: ta.t, base: ta.URL, hc: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// resp is a response with its body read.
type resp struct {
	Status   int
	Body     string
	Header   http.Header
	Location string
}

func (c *client) do(req *http.Request) resp {
	c.t.Helper()
	if req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", "text/html,application/xhtml+xml")
	}
	res, err := c.hc.Do(req)
	require.NoError(c.t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(c.t, err)
	return resp{Status: res.StatusCode, Body: string(b), Header: res.Header, Location: res.Header.Get("Location")}
}

func (c *client) get(path string) resp {
	c.t.Helper()
	req, err := http.NewRequest(http.MethodGet, c.base+path, nil)
	require.NoError(c.t, err)
	return c.do(req)
}

func (c *client) post(path string, form url.Values) resp {
	c.t.Helper()
	req, err := http.NewRequest(http.MethodPost, c.base+path, strings.NewReader(form.Encode()))
	require.NoError(c.t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return c.do(req)
}

// postJSON posts a JSON body as webauthn.js does.
func (c *client) postJSON(path, body string) resp {
	c.t.Helper()
	req, err := http.NewRequest(http.MethodPost, c.base+path, strings.NewReader(body))
	require.NoError(c.t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	return c.do(req)
}

// follow GETs the Location of r.
func (c *client) follow(r resp) resp {
	c.t.Helper()
	require.NotEmpty(c.t, r.Location, "expected a redirect, got %d: %s", r.Status, r.Body)
	u, err := url.Parse(r.Location)
	require.NoError(c.t, err)
	return c.get(u.RequestURI())
}

// A password that passes the policy.
const goodPassword = "violet harbour quartz lantern 92"

// createUser makes an account directly in the store.
func (ta *testApp) createUser(email, name string, roles ...string) user {
	ta.t.Helper()
	u := ta.createUnconfirmedUser(email, name, roles...)
	require.NoError(ta.t, authUsers{ta.db}.SetEmailVerified(context.Background(), u.ID, u.Email))
	u.EmailVerified = true
	return u
}

// createUnconfirmedUser creates a user whose address was never confirmed,
// as sign-up does: such a user signs in, but cannot add a second factor.
func (ta *testApp) createUnconfirmedUser(email, name string, roles ...string) user {
	ta.t.Helper()
	hash, err := ta.authn.HashNewPassword(context.Background(), auth.User{Login: email, Email: email}, goodPassword)
	require.NoError(ta.t, err)
	u, err := ta.db.createUser(context.Background(), user{Email: email, DisplayName: name, Hash: hash, Roles: roles})
	require.NoError(ta.t, err)
	return u
}

// login signs a new browser in with the password and follows nothing.
func (ta *testApp) login(email string) (*client, resp) {
	ta.t.Helper()
	c := ta.client()
	r := c.post("/login", url.Values{"email": {email}, "password": {goodPassword}})
	require.Equal(ta.t, http.StatusSeeOther, r.Status, r.Body)
	return c, r
}

// userClient creates a user and returns their signed-in browser.
func (ta *testApp) userClient(email, name string, roles ...string) (*client, user) {
	ta.t.Helper()
	u := ta.createUser(email, name, roles...)
	c, _ := ta.login(email)
	return c, u
}

var secretRE = regexp.MustCompile(`id="totp-secret">([A-Z2-7 ]+)<`)

// enrolTOTP sets up an authenticator app for the signed-in client and
// returns the secret; the session is then MFA-verified.
func (ta *testApp) enrolTOTP(c *client) string {
	ta.t.Helper()
	r := c.post("/account/mfa/totp", url.Values{})
	require.Equal(ta.t, http.StatusOK, r.Status, r.Body)
	m := secretRE.FindStringSubmatch(r.Body)
	require.Len(ta.t, m, 2, r.Body)
	secret := strings.ReplaceAll(m[1], " ", "")
	r = c.post("/account/mfa/totp/confirm", url.Values{"code": {ta.code(secret)}})
	require.Contains(ta.t, []int{http.StatusOK, http.StatusSeeOther}, r.Status, r.Body)
	return secret
}

// code returns the TOTP code for secret at the test clock's time.
func (ta *testApp) code(secret string) string {
	ta.t.Helper()
	code, err := totp.GenerateCodeCustom(secret, ta.Clock.Now(), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	require.NoError(ta.t, err)
	return code
}

// nextCode moves the clock to the next time step and returns its code,
// since each step is accepted once.
func (ta *testApp) nextCode(secret string) string {
	ta.Clock.Add(30 * time.Second)
	return ta.code(secret)
}

// adminClient creates an administrator, signs them in and enrols TOTP.
func (ta *testApp) adminClient(email string) (*client, user, string) {
	ta.t.Helper()
	c, u := ta.userClient(email, "Admin "+email, roleAdmin)
	secret := ta.enrolTOTP(c)
	return c, u, secret
}

// verifyTOTP passes the MFA challenge with the next code.
func (ta *testApp) verifyTOTP(c *client, secret string) resp {
	ta.t.Helper()
	r := c.post("/mfa/totp", url.Values{"code": {ta.nextCode(secret)}, "next": {"/account"}})
	require.Equal(ta.t, http.StatusSeeOther, r.Status, r.Body)
	return r
}

// count runs a COUNT(*) query.
func (ta *testApp) count(query string, args ...any) int {
	ta.t.Helper()
	var n int
	require.NoError(ta.t, ta.db.queryRow(context.Background(), query, args...).Scan(&n))
	return n
}
