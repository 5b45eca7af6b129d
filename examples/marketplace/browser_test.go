package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/audit/sqlsink"
	"github.com/deployedworks/rampart/internal/testenv"
)

// The browser tests drive the real app, served by httptest on loopback, in
// headless Chromium through the DevTools protocol: the HTML forms, the
// nonce-based CSP, webauthn.js and a CDP virtual authenticator. They skip
// without Chromium (see testenv.Chromium) and fail instead under
// RAMPART_REQUIRE_INTEGRATION=1.
//
// Screenshots of a failing step go to $RAMPART_BROWSER_ARTIFACTS, or to a
// temporary directory (removed when the test ends: set the variable to keep
// them); the test logs the path. With the variable set, every
// page the test checks also leaves a screenshot there, to look at.

// envBrowserArtifacts names a directory for screenshots.
const envBrowserArtifacts = "RAMPART_BROWSER_ARTIFACTS"

// stepTimeout bounds every wait on the browser. The whole flow takes a few
// seconds; a step that takes this long is stuck (for example a WebAuthn
// prompt that nothing answers).
const stepTimeout = 15 * time.Second

// startTimeout bounds Chromium's start.
const startTimeout = 60 * time.Second

// cspProbe is run in every document before the page's own scripts (by the
// DevTools protocol, so the CSP does not apply to it): it reports each CSP
// violation on the console, where the test collects it.
const cspProbe = `document.addEventListener("securitypolicyviolation", function (e) {
  console.error("CSP violation: " + e.effectiveDirective + " blocked " + (e.blockedURI || "inline") +
    " at " + e.sourceFile + ":" + e.lineNumber + " sample " + JSON.stringify(e.sample));
}, true);`

// browser is one headless Chromium tab on a test app.
type browser struct {
	ta  *testApp
	ctx context.Context // the tab; derive a context with a timeout for each wait

	artifacts string        // where screenshots go
	everyPage bool          // screenshot every page checked, not only failures
	shots     *atomic.Int32 // numbers the screenshots of every tab

	mu      sync.Mutex
	console []chromedp.ConsoleMessage
	reports []*network.ReportingAPIReport // queued by the Reporting API (the CSP's report-to)
}

// newBrowser starts Chromium (the binary exe) for ta, on loopback only,
// and opens a tab. It is closed when t ends.
func newBrowser(t *testing.T, ta *testApp, exe string) *browser {
	t.Helper()
	b := &browser{ta: ta, artifacts: os.Getenv(envBrowserArtifacts), shots: new(atomic.Int32)}
	if b.artifacts != "" {
		b.everyPage = true
		require.NoError(t, os.MkdirAll(b.artifacts, 0o755))
	} else {
		b.artifacts = t.TempDir()
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1024, 900),
		// Nothing leaves the machine: every name but localhost fails to
		// resolve, and a proxy that refuses everything catches the rest.
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND , EXCLUDE localhost , EXCLUDE 127.0.0.1"),
		chromedp.ProxyServer("http://127.0.0.1:9"),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("no-pings", true),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(actx)
	b.attach(t, ctx, cancel, "start Chromium at "+exe+" (set "+testenv.EnvChromium+" to another binary)")
	return b
}

// incognito opens another tab on the same browser, in a new browser
// context: no cookies shared with b. It is closed when t ends.
func (b *browser) incognito(t *testing.T) *browser {
	t.Helper()
	nb := &browser{ta: b.ta, artifacts: b.artifacts, everyPage: b.everyPage, shots: b.shots}
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	nb.attach(t, ctx, cancel, "open an incognito tab")
	return nb
}

// attach starts the tab of ctx (and the browser, the first time), then
// records its console and its CSP reports and installs the CSP probe.
func (b *browser) attach(t *testing.T, ctx context.Context, cancel context.CancelFunc, what string) {
	t.Helper()
	t.Cleanup(cancel)
	// The first run gets a context with no deadline (a deadline would end
	// the browser or the tab with it), but the test does not wait forever.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx) }()
	select {
	case err := <-started:
		require.NoError(t, err, what)
	case <-time.After(startTimeout):
		cancel()
		t.Fatalf("%s: not done within %s", what, startTimeout)
	}
	b.ctx = ctx

	// The console: page messages, exceptions, the browser log.
	messages := chromedp.Console(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.console = append(b.console, m)
			b.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})

	// The reports the browser queues for the app's report-to endpoint.
	// (Chromium sends CSP reports only through the Reporting API when a
	// policy names both report-uri and report-to, and delivers them in
	// batches, so the app's endpoint is too slow a witness for a test.)
	require.NoError(t, chromedp.Listen(ctx, func(ev any) {
		if ev, ok := ev.(*network.EventReportingAPIReportAdded); ok {
			b.mu.Lock()
			b.reports = append(b.reports, ev.Report)
			b.mu.Unlock()
		}
	}))
	wctx, wcancel := b.wait()
	defer wcancel()
	_, err := chromedp.Call(wctx, network.EnableReportingAPI, network.EnableReportingAPIParams{Enable: true})
	require.NoError(t, err)
	_, err = chromedp.Call(wctx, cdppage.AddScriptToEvaluateOnNewDocument, cdppage.AddScriptToEvaluateOnNewDocumentParams{Source: cspProbe})
	require.NoError(t, err)
}

// wait returns a context for one wait on the tab.
func (b *browser) wait() (context.Context, context.CancelFunc) {
	return context.WithTimeout(b.ctx, stepTimeout)
}

// screenshot saves a PNG of the whole page as name and returns its path.
func (b *browser) screenshot(t testing.TB, name string) string {
	t.Helper()
	ctx, cancel := b.wait()
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Logf("screenshot %s: %v", name, err)
		return ""
	}
	n := b.shots.Add(1)
	p := filepath.Join(b.artifacts, fmt.Sprintf("%02d-%s.png", n, fileSafe(name)))
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Logf("screenshot %s: %v", name, err)
		return ""
	}
	return p
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

func fileSafe(s string) string { return strings.Trim(unsafeName.ReplaceAllString(s, "-"), "-") }

// step runs one part of the flow as a subtest; when it fails, it leaves a
// screenshot of the page and logs where. It reports whether it passed.
func (b *browser) step(t *testing.T, name string, fn func(t *testing.T)) bool {
	t.Helper()
	return t.Run(name, func(t *testing.T) {
		b.onFailure(t)
		fn(t)
	})
}

// onFailure leaves a screenshot of the tab and logs its console if t fails.
func (b *browser) onFailure(t *testing.T) {
	t.Cleanup(func() {
		if t.Failed() {
			if p := b.screenshot(t, t.Name()+"-FAILED"); p != "" {
				t.Logf("screenshot of the page at the failure: %s", p)
			}
			b.logConsole(t)
		}
	})
}

// logConsole logs every console message seen so far.
func (b *browser) logConsole(t testing.TB) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, m := range b.console {
		t.Logf("console %s: %s (%s:%d)", m.Type, m.Text, m.URL, m.Line+1)
	}
}

// cspViolations returns the console messages that report a CSP violation:
// the probe's and Chromium's own.
func (b *browser) cspViolations() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, m := range b.console {
		if strings.HasPrefix(m.Text, "CSP violation:") || strings.Contains(m.Text, "Content Security Policy") {
			out = append(out, m.Text)
		}
	}
	return out
}

// cspReports returns the CSP violation reports the browser queued for the
// app, as "directive on document".
func (b *browser) cspReports() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, r := range b.reports {
		if r.Type == "csp-violation" {
			out = append(out, fmt.Sprintf("%s to %s: %s", r.Type, r.Destination, r.Body))
		}
	}
	return out
}

// exceptions returns the uncaught exceptions seen so far.
func (b *browser) exceptions() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, m := range b.console {
		if m.IsException() {
			out = append(out, fmt.Sprintf("%s (%s:%d)", m.Text, m.URL, m.Line+1))
		}
	}
	return out
}

// do runs actions that return nothing, within the step timeout.
func (b *browser) do(t testing.TB, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := b.wait()
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// browserRun runs one action with a value, within the step timeout.
func browserRun[T any](t testing.TB, b *browser, what string, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := b.wait()
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// open loads path and returns the document's response.
func (b *browser) open(t testing.TB, path string) *network.Response {
	t.Helper()
	return browserRun(t, b, "open "+path, chromedp.NavigateResponse(b.ta.URL+path))
}

// click clicks the element sel, waits for the page it leads to, and returns
// that document's response (after redirects).
func (b *browser) click(t testing.TB, sel string) *network.Response {
	t.Helper()
	ctx, cancel := b.wait()
	defer cancel()
	res, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("click %s: %v", sel, err)
	}
	return res
}

// fill sets form fields, by element ID, to non-empty values.
func (b *browser) fill(t testing.TB, fields ...string) {
	t.Helper()
	require.Zero(t, len(fields)%2, "fill takes pairs of ID and value")
	var steps []chromedp.Action[chromedp.Void]
	for i := 0; i < len(fields); i += 2 {
		// SetValue, not SendKeys: no page script listens to keys, and
		// typing a key at a time costs three protocol calls a character.
		steps = append(steps, chromedp.SetValue(chromedp.ID(fields[i]), fields[i+1]))
	}
	b.do(t, "fill the form", steps...)
}

// path returns the path and query of the current page.
func (b *browser) path(t testing.TB) string {
	t.Helper()
	loc := browserRun(t, b, "read the location", chromedp.Location())
	u, err := url.Parse(loc)
	require.NoError(t, err)
	return u.RequestURI()
}

// text returns the visible text of the element sel.
func (b *browser) text(t testing.TB, sel string) string {
	t.Helper()
	return strings.TrimSpace(browserRun(t, b, "read "+sel, chromedp.Text(chromedp.CSS(sel))))
}

// present reports whether an element matches sel, without waiting.
func (b *browser) present(t testing.TB, sel string) bool {
	t.Helper()
	return browserRun(t, b, "look for "+sel, chromedp.Evaluate[bool](fmt.Sprintf(`document.querySelector(%q) !== null`, sel)))
}

// expectPage checks that the browser shows path with the given status and
// page title (the h1).
func (b *browser) expectPage(t testing.TB, res *network.Response, status int64, path, title string) {
	t.Helper()
	require.NotNil(t, res, "no document response")
	assert.Equal(t, status, res.Status, "status of %s", res.URL)
	assert.Equal(t, path, b.path(t))
	assert.Equal(t, title, b.text(t, "main h1"))
	if b.everyPage {
		b.screenshot(t, t.Name()+"-"+path)
	}
}

// authenticator adds a CTAP2 platform authenticator with resident keys and
// user verification to the tab, which answers every prompt at once.
func (b *browser) authenticator(t testing.TB) webauthn.AuthenticatorID {
	t.Helper()
	ctx, cancel := b.wait()
	defer cancel()
	_, err := chromedp.Call(ctx, webauthn.Enable, webauthn.EnableParams{})
	require.NoError(t, err)
	res, err := chromedp.Call(ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
		Options: &webauthn.VirtualAuthenticatorOptions{
			Protocol:                    webauthn.AuthenticatorProtocolCtap2,
			Ctap2version:                webauthn.Ctap2versionCtap21,
			Transport:                   webauthn.AuthenticatorTransportInternal,
			HasResidentKey:              true,
			HasUserVerification:         true,
			IsUserVerified:              true,
			AutomaticPresenceSimulation: true, // false leaves create() and get() pending
		},
	})
	require.NoError(t, err)
	return res.AuthenticatorID
}

// credentials returns the credentials held by the virtual authenticator.
func (b *browser) credentials(t testing.TB, id webauthn.AuthenticatorID) []*webauthn.Credential {
	t.Helper()
	ctx, cancel := b.wait()
	defer cancel()
	res, err := chromedp.Call(ctx, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: id})
	require.NoError(t, err)
	return res.Credentials
}

// eventually re-runs check (which reloads what it needs) until it returns
// true or the step timeout passes: for results written asynchronously,
// such as the audit table.
func eventually(t testing.TB, what string, check func() bool) {
	t.Helper()
	deadline := time.Now().Add(stepTimeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !check() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, stepTimeout)
		}
		<-tick.C
	}
}

// cspReportsRecorded counts the CSP violation reports the app's endpoint
// recorded.
func (ta *testApp) cspReportsRecorded(t testing.TB) int64 {
	t.Helper()
	n, err := ta.auditSQL.Count(context.Background(), sqlsink.Query{Action: "csp.violation"})
	require.NoError(t, err)
	return n
}

var browserListingPath = regexp.MustCompile(`^/listings/([A-Za-z0-9_-]+)$`)

// TestBrowserFlow walks a user through the app in Chromium: sign-up, login,
// selling, TOTP enrolment, the admin area's demand for the second factor,
// passkey registration and passwordless sign-in, moderation and the audit
// log; then an administrator without a factor, in a tab of their own, who
// must enrol first. No page may cause a CSP violation or a script error.
// The steps share one browser and run in order; the first failure stops
// the rest.
func TestBrowserFlow(t *testing.T) {
	exe := testenv.Chromium(t) // skips (or fails under RAMPART_REQUIRE_INTEGRATION=1) without it
	start := time.Now()
	ta := newTestApp(t)
	b := newBrowser(t, ta, exe)
	t.Logf("Chromium started in %s", time.Since(start).Round(time.Millisecond))

	const (
		email = "ada@example.com"
		name  = "Ada Lovelace"
	)
	var (
		uid       string
		secret    string
		authID    webauthn.AuthenticatorID
		listingID string // someone else's reported listing
	)

	steps := []struct {
		name string
		fn   func(t *testing.T)
	}{
		{"sign up with the form", func(t *testing.T) {
			b.expectPage(t, b.open(t, "/"), 200, "/", "Home")
			b.expectPage(t, b.click(t, "#nav-signup"), 200, "/signup", "Sign up")
			b.fill(t, "email", email, "name", name, "password", goodPassword, "password2", goodPassword)
			b.expectPage(t, b.click(t, "#signup"), 200, "/signup", "Check your inbox")
			assert.Contains(t, b.text(t, "#check-inbox"), email)
			// The verification link, read from the development Sender.
			link := ta.linkIn(ta.mailTo(email, "email_verify"))
			b.expectPage(t, b.open(t, link), 200, link, "Confirm your e-mail address")
			b.expectPage(t, b.click(t, "#link-confirm"), 200, "/login", "Log in")
			assert.Equal(t, "Your e-mail address is confirmed.", b.text(t, "#flash"))
			b.fill(t, "email", email, "password", goodPassword)
			b.expectPage(t, b.click(t, "#login"), 200, "/account", "Your account")
			assert.Equal(t, email, b.text(t, "#account-email"))
			assert.Equal(t, "(confirmed)", b.text(t, "#email-status"))
			u, err := ta.db.userByEmail(context.Background(), email)
			require.NoError(t, err)
			uid = u.ID
		}},
		{"log out and log in with the password", func(t *testing.T) {
			b.expectPage(t, b.click(t, "#logout"), 200, "/", "Home")
			assert.Equal(t, "You are logged out.", b.text(t, "#flash"))
			b.expectPage(t, b.click(t, "#nav-login"), 200, "/login", "Log in")
			b.fill(t, "email", email, "password", "not the password at all")
			b.expectPage(t, b.click(t, "#login"), 401, "/login", "Log in")
			assert.Equal(t, "Wrong e-mail address or password.", b.text(t, "#error"))
			b.fill(t, "email", email, "password", goodPassword)
			b.expectPage(t, b.click(t, "#login"), 200, "/account", "Your account")
			assert.Equal(t, "seller", b.text(t, "#account-roles"))
		}},
		{"sell a listing", func(t *testing.T) {
			b.expectPage(t, b.click(t, "#nav-sell"), 200, "/listings/new", "Sell something")
			b.fill(t, "title", "Brass sextant", "description", "Working order.\nWith its case.", "price", "120.50")
			res := b.click(t, "#save-listing")
			require.Equal(t, int64(200), res.Status)
			assert.Regexp(t, browserListingPath, b.path(t))
			assert.Equal(t, "Brass sextant", b.text(t, "main h1"))
			assert.Equal(t, "120.50", b.text(t, "#listing-price"))
			assert.Equal(t, "Your listing is online.", b.text(t, "#flash"))
		}},
		{"a seller has no admin area", func(t *testing.T) {
			b.expectPage(t, b.open(t, "/admin"), 403, "/admin", "Forbidden")
			assert.Equal(t, "You do not have access to this page.", b.text(t, "#error"))
			assert.False(t, b.present(t, "#nav-admin"))
		}},
		{"enrol an authenticator app", func(t *testing.T) {
			b.open(t, "/account")
			b.expectPage(t, b.click(t, "#manage-mfa"), 200, "/account/mfa", "Second factors")
			assert.Equal(t, "Not set up.", b.text(t, "#totp-status"))
			b.expectPage(t, b.click(t, "#totp-enrol"), 200, "/account/mfa/totp", "Set up an authenticator app")
			// The QR code is a data: URL image, which this page's CSP allows.
			loaded := browserRun(t, b, "QR code", chromedp.Evaluate[bool](`(function () {
				var img = document.getElementById("totp-qr");
				return img.complete && img.naturalWidth === 256;
			})()`))
			assert.True(t, loaded, "the QR code image did not load")
			secret = strings.ReplaceAll(b.text(t, "#totp-secret"), " ", "")
			require.Regexp(t, `^[A-Z2-7]{16,}$`, secret)

			b.fill(t, "code", "000000")
			if ta.code(secret) == "000000" {
				ta.Clock.Add(30 * time.Second)
			}
			b.expectPage(t, b.click(t, "#totp-confirm"), 422, "/account/mfa/totp/confirm", "Set up an authenticator app")
			assert.Contains(t, b.text(t, "#error"), "That code is not right.")

			b.fill(t, "code", ta.code(secret))
			b.expectPage(t, b.click(t, "#totp-confirm"), 200, "/account/mfa/totp/confirm", "Your recovery codes")
			codes := browserRun(t, b, "count recovery codes", chromedp.Evaluate[int](`document.querySelectorAll("#recovery-codes li").length`))
			assert.GreaterOrEqual(t, codes, 8)
			b.expectPage(t, b.click(t, "#continue"), 200, "/account/mfa", "Second factors")
			assert.Equal(t, "Set up.", b.text(t, "#totp-status"))
		}},
		{"the admin area demands the second factor", func(t *testing.T) {
			// The harness makes Ada an administrator; roles reach the
			// session at the next login.
			_, err := ta.db.grantRole(context.Background(), uid, roleAdmin, "")
			require.NoError(t, err)
			b.click(t, "#logout")
			b.open(t, "/login")
			b.fill(t, "email", email, "password", goodPassword)
			b.expectPage(t, b.click(t, "#login"), 200, "/mfa?next=%2Faccount", "Confirm it is you")
			assert.True(t, b.present(t, "#nav-finish"), "the menu offers to finish signing in")
			assert.False(t, b.present(t, "#nav-admin"))

			for _, p := range []string{"/admin", "/admin/audit", "/moderation"} {
				b.expectPage(t, b.open(t, p), 200, "/mfa?next="+url.QueryEscape(p), "Confirm it is you")
			}
			b.fill(t, "code", "000000")
			if ta.code(secret) == "000000" {
				ta.Clock.Add(30 * time.Second)
			}
			b.expectPage(t, b.click(t, "#totp-verify"), 422, "/mfa/totp", "Confirm it is you")
			assert.Contains(t, b.text(t, "#error"), "That code is not right.")
			assert.Equal(t, "/moderation", browserRun(t, b, "next field", chromedp.Value(chromedp.CSS(`#totp-form input[name="next"]`))))

			b.open(t, "/admin")
			b.fill(t, "code", ta.nextCode(secret))
			b.expectPage(t, b.click(t, "#totp-verify"), 200, "/admin", "Administration")
			assert.True(t, b.present(t, "#nav-admin"))
			assert.False(t, b.present(t, "#nav-finish"))
		}},
		{"register a passkey", func(t *testing.T) {
			authID = b.authenticator(t)
			b.expectPage(t, b.open(t, "/account/mfa"), 200, "/account/mfa", "Second factors")
			assert.Equal(t, "No passkeys yet.", b.text(t, "#passkeys-none"))
			// webauthn.js (loaded with the nonce) shows the section.
			b.do(t, "passkey section shown", chromedp.WaitVisible(chromedp.ID("passkey-register")))
			b.fill(t, "passkey-name", "Ada's laptop")
			b.expectPage(t, b.click(t, "#passkey-register"), 200, "/account/mfa", "Second factors")
			assert.Contains(t, b.text(t, "#passkeys"), "Ada's laptop")

			creds := b.credentials(t, authID)
			require.Len(t, creds, 1)
			assert.True(t, creds[0].IsResidentCredential)
			assert.Equal(t, "localhost", creds[0].RpID)
			assert.Equal(t, email, creds[0].UserName)
			keys, err := ta.passkeys.Credentials(context.Background(), uid)
			require.NoError(t, err)
			require.Len(t, keys, 1)
			assert.Equal(t, creds[0].CredentialID, keys[0].ID)

			// The same authenticator again: the browser refuses (the
			// options exclude the registered credential) and webauthn.js
			// says so and gives the button back.
			b.do(t, "register again", chromedp.Click(chromedp.ID("passkey-register")))
			var status string
			eventually(t, "an error in #passkey-status", func() bool {
				status = b.text(t, "#passkey-status")
				return status != "" && status != "Follow your browser's prompt…"
			})
			assert.Equal(t, "This authenticator is registered already.", status)
			b.do(t, "button enabled again", chromedp.WaitEnabled(chromedp.ID("passkey-register")))
			assert.Len(t, b.credentials(t, authID), 1)
		}},
		{"sign in with the passkey alone", func(t *testing.T) {
			b.expectPage(t, b.click(t, "#logout"), 200, "/", "Home")
			b.expectPage(t, b.open(t, "/login?next=%2Fadmin"), 200, "/login?next=%2Fadmin", "Log in")
			b.do(t, "passkey login shown", chromedp.WaitVisible(chromedp.ID("passkey-login")))
			// A passkey with user verification is both factors: straight in.
			b.expectPage(t, b.click(t, "#passkey-login"), 200, "/admin", "Administration")
			assert.Equal(t, email, b.text(t, "header .who"))

			creds := b.credentials(t, authID)
			require.Len(t, creds, 1)
			assert.Equal(t, float64(2), creds[0].SignCount, "one registration and one assertion")
			keys, err := ta.passkeys.Credentials(context.Background(), uid)
			require.NoError(t, err)
			require.Len(t, keys, 1)
			assert.False(t, keys[0].LastUsedAt.IsZero(), "the sign-in is recorded on the passkey")
		}},
		{"use the passkey as the second factor", func(t *testing.T) {
			b.click(t, "#logout")
			b.open(t, "/login")
			b.fill(t, "email", email, "password", goodPassword)
			b.expectPage(t, b.click(t, "#login"), 200, "/mfa?next=%2Faccount", "Confirm it is you")
			b.do(t, "passkey section shown", chromedp.WaitVisible(chromedp.ID("passkey-verify")))
			b.expectPage(t, b.click(t, "#passkey-verify"), 200, "/account", "Your account")
			assert.Contains(t, b.text(t, "main"), "with password, passkey")
			assert.Equal(t, float64(3), b.credentials(t, authID)[0].SignCount)
		}},
		{"hide a reported listing", func(t *testing.T) {
			ctx := context.Background()
			seller := ta.createUser("bob@example.com", "Bob Seller")
			reporter := ta.createUser("carol@example.com", "Carol Buyer")
			l, err := ta.db.createListing(ctx, listing{SellerID: seller.ID, Title: "Genuine designer watch", Description: "Totally real.", PriceCents: 999})
			require.NoError(t, err)
			require.NoError(t, ta.db.createReport(ctx, l.ID, reporter.ID, "Looks counterfeit"))
			listingID = l.ID

			b.open(t, "/admin")
			b.expectPage(t, b.click(t, "#nav-moderation"), 200, "/moderation", "Moderation")
			queue := "#queue-" + listingID
			assert.Contains(t, b.text(t, queue), "Looks counterfeit")
			b.fill(t, "hide-reason-"+listingID, "Counterfeit goods")
			b.expectPage(t, b.click(t, queue+" button.hide-listing"), 200, "/moderation", "Moderation")
			assert.Equal(t, "The listing is hidden.", b.text(t, "#flash"))
			assert.Contains(t, b.text(t, "#hidden-"+listingID), "Hidden because: Counterfeit goods")
			assert.False(t, b.present(t, queue))
		}},
		{"the admin audit log shows the moderation", func(t *testing.T) {
			b.open(t, "/admin")
			b.expectPage(t, b.click(t, "#admin-audit"), 200, "/admin/audit", "Audit log")
			b.fill(t, "action", "listing.hidden")
			// The audit table is written asynchronously: filter again until
			// the event is there.
			var row string
			eventually(t, "listing.hidden in the audit log", func() bool {
				b.expectPage(t, b.click(t, "#filter-audit"), 200, "/admin/audit?category=&action=listing.hidden&actor=&target=&outcome=&since=&until=", "Audit log")
				row = b.text(t, "#audit-events tbody")
				return strings.Contains(row, "listing.hidden")
			})
			assert.Contains(t, row, "moderation")
			assert.Contains(t, row, "Counterfeit goods")
			assert.Contains(t, row, "listing "+listingID)
			assert.Contains(t, row, uid+" (admin)", "the actor is the signed-in administrator")
			assert.Equal(t, "1 matching events.", b.text(t, "#audit-total"))
		}},
		{"an administrator without a second factor must enrol first", func(t *testing.T) {
			// Another person, in a tab of their own.
			ta.createUser("root@example.com", "Root", roleAdmin)
			b := b.incognito(t)
			b.onFailure(t)
			b.open(t, "/login")
			b.fill(t, "email", "root@example.com", "password", goodPassword)
			b.expectPage(t, b.click(t, "#login"), 200, "/account/mfa?next=%2Faccount", "Second factors")
			assert.Contains(t, b.text(t, "#mfa-required"), "Your role requires a second factor.")
			assert.Equal(t, "/account/mfa", browserRun(t, b, "finish link", chromedp.JavascriptAttribute[string](chromedp.ID("nav-finish"), "pathname")))
			assert.False(t, b.present(t, "#nav-admin"))
			for _, p := range []string{"/admin", "/account"} {
				b.expectPage(t, b.open(t, p), 200, "/account/mfa?next="+url.QueryEscape(p), "Second factors")
			}
			assert.Equal(t, "Your role requires a second factor: set one up to continue.", b.text(t, "#flash"))

			// Enrol from the page, then go on to where they were going.
			b.expectPage(t, b.click(t, "#totp-enrol"), 200, "/account/mfa/totp", "Set up an authenticator app")
			secret := strings.ReplaceAll(b.text(t, "#totp-secret"), " ", "")
			b.fill(t, "code", ta.code(secret))
			b.expectPage(t, b.click(t, "#totp-confirm"), 200, "/account/mfa/totp/confirm", "Your recovery codes")
			b.expectPage(t, b.click(t, "#continue"), 200, "/account", "Your account")
			b.expectPage(t, b.open(t, "/admin"), 200, "/admin", "Administration")
			assert.True(t, b.present(t, "#nav-admin"))
			assert.Empty(t, b.cspViolations(), "CSP violations in the browser")
			assert.Empty(t, b.cspReports(), "CSP reports queued by the browser")
			assert.Empty(t, b.exceptions(), "uncaught exceptions in the browser")
		}},
		{"forgot password: the link from the mail, a new password, the second factor", func(t *testing.T) {
			b := b.incognito(t) // a browser that is signed out
			b.onFailure(t)
			b.open(t, "/login")
			b.expectPage(t, b.click(t, "#forgot-password"), 200, "/forgot", "Forgot your password?")
			b.fill(t, "email", email)
			b.expectPage(t, b.click(t, "#send-reset"), 200, "/forgot", "Check your inbox")
			// The link, read from what the development Sender delivered.
			link := ta.linkIn(ta.mailTo(email, "password_reset"))
			// Ada has a second factor: the challenge comes first.
			b.expectPage(t, b.open(t, link), 200, "/mfa?next=%2Freset%2Fcontinue", "Confirm it is you")
			b.fill(t, "code", ta.nextCode(secret))
			b.expectPage(t, b.click(t, "#totp-verify"), 200, "/reset/continue", "Choose a new password")
			const newPass = "copper meadow lantern violet 58"
			b.fill(t, "password", newPass, "password2", newPass)
			b.expectPage(t, b.click(t, "#save-password"), 200, "/login", "Log in")
			assert.Contains(t, b.text(t, "#flash"), "Your password is changed")
			b.fill(t, "email", email, "password", newPass)
			b.expectPage(t, b.click(t, "#login"), 200, "/mfa?next=%2Faccount", "Confirm it is you")
			b.fill(t, "code", ta.nextCode(secret))
			b.expectPage(t, b.click(t, "#totp-verify"), 200, "/account", "Your account")
			assert.Equal(t, email, b.text(t, "#account-email"))
			assert.Empty(t, b.cspViolations(), "CSP violations in the browser")
			assert.Empty(t, b.exceptions(), "uncaught exceptions in the browser")
		}},
		{"sign-up with an existing address shows the same page as a new one", func(t *testing.T) {
			page := func(addr string) (string, string, string) {
				b := b.incognito(t)
				b.onFailure(t)
				b.open(t, "/signup")
				b.fill(t, "email", addr, "name", "Someone", "password", goodPassword, "password2", goodPassword)
				res := b.click(t, "#signup")
				require.NotNil(t, res)
				main := strings.ReplaceAll(b.text(t, "main"), addr, "ADDRESS")
				return fmt.Sprint(res.Status), b.path(t), main
			}
			s1, p1, m1 := page(email) // Ada's
			s2, p2, m2 := page("brand.new@example.com")
			assert.Equal(t, []string{s2, p2, m2}, []string{s1, p1, m1})
			assert.Contains(t, m1, "Check your inbox")
			ta.mailTo(email, "signup_existing")
			ta.mailTo("brand.new@example.com", "email_verify")
		}},
		{"no CSP violation and no script error", func(t *testing.T) {
			assert.Empty(t, b.cspViolations(), "CSP violations in the browser")
			assert.Empty(t, b.cspReports(), "CSP reports queued by the browser")
			assert.Zero(t, ta.cspReportsRecorded(t), "CSP reports received by the app")
			assert.Empty(t, b.exceptions(), "uncaught exceptions in the browser")

			// Control: an inline event handler, as injected markup would
			// carry, is blocked, seen by the probe and queued as a report
			// for the app's endpoint, so the silence above means something.
			b.open(t, "/security")
			b.do(t, "inject an inline handler", chromedp.Evaluate[chromedp.Void](`(function () {
				var img = document.createElement("img");
				img.setAttribute("onerror", "document.title = 'pwned'");
				img.src = "/static/no-such-image.png";
				document.body.appendChild(img);
			})()`))
			eventually(t, "the probe and Chromium see the violation", func() bool { return len(b.cspViolations()) >= 2 })
			eventually(t, "the browser queues a report", func() bool { return len(b.cspReports()) > 0 })
			assert.NotEqual(t, "pwned", browserRun(t, b, "title", chromedp.Title()), "the inline handler ran")
			require.Len(t, b.cspViolations(), 2, "the probe's and Chromium's message, for the control only")
			reports := b.cspReports()
			require.Len(t, reports, 1, "only the control")
			assert.Contains(t, reports[0], "to csp-endpoint")
			assert.Contains(t, reports[0], `"effectiveDirective":"script-src-attr"`)
			assert.Contains(t, reports[0], `"documentURL":"`+ta.URL+`/security"`)
		}},
	}
	for _, s := range steps {
		if !b.step(t, s.name, s.fn) {
			t.Logf("stopping after the failed step %q", s.name)
			return
		}
	}
	t.Logf("browser flow took %s", time.Since(start).Round(time.Millisecond))
}
