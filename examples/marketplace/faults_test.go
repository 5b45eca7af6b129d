package main

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/audit/chain"
	"github.com/deployedworks/rampart/internal/testenv"
)

// Fault injection (issue 15 point 1): PostgreSQL and Redis sit behind
// proxies the tests fault mid-traffic (testenv.Proxy: drop, hang, reset,
// slow; HangRepliesAfter loses the answer to a COMMIT), while workers send
// requests. See the library's fault tests for the same faults one package
// at a time (audit/sqlsink, ratelimit/redisstore, session/redisstore).

// faultTimeout is the request deadline of the fault tests: short, so that
// the hung requests end quickly.
const faultTimeout = 500 * time.Millisecond

// faultMargin bounds how much longer than its deadline a request may take
// to end (writing the error page, a loaded machine under -race). The wait
// is derived from the deadline: a request that waited for a hung
// dependency instead would take the HTTP client's 30 s.
const faultMargin = 5 * time.Second

// faultApp serves the app on the shared test PostgreSQL (and, unless
// sessionsInPG, Redis, which then holds sessions and rate limits), each
// behind a proxy.
func faultApp(t *testing.T, sessionsInPG bool) (ta *testApp, pg, rd *testenv.Proxy) {
	t.Helper()
	dbURL, redisURL, prefix := sharedBackends(t)
	pgURL, pg := proxied(t, dbURL)
	rdURL, rd := proxied(t, redisURL)
	ta = newTestApp(t, func(c *Config) {
		c.DatabaseURL, c.RedisURL, c.RedisPrefix = pgURL, rdURL, prefix
		if sessionsInPG {
			c.RedisURL = ""
		}
		c.RequestTimeout = faultTimeout
	})
	t.Cleanup(func() { pg.Recover(); rd.Recover() }) // before the app closes
	return ta, pg, rd
}

// timed sends a request, asserting it ended within the deadline, and
// returns its response (Status 0 if the client failed, which it asserts).
func timed(t *testing.T, c *client, method, path string, form url.Values, hdr ...string) resp {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, c.base+path, body)
	if !assert.NoError(t, err) {
		return resp{}
	}
	req.Header.Set("Accept", "text/html")
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	start := time.Now()
	res, err := c.hc.Do(req)
	took := time.Since(start)
	assert.Less(t, took, faultTimeout+faultMargin, "%s %s ended within its deadline", method, path)
	if !assert.NoError(t, err) {
		return resp{}
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	assert.NoError(t, err)
	return resp{Status: res.StatusCode, Body: string(b), Header: res.Header, Location: res.Header.Get("Location")}
}

// signIn signs a new browser in as email, retrying while the app answers
// 503 (a request that ran out of time on a loaded machine).
func signIn(t *testing.T, ta *testApp, email string) *client {
	t.Helper()
	var c *client
	require.Eventually(t, func() bool {
		c = ta.client()
		return timed(t, c, http.MethodPost, "/login", url.Values{"email": {email}, "password": {goodPassword}}).Status == http.StatusSeeOther
	}, 30*time.Second, 10*time.Millisecond, "%s signs in", email)
	return c
}

// TestFaults_SessionsFailClosed faults the session store, in Redis and in
// PostgreSQL, while a signed-in user's requests run: no request is served
// as the user unless their session was loaded; one that cannot load it is
// answered 503 (try again), and one whose later reads fail 500, both with
// no details; every request
// ends within its deadline; after recovery the same instance serves the
// same session and signs users in again.
func TestFaults_SessionsFailClosed(t *testing.T) {
	t.Parallel()
	for _, store := range []string{"redis", "postgres"} {
		t.Run(store, func(t *testing.T) {
			ta, pg, rd := faultApp(t, store == "postgres")
			p := rd
			if store == "postgres" {
				p = pg
			}
			ta.createUser("sam@example.com", "Sam Seller")
			c := signIn(t, ta, "sam@example.com")

			for _, f := range testenv.Faults() {
				t.Run(f.Name, func(t *testing.T) {
					var mu sync.Mutex
					statuses := map[int]int{}
					testenv.DuringTraffic(4, 2, func() { f.Inject(p) }, func(_ int, faulted bool) {
						r := timed(t, c, http.MethodGet, "/account", nil)
						mu.Lock()
						defer mu.Unlock()
						statuses[r.Status]++
						switch r.Status {
						case http.StatusOK:
							assert.Contains(t, r.Body, "Sam Seller")
							assert.False(t, faulted && f.Fails, "served as the user while the session store was down")
						case http.StatusServiceUnavailable, http.StatusInternalServerError:
							// 503 when the session could not be loaded or the
							// deadline ended; 500 when a later read failed
							// (a reset connection). Neither says why.
							assertNoOutageDetails(t, r, pg.Addr(), rd.Addr())
						default:
							t.Errorf("status %d (want 200 as the user, 503 or 500): %.300s", r.Status, pageText(r.Body))
						}
					})
					t.Logf("statuses: %v", statuses)
					p.Recover()
					require.Eventually(t, func() bool { return timed(t, c, http.MethodGet, "/account", nil).Status == http.StatusOK }, 30*time.Second, 10*time.Millisecond,
						"the same session is served again, without a restart")
					other := signIn(t, ta, "sam@example.com") // signs in again
					// Retried: on a loaded machine a healthy request can also
					// outlast the short deadline (a 503, which the deadline is for).
					assert.Eventually(t, func() bool {
						r := timed(t, other, http.MethodGet, "/account", nil)
						return r.Status == http.StatusOK && strings.Contains(r.Body, "Sam Seller")
					}, 30*time.Second, 10*time.Millisecond, "the new session is served")
				})
			}
		})
	}
}

// TestFaults_RateLimitsFailClosed faults Redis, which holds the rate
// limits, while anonymous clients browse, sign in and sign up. The app
// builds every limit fail-closed (redisstore's default; the login throttle
// fails closed whatever its store): while Redis is down each limited route
// answers 503 and serves nothing, within its deadline; after recovery the
// same instance serves again.
func TestFaults_RateLimitsFailClosed(t *testing.T) {
	t.Parallel()
	ta, pg, rd := faultApp(t, false)
	ta.createUser("sam@example.com", "Sam Seller")
	anon := ta.client()
	requests := []func() resp{
		func() resp { return timed(t, anon, http.MethodGet, "/", nil) },         // the per-route limit
		func() resp { return timed(t, anon, http.MethodGet, "/listings", nil) }, // the per-route limit
		func() resp { // the login limit and throttle
			return timed(t, ta.client(), http.MethodPost, "/login", url.Values{"email": {"sam@example.com"}, "password": {goodPassword}})
		},
		func() resp { // the sign-up limit
			return timed(t, ta.client(), http.MethodPost, "/signup", url.Values{"email": {"new@example.com"}, "name": {"New"}, "password": {goodPassword}})
		},
	}
	for _, f := range testenv.Faults() {
		if !f.Fails {
			continue
		}
		t.Run(f.Name, func(t *testing.T) {
			testenv.DuringTraffic(len(requests), 2, func() { f.Inject(rd) }, func(w int, faulted bool) {
				r := requests[w]()
				if !faulted {
					return
				}
				if assert.Equal(t, http.StatusServiceUnavailable, r.Status, "fail closed: %s", r.Body) {
					assert.Contains(t, r.Body, "cannot take this request right now")
					assertNoOutageDetails(t, r, pg.Addr(), rd.Addr())
				}
			})
			rd.Recover()
			require.Eventually(t, func() bool { return timed(t, anon, http.MethodGet, "/", nil).Status == http.StatusOK }, 30*time.Second, 10*time.Millisecond)
			signIn(t, ta, "sam@example.com")
		})
	}
}

// TestFaults_AuditDeliveredOnce faults PostgreSQL, which holds the audit
// table, while requests and the app log audit events; one fault loses the
// answer to a COMMIT that committed. After recovery the table holds every
// event of the chained file exactly once (counted), and the chain
// verifies.
func TestFaults_AuditDeliveredOnce(t *testing.T) {
	t.Parallel()
	ta, pg, _ := faultApp(t, false)
	anon := ta.client()
	fileQ, sqlQ := ta.auditQueues[0], ta.auditQueues[1]
	drained := func() bool {
		f, s := fileQ.Stats(), sqlQ.Stats()
		return f.Queued == 0 && s.Queued == 0 && f.Written == s.Written
	}
	assertOnce := func(t *testing.T) {
		t.Helper()
		require.Eventually(t, drained, 30*time.Second, time.Millisecond, "file %+v, table %+v", fileQ.Stats(), sqlQ.Stats())
		rep, err := chain.Verify(context.Background(), os.DirFS(ta.auditDir), ta.keys.AuditKey.Reveal(), chain.VerifyConfig{})
		require.NoError(t, err, "the chain verifies")
		rows := ta.count("SELECT COUNT(*) FROM audit_events")
		assert.Equal(t, int(rep.Events), rows, "every event of the chain in the table, once")
		assert.Equal(t, int(sqlQ.Stats().Written), rows)
	}
	// Each call logs events without the database: a cross-origin POST is
	// refused and audited (paced: what the Logger lets through reaches
	// both sinks alike), and an event logged directly.
	traffic := func(w int, _ bool) {
		r := timed(t, anon, http.MethodPost, "/login", url.Values{"email": {"x@example.com"}}, "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site")
		assert.Equal(t, http.StatusForbidden, r.Status)
		ta.audit.Log(context.Background(), auditTestEvent(w))
	}
	assertOnce(t)
	for _, f := range append(testenv.Faults(), testenv.Fault{Name: "commit answer lost", Inject: func(p *testenv.Proxy) { p.HangRepliesAfter("commit") }}) {
		t.Run(f.Name, func(t *testing.T) {
			testenv.DuringTraffic(4, 3, func() { f.Inject(pg) }, traffic)
			if f.Name == "commit answer lost" {
				pg.Reset() // the sink reads a reset instead of the answer
			}
			pg.Recover()
			assertOnce(t)
		})
	}
}

// TestFaults_AuditDiskFull fills the file system of the audit chain (a
// 1 MiB tmpfs) while events are logged: the failure is surfaced (/healthz
// 503, the log names ENOSPC), the events wait in the queue, nothing is
// lost; once space is freed they are written, the chain verifies and
// /healthz is 200 again, with no restart. It needs root to mount the
// tmpfs (as in CI's container); without it, it skips saying so.
func TestFaults_AuditDiskFull(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	auditDir := filepath.Join(dataDir, "audit")
	require.NoError(t, os.MkdirAll(auditDir, 0o700))
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", auditDir).CombinedOutput(); err != nil {
		needsMount(t, "cannot mount a tmpfs to fill (needs root)", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", auditDir).Run() })
	ta := newTestApp(t, func(c *Config) { c.DataDir = dataDir })
	anon := ta.client()
	require.Equal(t, http.StatusOK, anon.get("/healthz").Status)

	// Fill the file system.
	filler, err := os.Create(filepath.Join(auditDir, "filler"))
	require.NoError(t, err)
	_, err = filler.Write(make([]byte, 2<<20))
	require.ErrorContains(t, err, "no space left on device")
	require.NoError(t, filler.Close())

	fileQ := ta.auditQueues[0]
	before := fileQ.Stats().Written
	const n = 200 // more than the room left in the chain file's last page
	for i := range n {
		ta.audit.Log(context.Background(), auditTestEvent(i))
	}
	require.Eventually(t, func() bool { return anon.get("/healthz").Status == http.StatusServiceUnavailable }, 30*time.Second, 10*time.Millisecond,
		"a full disk makes the instance not ready")
	assert.Contains(t, ta.Logs.String(), "no space left on device", "the log says why")
	st := fileQ.Stats()
	assert.ErrorIs(t, st.Err, syscall.ENOSPC)
	assert.Less(t, st.Written, before+n, "the events wait")
	assert.Equal(t, http.StatusOK, anon.get("/livez").Status, "alive: no restart needed")

	require.NoError(t, os.Remove(filepath.Join(auditDir, "filler"))) // space again
	require.Eventually(t, func() bool { st := fileQ.Stats(); return st.Queued == 0 && st.Written >= before+n }, 30*time.Second, time.Millisecond)
	require.Eventually(t, func() bool { return anon.get("/healthz").Status == http.StatusOK }, 30*time.Second, 10*time.Millisecond)
	rep, err := chain.Verify(context.Background(), os.DirFS(auditDir), ta.keys.AuditKey.Reveal(), chain.VerifyConfig{})
	require.NoError(t, err, "the chain verifies")
	assert.Equal(t, fileQ.Stats().Written, rep.Events, "every event written, none twice")
}

// TestFaults_AuditDirUnwritable starts the app on a data directory whose
// audit directory cannot be written (read-only): it refuses to start,
// naming the directory, rather than run without its record of truth.
func TestFaults_AuditDirUnwritable(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	auditDir := filepath.Join(dataDir, "audit")
	require.NoError(t, os.MkdirAll(auditDir, 0o700))
	if os.Geteuid() == 0 { // root writes through file modes: mount it read-only
		if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", auditDir).CombinedOutput(); err != nil {
			needsMount(t, "as root, a read-only directory needs a read-only mount", err, out)
		}
		t.Cleanup(func() { _ = exec.Command("umount", "-l", auditDir).Run() })
	} else {
		require.NoError(t, os.Chmod(auditDir, 0o500))
		t.Cleanup(func() { _ = os.Chmod(auditDir, 0o700) })
	}
	cfg := testConfig(t, "http://localhost:1", testenv.NewClock(time.Now()), io.Discard)
	cfg.DataDir = dataDir
	_, err := New(context.Background(), cfg)
	require.Error(t, err)
	assert.ErrorContains(t, err, auditDir)
}

// auditTestEvent is an event a test logs directly, distinct per i.
func auditTestEvent(i int) audit.Event {
	return audit.Event{Category: audit.CategoryAdmin, Action: ActionAuditPruned, Outcome: audit.OutcomeSuccess,
		Meta: map[string]string{"test": strconv.Itoa(i)}}
}

// pageText is the error message of a page, for test failures.
func pageText(body string) string {
	if i := strings.Index(body, `role="alert"`); i >= 0 {
		return body[i:]
	}
	return body
}

// needsMount skips a test that could not mount the file system it needs,
// or fails it where integration tests are required (CI runs as root, so
// there a failed mount is a broken set-up, not a reason to test less).
func needsMount(t *testing.T, why string, err error, out []byte) {
	t.Helper()
	if testenv.Required() {
		t.Fatalf("%s: %v: %s (%s=1: required)", why, err, out, testenv.EnvRequire)
	}
	t.Skipf("%s: %v: %s (runs as root; %s=1 makes this a failure)", why, err, out, testenv.EnvRequire)
}
