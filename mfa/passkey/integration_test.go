package passkey_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	vwa "github.com/descope/virtualwebauthn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/identity"
	"github.com/deployedworks/rampart/internal/testenv"
	"github.com/deployedworks/rampart/mfa"
	"github.com/deployedworks/rampart/mfa/passkey"
	"github.com/deployedworks/rampart/session"
)

// TestIntegration_Session wires TOTP, WebAuthn and the policy to a real
// session.Manager and walks an administrator through enrolment, the MFA
// challenge, step-up and passwordless login.
func TestIntegration_Session(t *testing.T) {
	c := testenv.NewClock(time.Now()) // the session store expires records by the real clock
	lg, sink := newAudit()
	sm, err := session.New(session.Config{AllowInsecureCookie: true, Audit: lg, Now: c.Now})
	require.NoError(t, err)
	store := newStore(t)
	tp, err := mfa.NewTOTP(mfa.TOTPConfig{Issuer: "Marketplace", Keyring: newKeyring(t), Store: store, Sessions: sm, Limiter: unlimited, UserLimiter: unlimited, Audit: lg, Now: c.Now})
	require.NoError(t, err)

	mux := http.NewServeMux()
	srv := httptest.NewUnstartedServer(sm.Handler(mux))
	origin := fmt.Sprintf("http://localhost:%d", srv.Listener.Addr().(*net.TCPAddr).Port)
	roles := map[string][]string{"root": {"admin"}}
	wa, err := passkey.New(passkey.Config{
		RPID: "localhost", RPDisplayName: "Marketplace", RPOrigins: []string{origin},
		Credentials: store, Sessions: sm, Challenges: sm, Audit: lg, Now: c.Now,
		OnLogin: func(_ http.ResponseWriter, r *http.Request, res passkey.LoginResult) error {
			return sm.Login(r.Context(), identity.Principal{UserID: res.UserID, Roles: roles[res.UserID], Methods: res.Methods, AuthTime: res.ReadAt})
		},
	})
	require.NoError(t, err)
	policy, err := mfa.NewPolicy(mfa.PolicyConfig{
		Factors:   []mfa.EnrolmentChecker{tp, wa},
		EnrolPath: "/mfa/setup", ChallengePath: "/mfa/verify", ReauthPath: "/reauth",
		Audit: lg, Now: c.Now,
	})
	require.NoError(t, err)

	fail := func(w http.ResponseWriter, err error) { http.Error(w, err.Error(), http.StatusBadRequest) }
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		user := r.FormValue("user")
		if err := sm.Login(r.Context(), identity.Principal{UserID: user, Roles: roles[user], Methods: []identity.Method{identity.MethodPassword}, AuthTime: c.Now()}); err != nil {
			fail(w, err)
		}
	})
	app := http.NewServeMux()
	app.HandleFunc("GET /admin", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "admin") })
	app.Handle("POST /admin/danger", policy.StepUp(5*time.Minute)(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "done")
	})))
	app.HandleFunc("POST /mfa/setup/totp", func(w http.ResponseWriter, r *http.Request) {
		id, _ := identity.FromContext(r.Context())
		e, err := tp.Enrol(r.Context(), id.UserID, id.UserID+"@example.com")
		if err != nil {
			fail(w, err)
			return
		}
		_, _ = io.WriteString(w, e.URI())
	})
	app.HandleFunc("POST /mfa/setup/totp/confirm", func(w http.ResponseWriter, r *http.Request) {
		id, _ := identity.FromContext(r.Context())
		if err := tp.Confirm(r.Context(), id.UserID, r.FormValue("code")); err != nil {
			fail(w, err)
			return
		}
		if err := sm.MarkMFA(r.Context(), identity.MethodOTP); err != nil {
			fail(w, err)
		}
	})
	app.HandleFunc("POST /mfa/verify/totp", func(w http.ResponseWriter, r *http.Request) {
		id, _ := identity.FromContext(r.Context())
		if err := tp.Verify(r.Context(), id.UserID, r.FormValue("code")); err != nil {
			fail(w, err)
			return
		}
		if err := sm.MarkMFA(r.Context(), identity.MethodOTP); err != nil {
			fail(w, err)
		}
	})
	app.HandleFunc("POST /mfa/setup/passkey/begin", wa.BeginRegistration)
	app.HandleFunc("POST /mfa/setup/passkey/finish", wa.FinishRegistration)
	mux.Handle("/admin", policy.Require(app))
	mux.Handle("/admin/", policy.Require(app))
	mux.Handle("/mfa/setup/", policy.AllowEnrolment(app))
	mux.Handle("/mfa/verify/", policy.AllowChallenge(app))
	mux.HandleFunc("POST /passkey/begin", wa.BeginLogin)
	mux.HandleFunc("POST /passkey/finish", wa.FinishLogin)
	srv.Start()
	t.Cleanup(srv.Close)

	newBrowser := func() *http.Client {
		jar, err := cookiejar.New(nil)
		require.NoError(t, err)
		return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	do := func(b *http.Client, method, path string, form url.Values, body string) (int, string) {
		t.Helper()
		var req *http.Request
		if form != nil {
			req, err = http.NewRequest(method, origin+path, strings.NewReader(form.Encode()))
			require.NoError(t, err)
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		} else {
			req, err = http.NewRequest(method, origin+path, strings.NewReader(body))
			require.NoError(t, err)
			req.Header.Set("Content-Type", "application/json")
		}
		req.Header.Set("Accept", "application/json")
		resp, err := b.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		out, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(out)
	}

	// 1. The administrator signs in with a password: only enrolment is
	// reachable.
	b := newBrowser()
	status, _ := do(b, "POST", "/login", url.Values{"user": {"root"}}, "")
	require.Equal(t, 200, status)
	status, body := do(b, "GET", "/admin", nil, "")
	require.Equal(t, 403, status, body)
	assert.Contains(t, body, "mfa_enrolment_required")

	// 2. Enrol TOTP and confirm it: the session is MFA-verified.
	status, uri := do(b, "POST", "/mfa/setup/totp", url.Values{}, "")
	require.Equal(t, 200, status, uri)
	u, err := url.Parse(uri)
	require.NoError(t, err)
	secret := u.Query().Get("secret")
	code := func() string { return totpCode(t, secret, c.Now()) }
	status, body = do(b, "POST", "/mfa/setup/totp/confirm", url.Values{"code": {code()}}, "")
	require.Equal(t, 200, status, body)
	status, body = do(b, "GET", "/admin", nil, "")
	require.Equal(t, 200, status, body)

	// 3. Register a passkey from the verified session.
	dev := &device{
		rp:   vwa.RelyingParty{ID: "localhost", Name: "Marketplace", Origin: origin},
		auth: vwa.NewAuthenticator(),
		cred: testenv.PasskeyCredential(),
	}
	status, opts := do(b, "POST", "/mfa/setup/passkey/begin", nil, "")
	require.Equal(t, 200, status, opts)
	ao, err := vwa.ParseAttestationOptions(opts)
	require.NoError(t, err)
	dev.auth.Options.UserHandle = []byte(ao.UserID)
	status, body = do(b, "POST", "/mfa/setup/passkey/finish", nil, vwa.CreateAttestationResponse(dev.rp, dev.auth, dev.cred, *ao))
	require.Equal(t, 201, status, body)

	// 4. A new sign-in with the password is challenged; stolen passwords
	// cannot reach enrolment.
	c.Add(time.Minute)
	b2 := newBrowser()
	do(b2, "POST", "/login", url.Values{"user": {"root"}}, "")
	status, body = do(b2, "GET", "/admin", nil, "")
	require.Equal(t, 401, status, body)
	assert.Contains(t, body, "mfa_required")
	status, _ = do(b2, "POST", "/mfa/setup/totp", url.Values{}, "")
	require.Equal(t, 401, status)
	status, body = do(b2, "POST", "/mfa/verify/totp", url.Values{"code": {code()}}, "")
	require.Equal(t, 200, status, body)
	status, _ = do(b2, "GET", "/admin", nil, "")
	require.Equal(t, 200, status)

	// 5. Step-up: a sensitive action needs a verification under 5 minutes
	// old.
	status, body = do(b2, "POST", "/admin/danger", url.Values{}, "")
	require.Equal(t, 200, status, body)
	c.Add(6 * time.Minute)
	status, body = do(b2, "POST", "/admin/danger", url.Values{}, "")
	require.Equal(t, 401, status, body)
	assert.Contains(t, body, "step_up_required")
	status, body = do(b2, "POST", "/mfa/verify/totp", url.Values{"code": {code()}}, "")
	require.Equal(t, 200, status, body)
	status, body = do(b2, "POST", "/admin/danger", url.Values{}, "")
	require.Equal(t, 200, status, body)

	// 6. Passwordless: a fresh browser signs in with the passkey and is
	// MFA-verified at once.
	b3 := newBrowser()
	status, opts = do(b3, "POST", "/passkey/begin", nil, "")
	require.Equal(t, 200, status, opts)
	aopts, err := vwa.ParseAssertionOptions(opts)
	require.NoError(t, err)
	dev.cred.Counter++
	status, body = do(b3, "POST", "/passkey/finish", nil, vwa.CreateAssertionResponse(dev.rp, dev.auth, dev.cred, *aopts))
	require.Equal(t, 200, status, body)
	status, body = do(b3, "GET", "/admin", nil, "")
	require.Equal(t, 200, status, body)

	// The session layer audited the MFA marks.
	var marks []string
	for _, e := range events(sink, "session.mfa") {
		marks = append(marks, e.Meta["method"])
	}
	assert.Equal(t, []string{"otp", "otp", "otp", "hwk"}, marks, "RFC 8176 methods")
	raw, _ := json.Marshal(sink.Events())
	assert.NotContains(t, string(raw), secret, "the TOTP secret never reaches audit")
}

// heldCredentials is a CredentialStore whose next Credential lookup reads
// the credential, closes read and waits for release.
type heldCredentials struct {
	mfa.CredentialStore
	mu            sync.Mutex
	read, release chan struct{}
}

// hold arms the gate for the next lookup.
func (h *heldCredentials) hold() (read, release chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.read, h.release = make(chan struct{}), make(chan struct{})
	return h.read, h.release
}

func (h *heldCredentials) Credential(ctx context.Context, id []byte) (mfa.StoredCredential, error) {
	sc, err := h.CredentialStore.Credential(ctx, id)
	h.mu.Lock()
	read, release := h.read, h.release
	h.read = nil
	h.mu.Unlock()
	if read != nil {
		close(read)
		<-release
	}
	return sc, err
}

// TestPasskeyLoginRacesRevocation: a passwordless login that looked up
// its credential and user before the user's sessions were revoked (the
// account disabled, a role removed) must not leave a usable session.
// OnLogin passes LoginResult.ReadAt to session.Manager.Login.
func TestPasskeyLoginRacesRevocation(t *testing.T) {
	c := testenv.NewClock(time.Now()) // the session store expires records by the real clock
	sm, err := session.New(session.Config{AllowInsecureCookie: true, Now: c.Now})
	require.NoError(t, err)
	creds := &heldCredentials{CredentialStore: newStore(t)}
	mux := http.NewServeMux()
	srv := httptest.NewUnstartedServer(sm.Handler(mux))
	origin := fmt.Sprintf("http://localhost:%d", srv.Listener.Addr().(*net.TCPAddr).Port)
	wa, err := passkey.New(passkey.Config{
		RPID: "localhost", RPDisplayName: "Marketplace", RPOrigins: []string{origin},
		Credentials: creds, Sessions: sm, Challenges: sm, Now: c.Now,
		OnLogin: func(_ http.ResponseWriter, r *http.Request, res passkey.LoginResult) error {
			return sm.Login(r.Context(), identity.Principal{UserID: res.UserID, Roles: []string{"admin"}, Methods: res.Methods, AuthTime: res.ReadAt})
		},
	})
	require.NoError(t, err)
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		if err := sm.Login(r.Context(), identity.Principal{UserID: "root", Roles: []string{"admin"}, Methods: []identity.Method{identity.MethodPassword}, AuthTime: c.Now()}); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	mux.HandleFunc("GET /whoami", func(w http.ResponseWriter, r *http.Request) {
		id, ok := identity.FromContext(r.Context())
		if !ok {
			_, _ = io.WriteString(w, "anonymous")
			return
		}
		_, _ = io.WriteString(w, id.UserID+"|"+strings.Join(id.Roles, ","))
	})
	mux.HandleFunc("POST /passkey/register/begin", wa.BeginRegistration)
	mux.HandleFunc("POST /passkey/register/finish", wa.FinishRegistration)
	mux.HandleFunc("POST /passkey/begin", wa.BeginLogin)
	mux.HandleFunc("POST /passkey/finish", wa.FinishLogin)
	srv.Start()
	t.Cleanup(srv.Close)

	newBrowser := func() *http.Client {
		jar, err := cookiejar.New(nil)
		require.NoError(t, err)
		return &http.Client{Jar: jar}
	}
	do := func(b *http.Client, method, path, body string) (int, string, error) {
		req, err := http.NewRequest(method, origin+path, strings.NewReader(body))
		if err != nil {
			return 0, "", err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := b.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		out, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(out), err
	}
	mustDo := func(b *http.Client, method, path, body string) string {
		t.Helper()
		status, out, err := do(b, method, path, body)
		require.NoError(t, err)
		require.Equal(t, 200, status/100*100, out)
		return out
	}

	// The user registers a passkey from a password session.
	b := newBrowser()
	mustDo(b, "POST", "/login", "")
	dev := &device{
		rp:   vwa.RelyingParty{ID: "localhost", Name: "Marketplace", Origin: origin},
		auth: vwa.NewAuthenticator(),
		cred: testenv.PasskeyCredential(),
	}
	ao, err := vwa.ParseAttestationOptions(mustDo(b, "POST", "/passkey/register/begin", ""))
	require.NoError(t, err)
	dev.auth.Options.UserHandle = []byte(ao.UserID)
	mustDo(b, "POST", "/passkey/register/finish", vwa.CreateAttestationResponse(dev.rp, dev.auth, dev.cred, *ao))

	// A passwordless login looks up the credential and is held there...
	b2 := newBrowser()
	aopts, err := vwa.ParseAssertionOptions(mustDo(b2, "POST", "/passkey/begin", ""))
	require.NoError(t, err)
	dev.cred.Counter++
	assertion := vwa.CreateAssertionResponse(dev.rp, dev.auth, dev.cred, *aopts)
	read, release := creds.hold()
	type result struct {
		status int
		body   string
		err    error
	}
	done := make(chan result, 1)
	go func() {
		status, body, err := do(b2, "POST", "/passkey/finish", assertion)
		done <- result{status, body, err}
	}()
	select {
	case <-read:
	case r := <-done:
		t.Fatalf("the login did not look up its credential: %d %s %v", r.status, r.body, r.err)
	}
	// ...while the account is disabled and its sessions revoked.
	c.Add(time.Second)
	require.NoError(t, sm.RevokeUser(context.Background(), "root"))
	close(release)
	r := <-done
	require.NoError(t, r.err)
	assert.Equal(t, 200, r.status, r.body)
	assert.Equal(t, "anonymous", mustDo(b2, "GET", "/whoami", ""), "the racing passkey login left no session")
	assert.Equal(t, "anonymous", mustDo(b, "GET", "/whoami", ""), "revoked")
}
