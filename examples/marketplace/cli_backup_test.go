package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
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
	"github.com/deployedworks/rampart/audit/sqlsink"
	"github.com/deployedworks/rampart/secrets"
)

// cliResult is what a run of the command printed and returned.
type cliResult struct {
	Code           int
	Stdout, Stderr string
}

// runCLI runs the marketplace command with args and the environment env.
func runCLI(t testing.TB, env map[string]string, args ...string) cliResult {
	t.Helper()
	return runCLIStdin(t, env, "", args...)
}

// runCLIStdin is runCLI with stdin as the command's standard input.
func runCLIStdin(t testing.TB, env map[string]string, stdin string, args ...string) cliResult {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), args, strings.NewReader(stdin), &stdout, &stderr, mapEnv(env))
	return cliResult{Code: code, Stdout: stdout.String(), Stderr: stderr.String()}
}

// dumpRows returns every row of the tables, in a stable order, as text.
func dumpRows(t testing.TB, db *store, tables ...string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, table := range tables {
		rows, err := db.query(context.Background(), "SELECT * FROM "+table+" ORDER BY 1, 2")
		require.NoError(t, err)
		cols, err := rows.Columns()
		require.NoError(t, err)
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			require.NoError(t, rows.Scan(ptrs...))
			out[table] = append(out[table], fmt.Sprintf("%v", vals))
		}
		require.NoError(t, rows.Err())
		require.NoError(t, rows.Close())
	}
	return out
}

// chainEvents reads the events of the command-line audit chain in dataDir
// after checking that the chain verifies and is sealed.
func chainEvents(t testing.TB, dataDir string, auditKey []byte) []audit.Event {
	t.Helper()
	dir := filepath.Join(dataDir, "audit")
	_, err := chain.Verify(context.Background(), os.DirFS(dir), auditKey, chain.VerifyConfig{Prefix: cliChainPrefix, RequireSealed: true})
	require.NoError(t, err, "the command-line chain verifies")
	names, err := filepath.Glob(filepath.Join(dir, cliChainPrefix+"-*.jsonl"))
	require.NoError(t, err)
	var out []audit.Event
	for _, n := range names {
		f, err := os.Open(n)
		require.NoError(t, err)
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var rec struct {
				Event *audit.Event `json:"event"`
			}
			require.NoError(t, json.Unmarshal(sc.Bytes(), &rec))
			if rec.Event != nil {
				out = append(out, *rec.Event)
			}
		}
		require.NoError(t, sc.Err())
		require.NoError(t, f.Close())
	}
	return out
}

// actions lists "action outcome" for each event whose action starts with
// "backup.".
func backupActions(events []audit.Event) []string {
	var out []string
	for _, e := range events {
		if strings.HasPrefix(string(e.Action), "backup.") {
			out = append(out, string(e.Action)+" "+string(e.Outcome))
		}
	}
	return out
}

// tableActions is backupActions for the app's audit table.
func tableActions(t testing.TB, ta *testApp) []string {
	t.Helper()
	page, err := ta.auditSQL.Query(context.Background(), sqlsink.Query{ActionPrefix: "backup.", Limit: 100})
	require.NoError(t, err)
	var events []audit.Event
	for i := len(page.Records) - 1; i >= 0; i-- { // oldest first
		events = append(events, page.Records[i].Event)
	}
	return backupActions(events)
}

// TestBackupRestore_RoundTrip is the operator's procedure end to end, in
// development mode: data written through the site, a backup taken while it
// runs, the data directory lost, a restore from the backup (after
// refusing a restore without the development secrets, a tampered backup
// and a truncated one), and the site back with the same rows, the same
// passwords and every step in the audit log.
func TestBackupRestore_RoundTrip(t *testing.T) {
	t.Parallel()
	dataDir := filepath.Join(t.TempDir(), "data")
	backupFile := filepath.Join(t.TempDir(), "marketplace.bak")
	env := map[string]string{}
	dataFlag := []string{"-data", dataDir}

	// Data written through the site.
	ta := newTestApp(t, func(c *Config) { c.DataDir = dataDir })
	alice := ta.client()
	ta.signUp(alice, "alice@example.com", "Alice")
	for _, title := range []string{"Brass teapot", "Walnut bookshelf"} {
		r := alice.post("/listings", url.Values{"title": {title}, "description": {"Good condition."}, "price": {"12.50"}})
		require.Equal(t, http.StatusSeeOther, r.Status, r.Body)
	}
	bob := ta.client()
	ta.signUp(bob, "bob@example.com", "Bob")
	tables := []string{"users", "user_roles", "listings"}
	want := dumpRows(t, ta.db, tables...)
	require.Len(t, want["users"], 2)
	require.Len(t, want["listings"], 2)

	// Backup while the server runs.
	res := runCLI(t, env, append([]string{"backup", "-out", backupFile}, dataFlag...)...)
	require.Equal(t, 0, res.Code, res.Stderr)
	assert.Regexp(t, `^backup: ok: backup [0-9a-f]{32} of .*, key dev\n$`, res.Stdout)
	assert.Contains(t, res.Stderr, devSecretsFile, "development mode says where the backup key is")
	info, err := os.Stat(backupFile)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())
	res = runCLI(t, env, append([]string{"backup", "-out", backupFile}, dataFlag...)...)
	assert.Equal(t, 1, res.Code, "never overwrites a backup")
	assert.Contains(t, res.Stderr, "must not exist")
	res = runCLI(t, env, append([]string{"backup-verify", "-in", backupFile}, dataFlag...)...)
	require.Equal(t, 0, res.Code, res.Stderr)
	assert.Contains(t, res.Stdout, "backup-verify: ok: backup ")

	// A restore while the server runs is refused, and leaves the data alone.
	res = runCLI(t, env, append([]string{"restore", "-in", backupFile}, dataFlag...)...)
	assert.Equal(t, 1, res.Code)
	assert.Contains(t, res.Stderr, "stop it first")
	assert.Equal(t, []string{"backup.created success", "backup.verified success", "backup.restored failure"}, tableActions(t, ta),
		"the audit table shows the commands")
	require.NoError(t, ta.Close(context.Background()))

	keys, err := loadSecrets(context.Background(), noEnv, false, dataDir)
	require.NoError(t, err)
	auditKey := keys.AuditKey.Reveal()
	assert.Equal(t, []string{"backup.created success", "backup.verified success", "backup.restored failure"},
		backupActions(chainEvents(t, dataDir, auditKey)), "so does the command-line audit chain")

	// The machine is lost; the operator kept the backup and a copy of
	// dev-secrets.env.
	devSecrets, err := os.ReadFile(filepath.Join(dataDir, devSecretsFile))
	require.NoError(t, err)
	require.NoError(t, os.RemoveAll(dataDir))

	res = runCLI(t, env, append([]string{"restore", "-in", backupFile}, dataFlag...)...)
	assert.Equal(t, 1, res.Code, "without the development secrets there is nothing to restore with")
	assert.Contains(t, res.Stderr, envBackupKeys)
	assert.Contains(t, res.Stderr, devSecretsFile)
	assert.NoFileExists(t, filepath.Join(dataDir, devSecretsFile), "restore never generates secrets")
	require.NoError(t, os.MkdirAll(dataDir, 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(dataDir, devSecretsFile), devSecrets, 0o600))

	good, err := os.ReadFile(backupFile)
	require.NoError(t, err)
	tampered := bytes.Clone(good)
	tampered[len(tampered)/2] ^= 0x01
	for _, bad := range []struct {
		name, want string
		data       []byte
	}{
		{"tampered", "tampered", tampered},
		{"truncated", "truncated", good[:len(good)/2]},
		{"not a backup", "not a Rampart backup", []byte("SQLite format 3\x00")},
	} {
		file := filepath.Join(t.TempDir(), bad.name+".bak")
		require.NoError(t, os.WriteFile(file, bad.data, 0o600))
		res = runCLI(t, env, append([]string{"backup-verify", "-in", file}, dataFlag...)...)
		assert.Equal(t, 1, res.Code, bad.name)
		assert.Contains(t, res.Stderr, bad.want, bad.name)
		res = runCLI(t, env, append([]string{"restore", "-in", file}, dataFlag...)...)
		assert.Equal(t, 1, res.Code, bad.name)
		assert.Contains(t, res.Stderr, bad.want, bad.name)
		assert.NoFileExists(t, filepath.Join(dataDir, dbFile), "%s: nothing was restored", bad.name)
	}

	res = runCLI(t, env, append([]string{"restore", "-in", backupFile}, dataFlag...)...)
	require.Equal(t, 0, res.Code, res.Stderr)
	assert.Regexp(t, `^restore: ok: backup [0-9a-f]{32} .*; signed out \d+ session\(s\) stored in the backup\n$`, res.Stdout)
	info, err = os.Stat(filepath.Join(dataDir, dbFile))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())

	// The refusals and the restore are in the new command-line chain; the
	// restored database's table has the restore (the refusals found no
	// database to write to).
	assert.Equal(t, []string{
		"backup.rejected failure", "backup.rejected failure", // tampered
		"backup.rejected failure", "backup.rejected failure", // truncated
		"backup.rejected failure", "backup.rejected failure", // not a backup
		"backup.restored success",
	}, backupActions(chainEvents(t, dataDir, auditKey)))
	for _, e := range chainEvents(t, dataDir, auditKey) {
		if e.Action == "backup.rejected" {
			assert.Equal(t, audit.CategorySecurityAlert, e.Category)
		}
	}

	// The site comes back with the same rows; the sessions of the backup
	// were signed out, and the passwords still work (same pepper).
	ta2 := newTestApp(t, func(c *Config) { c.DataDir = dataDir })
	assert.Equal(t, want, dumpRows(t, ta2.db, tables...))
	assert.Equal(t, []string{"backup.restored success"}, tableActions(t, ta2),
		"the table is as it was when the snapshot was taken (before its own backup.created), plus the restore")
	alice.base = ta2.URL
	r := alice.get("/account")
	assert.Equal(t, http.StatusSeeOther, r.Status, "a session from before the restore is gone")
	c, _ := ta2.login("alice@example.com")
	r = c.get("/my/listings")
	require.Equal(t, http.StatusOK, r.Status)
	assert.Contains(t, r.Body, "Brass teapot")
	assert.Contains(t, r.Body, "Walnut bookshelf")
}

// TestBackupCommands_Refusals are the command lines that must not run.
func TestBackupCommands_Refusals(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	file := filepath.Join(t.TempDir(), "x.bak")
	require.NoError(t, os.WriteFile(file, []byte("x"), 0o600))
	pg := map[string]string{"DATABASE_URL": "postgres://db.example/market"}
	tests := []struct {
		name string
		env  map[string]string
		args []string
		code int
		want []string
	}{
		{"backup with DATABASE_URL", pg, []string{"backup", "-data", dataDir, "-out", file + "2"}, 1, []string{"DATABASE_URL is set", "pg_dump"}},
		{"restore with DATABASE_URL", pg, []string{"restore", "-data", dataDir, "-in", file}, 1, []string{"DATABASE_URL is set"}},
		{"verify with DATABASE_URL", pg, []string{"backup-verify", "-data", dataDir, "-in", file}, 1, []string{"DATABASE_URL is set"}},
		{"backup without -out", nil, []string{"backup", "-data", dataDir}, 2, []string{"-out FILE is required"}},
		{"restore without -in", nil, []string{"restore", "-data", dataDir}, 2, []string{"-in FILE is required"}},
		{"restore with -out", nil, []string{"restore", "-data", dataDir, "-out", file}, 2, []string{"flag provided but not defined: -out"}},
		{"extra argument", nil, []string{"backup-verify", "-in", file, "now"}, 2, []string{`unexpected argument "now"`}},
		{"backup of no database", nil, []string{"backup", "-data", dataDir, "-out", file + "3"}, 1, []string{"no database to back up"}},
		{"prod restore without secrets names each", nil, []string{"restore", "-prod", "-data", dataDir, "-in", file}, 1,
			[]string{envBackupKeys, envSessionKeys, envDataKeys, envAuditKey, envPepper, envRecoveryKey}},
	}
	// The production row needs a database to get as far as the secrets.
	prodDir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(prodDir, dbFile), nil, 0o600))
	tests = append(tests, struct {
		name string
		env  map[string]string
		args []string
		code int
		want []string
	}{"prod backup without the backup key", prodEnv(t), []string{"backup", "-prod", "-data", prodDir, "-out", file + "4"}, 1,
		[]string{"cannot start without " + envBackupKeys + " "}})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runCLI(t, tt.env, tt.args...)
			assert.Equal(t, tt.code, res.Code, res.Stderr)
			for _, w := range tt.want {
				assert.Contains(t, res.Stderr, w)
			}
			assert.NoFileExists(t, filepath.Join(dataDir, dbFile), "nothing was created")
			assert.NoFileExists(t, filepath.Join(dataDir, devSecretsFile), "no secret was generated")
		})
	}
}

// TestBackupRestore_Prod is the round trip with production secrets from the
// environment: nothing is read from or written to dev-secrets.env, and a
// backup sealed under a key the keyring lacks is refused.
func TestBackupRestore_Prod(t *testing.T) {
	t.Parallel()
	env := prodEnv(t)
	env[envBackupKeys] = "2026-06:" + devSecret(envAuditKey)
	dataDir := t.TempDir()
	ta := newTestApp(t, func(c *Config) { c.DataDir = dataDir; c.Secrets = secrets.Env{LookupEnv: mapEnv(env)} })
	ta.createUser("carol@example.com", "Carol")
	want := dumpRows(t, ta.db, "users")
	require.NoError(t, ta.Close(context.Background()))

	file := filepath.Join(t.TempDir(), "prod.bak")
	res := runCLI(t, env, "backup", "-prod", "-data", dataDir, "-out", file)
	require.Equal(t, 0, res.Code, res.Stderr)
	assert.Contains(t, res.Stdout, "key 2026-06")
	assert.Empty(t, res.Stderr, "no development notice")
	assert.NoFileExists(t, filepath.Join(dataDir, devSecretsFile))

	other := map[string]string{}
	for k, v := range env {
		other[k] = v
	}
	other[envBackupKeys] = "2027-01:" + devSecret(envAuditKey)
	res = runCLI(t, other, "restore", "-prod", "-data", dataDir, "-in", file)
	assert.Equal(t, 1, res.Code)
	assert.Contains(t, res.Stderr, "sealed under a key this keyring does not have")

	// Rotation: the old key kept after the new primary still opens it.
	other[envBackupKeys] += "," + env[envBackupKeys]
	require.NoError(t, os.Remove(filepath.Join(dataDir, dbFile)))
	res = runCLI(t, other, "restore", "-prod", "-data", dataDir, "-in", file)
	require.Equal(t, 0, res.Code, res.Stderr)
	db, err := openStore(context.Background(), dataDir, "", time.Now)
	require.NoError(t, err)
	defer db.Close()
	assert.Equal(t, want, dumpRows(t, db, "users"))
}
