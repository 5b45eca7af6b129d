package main

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/internal/testenv"
	"github.com/deployedworks/rampart/secrets"
	"github.com/deployedworks/rampart/session/sqlstore"
	tokensql "github.com/deployedworks/rampart/token/sqlstore"
)

// janitorDriver replaces an app's janitor ticker: each pass runs when the
// test says, and the test learns which tasks it ran.
type janitorDriver struct {
	ticks chan time.Time
	done  chan []string
}

func newJanitorDriver() *janitorDriver {
	return &janitorDriver{ticks: make(chan time.Time), done: make(chan []string, 16)}
}

func (j *janitorDriver) configure(c *Config) {
	c.janitorTicks = j.ticks
	c.janitorDone = func(ran []string) { j.done <- ran }
}

// pass runs one janitor pass and returns the tasks it ran.
func (j *janitorDriver) pass(t testing.TB) []string {
	t.Helper()
	select {
	case j.ticks <- time.Now():
	case <-time.After(30 * time.Second):
		t.Fatal("the janitor does not take its tick: is it running?")
	}
	select {
	case ran := <-j.done:
		return ran
	case <-time.After(60 * time.Second):
		t.Fatal("the janitor pass did not end")
		return nil
	}
}

// janitorDrivers configures each of newInstances' instances with its own
// driver, in order.
func janitorDrivers(n int) ([]*janitorDriver, func(*Config)) {
	ds := make([]*janitorDriver, n)
	for i := range ds {
		ds[i] = newJanitorDriver()
	}
	var mu sync.Mutex
	next := 0
	return ds, func(c *Config) {
		mu.Lock()
		defer mu.Unlock()
		ds[next].configure(c)
		next++
	}
}

// seedExpired puts, beside a live row of each kind, rows the janitor must
// delete: an expired session and account token, an audit record past its
// category's retention, and mail sent longer ago than outboxKeep. The
// session store expires by the real clock, the others by the app's.
func seedExpired(t *testing.T, ta *testApp, withSessions bool) {
	t.Helper()
	ctx := context.Background()
	now := ta.Clock.Now()
	if withSessions {
		for _, row := range []struct {
			key    string
			expiry time.Time
		}{{"expired-session", time.Now().Add(-time.Hour)}, {"live-session", time.Now().Add(time.Hour)}} {
			_, err := ta.db.exec(ctx, `INSERT INTO `+sqlstore.DefaultTable+` (token_hash, user_id, data, expiry) VALUES (?, '', ?, ?)`,
				row.key, []byte{}, row.expiry.UnixMilli())
			require.NoError(t, err)
		}
	}
	for _, row := range []struct {
		key     string
		expires time.Time
	}{{"expired-token", now.Add(-time.Hour)}, {"live-token", now.Add(time.Hour)}} {
		_, err := ta.db.exec(ctx, `INSERT INTO `+tokensql.DefaultTable+` (hash, user_id, purpose, data, created_at, expires_at) VALUES (?, 'u', 'p', ?, ?, ?)`,
			[]byte(row.key), []byte{}, now.Add(-2*time.Hour).UnixMilli(), row.expires.UnixMilli())
		require.NoError(t, err)
	}
	for _, age := range []time.Duration{audit.DefaultRetentionError + 24*time.Hour, 24 * time.Hour} {
		require.NoError(t, ta.auditSQL.Write(ctx, audit.Event{Time: now.Add(-age), Category: audit.CategoryError,
			Action: ActionSetupTokenRejected, Outcome: audit.OutcomeDenied}))
	}
	for _, row := range []struct {
		key  string
		done time.Time
	}{{"old-mail", now.Add(-outboxKeep - time.Hour)}, {"recent-mail", now.Add(-time.Hour)}} {
		_, err := ta.db.exec(ctx, `INSERT INTO rampart_outbox (msg_key, recipient, kind, subject, body_text, body_html, created_at, state, next_attempt, done_at)
			VALUES (?, 'x@example.com', 'k', 's', 't', '', ?, 1, 0, ?)`, row.key, row.done.UnixMilli(), row.done.UnixMilli())
		require.NoError(t, err)
	}
}

// checkCleaned asserts that the rows seedExpired made to be deleted are
// gone, and the live ones kept.
func checkCleaned(t *testing.T, ta *testApp, withSessions bool) {
	t.Helper()
	if withSessions {
		assert.Equal(t, 0, ta.count(`SELECT COUNT(*) FROM `+sqlstore.DefaultTable+` WHERE token_hash = 'expired-session'`), "expired session deleted")
		assert.Equal(t, 1, ta.count(`SELECT COUNT(*) FROM `+sqlstore.DefaultTable+` WHERE token_hash = 'live-session'`), "live session kept")
	}
	assert.Equal(t, 0, ta.count(`SELECT COUNT(*) FROM `+tokensql.DefaultTable+` WHERE hash = ?`, []byte("expired-token")), "expired token deleted")
	assert.Equal(t, 1, ta.count(`SELECT COUNT(*) FROM `+tokensql.DefaultTable+` WHERE hash = ?`, []byte("live-token")), "live token kept")
	assert.Equal(t, 1, ta.count(`SELECT COUNT(*) FROM audit_events WHERE action = ?`, string(ActionSetupTokenRejected)), "old audit record pruned, recent kept")
	assert.Equal(t, 0, ta.count(`SELECT COUNT(*) FROM rampart_outbox WHERE msg_key = 'old-mail'`), "old mail pruned")
	assert.Equal(t, 1, ta.count(`SELECT COUNT(*) FROM rampart_outbox WHERE msg_key = 'recent-mail'`), "recent mail kept")
}

// TestJanitor: the app's janitor, driven through its own loop, deletes
// expired sessions and tokens, prunes the audit table and the outbox, and
// rotates the audit chain, each on its period. A janitor that does not run
// (or a task dropped from it) fails here.
func TestJanitor(t *testing.T) {
	t.Parallel()
	j := newJanitorDriver()
	ta := newTestApp(t, j.configure)
	require.NotNil(t, ta.sessSQL, "sessions in SQLite")
	seedExpired(t, ta, true)

	ran := j.pass(t)
	assert.ElementsMatch(t, []string{"sessions", "tokens", "audit-prune", "outbox-prune"}, ran)
	checkCleaned(t, ta, true)
	ta.waitAudit(string(ActionAuditPruned))

	// Nothing is due again within its period.
	assert.Empty(t, j.pass(t))
	_, err := ta.db.exec(context.Background(), `INSERT INTO `+tokensql.DefaultTable+` (hash, user_id, purpose, data, created_at, expires_at) VALUES (?, 'u', 'p', ?, 0, ?)`,
		[]byte("expired-later"), []byte{}, ta.Clock.Now().Add(-time.Second).UnixMilli())
	require.NoError(t, err)
	assert.Empty(t, j.pass(t))
	assert.Equal(t, 1, ta.count(`SELECT COUNT(*) FROM `+tokensql.DefaultTable+` WHERE hash = ?`, []byte("expired-later")))

	ta.Clock.Add(10 * time.Minute)
	assert.ElementsMatch(t, []string{"sessions", "tokens"}, j.pass(t))
	assert.Equal(t, 0, ta.count(`SELECT COUNT(*) FROM `+tokensql.DefaultTable+` WHERE hash = ?`, []byte("expired-later")))

	ta.Clock.Add(time.Hour)
	files := func() []string {
		names, err := filepath.Glob(filepath.Join(ta.auditDir, "audit-*.jsonl"))
		require.NoError(t, err)
		return names
	}
	before := len(files())
	assert.ElementsMatch(t, []string{"sessions", "tokens", "audit-prune", "audit-rotate"}, j.pass(t))
	assert.Greater(t, len(files()), before, "the audit chain was rotated to a new file")
}

// TestMultiInstance_JanitorOnce: two instances' janitors, ticking at the
// same moment, run each shared task once per period between them, not
// once each; and the work is done.
func TestMultiInstance_JanitorOnce(t *testing.T) {
	t.Parallel()
	ds, opt := janitorDrivers(2)
	tas := newInstances(t, 2, opt)
	seedExpired(t, tas[0], false)

	both := func() map[string]int {
		var mu sync.Mutex
		counts := map[string]int{}
		var wg sync.WaitGroup
		for _, d := range ds {
			wg.Go(func() {
				ran := d.pass(t)
				mu.Lock()
				defer mu.Unlock()
				for _, task := range ran {
					counts[task]++
				}
			})
		}
		wg.Wait()
		return counts
	}
	assert.Equal(t, map[string]int{"tokens": 1, "audit-prune": 1, "outbox-prune": 1}, both(), "each shared task once for the deployment")
	checkCleaned(t, tas[1], false)
	assert.Empty(t, both(), "nothing is due again in the same period, on either instance")

	for _, ta := range tas {
		ta.Clock.Add(10*time.Minute + time.Second)
	}
	assert.Equal(t, map[string]int{"tokens": 1}, both())
	for _, ta := range tas {
		ta.Clock.Add(time.Hour)
	}
	assert.Equal(t, map[string]int{"tokens": 1, "audit-prune": 1, "audit-rotate": 2}, both(),
		"the audit chain is each instance's own: both rotate it")
}

// TestMultiInstance_SetupToken: of two instances starting together on one
// database, one mints and prints the setup token and the other says where
// it is; the token works on the other instance, once, and then on neither.
func TestMultiInstance_SetupToken(t *testing.T) {
	t.Parallel()
	tas := newInstances(t, 2, func(c *Config) { c.DisableSetupToken = false })
	tokenRE := regexp.MustCompile(`one-time setup token:\s+([A-Z2-7]+)`)
	var minter, other *testApp
	var token string
	for i, ta := range tas {
		if m := tokenRE.FindStringSubmatch(ta.Logs.String()); m != nil {
			require.Nil(t, minter, "both instances minted a token:\n%s\n%s", tas[0].Logs, tas[1].Logs)
			minter, other, token = ta, tas[1-i], m[1]
		}
	}
	require.NotNil(t, minter, "no instance printed a token:\n%s\n%s", tas[0].Logs, tas[1].Logs)
	assert.Contains(t, other.Logs.String(), "one-time setup token for this deployment\n  was printed at")
	assert.NotContains(t, other.Logs.String(), token)
	assert.Equal(t, 1, other.count(`SELECT COUNT(*) FROM setup_token`))
	assert.NotContains(t, other.Logs.String()+minter.Logs.String(), "setup_token", "only the hash is stored, never printed")

	form := func(tok, email string) url.Values {
		return url.Values{"token": {tok}, "email": {email}, "name": {"Root"}, "password": {goodPassword}, "password2": {goodPassword}}
	}
	c := other.client()
	require.Equal(t, http.StatusOK, c.get("/setup").Status)
	r := c.post("/setup", form("AAAAAAAAAAAAAAAAAAAAAAAAAA", "root@example.com"))
	assert.Equal(t, http.StatusForbidden, r.Status)
	r = c.post("/setup", form(token, "root@example.com"))
	require.Equal(t, http.StatusSeeOther, r.Status, r.Body)
	assert.Equal(t, "/account/mfa", r.Location)

	for _, ta := range tas {
		assert.Equal(t, http.StatusNotFound, ta.client().get("/setup").Status)
		r := ta.client().post("/setup", form(token, "second@example.com"))
		assert.Equal(t, http.StatusNotFound, r.Status, "a second use fails on %s", ta.URL)
	}
	assert.Equal(t, 1, minter.count(`SELECT COUNT(*) FROM user_roles WHERE role = 'admin'`))
	assert.Equal(t, 0, minter.count(`SELECT COUNT(*) FROM setup_token`), "consumed")
	minter.login("root@example.com") // the administrator exists for every instance
}

// TestSetupToken_Expiry: a token past setupTokenTTL works nowhere, and the
// next instance to start mints a new one.
func TestSetupToken_Expiry(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := testenv.NewClock(time.Now())
	s, err := openStore(ctx, t.TempDir(), "", clock.Now)
	require.NoError(t, err)
	defer s.Close()
	_, err = s.migrate(ctx)
	require.NoError(t, err)

	stored, _, err := s.offerSetupToken(ctx, hashSetupToken("FIRST"), false)
	require.NoError(t, err)
	require.True(t, stored)
	stored, minted, err := s.offerSetupToken(ctx, hashSetupToken("SECOND"), false)
	require.NoError(t, err)
	assert.False(t, stored, "a live token is kept")
	assert.Equal(t, clock.Now().UnixMilli(), minted.UnixMilli())
	ok, err := s.setupTokenMatches(ctx, " FIRST\n")
	require.NoError(t, err)
	assert.True(t, ok, "spaces around a pasted token do not matter")

	clock.Add(setupTokenTTL + time.Second)
	ok, err = s.setupTokenMatches(ctx, "FIRST")
	require.NoError(t, err)
	assert.False(t, ok, "expired")
	_, err = s.createFirstAdmin(ctx, user{Email: "root@example.com", DisplayName: "Root", Hash: "x"}, "FIRST")
	assert.ErrorIs(t, err, errBadSetupToken)
	stored, _, err = s.offerSetupToken(ctx, hashSetupToken("THIRD"), false)
	require.NoError(t, err)
	assert.True(t, stored, "an expired token is replaced")
	_, err = s.createFirstAdmin(ctx, user{Email: "root@example.com", DisplayName: "Root", Hash: "x"}, "THIRD")
	require.NoError(t, err)
	open, err := s.setupOpen(ctx)
	require.NoError(t, err)
	assert.False(t, open)
}

// TestScheduledBackups: with BackupDir the janitor takes a backup when the
// newest is BackupEvery old, keeps BackupKeep of them, each complete and
// genuine, and records each in the audit log.
func TestScheduledBackups(t *testing.T) {
	t.Parallel()
	j := newJanitorDriver()
	dir := filepath.Join(t.TempDir(), "backups")
	ta := newTestApp(t, j.configure, func(c *Config) { c.BackupDir, c.BackupEvery, c.BackupKeep = dir, time.Hour, 2 })
	ta.createUser("carol@example.com", "Carol")
	list := func() []string {
		entries, err := os.ReadDir(dir)
		require.NoError(t, err)
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		return names
	}

	first := backupName(ta.Clock.Now(), backupExt)
	assert.Contains(t, j.pass(t), "backup")
	require.Equal(t, []string{first}, list())
	info, err := os.Stat(filepath.Join(dir, first))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())
	j.pass(t)
	assert.Equal(t, []string{first}, list(), "not due yet")

	ta.Clock.Add(time.Hour)
	second := backupName(ta.Clock.Now(), backupExt)
	leftover := filepath.Join(dir, "."+backupName(ta.Clock.Now().Add(-time.Minute), backupExt)+".partial")
	require.NoError(t, os.WriteFile(leftover, []byte("half a backup"), 0o600)) // a crash mid-backup
	j.pass(t)
	assert.Equal(t, []string{first, second}, list())
	assert.NoFileExists(t, leftover, "a partial backup left by a crash is removed")
	ta.Clock.Add(time.Hour)
	third := backupName(ta.Clock.Now(), backupExt)
	j.pass(t)
	assert.Equal(t, []string{second, third}, list(), "the oldest beyond BackupKeep is deleted")
	assert.NotContains(t, ta.Logs.String(), "backup_stale")

	res := runCLI(t, map[string]string{}, "backup-verify", "-data", ta.cfg.DataDir, "-in", filepath.Join(dir, third))
	assert.Equal(t, 0, res.Code, res.Stderr)
	require.Eventually(t, func() bool {
		return ta.count(`SELECT COUNT(*) FROM audit_events WHERE action = 'backup.created' AND outcome = 'success'`) == 3
	}, 10*time.Second, 5*time.Millisecond)
}

// TestScheduledBackups_ProdNeedsKey: in production, scheduled SQLite
// backups need the backup keyring, and the app will not start without it.
func TestScheduledBackups_ProdNeedsKey(t *testing.T) {
	t.Parallel()
	clock := testenv.NewClock(time.Now())
	cfg := testConfig(t, "https://market.example", clock, io.Discard)
	cfg.Prod, cfg.Secrets, cfg.BackupDir = true, secrets.Env{LookupEnv: mapEnv(prodEnv(t))}, t.TempDir()
	_, err := New(context.Background(), cfg)
	require.Error(t, err)
	assert.Contains(t, err.Error(), envBackupKeys)
}

// TestBackups_ProdWithoutDirWarns: production without a backup directory
// starts, but says once that no backup is taken or watched, in the
// metric-like form log alerts match; development does not.
func TestBackups_ProdWithoutDirWarns(t *testing.T) {
	t.Parallel()
	for _, prod := range []bool{true, false} {
		logs := &syncBuffer{}
		cfg := testConfig(t, "https://market.example", testenv.NewClock(time.Now()), logs)
		if prod {
			cfg.Prod, cfg.Secrets = true, secrets.Env{LookupEnv: mapEnv(prodEnv(t))}
		}
		app, err := New(context.Background(), cfg)
		require.NoError(t, err)
		require.NoError(t, app.Close(context.Background()))
		assert.Equal(t, prod, strings.Contains(logs.String(), "backup_configured=0"), "prod %v: %s", prod, logs)
	}
}

// TestBackups_Stale: the newest backup older than BackupStaleAfter, or
// none at all, is warned about with a metric-like line, once an hour;
// a fresh one silences it. (PostgreSQL: the app only watches.)
func TestBackups_Stale(t *testing.T) {
	t.Parallel()
	clock := testenv.NewClock(time.Now())
	logs := &syncBuffer{}
	dir := t.TempDir()
	b := &scheduledBackups{dir: dir, every: time.Hour, keep: 7, staleAfter: 2 * time.Hour, now: clock.Now,
		log: testConfig(t, "http://localhost", clock, logs).Logger}
	ctx := context.Background()
	require.NoError(t, b.run(ctx))
	assert.Contains(t, logs.String(), "backup_stale=1 backup_age_seconds=-1", "no backup at all")
	assert.Contains(t, logs.String(), "newest=none")

	old := backupName(clock.Now().Add(-3*time.Hour), ".pgdump")
	require.NoError(t, os.WriteFile(filepath.Join(dir, old), []byte("x"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "marketplace-notatime.pgdump"), nil, 0o600)) // ignored
	before := strings.Count(logs.String(), "backup_stale=1")
	clock.Add(30 * time.Minute)
	require.NoError(t, b.run(ctx))
	assert.Equal(t, before, strings.Count(logs.String(), "backup_stale=1"), "warned once an hour, not every pass")
	clock.Add(31 * time.Minute)
	require.NoError(t, b.run(ctx))
	assert.Contains(t, logs.String(), "backup_stale=1 backup_age_seconds=14460 limit=2h0m0s newest="+old)
	assert.FileExists(t, filepath.Join(dir, old), "the app never deletes backups it did not write")

	require.NoError(t, os.WriteFile(filepath.Join(dir, backupName(clock.Now(), ".pgdump")), []byte("x"), 0o600))
	clock.Add(2*time.Hour - time.Second)
	n := strings.Count(logs.String(), "backup_stale=1")
	require.NoError(t, b.run(ctx))
	assert.Equal(t, n, strings.Count(logs.String(), "backup_stale=1"), "a backup just under two hours old is not stale")
}

// TestBackupRestoreDrill_SQLite is the restore drill: a scheduled backup
// of a site with users, listings and audit records, the machine lost, the
// backup restored into a fresh data directory (with the secrets and the
// audit chain directory kept apart from the machine), and the site started
// on it with the same rows, working passwords and an audit chain that
// verifies.
func TestBackupRestoreDrill_SQLite(t *testing.T) {
	t.Parallel()
	j := newJanitorDriver()
	dataDir, backupDir := t.TempDir(), t.TempDir()
	ta := newTestApp(t, j.configure, func(c *Config) { c.DataDir, c.BackupDir = dataDir, backupDir })
	want := drillSeed(t, ta)
	require.Contains(t, j.pass(t), "backup")
	require.NoError(t, ta.Close(context.Background()))

	// The operator kept, apart from the machine: the backups, the secrets
	// (here the development file) and the audit chain directory.
	fresh := t.TempDir()
	copyFile(t, filepath.Join(dataDir, devSecretsFile), filepath.Join(fresh, devSecretsFile))
	require.NoError(t, os.CopyFS(filepath.Join(fresh, "audit"), os.DirFS(filepath.Join(dataDir, "audit"))))
	backups, err := filepath.Glob(filepath.Join(backupDir, backupPrefix+"*"+backupExt))
	require.NoError(t, err)
	require.Len(t, backups, 1)
	res := runCLI(t, map[string]string{}, "restore", "-data", fresh, "-in", backups[0])
	require.Equal(t, 0, res.Code, res.Stderr)

	tb := newTestApp(t, func(c *Config) { c.DataDir = fresh })
	got := dumpRows(t, tb.db, drillTables...)
	for _, table := range drillTables[:3] {
		assert.Equal(t, want[table], got[table], table)
	}
	assert.Subset(t, got["audit_events"], want["audit_events"], "the audit records, plus the restore's own")
	drillCheck(t, tb)
}

// TestBackupRestoreDrill_Postgres is the drill for PostgreSQL, whose
// backups the README has a scheduler take with pg_dump into BackupDir: the
// dump is watched by the app (not stale), the schema is lost, pg_restore
// brings it back into an empty schema, and a new instance on it has the
// same rows, working passwords and an audit chain that verifies.
func TestBackupRestoreDrill_Postgres(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"pg_dump", "pg_restore"} {
		if _, err := exec.LookPath(tool); err != nil {
			msg := tool + " (the PostgreSQL client tools) is not on PATH"
			if testenv.Required() {
				t.Fatal(msg)
			}
			testenv.Skip(t, "PATH", msg)
		}
	}
	dbURL, redisURL, prefix := sharedBackends(t)
	u, err := url.Parse(dbURL)
	require.NoError(t, err)
	schema := u.Query().Get("search_path")
	q := u.Query()
	q.Del("search_path")
	u.RawQuery = q.Encode()
	plainDSN := u.String()

	env := prodEnv(t)
	delete(env, envSMTPURL)
	dataDir, backupDir := t.TempDir(), t.TempDir()
	j := newJanitorDriver()
	shared := func(dir string) func(*Config) {
		return func(c *Config) {
			c.DataDir, c.BackupDir = dir, backupDir
			c.DatabaseURL, c.RedisURL, c.RedisPrefix = dbURL, redisURL, prefix
			c.Secrets = secrets.Env{LookupEnv: mapEnv(env)}
		}
	}
	ta := newTestApp(t, j.configure, shared(dataDir))
	want := drillSeed(t, ta)

	// The scheduler's command (README), named by the time it ran.
	dump := filepath.Join(backupDir, backupName(ta.Clock.Now(), ".pgdump"))
	out, err := exec.CommandContext(t.Context(), "pg_dump", "--format=custom", "--no-owner", "--schema="+schema, "--file="+dump, plainDSN).CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, j.pass(t), "backup")
	assert.NotContains(t, ta.Logs.String(), "backup_stale", "the dump counts as the newest backup")
	require.NoError(t, ta.Close(context.Background()))

	// The schema is lost; the restore fills an empty one.
	st, err := openStore(context.Background(), "", plainDSN, time.Now)
	require.NoError(t, err)
	_, err = st.db.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
	require.NoError(t, err)
	require.NoError(t, st.Close())
	out, err = exec.CommandContext(t.Context(), "pg_restore", "--no-owner", "--exit-on-error", "--dbname="+plainDSN, dump).CombinedOutput()
	require.NoError(t, err, "%s", out)

	fresh := t.TempDir()
	require.NoError(t, os.CopyFS(filepath.Join(fresh, "audit"), os.DirFS(filepath.Join(dataDir, "audit"))))
	tb := newTestApp(t, shared(fresh))
	got := dumpRows(t, tb.db, drillTables...)
	for _, table := range drillTables {
		assert.Equal(t, want[table], got[table], table)
	}
	drillCheck(t, tb)
}

// drillTables are the tables a restore drill compares.
var drillTables = []string{"users", "user_roles", "listings", "audit_events"}

// drillSeed writes, through the site, what a restore drill must bring
// back (a user, her listing and their audit records) and returns the rows
// of drillTables.
func drillSeed(t *testing.T, ta *testApp) map[string][]string {
	t.Helper()
	alice := ta.client()
	ta.signUp(alice, "alice@example.com", "Alice")
	r := alice.post("/listings", url.Values{"title": {"Brass teapot"}, "description": {"Good condition."}, "price": {"12.50"}})
	require.Equal(t, http.StatusSeeOther, r.Status, r.Body)
	ta.waitAudit("listing.created") // the audit queue writes in the background
	return dumpRows(t, ta.db, drillTables...)
}

// drillCheck asserts that the restored site works: the user signs in
// with her password and sees her listing, and the audit chain verifies.
func drillCheck(t *testing.T, tb *testApp) {
	t.Helper()
	c, _ := tb.login("alice@example.com")
	r := c.get("/my/listings")
	require.Equal(t, http.StatusOK, r.Status)
	assert.Contains(t, r.Body, "Brass teapot")
	admin, _, _ := tb.adminClient("admin@example.com")
	r = admin.post("/admin/audit/verify", nil)
	assert.Equal(t, http.StatusOK, r.Status, "the audit chain verifies: %s", r.Body)
}

func copyFile(t testing.TB, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(to, b, 0o600))
}

func TestParseServeFlags_Backups(t *testing.T) {
	t.Parallel()
	testServeFlag(t, func(f serveFlags) backupFlags { return f.backup }, []flagCase[backupFlags]{
		{name: "default: none, Config's defaults", want: backupFlags{}},
		{name: "flags", args: []string{"-backup-dir", "/b", "-backup-every", "6h", "-backup-keep", "3", "-backup-stale-after", "13h"},
			want: backupFlags{dir: "/b", every: 6 * time.Hour, keep: 3, staleAfter: 13 * time.Hour}},
		{name: "env", env: map[string]string{"MARKETPLACE_BACKUP_DIR": "/b", "MARKETPLACE_BACKUP_EVERY": "1h", "MARKETPLACE_BACKUP_KEEP": "2", "MARKETPLACE_BACKUP_STALE_AFTER": "3h"},
			want: backupFlags{dir: "/b", every: time.Hour, keep: 2, staleAfter: 3 * time.Hour}},
		{name: "bad env duration", env: map[string]string{"MARKETPLACE_BACKUP_EVERY": "daily"}, wantE: `MARKETPLACE_BACKUP_EVERY="daily": give a duration`},
		{name: "bad env count", env: map[string]string{"MARKETPLACE_BACKUP_KEEP": "all"}, wantE: `MARKETPLACE_BACKUP_KEEP="all": give a whole number`},
	})
}

// TestNew_BackupSettings: nonsense backup settings are refused at start.
func TestNew_BackupSettings(t *testing.T) {
	t.Parallel()
	for name, c := range map[string]Config{
		"interval under a minute":   {BackupEvery: time.Second},
		"negative count":            {BackupKeep: -1},
		"stale before the next one": {BackupEvery: 24 * time.Hour, BackupStaleAfter: time.Hour},
	} {
		err := c.backupDefaults()
		assert.ErrorContains(t, err, "config: backups every", name)
	}
	c := Config{}
	require.NoError(t, c.backupDefaults())
	assert.Equal(t, Config{BackupEvery: 24 * time.Hour, BackupKeep: 7, BackupStaleAfter: 48 * time.Hour}, c)
}

// TestMultiInstance_SetupTokenRace: the token presented at once on both
// instances, for two different administrators, creates exactly one.
func TestMultiInstance_SetupTokenRace(t *testing.T) {
	t.Parallel()
	tas := newInstances(t, 2, func(c *Config) { c.DisableSetupToken = false })
	tokenRE := regexp.MustCompile(`one-time setup token:\s+([A-Z2-7]+)`)
	var token string
	for _, ta := range tas {
		if m := tokenRE.FindStringSubmatch(ta.Logs.String()); m != nil {
			token = m[1]
		}
	}
	require.NotEmpty(t, token)
	statuses := make([]int, 2)
	var wg sync.WaitGroup
	for i, ta := range tas {
		c := ta.client()
		wg.Go(func() {
			r := c.post("/setup", url.Values{"token": {token}, "email": {"root" + string(rune('a'+i)) + "@example.com"},
				"name": {"Root"}, "password": {goodPassword}, "password2": {goodPassword}})
			statuses[i] = r.Status
		})
	}
	wg.Wait()
	slices.Sort(statuses)
	require.Equal(t, http.StatusSeeOther, statuses[0], "one administrator created: %v", statuses)
	assert.Contains(t, []int{http.StatusNotFound, http.StatusConflict, http.StatusForbidden}, statuses[1], "the other refused: %v", statuses)
	assert.Equal(t, 1, tas[0].count(`SELECT COUNT(*) FROM user_roles WHERE role = 'admin'`))
	assert.Equal(t, 1, tas[0].count(`SELECT COUNT(*) FROM users`))
}
