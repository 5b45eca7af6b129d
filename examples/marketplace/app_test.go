package main

import (
	"context"
	"errors"
	"html"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/internal/testenv"
	"github.com/deployedworks/rampart/secrets"
)

func TestNew_ConfigErrors(t *testing.T) {
	t.Parallel()
	clock := testenv.NewClock(time.Now())
	tests := []struct {
		name   string
		mutate func(*Config)
		want   []string
	}{
		{"no public URL", func(c *Config) { c.PublicURL = "" }, []string{"PublicURL is required"}},
		{"IP address public URL", func(c *Config) { c.PublicURL = "http://127.0.0.1:8080" }, []string{"host name, not an IP address"}},
		{"public URL with a path", func(c *Config) { c.PublicURL = "http://localhost:8080/app" }, []string{"only scheme, host and port"}},
		{"public URL with another scheme", func(c *Config) { c.PublicURL = "ftp://localhost" }, []string{"scheme must be http or https"}},
		{"no data dir", func(c *Config) { c.DataDir = "" }, []string{"DataDir is required"}},
		{"prod over plain HTTP", func(c *Config) { c.Prod = true }, []string{"-prod needs an https public URL"}},
		{"prod without secrets names every one", func(c *Config) { c.Prod = true; c.PublicURL = "https://market.example" },
			[]string{envSessionKeys, envDataKeys, envAuditKey, envPepper, envRecoveryKey, envSMTPURL}},
		{"prod without SMTP", func(c *Config) {
			c.Prod = true
			c.PublicURL = "https://market.example"
			env := prodEnv(t)
			delete(env, envSMTPURL)
			c.Secrets = secrets.Env{LookupEnv: mapEnv(env)}
		}, []string{"cannot start without " + envSMTPURL}},
		{"prod with plain-text SMTP", func(c *Config) {
			c.Prod = true
			c.PublicURL = "https://market.example"
			env := prodEnv(t)
			env[envSMTPURL] = "smtp+plain://mailer:s3cret-pw@localhost:1025"
			c.Secrets = secrets.Env{LookupEnv: mapEnv(env)}
		}, []string{envSMTPURL, "development server only"}},
		{"bad mail sender", func(c *Config) { c.MailFrom = "not an address" }, []string{"MailFrom"}},
		{"prod with an invalid secret", func(c *Config) {
			c.Prod = true
			c.PublicURL = "https://market.example"
			env := prodEnv(t)
			env[envPepper] = "c2hvcnQ=" // "short"
			c.Secrets = secrets.Env{LookupEnv: mapEnv(env)}
		}, []string{envPepper}},
		{"bad redis URL", func(c *Config) { c.RedisURL = "mysql://nope" }, []string{"REDIS_URL"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := testConfig(t, "http://localhost:1", clock, &syncBuffer{})
			tt.mutate(&cfg)
			app, err := New(context.Background(), cfg)
			require.Error(t, err)
			assert.Nil(t, app)
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

// prodEnv returns a complete set of production secrets.
func prodEnv(t testing.TB) map[string]string {
	t.Helper()
	return map[string]string{
		envSessionKeys: "s1:" + devSecret(envAuditKey),
		envDataKeys:    "d1:" + devSecret(envAuditKey),
		envAuditKey:    devSecret(envAuditKey),
		envPepper:      devSecret(envPepper),
		envRecoveryKey: devSecret(envRecoveryKey),
		envSMTPURL:     "smtp://mailer:s3cret-pw@smtp.market.example:587",
	}
}

func mapEnv(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestNew_ProdWithSecrets(t *testing.T) {
	t.Parallel()
	clock := testenv.NewClock(time.Now())
	cfg := testConfig(t, "https://market.example", clock, &syncBuffer{})
	cfg.Prod = true
	cfg.Secrets = secrets.Env{LookupEnv: mapEnv(prodEnv(t))}
	app, err := New(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, app.Close(context.Background())) })
	// Production generates nothing and writes no development secrets.
	assert.Empty(t, app.keys.Generated)
	_, err = os.Stat(filepath.Join(cfg.DataDir, devSecretsFile))
	assert.True(t, errors.Is(err, fs.ErrNotExist))
	// security.txt names its canonical https location and the policy page.
	assert.Contains(t, app.securityTxt.Body(), "Canonical: https://market.example/.well-known/security.txt")
	assert.Contains(t, app.securityTxt.Body(), "Policy: https://market.example/security")
}

func TestDevSecrets_PersistAcrossRestarts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	first, err := loadSecrets(context.Background(), noEnv, false, dir)
	require.NoError(t, err)
	assert.Len(t, first.Generated, 5)
	info, err := os.Stat(filepath.Join(dir, devSecretsFile))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())
	second, err := loadSecrets(context.Background(), noEnv, false, dir)
	require.NoError(t, err)
	assert.Empty(t, second.Generated, "the second run reuses the generated secrets")
	assert.Equal(t, first.Peppers[0].ID, second.Peppers[0].ID)
	assert.Equal(t, first.AuditKey.Reveal(), second.AuditKey.Reveal())

	// An environment value wins over the file; an invalid one is an error
	// even in development, never silently replaced.
	env := map[string]string{envPepper: devSecret(envPepper)}
	third, err := loadSecrets(context.Background(), secrets.Env{LookupEnv: mapEnv(env)}, false, dir)
	require.NoError(t, err)
	assert.NotEqual(t, first.Peppers[0].ID, third.Peppers[0].ID)
	env[envPepper] = "not base64!"
	_, err = loadSecrets(context.Background(), secrets.Env{LookupEnv: mapEnv(env)}, false, dir)
	require.ErrorContains(t, err, envPepper)

	// A previous pepper, for rotation, verifies old hashes.
	env[envPepper] = devSecret(envPepper)
	env[envPepperPrevious] = devSecret(envPepper)
	rot, err := loadSecrets(context.Background(), secrets.Env{LookupEnv: mapEnv(env)}, false, dir)
	require.NoError(t, err)
	assert.Len(t, rot.Peppers, 2)
}

func TestSecurityHeadersAndCSP(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t)
	c := ta.client()
	for _, path := range []string{"/", "/login", "/signup", "/listings", "/security"} {
		r := c.get(path)
		require.Equal(t, http.StatusOK, r.Status, path)
		csp := r.Header.Get("Content-Security-Policy")
		m := regexp.MustCompile(`'nonce-([^']+)'`).FindStringSubmatch(csp)
		require.Len(t, m, 2, "%s: CSP %q has a nonce", path, csp)
		assert.Contains(t, csp, "'strict-dynamic'")
		assert.Contains(t, csp, "report-uri /csp-report")
		assert.NotContains(t, csp, "unsafe-inline")
		assert.Equal(t, "DENY", r.Header.Get("X-Frame-Options"))
		assert.Equal(t, "nosniff", r.Header.Get("X-Content-Type-Options"))
		assert.Equal(t, "same-origin", r.Header.Get("Referrer-Policy"))
		assert.Equal(t, "no-store", r.Header.Get("Cache-Control"))
		assert.NotEmpty(t, r.Header.Get("X-Request-Id"))
		// Every script tag carries this response's nonce.
		// (html/template writes '+' as &#43;, which browsers decode.)
		for _, tag := range regexp.MustCompile(`<script[^>]*>`).FindAllString(r.Body, -1) {
			assert.Contains(t, html.UnescapeString(tag), `nonce="`+m[1]+`"`, "%s: %s", path, tag)
		}
	}
	// Plain HTTP sends no HSTS (RFC 6797 §7.2).
	assert.Empty(t, c.get("/").Header.Get("Strict-Transport-Security"))
}

// TestTemplates_NoInlineCode is the static side of the CSP: no inline event
// handler, style attribute, javascript: URL, or script/style element
// without the nonce, in any template.
func TestTemplates_NoInlineCode(t *testing.T) {
	t.Parallel()
	names, err := fs.Glob(assetsFS, "templates/*.html")
	require.NoError(t, err)
	require.NotEmpty(t, names)
	for _, n := range names {
		b, err := fs.ReadFile(assetsFS, n)
		require.NoError(t, err)
		s := string(b)
		assert.NotRegexp(t, `(?i)\son[a-z]+\s*=`, s, n)
		assert.NotRegexp(t, `(?i)\sstyle\s*=`, s, n)
		assert.NotContains(t, strings.ToLower(s), "javascript:", n)
		for _, tag := range regexp.MustCompile(`(?i)<(script|style)\b[^>]*>`).FindAllString(s, -1) {
			assert.Contains(t, tag, `nonce="{{.Nonce}}"`, "%s: %s", n, tag)
		}
	}
}

func TestHealthz(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t)
	r := ta.client().get("/healthz")
	assert.Equal(t, http.StatusOK, r.Status)
	assert.Equal(t, "ok\n", r.Body)
	require.NoError(t, ta.db.Close()) // the database goes away
	// 503 once the last result, reused for a second, is stale.
	require.Eventually(t, func() bool {
		r = ta.client().get("/healthz")
		return r.Status == http.StatusServiceUnavailable
	}, 30*time.Second, 20*time.Millisecond)
	assert.Equal(t, "unavailable\n", r.Body, "names nothing")
}

func TestSecurityTxtAndPolicyPage(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t)
	c := ta.client()
	r := c.get("/.well-known/security.txt")
	require.Equal(t, http.StatusOK, r.Status)
	assert.Contains(t, r.Body, "Contact: mailto:security@deployed.works")
	assert.Contains(t, r.Body, "Expires: ")
	r = c.get("/security")
	require.Equal(t, http.StatusOK, r.Status)
	assert.Contains(t, r.Body, `id="security-contact"`)
	assert.Contains(t, r.Body, "Responsible disclosure")
}

func TestCSPReportEndpoint(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t)
	c := ta.client()
	post := func(ct, body string, crossSite bool) resp {
		req, err := http.NewRequest(http.MethodPost, ta.URL+"/csp-report", strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", ct)
		if crossSite { // browsers send reports without the user: not a forgery
			req.Header.Set("Sec-Fetch-Site", "cross-site")
		}
		return c.do(req)
	}
	good := `{"csp-report":{"document-uri":"http://localhost/x","violated-directive":"script-src-elem","effective-directive":"script-src-elem","blocked-uri":"inline","original-policy":"x","disposition":"enforce","status-code":200}}`
	tests := []struct {
		name, ct, body string
		cross          bool
		want           int
	}{
		{"report", "application/csp-report", good, true, http.StatusNoContent},
		{"wrong media type", "text/plain", good, false, http.StatusUnsupportedMediaType},
		{"malformed", "application/csp-report", `{"csp-report":`, false, http.StatusBadRequest},
		{"oversized", "application/csp-report", strings.Repeat("x", 70<<10), false, http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, post(tt.ct, tt.body, tt.cross).Status, tt.name)
	}
}

func TestStaticAssets(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t)
	c := ta.client()
	r := c.get("/static/webauthn.js")
	require.Equal(t, http.StatusOK, r.Status)
	assert.Contains(t, r.Header.Get("Content-Type"), "javascript")
	assert.Contains(t, r.Body, "parseCreationOptionsFromJSON")
	assert.Contains(t, r.Header.Get("Cache-Control"), "max-age")
	r = c.get("/static/style.css")
	require.Equal(t, http.StatusOK, r.Status)
	assert.Equal(t, http.StatusNotFound, c.get("/static/nope.js").Status)
}

func TestNotFoundAndMethods(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t)
	c := ta.client()
	r := c.get("/no/such/page")
	assert.Equal(t, http.StatusNotFound, r.Status)
	assert.Contains(t, r.Body, "There is nothing here")
	assert.Contains(t, r.Body, `id="request-id"`)
	// A method a route does not take falls through to the same clear 404.
	r = c.post("/healthz", nil)
	assert.Equal(t, http.StatusNotFound, r.Status)
	assert.Contains(t, r.Body, "There is nothing here")
}

func TestCrossOriginPostRefused(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t)
	ta.createUser("victim@example.com", "Victim")
	c := ta.client()
	form := url.Values{"email": {"victim@example.com"}, "password": {goodPassword}}
	req, err := http.NewRequest(http.MethodPost, ta.URL+"/login", strings.NewReader(form.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	req.Header.Set("Origin", "https://evil.example")
	r := c.do(req)
	assert.Equal(t, http.StatusForbidden, r.Status)
	assert.Contains(t, r.Body, "came from another site")
	assert.Empty(t, r.Header.Values("Set-Cookie"), "no session was started")

	// The same request from the site itself passes.
	req, err = http.NewRequest(http.MethodPost, ta.URL+"/login", strings.NewReader(form.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	req.Header.Set("Origin", ta.URL)
	assert.Equal(t, http.StatusSeeOther, c.do(req).Status)
}

func TestRebindDollar(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"SELECT 1", "SELECT 1"},
		{"a = ? AND b = ?", "a = $1 AND b = $2"},
		{`x LIKE ? ESCAPE '\' AND y = ?`, `x LIKE $1 ESCAPE '\' AND y = $2`},
		{"z = '?' AND w = ?", "z = '?' AND w = $1"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, rebindDollar(tt.in))
	}
}

func TestSplitSQL(t *testing.T) {
	t.Parallel()
	got := splitSQL("-- comment\nCREATE TABLE a (\n  x INT\n);\n\nCREATE INDEX b ON a(x);\n")
	assert.Equal(t, []string{"CREATE TABLE a (\n  x INT\n)", "CREATE INDEX b ON a(x)"}, got)
}

func TestMigrate_Idempotent(t *testing.T) {
	t.Parallel()
	s, err := openStore(context.Background(), t.TempDir(), "", time.Now)
	require.NoError(t, err)
	defer s.Close()
	applied, err := s.migrate(context.Background())
	require.NoError(t, err)
	files, err := fs.Glob(migrationsFS, "migrations/sqlite/*.sql")
	require.NoError(t, err)
	var want []string
	for _, f := range files {
		want = append(want, strings.TrimSuffix(path.Base(f), ".sql"))
	}
	assert.Equal(t, want, applied, "every migration, in order")
	assert.Equal(t, "0001_init", applied[0])
	applied, err = s.migrate(context.Background())
	require.NoError(t, err)
	assert.Empty(t, applied)
}

// TestMigrations_DialectsAgree: the SQLite and PostgreSQL migrations
// describe one schema: the same files, with the same text but for the blob
// type (BLOB, BYTEA). They are kept as two directories rather than one
// file rewritten at run time because later migrations may have to differ
// (SQLite cannot ALTER a column; it rebuilds the table); such a file goes
// into the exceptions below, with the reason, and this test still catches
// a table or column added to one dialect only.
func TestMigrations_DialectsAgree(t *testing.T) {
	t.Parallel()
	exceptions := map[string]string{} // file name: why its dialects differ
	lite, err := fs.Glob(migrationsFS, "migrations/sqlite/*.sql")
	require.NoError(t, err)
	pg, err := fs.Glob(migrationsFS, "migrations/postgres/*.sql")
	require.NoError(t, err)
	require.NotEmpty(t, lite)
	require.Len(t, pg, len(lite), "both dialects have the same migrations")
	for i := range lite {
		name := path.Base(lite[i])
		require.Equal(t, name, path.Base(pg[i]), "both dialects have the same migrations")
		if _, ok := exceptions[name]; ok {
			continue
		}
		a, err := fs.ReadFile(migrationsFS, lite[i])
		require.NoError(t, err)
		b, err := fs.ReadFile(migrationsFS, pg[i])
		require.NoError(t, err)
		assert.Equal(t, string(a), strings.ReplaceAll(string(b), "BYTEA", "BLOB"),
			"%s: the PostgreSQL migration must match the SQLite one but for BYTEA/BLOB", name)
	}
}

func TestValidID(t *testing.T) {
	t.Parallel()
	assert.True(t, validID(newID()))
	for _, bad := range []string{"", "1", "../../etc/passwd", strings.Repeat("g", 24), strings.Repeat("A", 24), newID() + "0", "' OR 1=1 --            "} {
		assert.False(t, validID(bad), bad)
	}
}
