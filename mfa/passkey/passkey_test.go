package passkey_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	vwa "github.com/descope/virtualwebauthn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/clientip"
	"github.com/deployedworks/rampart/identity"
	"github.com/deployedworks/rampart/internal/testenv"
	"github.com/deployedworks/rampart/mfa"
	"github.com/deployedworks/rampart/mfa/memstore"
	"github.com/deployedworks/rampart/mfa/passkey"
)

type waHarness struct {
	t        *testing.T
	origin   string
	wa       *passkey.RelyingParty
	sessions *fakeSessions
	store    *memstore.Store
	clock    *testenv.Clock
	sink     *audit.MemorySink

	mu     sync.Mutex
	logins []passkey.LoginResult
}

// newWAHarness serves the WebAuthn handlers on http://localhost:PORT. The
// server is built unstarted so that its port, part of the origin, is known
// before the relying party is configured.
func newWAHarness(t *testing.T, mutate func(*passkey.Config)) *waHarness {
	t.Helper()
	h := &waHarness{t: t, store: newStore(t), clock: newClock()}
	h.sessions = newFakeSessions(h.clock.Now)
	var lg *audit.Logger
	lg, h.sink = newAudit()

	mux := http.NewServeMux()
	// The client address reaches audit through the context clientip's
	// handler sets.
	srv := httptest.NewUnstartedServer(clientip.MustNew(nil, clientip.Config{}).Handler(h.sessions.Handler(mux)))
	h.origin = fmt.Sprintf("http://localhost:%d", srv.Listener.Addr().(*net.TCPAddr).Port)

	cfg := passkey.Config{
		RPID: "localhost", RPDisplayName: "Marketplace", RPOrigins: []string{h.origin},
		Credentials: h.store, Sessions: h.sessions, Challenges: h.sessions,
		Audit: lg, Now: h.clock.Now,
		OnLogin: func(_ http.ResponseWriter, r *http.Request, res passkey.LoginResult) error {
			h.sessions.Login(r.Context(), identity.Principal{UserID: res.UserID, AuthTime: h.clock.Now()})
			h.mu.Lock()
			h.logins = append(h.logins, res)
			h.mu.Unlock()
			return nil
		},
	}
	if mutate != nil {
		mutate(&cfg)
	}
	var err error
	h.wa, err = passkey.New(cfg)
	require.NoError(t, err)

	mux.HandleFunc("/register/begin", h.wa.BeginRegistration)
	mux.HandleFunc("/register/finish", h.wa.FinishRegistration)
	mux.HandleFunc("/verify/begin", h.wa.BeginVerify)
	mux.HandleFunc("/verify/finish", h.wa.FinishVerify)
	mux.HandleFunc("/login/begin", h.wa.BeginLogin)
	mux.HandleFunc("/login/finish", h.wa.FinishLogin)
	// Stands in for the app's password login.
	mux.HandleFunc("POST /test/signin", func(w http.ResponseWriter, r *http.Request) {
		h.sessions.Login(r.Context(), identity.Principal{UserID: r.FormValue("user"), AuthTime: h.clock.Now()})
	})
	mux.HandleFunc("GET /test/whoami", func(w http.ResponseWriter, r *http.Request) {
		id, _ := identity.FromContext(r.Context())
		mfaMethod := ""
		if id.MFA() && len(id.Methods) > 0 {
			mfaMethod = string(id.Methods[len(id.Methods)-1])
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"user": id.UserID, "mfa": mfaMethod})
	})
	srv.Start()
	t.Cleanup(srv.Close)
	return h
}

type waClient struct {
	h *waHarness
	c *http.Client
}

func (h *waHarness) client() *waClient {
	jar, err := cookiejar.New(nil)
	require.NoError(h.t, err)
	return &waClient{h: h, c: &http.Client{Jar: jar}}
}

func (c *waClient) do(method, path, body string) (int, string) {
	c.h.t.Helper()
	req, err := http.NewRequest(method, c.h.origin+path, strings.NewReader(body))
	require.NoError(c.h.t, err)
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.c.Do(req)
	require.NoError(c.h.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(c.h.t, err)
	return resp.StatusCode, string(b)
}

func (c *waClient) post(path, body string) (int, string) {
	c.h.t.Helper()
	return c.do(http.MethodPost, path, body)
}

func (c *waClient) signIn(user string) {
	c.h.t.Helper()
	req, err := http.NewRequest(http.MethodPost, c.h.origin+"/test/signin?user="+user, nil)
	require.NoError(c.h.t, err)
	resp, err := c.c.Do(req)
	require.NoError(c.h.t, err)
	resp.Body.Close()
}

func (c *waClient) whoami() (user, mfaMethod string) {
	c.h.t.Helper()
	_, body := c.do(http.MethodGet, "/test/whoami", "")
	var v struct{ User, MFA string }
	require.NoError(c.h.t, json.Unmarshal([]byte(body), &v))
	return v.User, v.MFA
}

// device is a software authenticator holding one credential.
type device struct {
	rp   vwa.RelyingParty
	auth vwa.Authenticator
	cred vwa.Credential
	// noBump keeps the sign counter unchanged between assertions.
	noBump bool
}

func (h *waHarness) device(opts vwa.AuthenticatorOptions) *device {
	return &device{
		rp:   vwa.RelyingParty{ID: "localhost", Name: "Marketplace", Origin: h.origin},
		auth: vwa.NewAuthenticatorWithOptions(opts),
		cred: testenv.PasskeyCredential(),
	}
}

// register runs a registration ceremony for the signed-in user.
func (c *waClient) register(d *device, name string) (int, string) {
	c.h.t.Helper()
	status, opts := c.post("/register/begin", "")
	if status != http.StatusOK {
		return status, opts
	}
	ao, err := vwa.ParseAttestationOptions(opts)
	require.NoError(c.h.t, err)
	d.auth.Options.UserHandle = []byte(ao.UserID)
	resp := vwa.CreateAttestationResponse(d.rp, d.auth, d.cred, *ao)
	return c.post("/register/finish?name="+name, resp)
}

// assert runs an assertion ceremony: kind is "verify" or "login".
func (c *waClient) assert(d *device, kind string) (int, string) {
	c.h.t.Helper()
	status, opts := c.post("/"+kind+"/begin", "")
	if status != http.StatusOK {
		return status, opts
	}
	return c.post("/"+kind+"/finish", d.answer(c.h.t, opts))
}

// beginVerify begins a verification for c's user and returns d's answer,
// for a test to finish as it likes.
func (c *waClient) beginVerify(d *device) string {
	c.h.t.Helper()
	status, opts := c.post("/verify/begin", "")
	require.Equal(c.h.t, http.StatusOK, status, opts)
	return d.answer(c.h.t, opts)
}

// answer is d's assertion (sign counter bumped unless noBump) for the
// options a begin handler returned.
func (d *device) answer(t *testing.T, opts string) string {
	t.Helper()
	ao, err := vwa.ParseAssertionOptions(opts)
	require.NoError(t, err)
	if !d.noBump {
		d.cred.Counter++
	}
	return vwa.CreateAssertionResponse(d.rp, d.auth, d.cred, *ao)
}

func TestWebAuthn_EndToEnd(t *testing.T) {
	h := newWAHarness(t, nil)
	alice := h.client()
	alice.signIn("alice")

	// Registration options are the inner publicKey object that
	// PublicKeyCredential.parseCreationOptionsFromJSON takes.
	status, body := alice.post("/register/begin", "")
	require.Equal(t, http.StatusOK, status, body)
	var opts map[string]any
	require.NoError(t, json.Unmarshal([]byte(body), &opts))
	assert.NotContains(t, opts, "publicKey")
	assert.NotEmpty(t, opts["challenge"])
	assert.Equal(t, "localhost", opts["rp"].(map[string]any)["id"])
	sel := opts["authenticatorSelection"].(map[string]any)
	assert.Equal(t, "required", sel["residentKey"])
	assert.Equal(t, "required", sel["userVerification"])
	user := opts["user"].(map[string]any)
	handle, err := base64.RawURLEncoding.DecodeString(user["id"].(string))
	require.NoError(t, err)
	assert.Len(t, handle, 32, "random user handle, not the user ID")

	dev := h.device(vwa.AuthenticatorOptions{})
	status, body = alice.register(dev, "YubiKey")
	require.Equal(t, http.StatusCreated, status, body)
	assert.Contains(t, body, `"name":"YubiKey"`)

	creds, err := h.wa.Credentials(context.Background(), "alice")
	require.NoError(t, err)
	require.Len(t, creds, 1)
	assert.Equal(t, dev.cred.ID, creds[0].ID)
	assert.Equal(t, "YubiKey", creds[0].Name)
	ok, err := h.wa.Enrolled(context.Background(), "alice")
	require.NoError(t, err)
	assert.True(t, ok)

	// Second factor for the signed-in user: the session gets MFA.
	_, method := alice.whoami()
	assert.Empty(t, method)
	status, body = alice.assert(dev, "verify")
	require.Equal(t, http.StatusOK, status, body)
	_, method = alice.whoami()
	assert.Equal(t, string(identity.MethodHardwareKey), method)

	// Passwordless: a new browser with no session signs in with the
	// discoverable credential.
	browser := h.client()
	status, body = browser.post("/login/begin", "")
	require.Equal(t, http.StatusOK, status, body)
	require.NoError(t, json.Unmarshal([]byte(body), &opts))
	assert.NotContains(t, opts, "publicKey")
	assert.Empty(t, opts["allowCredentials"], "discoverable login")
	assert.Equal(t, "required", opts["userVerification"])
	ao, err := vwa.ParseAssertionOptions(body)
	require.NoError(t, err)
	dev.cred.Counter++
	status, body = browser.post("/login/finish", vwa.CreateAssertionResponse(dev.rp, dev.auth, dev.cred, *ao))
	require.Equal(t, http.StatusOK, status, body)
	who, method := browser.whoami()
	assert.Equal(t, "alice", who)
	assert.Equal(t, string(identity.MethodHardwareKey), method)
	require.Len(t, h.logins, 1)
	assert.Equal(t, "alice", h.logins[0].UserID)
	assert.True(t, h.logins[0].UserVerified)
	assert.Equal(t, []identity.Method{identity.MethodHardwareKey, identity.MethodPIN}, h.logins[0].Methods, "a user-verified passkey is two factors")
	assert.Equal(t, dev.cred.ID, h.logins[0].CredentialID)

	// The stored counter follows every login.
	creds, err = h.wa.Credentials(context.Background(), "alice")
	require.NoError(t, err)
	assert.False(t, creds[0].LastUsedAt.IsZero())

	// Audit: registration, verification and login succeeded.
	for _, action := range []string{"mfa.webauthn.register", "mfa.webauthn.verify", "mfa.webauthn.login"} {
		evs := events(h.sink, action)
		require.Len(t, evs, 1, action)
		assert.Equal(t, audit.OutcomeSuccess, evs[0].Outcome)
		assert.Equal(t, "alice", evs[0].Actor.UserID)
		assert.Equal(t, base64.RawURLEncoding.EncodeToString(dev.cred.ID), evs[0].Target.ID)
		assert.True(t, evs[0].ClientIP.IsLoopback())
	}
}

func TestWebAuthn_RSAKey(t *testing.T) {
	h, c := signedIn(t, nil)
	dev := h.device(vwa.AuthenticatorOptions{})
	dev.cred = vwa.NewCredential(vwa.KeyTypeRSA)
	status, body := c.register(dev, "RSA")
	require.Equal(t, http.StatusCreated, status, body)
	status, body = c.assert(dev, "verify")
	require.Equal(t, http.StatusOK, status, body)
}

// signedIn returns a harness and a client signed in as alice.
func signedIn(t *testing.T, mutate func(*passkey.Config)) (*waHarness, *waClient) {
	t.Helper()
	h := newWAHarness(t, mutate)
	c := h.client()
	c.signIn("alice")
	return h, c
}

// registered returns a harness, a client signed in as alice and her
// registered device.
func registered(t *testing.T, mutate func(*passkey.Config)) (*waHarness, *waClient, *device) {
	t.Helper()
	h, c := signedIn(t, mutate)
	dev := h.device(vwa.AuthenticatorOptions{})
	status, body := c.register(dev, "Key")
	require.Equal(t, http.StatusCreated, status, "%s %+v", body, events(h.sink, "mfa.webauthn.register"))
	return h, c, dev
}

func TestWebAuthn_Attacks(t *testing.T) {
	rows := []struct {
		name   string
		kind   string // "verify" or "login"
		tamper func(h *waHarness, d *device)
		status int
		code   string
	}{
		{"wrong origin", "verify", func(h *waHarness, d *device) {
			d.rp.Origin = "http://evil.localhost" + h.origin[len("http://localhost"):]
		}, 400, "verification_failed"},
		{"wrong origin, passwordless", "login", func(h *waHarness, d *device) { d.rp.Origin = "https://localhost" }, 400, "verification_failed"},
		{"wrong port", "verify", func(h *waHarness, d *device) { d.rp.Origin = "http://localhost:1" }, 400, "verification_failed"},
		{"wrong RP ID", "verify", func(h *waHarness, d *device) { d.rp.ID = "evil.example" }, 400, "verification_failed"},
		{"wrong RP ID, passwordless", "login", func(h *waHarness, d *device) { d.rp.ID = "example.com" }, 400, "verification_failed"},
		{"passwordless without user verification", "login", func(h *waHarness, d *device) { d.auth.Options.UserNotVerified = true }, 400, "verification_failed"},
		{"user not present", "verify", func(h *waHarness, d *device) { d.auth.Options.UserNotPresent = true }, 400, "verification_failed"},
		{"passwordless with another user's handle", "login", func(h *waHarness, d *device) { d.auth.Options.UserHandle = []byte("bob") }, 400, "verification_failed"},
		{"passwordless with an unregistered credential", "login", func(h *waHarness, d *device) { d.cred = testenv.PasskeyCredential() }, 400, "verification_failed"},
		{"forged key for the registered credential ID", "verify", func(h *waHarness, d *device) {
			id := d.cred.ID
			d.cred = testenv.PasskeyCredential()
			d.cred.ID = id
		}, 400, "verification_failed"},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			h, c, dev := registered(t, nil)
			if r.kind == "login" {
				c = h.client()
			}
			r.tamper(h, dev)
			status, body := c.assert(dev, r.kind)
			assert.Equal(t, r.status, status, body)
			assert.JSONEq(t, `{"error":"`+r.code+`"}`, body, "uniform error, no details")
			if r.kind == "login" {
				who, _ := c.whoami()
				assert.Empty(t, who, "not signed in")
				assert.Empty(t, h.logins)
			}
			failures := events(h.sink, "mfa.webauthn."+r.kind)
			require.Len(t, failures, 1)
			assert.Equal(t, audit.OutcomeFailure, failures[0].Outcome)
			assert.NotEmpty(t, failures[0].Reason, "details go to audit")
		})
	}
}

func TestWebAuthn_RegistrationAttacks(t *testing.T) {
	rows := []struct {
		name   string
		tamper func(h *waHarness, d *device)
	}{
		{"wrong origin", func(h *waHarness, d *device) { d.rp.Origin = "https://evil.example" }},
		{"wrong RP ID", func(h *waHarness, d *device) { d.rp.ID = "evil.example" }},
		{"no user verification", func(h *waHarness, d *device) { d.auth.Options.UserNotVerified = true }},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			h, c := signedIn(t, nil)
			dev := h.device(vwa.AuthenticatorOptions{})
			r.tamper(h, dev)
			status, body := c.register(dev, "Key")
			assert.Equal(t, http.StatusBadRequest, status, body)
			ok, err := h.wa.Enrolled(context.Background(), "alice")
			require.NoError(t, err)
			assert.False(t, ok)
		})
	}
}

// Each row finishes, with a valid answer, a verification that must find no
// pending challenge.
func TestWebAuthn_NoChallenge(t *testing.T) {
	rows := []struct {
		name   string
		finish func(h *waHarness, c *waClient, answer string) (int, string)
	}{
		{"replayed assertion", func(h *waHarness, c *waClient, answer string) (int, string) {
			status, body := c.post("/verify/finish", answer)
			require.Equal(h.t, http.StatusOK, status, body)
			return c.post("/verify/finish", answer)
		}},
		{"challenge of another ceremony", func(_ *waHarness, c *waClient, answer string) (int, string) {
			return c.post("/login/finish", answer)
		}},
		{"challenge from another session", func(h *waHarness, _ *waClient, answer string) (int, string) {
			other := h.client()
			other.signIn("alice")
			return other.post("/verify/finish", answer)
		}},
		{"expired challenge", func(h *waHarness, c *waClient, answer string) (int, string) {
			h.clock.Add(5*time.Minute + time.Second)
			return c.post("/verify/finish", answer)
		}},
		{"user switched between begin and finish", func(_ *waHarness, c *waClient, answer string) (int, string) {
			c.signIn("bob")
			return c.post("/verify/finish", answer)
		}},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			h, c, dev := registered(t, nil)
			status, body := r.finish(h, c, c.beginVerify(dev))
			assert.Equal(t, http.StatusBadRequest, status)
			assert.JSONEq(t, `{"error":"no_challenge"}`, body)
		})
	}
}

func TestWebAuthn_Ceremonies(t *testing.T) {
	t.Run("another user's credential for verification", func(t *testing.T) {
		h, _, dev := registered(t, nil)
		bob := h.client()
		bob.signIn("bob")
		bobDev := h.device(vwa.AuthenticatorOptions{})
		status, _ := bob.register(bobDev, "Bob's")
		require.Equal(t, http.StatusCreated, status)
		// bob's session asks for verification, alice's key answers.
		status, body := bob.post("/verify/finish", bob.beginVerify(dev))
		assert.Equal(t, http.StatusBadRequest, status)
		assert.JSONEq(t, `{"error":"verification_failed"}`, body)
		_, method := bob.whoami()
		assert.Empty(t, method)
	})
	t.Run("not signed in", func(t *testing.T) {
		h := newWAHarness(t, nil)
		c := h.client()
		for _, p := range []string{"/register/begin", "/register/finish", "/verify/begin", "/verify/finish"} {
			status, body := c.post(p, "{}")
			assert.Equal(t, http.StatusUnauthorized, status, p)
			assert.JSONEq(t, `{"error":"unauthenticated"}`, body)
		}
	})
	t.Run("verify without credentials", func(t *testing.T) {
		_, c := signedIn(t, nil)
		status, body := c.post("/verify/begin", "")
		assert.Equal(t, http.StatusNotFound, status)
		assert.JSONEq(t, `{"error":"not_enrolled"}`, body)
	})
	t.Run("only POST", func(t *testing.T) {
		_, c := signedIn(t, nil)
		for _, p := range []string{"/register/begin", "/register/finish", "/verify/begin", "/verify/finish", "/login/begin", "/login/finish"} {
			for _, m := range []string{http.MethodGet, http.MethodPut} {
				status, body := c.do(m, p, "")
				assert.Equal(t, http.StatusMethodNotAllowed, status, "%s %s", m, p)
				assert.JSONEq(t, `{"error":"method_not_allowed"}`, body)
			}
		}
	})
	t.Run("body too large", func(t *testing.T) {
		h := newWAHarness(t, func(c *passkey.Config) { c.MaxBodyBytes = 1024 })
		c := h.client()
		_, _ = c.post("/login/begin", "")
		status, body := c.post("/login/finish", `{"id":"`+strings.Repeat("A", 4096)+`"}`)
		assert.Equal(t, http.StatusRequestEntityTooLarge, status)
		assert.JSONEq(t, `{"error":"body_too_large"}`, body)
	})
	t.Run("garbage body", func(t *testing.T) {
		h := newWAHarness(t, nil)
		c := h.client()
		_, _ = c.post("/login/begin", "")
		status, body := c.post("/login/finish", `{"id":`)
		assert.Equal(t, http.StatusBadRequest, status)
		assert.JSONEq(t, `{"error":"verification_failed"}`, body)
	})
	t.Run("passwordless off without OnLogin", func(t *testing.T) {
		h := newWAHarness(t, func(c *passkey.Config) { c.OnLogin = nil })
		status, _ := h.client().post("/login/begin", "")
		assert.Equal(t, http.StatusNotFound, status)
	})
	t.Run("same authenticator twice is excluded", func(t *testing.T) {
		_, c, dev := registered(t, nil)
		status, body := c.assert(dev, "verify") // a factor exists: step up first
		require.Equal(t, http.StatusOK, status, body)
		_, opts := c.post("/register/begin", "")
		ao, err := vwa.ParseAttestationOptions(opts)
		require.NoError(t, err)
		assert.Len(t, ao.ExcludeCredentials, 1)
	})
	t.Run("credential limit", func(t *testing.T) {
		h, c := signedIn(t, func(c *passkey.Config) { c.MaxCredentials = 1 })
		status, _ := c.register(h.device(vwa.AuthenticatorOptions{}), "one")
		require.Equal(t, http.StatusCreated, status)
		status, body := c.register(h.device(vwa.AuthenticatorOptions{}), "two")
		assert.Equal(t, http.StatusConflict, status)
		assert.JSONEq(t, `{"error":"too_many_credentials"}`, body)
	})
	t.Run("bad credential name", func(t *testing.T) {
		h, c := signedIn(t, nil)
		status, body := c.register(h.device(vwa.AuthenticatorOptions{}), strings.Repeat("x", 65))
		assert.Equal(t, http.StatusBadRequest, status)
		assert.JSONEq(t, `{"error":"bad_name"}`, body)
	})
}

// A sign counter that goes backwards (a cloned authenticator) raises a
// security alert and fails the login.
func TestWebAuthn_SignCountRegression(t *testing.T) {
	for _, kind := range []string{"verify", "login"} {
		t.Run(kind, func(t *testing.T) {
			h, c, dev := registered(t, nil)
			if kind == "login" {
				c = h.client()
			}
			dev.cred.Counter = 9 // assert bumps it to 10
			status, body := c.assert(dev, kind)
			require.Equal(t, http.StatusOK, status, body)

			clone := *dev
			clone.cred.Counter = 4 // the clone is behind: 5
			if kind == "login" {
				c = h.client()
			}
			status, body = c.assert(&clone, kind)
			assert.Equal(t, http.StatusBadRequest, status)
			assert.JSONEq(t, `{"error":"verification_failed"}`, body)
			if kind == "login" {
				who, method := c.whoami()
				assert.Empty(t, who, "not signed in")
				assert.Empty(t, method)
			}

			alerts := events(h.sink, "mfa.webauthn.clone_warning")
			require.Len(t, alerts, 1)
			assert.Equal(t, audit.CategorySecurityAlert, alerts[0].Category)
			assert.Equal(t, "alice", alerts[0].Actor.UserID)
			assert.Contains(t, alerts[0].Reason, "rejected")

			// Replaying the same counter is a regression too: the stored
			// counter moved to 10 after the first login.
			dev.cred.Counter = 9
			status, _ = c.assert(dev, kind)
			assert.Equal(t, http.StatusBadRequest, status)
			// The genuine authenticator moving on still works.
			dev.cred.Counter = 20
			status, body = c.assert(dev, kind)
			assert.Equal(t, http.StatusOK, status, body)
		})
	}
}

func TestWebAuthn_SignCountRegressionAllowed(t *testing.T) {
	h, c, dev := registered(t, func(c *passkey.Config) { c.AllowSignCountRegression = true })
	dev.cred.Counter = 9
	status, _ := c.assert(dev, "verify")
	require.Equal(t, http.StatusOK, status)
	dev.cred.Counter = 2
	status, body := c.assert(dev, "verify")
	assert.Equal(t, http.StatusOK, status, body)
	alerts := events(h.sink, "mfa.webauthn.clone_warning")
	require.Len(t, alerts, 1)
	assert.Contains(t, alerts[0].Reason, "allowed")
}

// Authenticators without a counter always report 0; that is not a
// regression.
func TestWebAuthn_ZeroCounter(t *testing.T) {
	h, c, dev := registered(t, nil)
	dev.noBump = true
	for range 3 {
		status, body := c.assert(dev, "verify")
		require.Equal(t, http.StatusOK, status, body)
	}
	assert.Empty(t, events(h.sink, "mfa.webauthn.clone_warning"))
}

func TestWebAuthn_ManageCredentials(t *testing.T) {
	h, c, dev := registered(t, nil)
	ctx := context.Background()
	second := h.device(vwa.AuthenticatorOptions{})
	h.clock.Add(time.Minute)
	status, body := c.register(second, "Phone")
	require.Equal(t, http.StatusUnauthorized, status, "a second passkey needs a step-up with the first")
	assert.JSONEq(t, `{"error":"step_up_required"}`, body)
	status, body = c.assert(dev, "verify")
	require.Equal(t, http.StatusOK, status, body)
	status, body = c.register(second, "Phone")
	require.Equal(t, http.StatusCreated, status, body)

	creds, err := h.wa.Credentials(ctx, "alice")
	require.NoError(t, err)
	require.Len(t, creds, 2)

	require.NoError(t, h.wa.RenameCredential(ctx, "alice", dev.cred.ID, "  Desk key  "))
	require.ErrorIs(t, h.wa.RenameCredential(ctx, "bob", dev.cred.ID, "mine"), mfa.ErrNotFound, "attack: another user's credential")
	require.Error(t, h.wa.RenameCredential(ctx, "alice", dev.cred.ID, "bad\x00name"))
	require.Error(t, h.wa.RenameCredential(ctx, "alice", dev.cred.ID, "   "))
	creds, err = h.wa.Credentials(ctx, "alice")
	require.NoError(t, err)
	assert.Equal(t, "Desk key", creds[0].Name)

	require.ErrorIs(t, h.wa.RemoveCredential(ctx, "bob", dev.cred.ID, false), mfa.ErrNotFound, "attack: another user's credential")
	require.NoError(t, h.wa.RemoveCredential(ctx, "alice", dev.cred.ID, false))
	creds, err = h.wa.Credentials(ctx, "alice")
	require.NoError(t, err)
	require.Len(t, creds, 1)

	// A removed credential no longer signs in; the other one does.
	status, _ = h.client().assert(dev, "login")
	assert.Equal(t, http.StatusBadRequest, status)
	status, body = h.client().assert(second, "login")
	assert.Equal(t, http.StatusOK, status, body)

	assert.Len(t, events(h.sink, "mfa.webauthn.rename"), 1)
	removes := events(h.sink, "mfa.webauthn.remove")
	require.Len(t, removes, 2, "the attempt on another user's credential is audited too")
	assert.Equal(t, audit.OutcomeFailure, removes[0].Outcome)
	assert.Equal(t, "bob", removes[0].Actor.UserID)
	assert.Equal(t, audit.OutcomeSuccess, removes[1].Outcome)
}

func TestNew_Config(t *testing.T) {
	st, fs := newStore(t), newFakeSessions(time.Now)
	base := func() passkey.Config {
		return passkey.Config{RPID: "example.com", RPDisplayName: "X", RPOrigins: []string{"https://example.com"},
			Credentials: st, Sessions: fs, Challenges: fs}
	}
	rows := []struct {
		name   string
		mutate func(*passkey.Config)
		ok     bool
	}{
		{"ok", func(*passkey.Config) {}, true},
		{"localhost http", func(c *passkey.Config) { c.RPID = "localhost"; c.RPOrigins = []string{"http://localhost:8080"} }, true},
		{"no RPID", func(c *passkey.Config) { c.RPID = "" }, false},
		{"IP RPID", func(c *passkey.Config) { c.RPID = "127.0.0.1" }, false},
		{"no name", func(c *passkey.Config) { c.RPDisplayName = "" }, false},
		{"no origins", func(c *passkey.Config) { c.RPOrigins = nil }, false},
		{"http origin", func(c *passkey.Config) { c.RPOrigins = []string{"http://example.com"} }, false},
		{"http localhost look-alike", func(c *passkey.Config) { c.RPOrigins = []string{"http://localhost.evil.com"} }, false},
		{"origin with path", func(c *passkey.Config) { c.RPOrigins = []string{"https://example.com/login"} }, false},
		{"no store", func(c *passkey.Config) { c.Credentials = nil }, false},
		{"no sessions", func(c *passkey.Config) { c.Sessions = nil }, false},
		{"no challenges", func(c *passkey.Config) { c.Challenges = nil }, false},
		{"negative timeout", func(c *passkey.Config) { c.Timeout = -1 }, false},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			cfg := base()
			r.mutate(&cfg)
			_, err := passkey.New(cfg)
			assert.Equal(t, r.ok, err == nil, "%v", err)
		})
	}
}

// TestWebAuthn_RegistrationNeedsRecentAuth: ASVS 5.0 §7.5.1. A session
// stolen after sign-in cannot register its own first passkey once the
// sign-in is older than ReauthAge, at begin or at finish.
func TestWebAuthn_RegistrationNeedsRecentAuth(t *testing.T) {
	t.Run("begin", func(t *testing.T) {
		h, c := signedIn(t, nil)
		h.clock.Add(mfa.DefaultReauthAge + time.Second)
		status, body := c.register(h.device(vwa.AuthenticatorOptions{}), "Attacker")
		assert.Equal(t, http.StatusUnauthorized, status)
		assert.JSONEq(t, `{"error":"reauth_required"}`, body)
		creds, err := h.wa.Credentials(context.Background(), "alice")
		require.NoError(t, err)
		assert.Empty(t, creds)
		evs := events(h.sink, string(passkey.ActionRegisterBegin))
		require.NotEmpty(t, evs)
		assert.Equal(t, audit.OutcomeDenied, evs[len(evs)-1].Outcome)
	})
	t.Run("finish", func(t *testing.T) {
		// ReauthAge shorter than the ceremony's timeout, so that the
		// sign-in goes stale while the ceremony is still valid.
		h, c := signedIn(t, func(c *passkey.Config) { c.ReauthAge = 2 * time.Minute })
		dev := h.device(vwa.AuthenticatorOptions{})
		status, opts := c.post("/register/begin", "")
		require.Equal(t, http.StatusOK, status, opts)
		h.clock.Add(2*time.Minute + time.Second)
		ao, err := vwa.ParseAttestationOptions(opts)
		require.NoError(t, err)
		dev.auth.Options.UserHandle = []byte(ao.UserID)
		status, body := c.post("/register/finish?name=Late", vwa.CreateAttestationResponse(dev.rp, dev.auth, dev.cred, *ao))
		assert.Equal(t, http.StatusUnauthorized, status)
		assert.JSONEq(t, `{"error":"reauth_required"}`, body)
	})
	t.Run("password re-entered", func(t *testing.T) {
		h, c := signedIn(t, nil)
		h.clock.Add(mfa.DefaultReauthAge + time.Second)
		c.signIn("alice") // stands in for a re-authentication: AuthTime now
		status, body := c.register(h.device(vwa.AuthenticatorOptions{}), "Key")
		assert.Equal(t, http.StatusCreated, status, body)
	})
}

// TestWebAuthn_FactorChangeSignsOutOthers: ASVS 5.0 §7.4.3. Registering
// or removing a passkey signs out the user's other sessions; the
// request's own survives. An administrator's removal signs out all of the
// user's sessions.
func TestWebAuthn_FactorChangeSignsOutOthers(t *testing.T) {
	h, c := signedIn(t, nil)
	other := h.client()
	other.signIn("alice")
	_, who := other.do(http.MethodGet, "/test/whoami", "")
	require.Contains(t, who, `"user":"alice"`)

	status, body := c.register(h.device(vwa.AuthenticatorOptions{}), "Key")
	require.Equal(t, http.StatusCreated, status, body)
	_, who = other.do(http.MethodGet, "/test/whoami", "")
	assert.Contains(t, who, `"user":""`, "the other session is signed out")
	_, who = c.do(http.MethodGet, "/test/whoami", "")
	assert.Contains(t, who, `"user":"alice"`, "this one survives")
	assert.Equal(t, []string{"alice"}, h.sessions.revokedOthers)

	creds, err := h.wa.Credentials(context.Background(), "alice")
	require.NoError(t, err)
	require.Len(t, creds, 1)
	admin := identity.NewContext(context.Background(), identity.Principal{UserID: "root", Roles: []string{"admin"}})
	require.NoError(t, h.wa.RemoveCredential(admin, "alice", creds[0].ID, false))
	assert.Equal(t, []string{"alice"}, h.sessions.revokedUsers)
	_, who = c.do(http.MethodGet, "/test/whoami", "")
	assert.Contains(t, who, `"user":""`, "an administrator's removal signs out every session")
}

// TestWebAuthn_RejectedInputPaced: ASVS 5.0 §16.3.3. Malformed payloads
// sent to the anonymous login endpoints are refused and audited, and a
// flood of them is paced.
func TestWebAuthn_RejectedInputPaced(t *testing.T) {
	h := newWAHarness(t, nil)
	c := h.client()
	for range 200 {
		status, _ := c.post("/login/finish", `{"id":`)
		require.Equal(t, http.StatusBadRequest, status)
	}
	evs := events(h.sink, string(passkey.ActionLogin))
	assert.NotEmpty(t, evs, "rejections are recorded")
	assert.Less(t, len(evs), 60, "and paced")
}
