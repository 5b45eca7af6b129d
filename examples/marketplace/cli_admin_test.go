package main

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCreateAdmin runs the create-admin command: command-line mistakes and
// refused passwords change nothing; the administrator it creates can log in
// (and is sent to enrol a second factor), ends the setup token's offer, and
// is recorded in the audit table and the sealed command-line chain.
func TestCreateAdmin(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	env := map[string]string{"MARKETPLACE_DATA": dataDir}
	tests := []struct {
		name, stdin string
		args        []string
		code        int
		stderr      string
	}{
		{"no e-mail", goodPassword + "\n", nil, 2, "-email is required"},
		{"not an e-mail", goodPassword + "\n", []string{"-email", "root"}, 2, "valid e-mail address"},
		{"control character in the name", goodPassword + "\n", []string{"-email", "root@example.com", "-name", "Ro\x00ot"}, 2, "control characters"},
		{"password as an argument", "", []string{"-email", "root@example.com", goodPassword}, 2, "read from stdin"},
		{"no password", "", []string{"-email", "root@example.com"}, 1, "no password on standard input"},
		{"empty password", "\n", []string{"-email", "root@example.com"}, 1, "the password is empty"},
		{"weak password", "password\n", []string{"-email", "root@example.com"}, 1, "password refused"},
	}
	for _, tt := range tests {
		res := runCLIStdin(t, env, tt.stdin, append([]string{"create-admin"}, tt.args...)...)
		assert.Equal(t, tt.code, res.Code, "%s: %s", tt.name, res.Stderr)
		assert.Contains(t, res.Stderr, tt.stderr, tt.name)
		assert.Empty(t, res.Stdout, tt.name)
	}

	res := runCLIStdin(t, env, goodPassword+"\n", "create-admin", "-email", " Root@Example.com ", "-name", "Root")
	require.Equal(t, 0, res.Code, res.Stderr)
	assert.Contains(t, res.Stdout, "Administrator root@example.com created")
	assert.NotContains(t, res.Stdout+res.Stderr, goodPassword)
	// The same address again: refused.
	res = runCLIStdin(t, env, goodPassword+"\n", "create-admin", "-email", "root@example.com")
	assert.Equal(t, 1, res.Code)
	assert.Contains(t, res.Stderr, "exists already")

	// The site on the same data directory: no setup token, and the
	// administrator logs in with the password and must enrol a factor.
	ta := newTestApp(t, func(c *Config) { c.DataDir, c.DisableSetupToken = dataDir, false })
	open, err := ta.db.setupOpen(context.Background())
	require.NoError(t, err)
	assert.False(t, open)
	assert.NotContains(t, ta.Logs.String(), "setup token")
	assert.Equal(t, 1, ta.count(`SELECT COUNT(*) FROM users`), "the refused runs created nobody")
	u, err := ta.db.userByEmail(context.Background(), "root@example.com")
	require.NoError(t, err)
	assert.Equal(t, "Root", u.DisplayName)
	assert.Equal(t, []string{roleAdmin}, u.Roles)
	r := ta.client().post("/login", url.Values{"email": {"root@example.com"}, "password": {goodPassword}})
	require.Equal(t, http.StatusSeeOther, r.Status, r.Body)
	assert.Contains(t, r.Location, "/account/mfa")

	rows := ta.waitAuditRows("role.granted")
	require.Len(t, rows, 1)
	assert.Equal(t, auditRow{Category: "access", Action: "role.granted", Outcome: "success", ActorID: "system", TargetID: u.ID,
		Reason: "administrator created with the create-admin command"}, rows[0])
	keys, err := loadSecrets(context.Background(), noEnv, false, dataDir)
	require.NoError(t, err)
	var chained []string
	for _, e := range chainEvents(t, dataDir, keys.AuditKey.Reveal()) {
		chained = append(chained, string(e.Action)+" "+e.Target.ID)
	}
	assert.Equal(t, []string{"role.granted " + u.ID}, chained)
}
