package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"html"
	"image/png"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	vwa "github.com/descope/virtualwebauthn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	qrRE           = regexp.MustCompile(`<img src="data:image/png;base64,([A-Za-z0-9+/=&#;]+)"[^>]*id="totp-qr"`)
	recoveryCodeRE = regexp.MustCompile(`<li><code>([A-Z0-9-]+)</code></li>`)
)

func TestTOTP_Enrolment(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t)
	c, u := ta.userClient("sam@example.com", "Sam")

	r := c.get("/account/mfa")
	require.Equal(t, http.StatusOK, r.Status)
	assert.Contains(t, r.Body, `id="totp-enrol"`)
	assert.Contains(t, r.Body, `id="passkeys-none"`)
	assert.NotContains(t, r.Body, `id="mfa-required"`)
	assert.Contains(t, r.Body, "Recovery codes back up a second factor: set one up first.")

	// Confirming before starting: nothing in progress.
	r = c.post("/account/mfa/totp/confirm", url.Values{"code": {"123456"}})
	assertClearRefusal(t, r, http.StatusConflict, "There is no set-up in progress")

	// Start: a QR code PNG and the secret as text.
	r = c.post("/account/mfa/totp", url.Values{"next": {"/listings/new"}})
	require.Equal(t, http.StatusOK, r.Status, r.Body)
	m := qrRE.FindStringSubmatch(r.Body)
	require.Len(t, m, 2, "a QR code image")
	raw, err := base64.StdEncoding.DecodeString(html.UnescapeString(m[1])) // html/template writes + as &#43;
	require.NoError(t, err)
	img, err := png.Decode(bytes.NewReader(raw))
	require.NoError(t, err, "the QR code is a PNG")
	assert.Equal(t, 256, img.Bounds().Dx())
	// The page's CSP lets the data: image load, and only on this page.
	assert.Regexp(t, `img-src 'self' data:`, r.Header.Get("Content-Security-Policy"))
	assert.NotContains(t, c.get("/account/mfa").Header.Get("Content-Security-Policy"), "data:")
	sm := secretRE.FindStringSubmatch(r.Body)
	require.Len(t, sm, 2)
	secret := strings.ReplaceAll(sm[1], " ", "")
	assert.Contains(t, r.Body, `name="next" value="/listings/new"`)
	enrolled, err := ta.totp.Enrolled(t.Context(), u.ID)
	require.NoError(t, err)
	assert.False(t, enrolled, "not enrolled before confirmation")

	// Bad codes: a clear 4xx; still not enrolled.
	for _, tt := range []struct {
		code   string
		status int
		msg    string
	}{
		{"", http.StatusBadRequest, "Enter the 6-digit code your app shows."},
		{strings.Repeat("1", 33), http.StatusBadRequest, "Enter the 6-digit code"},
		{"abcdef", http.StatusUnprocessableEntity, "That code is not right."},
		{wrongCode(ta.code(secret)), http.StatusUnprocessableEntity, "That code is not right."},
	} {
		r := c.post("/account/mfa/totp/confirm", url.Values{"code": {tt.code}})
		assertClearRefusal(t, r, tt.status, tt.msg, tt.code)
		assert.Contains(t, r.Body, `id="totp-confirm-form"`, "the form is shown again")
	}
	enrolled, _ = ta.totp.Enrolled(t.Context(), u.ID)
	assert.False(t, enrolled)

	// The right code: enrolled, verified, and the first recovery codes
	// are shown once.
	code := ta.code(secret)
	r = c.post("/account/mfa/totp/confirm", url.Values{"code": {code}, "next": {"/listings/new"}})
	require.Equal(t, http.StatusOK, r.Status, r.Body)
	assert.Contains(t, r.Body, "Your authenticator app is set up.")
	codes := recoveryCodeRE.FindAllStringSubmatch(r.Body, -1)
	assert.Len(t, codes, 10)
	assert.Contains(t, r.Body, `href="/listings/new" id="continue"`)
	enrolled, _ = ta.totp.Enrolled(t.Context(), u.ID)
	assert.True(t, enrolled)
	assert.Equal(t, 10, ta.count(`SELECT COUNT(*) FROM mfa_recovery_codes WHERE user_id = ?`, u.ID))
	r = c.get("/account")
	assert.Contains(t, r.Body, "authenticator app · 10 recovery codes left")
	assert.Contains(t, r.Body, "with password, one-time code")
	ta.waitAudit("mfa.totp.confirm")

	// The code just used cannot be used again, even in a new session.
	c2, r := ta.login("sam@example.com")
	assert.Equal(t, "/mfa?next=%2Faccount", r.Location, "an enrolled user verifies at login")
	r = c2.get("/mfa?next=%2Faccount")
	require.Equal(t, http.StatusOK, r.Status)
	assert.Contains(t, r.Body, `id="totp-form"`)
	assert.Contains(t, r.Body, `id="recovery-form"`)
	r = c2.post("/mfa/totp", url.Values{"code": {code}, "next": {"/account"}})
	assertClearRefusal(t, r, http.StatusUnprocessableEntity, "That code was used already.")
	assert.False(t, c2.signedIn())
	ta.Clock.Add(15 * time.Minute) // the attempt limit: 5 in 15 minutes
	r = c2.post("/mfa/totp", url.Values{"code": {ta.nextCode(secret)}, "next": {"/account"}})
	require.Equal(t, http.StatusSeeOther, r.Status, r.Body)
	assert.Equal(t, "/account", r.Location)
	assert.True(t, c2.signedIn())
	// A code works once.
	code = ta.nextCode(secret)
	c3, _ := ta.login("sam@example.com")
	require.Equal(t, http.StatusSeeOther, c3.post("/mfa/totp", url.Values{"code": {code}}).Status)
	c4, _ := ta.login("sam@example.com")
	assertClearRefusal(t, c4.post("/mfa/totp", url.Values{"code": {code}}), http.StatusUnprocessableEntity, "That code was used already.")
	ta.assertNoErrorsLogged()
}

// wrongCode returns a six-digit code that differs from code.
func wrongCode(code string) string {
	b := []byte(code)
	b[0] = '0' + (b[0]-'0'+5)%10
	return string(b)
}

func TestMFA_Challenge(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t)
	c, _ := ta.userClient("sam@example.com", "Sam")
	secret := ta.enrolTOTP(c)

	c2, _ := ta.login("sam@example.com")
	// While verification is pending only the challenge and logout work.
	for _, p := range []string{"/account", "/listings/new", "/account/mfa", "/my/listings"} {
		r := c2.get(p)
		assert.Equal(t, http.StatusSeeOther, r.Status, p)
		assert.Equal(t, "/mfa?next="+url.QueryEscape(p), r.Location, p)
	}
	r := c2.post("/listings", listingValues("Sneaky", "x", "1"))
	assert.True(t, strings.HasPrefix(r.Location, "/mfa"), r.Location)
	assert.Equal(t, 0, ta.count(`SELECT COUNT(*) FROM listings`))
	// Public pages treat the session as signed out, with a way to finish.
	r = c2.get("/")
	assert.Contains(t, r.Body, `id="nav-finish"`)
	assert.NotContains(t, r.Body, `id="nav-sell"`)
	// A stolen password cannot add a factor while verification is pending.
	r = c2.post("/account/mfa/totp", nil)
	assert.True(t, strings.HasPrefix(r.Location, "/mfa"), r.Location)
	r = c2.postJSON("/account/mfa/passkeys/begin", "")
	assert.Equal(t, http.StatusUnauthorized, r.Status)
	assert.Contains(t, r.Body, "mfa_required")

	// Bad input on the challenge.
	for _, tt := range []struct {
		path, code string
		status     int
		msg        string
	}{
		{"/mfa/totp", "", http.StatusBadRequest, "Enter the 6-digit code your app shows."},
		{"/mfa/totp", strings.Repeat("9", 100), http.StatusBadRequest, "Enter the 6-digit code"},
		{"/mfa/recovery", "", http.StatusBadRequest, "Enter one of your recovery codes"},
		{"/mfa/recovery", strings.Repeat("A", 65), http.StatusBadRequest, "Enter one of your recovery codes"},
	} {
		r := c2.post(tt.path, url.Values{"code": {tt.code}})
		assertClearRefusal(t, r, tt.status, tt.msg, tt.path)
		assert.Contains(t, r.Body, `id="totp-form"`, "the challenge is shown again")
	}
	assertClearRefusal(t, c2.postRaw("/mfa/totp", "text/plain", "code=123456"), http.StatusUnsupportedMediaType, "must be sent as")

	// The next parameter is kept only if local.
	r = c2.post("/mfa/totp", url.Values{"code": {ta.nextCode(secret)}, "next": {"https://evil.example/"}})
	require.Equal(t, http.StatusSeeOther, r.Status, r.Body)
	assert.Equal(t, "/account", r.Location)

	// Wrong codes are throttled (5 attempts per 15 minutes).
	c3, _ := ta.login("sam@example.com")
	var last resp
	for range 6 {
		last = c3.post("/mfa/totp", url.Values{"code": {"000000"}})
	}
	assertClearRefusal(t, last, http.StatusTooManyRequests, "Too many attempts. Please wait")
	assert.NotEmpty(t, last.Header.Get("Retry-After"))
	// Even the right code waits.
	r = c3.post("/mfa/totp", url.Values{"code": {ta.nextCode(secret)}})
	assert.Equal(t, http.StatusTooManyRequests, r.Status)
	ta.Clock.Add(16 * time.Minute)
	r = c3.post("/mfa/totp", url.Values{"code": {ta.nextCode(secret)}})
	assert.Equal(t, http.StatusSeeOther, r.Status, r.Body)
}

// Only failures count towards the attempt limit: a user who signs in with
// their code many times in a row is never throttled.
func TestTOTP_SuccessesNotThrottled(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t)
	c, _ := ta.userClient("sam@example.com", "Sam")
	secret := ta.enrolTOTP(c)
	for i := range 8 {
		c2, _ := ta.login("sam@example.com")
		r := c2.post("/mfa/totp", url.Values{"code": {ta.nextCode(secret)}})
		require.Equal(t, http.StatusSeeOther, r.Status, "sign-in %d: %s", i, r.Body)
	}
}

func TestTOTP_DisableAndReenrol(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t)
	c, u := ta.userClient("sam@example.com", "Sam")
	secret := ta.enrolTOTP(c)

	// Past the step-up age, removing the factor asks for it first.
	ta.Clock.Add(ta.cfg.StepUp + time.Minute)
	r := c.post("/account/mfa/totp/disable", nil)
	assert.Equal(t, http.StatusSeeOther, r.Status)
	assert.True(t, strings.HasPrefix(r.Location, "/mfa?next="), r.Location)
	r = c.post("/account/mfa/totp", nil) // moving to a new device too
	assert.True(t, strings.HasPrefix(r.Location, "/mfa?next="), r.Location)
	enrolled, _ := ta.totp.Enrolled(t.Context(), u.ID)
	assert.True(t, enrolled, "nothing changed")

	ta.verifyTOTP(c, secret)
	// Move to a new device: the old secret keeps working until the new
	// one is confirmed.
	r = c.post("/account/mfa/totp", nil)
	require.Equal(t, http.StatusOK, r.Status)
	newSecret := strings.ReplaceAll(secretRE.FindStringSubmatch(r.Body)[1], " ", "")
	require.NotEqual(t, secret, newSecret)
	r = c.post("/account/mfa/totp/confirm", url.Values{"code": {ta.nextCode(newSecret)}})
	require.Equal(t, http.StatusSeeOther, r.Status, "recovery codes exist, so no new set: %s", r.Body)
	assert.Equal(t, "/account/mfa", r.Location)
	assert.Contains(t, c.follow(r).Body, "Your authenticator app is set up.")
	c2, _ := ta.login("sam@example.com")
	assertClearRefusal(t, c2.post("/mfa/totp", url.Values{"code": {ta.nextCode(secret)}}), http.StatusUnprocessableEntity, "That code is not right.")
	require.Equal(t, http.StatusSeeOther, c2.post("/mfa/totp", url.Values{"code": {ta.nextCode(newSecret)}}).Status)

	// Remove: the recovery codes go too, and login no longer asks.
	r = c.post("/account/mfa/totp/disable", nil)
	require.Equal(t, http.StatusSeeOther, r.Status, r.Body)
	assert.Equal(t, "/account/mfa", r.Location)
	page := c.follow(r)
	assert.Contains(t, page.Body, "Your authenticator app is removed. You have no second factor left, so your recovery codes are cancelled too.")
	assert.Contains(t, page.Body, `id="totp-enrol"`)
	assert.Equal(t, 0, ta.count(`SELECT COUNT(*) FROM mfa_recovery_codes WHERE user_id = ?`, u.ID))
	assert.Equal(t, 0, ta.count(`SELECT COUNT(*) FROM mfa_totp WHERE user_id = ?`, u.ID))
	_, r = ta.login("sam@example.com")
	assert.Equal(t, "/account", r.Location)
	ta.waitAudit("mfa.totp.disable")

	// Removing what is not there.
	assertClearRefusal(t, c.post("/account/mfa/totp/disable", nil), http.StatusConflict, "You have no authenticator app set up.")

}

// TestTOTP_AdminKeepsAFactor: an administrator's session stays verified
// after removing a factor, so removing the last one used to leave an
// administrator without a second factor until their next login.
func TestTOTP_AdminKeepsAFactor(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t)
	adm, u, _ := ta.adminClient("admin@example.com")
	r := adm.post("/account/mfa/totp/disable", nil)
	assertClearRefusal(t, r, http.StatusConflict, "Administrators must keep a second factor")
	enrolled, err := ta.totp.Enrolled(t.Context(), u.ID)
	require.NoError(t, err)
	assert.True(t, enrolled)
	assert.Equal(t, 10, ta.count(`SELECT COUNT(*) FROM mfa_recovery_codes WHERE user_id = ?`, u.ID))
	assert.Equal(t, http.StatusOK, adm.get("/admin").Status)
}

func TestRecoveryCodes(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t)
	c, u := ta.userClient("sam@example.com", "Sam")

	// Without a factor there is nothing to back up.
	assertClearRefusal(t, c.post("/account/mfa/recovery", nil), http.StatusConflict, "Set up an authenticator app or a passkey first")
	assert.Equal(t, 0, ta.count(`SELECT COUNT(*) FROM mfa_recovery_codes`))

	ta.enrolTOTP(c) // also makes a first set
	r := c.post("/account/mfa/recovery", url.Values{"next": {"/account"}})
	require.Equal(t, http.StatusOK, r.Status, r.Body)
	first := recoveryCodeRE.FindAllStringSubmatch(r.Body, -1)
	require.Len(t, first, 10)
	assert.Contains(t, r.Body, `href="/account" id="continue"`)
	assert.Equal(t, 10, ta.count(`SELECT COUNT(*) FROM mfa_recovery_codes WHERE user_id = ?`, u.ID))
	assert.NotContains(t, c.get("/account/mfa").Body, first[0][1], "codes are shown only once")

	// Use one at the challenge: accepted once.
	c2, _ := ta.login("sam@example.com")
	r = c2.post("/mfa/recovery", url.Values{"code": {strings.ToLower(first[0][1])}, "next": {"/my/listings"}})
	require.Equal(t, http.StatusSeeOther, r.Status, r.Body)
	assert.Equal(t, "/my/listings", r.Location)
	assert.Contains(t, c2.follow(r).Body, "Recovery code accepted. You have 9 left.")
	assert.True(t, c2.signedIn())
	c3, _ := ta.login("sam@example.com")
	r = c3.post("/mfa/recovery", url.Values{"code": {first[0][1]}})
	assertClearRefusal(t, r, http.StatusUnprocessableEntity, "That recovery code is not right, or was used already.")
	assert.False(t, c3.signedIn())
	assert.Contains(t, c.get("/account").Body, "9 recovery codes left")

	// A new set: the old codes stop working.
	r = c.post("/account/mfa/recovery", nil)
	require.Equal(t, http.StatusOK, r.Status)
	second := recoveryCodeRE.FindAllStringSubmatch(r.Body, -1)
	require.Len(t, second, 10)
	assertClearRefusal(t, c3.post("/mfa/recovery", url.Values{"code": {first[1][1]}}), http.StatusUnprocessableEntity, "not right, or was used already")
	r = c3.post("/mfa/recovery", url.Values{"code": {second[0][1]}})
	require.Equal(t, http.StatusSeeOther, r.Status, r.Body)
	ta.waitAudit("mfa.recovery.use")

	// Running low (fewer than 3 left): sent to make a new set.
	for i, code := range second[1:8] {
		ta.Clock.Add(3 * time.Minute) // one attempt comes back every 3 minutes
		c4, _ := ta.login("sam@example.com")
		r = c4.post("/mfa/recovery", url.Values{"code": {code[1]}, "next": {"/account"}})
		require.Equal(t, http.StatusSeeOther, r.Status, r.Body)
		if left := 8 - i; left >= 3 {
			assert.Equal(t, "/account", r.Location)
			continue
		}
		assert.Equal(t, "/account/mfa?next=%2Faccount", r.Location)
		assert.Contains(t, c4.follow(r).Body, "You have 2 left. Make a new set now")
	}
}

// TestMFA_ConcurrentFactorRemovalRegression: an administrator with an
// authenticator app and one passkey removed both at once, and both
// removals passed the "another factor is left" check before either
// deleted: the administrator was left with no factor. The removals are
// held until both have reached the store; exactly one may succeed.
func TestMFA_ConcurrentFactorRemovalRegression(t *testing.T) {
	t.Parallel()
	for name, newApp := range testAppDialects() {
		t.Run(name, func(t *testing.T) {
			ta := newApp(t)
			adm, u, _ := ta.adminClient("admin@example.com")
			r := ta.registerPasskey(adm, ta.newPasskey(vwa.AuthenticatorOptions{}), "Only key")
			require.Equal(t, http.StatusCreated, r.Status, r.Body)
			var created struct{ ID string }
			require.NoError(t, json.Unmarshal([]byte(r.Body), &created))

			var arrived sync.WaitGroup
			arrived.Add(2)
			hold := func() { arrived.Done(); arrived.Wait() }
			ta.db.onRemoveFactor.Store(&hold)
			removals := []struct {
				path string
				form url.Values
			}{
				{"/account/mfa/totp/disable", url.Values{}},
				{"/account/mfa/passkeys/delete", url.Values{"id": {created.ID}}},
			}
			statuses := make([]int, len(removals))
			var wg sync.WaitGroup
			for i, rm := range removals {
				wg.Go(func() {
					req, err := http.NewRequest(http.MethodPost, ta.URL+rm.path, strings.NewReader(rm.form.Encode()))
					if err != nil {
						t.Error(err)
						return
					}
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					res, err := adm.hc.Do(req)
					if err != nil {
						t.Error(err)
						return
					}
					_ = res.Body.Close()
					statuses[i] = res.StatusCode
				})
			}
			wg.Wait()
			ta.db.onRemoveFactor.Store(nil)

			assert.ElementsMatch(t, []int{http.StatusSeeOther, http.StatusConflict}, statuses, "exactly one removal succeeds")
			ok, err := ta.db.hasFactor(t.Context(), u.ID)
			require.NoError(t, err)
			assert.True(t, ok, "the administrator keeps a second factor")
			assert.Equal(t, 10, ta.count(`SELECT COUNT(*) FROM mfa_recovery_codes WHERE user_id = ?`, u.ID), "and their recovery codes")
		})
	}
}

// TestMFA_PasswordHolderCannotLockOwnerOutRegression: code attempts were
// limited per user, so whoever knew an administrator's password could
// sign in and make one wrong guess every 3 minutes, keeping the limit
// shut: the owner, password and authenticator app in hand, got 429 at
// the MFA challenge for as long as the attacker went on. Now each session
// has its own limit: the attacker is throttled, the owner gets in.
func TestMFA_PasswordHolderCannotLockOwnerOutRegression(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t)
	const email = "admin@example.com"
	_, _, secret := ta.adminClient(email)
	attacker, r := ta.login(email)
	require.Equal(t, "/mfa?next=%2Faccount", r.Location, "the password alone leads to the challenge")
	guess := func() resp { return attacker.post("/mfa/totp", url.Values{"code": {"000000"}, "next": {"/account"}}) }

	for range 5 {
		assert.Equal(t, http.StatusUnprocessableEntity, guess().Status)
	}
	r = guess()
	assertClearRefusal(t, r, http.StatusTooManyRequests, "Too many attempts. Please wait")
	for round := range 12 {
		ta.Clock.Add(3 * time.Minute)
		assert.Equal(t, http.StatusUnprocessableEntity, guess().Status, "round %d: one guess per 3 minutes", round)
		assert.Equal(t, http.StatusTooManyRequests, guess().Status, "round %d: the attacker is throttled", round)
		if round%4 == 3 {
			owner, _ := ta.login(email)
			r := owner.post("/mfa/totp", url.Values{"code": {ta.nextCode(secret)}, "next": {"/account"}})
			require.Equal(t, http.StatusSeeOther, r.Status, "round %d: the owner verifies: %s", round, r.Body)
			assert.Equal(t, http.StatusOK, owner.get("/admin").Status)
		}
	}
}
