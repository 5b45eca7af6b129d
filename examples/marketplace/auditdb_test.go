package main

import (
	"context"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/audit/chain"
	"github.com/deployedworks/rampart/internal/testenv"
	"github.com/deployedworks/rampart/secrets"
)

// auditRoles is the README's PostgreSQL set-up for a test: an owner role
// owning a schema of its own, an insert-only writer role, and their URLs.
type auditRoles struct {
	schema, owner, writer string
	ownerURL, writerURL   string
}

// newAuditRoles creates the roles and the schema (the database
// administrator's part of the README), dropped when the test ends. The test
// role needs CREATEROLE (scripts/services.sh grants it).
func newAuditRoles(t *testing.T) auditRoles {
	t.Helper()
	dsn := testenv.PostgresDSN(t)
	suffix := hex.EncodeToString(secrets.Random(6).Reveal())
	r := auditRoles{schema: "mkt_audit_" + suffix, owner: "mkt_audit_owner_" + suffix, writer: "mkt_audit_writer_" + suffix}
	admin, err := sql.Open("pgx", dsn)
	require.NoError(t, err)
	ctx := context.Background()
	pw := hex.EncodeToString(secrets.Random(16).Reveal())
	for _, stmt := range []string{
		"CREATE ROLE " + r.owner + " LOGIN PASSWORD '" + pw + "'",
		"CREATE ROLE " + r.writer + " LOGIN PASSWORD '" + pw + "'",
		"GRANT " + r.owner + " TO current_user", // to create the schema for it
		"CREATE SCHEMA " + r.schema + " AUTHORIZATION " + r.owner,
		"REVOKE " + r.owner + " FROM current_user", // the app's main role has no part in it
	} {
		_, err := admin.ExecContext(ctx, stmt)
		require.NoError(t, err, "%s (the test role needs CREATEROLE: scripts/services.sh)", stmt)
	}
	t.Cleanup(func() {
		for _, stmt := range []string{
			"GRANT " + r.owner + " TO current_user",
			"DROP SCHEMA " + r.schema + " CASCADE",
			"DROP ROLE " + r.writer,
			"REVOKE " + r.owner + " FROM current_user",
			"DROP ROLE " + r.owner,
		} {
			_, err := admin.ExecContext(context.Background(), stmt)
			assert.NoError(t, err, stmt)
		}
		assert.NoError(t, admin.Close())
	})
	as := func(role string) string {
		u, err := url.Parse(dsn)
		require.NoError(t, err)
		u.User = url.UserPassword(role, pw)
		return u.String()
	}
	r.ownerURL, r.writerURL = as(r.owner), as(r.writer)
	return r
}

// setup runs audit-setup as the owner role.
func (r auditRoles) setup(t *testing.T) {
	t.Helper()
	res := runCLI(t, map[string]string{envAuditOwnerDatabaseURL: r.ownerURL}, "audit-setup", "-writer", r.writer, "-schema", r.schema)
	require.Equal(t, 0, res.Code, "stdout: %s\nstderr: %s", res.Stdout, res.Stderr)
	assert.Contains(t, res.Stdout, "may INSERT and SELECT them")
}

// open connects as role's URL.
func openPG(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", dsn)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// TestAuditDatabase_InsertOnly is ASVS 16.4.2 in the example's PostgreSQL
// set-up: the app writes the audit table as a role that may INSERT and
// SELECT but not UPDATE, DELETE or TRUNCATE it, nor the checkpoints; the
// app's own role cannot touch it; pruning still deletes exactly the rows
// past retention, through the owner's function; and the app refuses to
// start as the owner or as a role without the grants.
func TestAuditDatabase_InsertOnly(t *testing.T) {
	t.Parallel()
	roles := newAuditRoles(t)
	roles.setup(t)
	roles.setup(t) // again, as at each deployment: idempotent
	mainURL, _, _ := sharedBackends(t)
	ta := newTestApp(t, func(c *Config) {
		c.DatabaseURL, c.AuditDatabaseURL, c.AuditSchema = mainURL, roles.writerURL, roles.schema
	})
	ctx := t.Context()
	events := roles.schema + ".audit_events"
	cps := roles.schema + ".chain_checkpoints"

	// The app writes its events there.
	ta.audit.Log(ctx, audit.Event{Category: audit.CategoryAdmin, Action: ActionSessionsRevoked, Outcome: audit.OutcomeSuccess, Reason: "insert-only marker"})
	writer := openPG(t, roles.writerURL)
	require.Eventually(t, func() bool {
		var n int
		require.NoError(t, writer.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+events+" WHERE reason = 'insert-only marker'").Scan(&n))
		return n == 1
	}, 10*time.Second, 10*time.Millisecond)

	// As the writer: no change, no deletion, of events or checkpoints.
	for _, stmt := range []string{
		"UPDATE " + events + " SET reason = 'rewritten'",
		"DELETE FROM " + events,
		"TRUNCATE " + events,
		"UPDATE " + cps + " SET mac = 'x'",
		"DELETE FROM " + cps,
		"TRUNCATE " + cps,
		"ALTER TABLE " + events + " DISABLE TRIGGER ALL",
		"DROP TABLE " + events,
		"CREATE OR REPLACE FUNCTION " + roles.schema + ".prune_audit() RETURNS bigint LANGUAGE sql AS 'SELECT 0::bigint'",
	} {
		_, err := writer.ExecContext(ctx, stmt)
		require.Error(t, err, stmt)
		assert.Contains(t, err.Error(), "42501", "%s: %v", stmt, err) // insufficient_privilege, or must be owner
	}
	_, err := writer.ExecContext(ctx, "INSERT INTO "+cps+" (instance, seq, mac, time_ns) VALUES ('x', 1, 'm', 0)")
	require.NoError(t, err, "the writer inserts checkpoints")
	// The app's main role cannot read or delete them either.
	main := openPG(t, mainURL)
	_, err = main.ExecContext(ctx, "DELETE FROM "+events)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "permission denied")

	// Pruning: rows past their category's retention go, younger ones stay,
	// by the database's clock.
	now := time.Now()
	type row struct {
		cat  audit.Category
		age  time.Duration
		gone bool
	}
	rows := []row{
		{audit.CategoryAuthentication, 366 * audit.Day, true},
		{audit.CategoryAuthentication, 364 * audit.Day, false},
		{audit.CategoryBrowserReport, 31 * audit.Day, true},
		{audit.CategoryBrowserReport, 29 * audit.Day, false},
		{audit.CategoryAccess, 729 * audit.Day, false},
		{"custom_category", 91 * audit.Day, true},
		{"custom_category", 89 * audit.Day, false},
	}
	for i, r := range rows {
		_, err := writer.ExecContext(ctx, "INSERT INTO "+events+" (time_ns, category, action, reason) VALUES ($1, $2, 'test.prune', $3)",
			now.Add(-r.age).UnixNano(), string(r.cat), "prune-"+string(rune('a'+i)))
		require.NoError(t, err)
	}
	_, err = writer.ExecContext(ctx, "INSERT INTO "+cps+" (instance, seq, mac, time_ns) VALUES ('old', 1, 'm', $1)", now.Add(-731*audit.Day).UnixNano())
	require.NoError(t, err)
	pruned, err := ta.auditStore.pruneRows(ctx)
	require.NoError(t, err)
	assert.EqualValues(t, 3, pruned)
	for i, r := range rows {
		var n int
		require.NoError(t, writer.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+events+" WHERE reason = $1", "prune-"+string(rune('a'+i))).Scan(&n))
		assert.Equal(t, !r.gone, n == 1, "%s aged %v", r.cat, r.age)
	}
	var n int
	require.NoError(t, writer.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+cps+" WHERE instance = 'old'").Scan(&n))
	assert.Zero(t, n, "checkpoints older than the longest retention are pruned")
	require.NoError(t, writer.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+events+" WHERE reason = 'insert-only marker'").Scan(&n))
	assert.Equal(t, 1, n, "recent events are kept")

	// The app refuses to write as the owner, or as a role without the grants.
	for name, dsn := range map[string]string{"owner": roles.ownerURL, "main role": mainURL} {
		cfg := testConfig(t, "http://localhost:1", testenv.NewClock(time.Now()), &syncBuffer{})
		cfg.AuditDatabaseURL, cfg.AuditSchema = dsn, roles.schema
		_, err := New(ctx, cfg)
		require.Error(t, err, name)
		if name == "owner" {
			assert.ErrorContains(t, err, "may change or delete audit rows")
		} else {
			assert.ErrorContains(t, err, "audit-setup")
		}
	}
}

// TestAuditCheckpoints_DetectRewriteWithKey is ASVS 16.4.3: the server
// ships its chain's checkpoints to the database (the audit database's
// insert-only table, or the main database's), and audit-verify, checking
// the chain against them, catches a chain rewritten by someone holding the
// audit key, which the key alone cannot.
func TestAuditCheckpoints_DetectRewriteWithKey(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"sqlite", "postgres insert-only"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{}
			var opt func(*Config)
			if mode != "sqlite" {
				roles := newAuditRoles(t)
				roles.setup(t)
				env[envAuditDatabaseURL], env[envAuditSchema] = roles.writerURL, roles.schema
				opt = func(c *Config) { c.AuditDatabaseURL, c.AuditSchema = roles.writerURL, roles.schema }
			} else {
				opt = func(*Config) {}
			}
			ta := newTestApp(t, opt)
			dataDir := ta.cfg.DataDir
			env["MARKETPLACE_DATA"] = dataDir
			key := append([]byte(nil), ta.keys.AuditKey.Reveal()...)
			ctx := t.Context()

			// Events, among them the one an intruder wants gone.
			start := ta.auditFile.Checkpoint().Seq
			for _, reason := range []string{"first", "the intruder's sign-in", "last"} {
				ta.audit.Log(ctx, audit.Event{Category: audit.CategoryAdmin, Action: ActionSessionsRevoked, Outcome: audit.OutcomeSuccess, Reason: reason})
			}
			require.Eventually(t, func() bool { return ta.auditFile.Checkpoint().Seq >= start+3 }, 10*time.Second, 5*time.Millisecond)
			ta.shipCheckpoint(ctx) // as the janitor does hourly
			cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			require.NoError(t, ta.Close(cctx)) // seals, and ships the last checkpoint

			res := runCLI(t, env, "audit-verify")
			require.Equal(t, 0, res.Code, "stdout: %s\nstderr: %s", res.Stdout, res.Stderr)
			assert.Contains(t, res.Stdout, "OK: server chain")
			assert.Contains(t, res.Stdout, "matches the 3 checkpoints", "shipped at start, at the janitor's call and at shutdown")

			st, closeStore, err := openAuditStoreForCLI(ctx, dataDir, mapEnv(env))
			require.NoError(t, err)
			shipped, err := st.checkpointsOf(ctx, ta.instance)
			closeStore()
			require.NoError(t, err)
			require.Len(t, shipped, 3)

			// The intruder, holding the key, rewrites the chain without
			// their sign-in, sealed like the original: with the key
			// alone, the rewrite verifies.
			dir := filepath.Join(dataDir, "audit")
			forgeChain(t, dir, key, false)
			_, err = chain.Verify(ctx, os.DirFS(dir), key, chain.VerifyConfig{RequireSealed: true})
			require.NoError(t, err, "with the key alone, the rewrite verifies")
			res = runCLI(t, env, "audit-verify")
			assert.Equal(t, 1, res.Code, "stdout: %s\nstderr: %s", res.Stdout, res.Stderr)
			assert.Contains(t, res.Stderr, "TAMPERED: server chain")

			// A forged chain that claims retention deleted everything
			// before it skips every checkpoint in chain.Verify; a
			// checkpoint shipped days ago cannot have been pruned.
			forgeChain(t, dir, key, true)
			_, err = chain.Verify(ctx, os.DirFS(dir), key, chain.VerifyConfig{RequireSealed: true, Checkpoints: plain(shipped)})
			require.NoError(t, err, "the retention claim hides the checkpoints from chain.Verify")
			res = runCLI(t, env, "audit-verify")
			assert.Equal(t, 1, res.Code, "stdout: %s\nstderr: %s", res.Stdout, res.Stderr)
			assert.Contains(t, res.Stderr, "claims retention deleted the records before it")

			// Checkpoints of the forged chain, inserted by whoever holds
			// the writer's credentials, do not outvote the genuine ones.
			forgeChain(t, dir, key, false)
			cp := lastRecord(t, dir, key)
			st, closeStore, err = openAuditStoreForCLI(ctx, dataDir, mapEnv(env))
			require.NoError(t, err)
			for range 30 {
				require.NoError(t, st.shipCheckpoint(ctx, ta.instance, cp, time.Now()))
			}
			closeStore()
			res = runCLI(t, env, "audit-verify")
			assert.Equal(t, 1, res.Code, "stdout: %s\nstderr: %s", res.Stdout, res.Stderr)
			assert.Contains(t, res.Stderr, "TAMPERED: server chain")

			// Without any shipped checkpoint (another instance name), it
			// refuses rather than vouch for the chain on the key alone.
			env[envInstance] = "someone-else"
			res = runCLI(t, env, "audit-verify")
			assert.Equal(t, 1, res.Code)
			assert.Contains(t, res.Stderr, "no checkpoint of instance")
		})
	}
}

// forgeChain replaces the server chain in dir with one written with the
// key, without the intruder's sign-in. With claimRetention, its first
// records are pruned by a short retention (on a clock moved ahead), so
// that its newest file claims every record before it was deleted by
// retention.
func forgeChain(t *testing.T, dir string, key []byte, claimRetention bool) {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "audit-*.jsonl"))
	require.NoError(t, err)
	for _, n := range names {
		if !strings.HasPrefix(filepath.Base(n), cliChainPrefix+"-") {
			require.NoError(t, os.Remove(n))
		}
	}
	clock := testenv.NewClock(time.Now())
	cfg := chain.Config{Now: clock.Now}
	if claimRetention {
		cfg.Retention = audit.Retention{audit.CategoryAdmin: time.Hour}
	}
	fake, err := chain.New(dir, key, cfg)
	require.NoError(t, err)
	l := audit.MustNew(fake, audit.Config{Now: clock.Now})
	ctx := t.Context()
	log := func(reason string) {
		l.Log(ctx, audit.Event{Category: audit.CategoryAdmin, Action: ActionSessionsRevoked, Outcome: audit.OutcomeSuccess, Reason: reason})
	}
	log("first")
	if claimRetention {
		for range 20 {
			log("filler")
		}
		require.NoError(t, fake.Rotate(ctx))
		clock.Add(2 * time.Hour)
		log("last")
		require.NoError(t, fake.Rotate(ctx))
	}
	log("last")
	require.NoError(t, fake.Close(ctx))
}

// lastRecord returns the checkpoint of the chain's newest record.
func lastRecord(t *testing.T, dir string, key []byte) chain.Checkpoint {
	t.Helper()
	rep, err := chain.Verify(t.Context(), os.DirFS(dir), key, chain.VerifyConfig{RequireSealed: true})
	require.NoError(t, err)
	return rep.Last
}

// TestInstanceName: the name is created once and kept; a configured one
// must be printable.
func TestInstanceName(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	first, err := instanceName(dir, "")
	require.NoError(t, err)
	assert.Len(t, first, 26)
	again, err := instanceName(dir, "")
	require.NoError(t, err)
	assert.Equal(t, first, again, "kept in the data directory")
	fi, err := os.Stat(filepath.Join(dir, instanceFile))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	got, err := instanceName(dir, "web-1")
	require.NoError(t, err)
	assert.Equal(t, "web-1", got)
	for _, bad := range []string{"web 1", "web\n1", strings.Repeat("x", 101)} {
		_, err := instanceName(dir, bad)
		assert.ErrorContains(t, err, envInstance, "%q", bad)
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, instanceFile), []byte("\n"), 0o600))
	_, err = instanceName(dir, "")
	assert.ErrorContains(t, err, "is empty")
}

// TestAuditCommands_Refuse: mistakes on the command line, and a missing
// chain or checkpoint, are refused with what to do.
func TestAuditCommands_Refuse(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		env  map[string]string
		args []string
		code int
		msg  string
	}{
		{nil, []string{"audit-setup"}, 2, "give the writer role's name"},
		{nil, []string{"audit-setup", "-writer", "Robert'); DROP"}, 2, "give the writer role's name"},
		{nil, []string{"audit-setup", "-writer", "w", "-schema", "a.b"}, 2, "-schema"},
		{nil, []string{"audit-setup", "-writer", "w"}, 2, envAuditOwnerDatabaseURL},
		{map[string]string{envAuditOwnerDatabaseURL: "mysql://x"}, []string{"audit-setup", "-writer", "w"}, 2, "want a postgres:// URL"},
		{nil, []string{"audit-verify", "-data", t.TempDir()}, 1, "no audit chain"},
		{nil, []string{"audit-verify", "extra"}, 2, "unexpected argument"},
	} {
		res := runCLI(t, tt.env, tt.args...)
		assert.Equal(t, tt.code, res.Code, "%v: %s", tt.args, res.Stderr)
		assert.Contains(t, res.Stderr, tt.msg, "%v", tt.args)
	}
}
