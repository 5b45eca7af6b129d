package passkey

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/identity"
	"github.com/deployedworks/rampart/internal/nilarg"
	"github.com/deployedworks/rampart/mfa"
)

// Defaults and limits.
const (
	defaultCeremonyTimeout = 5 * time.Minute
	defaultMaxBody         = 64 << 10
	defaultMaxCredentials  = 10
	maxCredentialName      = 64 // characters
	userHandleSize         = 32
	// Challenge keys, one per ceremony, so that the state of one kind of
	// ceremony can never finish another.
	challengeRegister = "mfa.webauthn.register"
	challengeLogin    = "mfa.webauthn.login"
	challengeVerify   = "mfa.webauthn.verify"
)

// Sessions records a completed passkey verification in the request's
// session (MarkMFA: it appends m to the session's authentication methods,
// sets its MFA time and renews the session token), and signs the user's
// other sessions out when a passkey is registered or removed
// ([mfa.Sessions], OWASP ASVS 5.0 §7.4.3). *session.Manager implements it.
type Sessions interface {
	MarkMFA(ctx context.Context, m identity.Method) error
	mfa.Sessions
}

// Config configures [New].
type Config struct {
	// RPID is the relying party ID: the site's registrable domain or a
	// parent of it, e.g. "example.com" (an IP address is not allowed;
	// "localhost" is). Credentials are bound to it. Required.
	RPID string

	// RPDisplayName names the site in the authenticator's prompts.
	// Required.
	RPDisplayName string

	// RPOrigins are the origins allowed to run ceremonies, scheme, host and
	// port, e.g. "https://example.com". Required.
	RPOrigins []string

	// Credentials stores the credentials. Required; the stores of packages
	// mfa/sqlstore and mfa/memstore (for tests) implement it.
	// Give it the store of the TOTP secrets too ([mfa.FactorStore]),
	// so that removing a user's last factor can be refused atomically.
	Credentials mfa.CredentialStore

	// Sessions records MFA verifications and signs out the user's other
	// sessions when a passkey is registered or removed. Required;
	// *session.Manager implements it. The signed-in user is read from the request context
	// ([identity.FromContext]), where the session layer puts it.
	Sessions Sessions

	// Challenges keeps ceremony state in the session between begin and
	// finish. Required; *session.Manager implements it.
	Challenges mfa.ChallengeStore

	// OnLogin completes a passwordless login: it is called by
	// [RelyingParty.FinishLogin] with the verified user, and should check
	// the account is enabled and sign the user in (session Login with
	// res.ReadAt as the principal's AuthTime, which renews the session
	// token, and with res.Methods) without writing a response. After it
	// returns nil the session is marked as MFA-verified with
	// [identity.MethodHardwareKey] (a passkey with user verification is
	// two factors: see [LoginResult.Methods]) and the handler answers 200
	// {"ok":true}. An error from it goes to OnError. Default: nil, which
	// turns passwordless login off: BeginLogin and FinishLogin answer 404.
	OnLogin func(w http.ResponseWriter, r *http.Request, res LoginResult) error

	// UserNames returns the name and display name shown by the
	// authenticator for a user at registration. Default: the user ID for
	// both.
	UserNames func(ctx context.Context, userID string) (name, displayName string, err error)

	// OnError writes the response for a failed request. err wraps one of
	// this package's errors ([ErrNoChallenge], [ErrVerification],
	// [ErrClonedAuthenticator]) or of package mfa
	// ([mfa.ErrUnauthenticated], [mfa.ErrNotEnrolled],
	// [mfa.ErrStoreFull], [mfa.ErrExists]), or is OnLogin's error, or an
	// internal one; never write err.Error() to the client. Default: a JSON
	// body {"error": "<code>"} with a matching status (see [WriteError]).
	OnError func(w http.ResponseWriter, r *http.Request, err error)

	// Audit receives every outcome. Default: nil, the [audit.Logger] whose
	// Handler serves the request.
	Audit *audit.Logger

	// AllowSignCountRegression, when true, accepts a login whose sign
	// counter did not increase (a possible cloned authenticator) instead of
	// rejecting it. A security alert is written to audit either way.
	// Default: false (reject).
	AllowSignCountRegression bool

	// MaxCredentials bounds how many credentials one user may register.
	// Default: 10.
	MaxCredentials int

	// Timeout is how long a ceremony may take from begin to finish.
	// Default: 5 minutes.
	Timeout time.Duration

	// MaxBodyBytes bounds the request bodies the finish handlers read.
	// Default: 64 KiB.
	MaxBodyBytes int64

	// ReauthAge is how recent the session's proof must be to register a
	// passkey (see [mfa.CheckReauth]): a second-factor verification when
	// the user has a factor (a passkey, or a TOTP secret in the same
	// [mfa.FactorStore]), else the sign-in or a re-authentication.
	// Default: [mfa.DefaultReauthAge]. Keep it no longer than the session
	// layer's ReauthAge.
	ReauthAge time.Duration

	// Now returns the current time. Default: time.Now.
	// Tests in a testing/synctest bubble leave it nil (the bubble's fake
	// clock drives time.Now); set it only to drive one clock through a
	// whole application outside a bubble (against a real database).
	Now func() time.Time
}

// LoginResult is what a passwordless login verified.
type LoginResult struct {
	// UserID owns the credential that signed the challenge.
	UserID string
	// CredentialID is the credential used.
	CredentialID []byte
	// UserVerified reports that the authenticator verified the user (PIN
	// or biometric). Always true for [RelyingParty.FinishLogin], which
	// requires it.
	UserVerified bool
	// Methods are the authentication methods the login proved, for the
	// principal of the new session: [identity.MethodHardwareKey]
	// (possession of the key) and, the user being verified,
	// [identity.MethodPIN] (RFC 8176 "pin": the PIN or biometric that
	// unlocked it). Two factors in one gesture: the session is then
	// marked as MFA-verified, which satisfies [mfa.Policy].
	Methods []identity.Method
	// ReadAt is when the login began reading the credential and its user
	// (Config.Now), before anything was read. Pass it to the
	// session layer (session.Manager.Login), which then refuses the session
	// if the user's sessions were revoked after it: a passkey login racing
	// an account disable or a role removal must not outlive it. OnLogin
	// reads the user's roles and state after ReadAt, which is safe.
	ReadAt time.Time
}

// CredentialInfo describes a registered credential for display.
type CredentialInfo struct {
	ID         []byte
	Name       string
	CreatedAt  time.Time
	LastUsedAt time.Time // zero if never used
}

// RelyingParty registers passkeys and security keys and signs users in
// with them (W3C Web Authentication Level 3), over JSON HTTP handlers that speak
// the formats of the browser's PublicKeyCredential.parseCreationOptionsFromJSON,
// parseRequestOptionsFromJSON and credential.toJSON().
//
// Every credential is registered as a discoverable credential (passkey)
// with user verification required, so each one can sign in without a
// password. Three ceremonies are offered:
//
//   - Registration ([RelyingParty.BeginRegistration],
//     [RelyingParty.FinishRegistration]) for the signed-in user.
//   - Second-factor verification ([RelyingParty.BeginVerify],
//     [RelyingParty.FinishVerify]) for the signed-in user, e.g. after a
//     password or for step-up: on success the session is marked with
//     [identity.MethodHardwareKey].
//   - Passwordless login ([RelyingParty.BeginLogin],
//     [RelyingParty.FinishLogin]) with discoverable credentials and user
//     verification required; the app signs the user in through
//     [Config.OnLogin].
//
// Ceremony state is kept by the [mfa.ChallengeStore] (a *session.Manager keeps
// it in the session, or sealed in the cookie before sign-in, so that
// starting a passwordless login writes nothing on the server); each
// challenge is used at most once, even by concurrent requests replaying
// one answer, and expires after [Config.Timeout]. A sign
// counter that goes backwards raises a security alert and, by default,
// fails the login. Updated counters are stored after every login.
//
// A RelyingParty is safe for concurrent use. All handlers accept only POST
// and fail closed.
type RelyingParty struct {
	wa        *webauthn.WebAuthn
	creds     mfa.CredentialStore
	sessions  Sessions
	chal      mfa.ChallengeStore
	onLogin   func(http.ResponseWriter, *http.Request, LoginResult) error
	userNames func(context.Context, string) (string, string, error)
	onError   func(http.ResponseWriter, *http.Request, error)
	audit     *audit.Logger
	allowReg  bool
	maxCreds  int
	timeout   time.Duration
	maxBody   int64
	reauth    time.Duration
	now       func() time.Time
}

// New checks cfg and returns a RelyingParty. It keeps a copy of cfg.
func New(cfg Config) (*RelyingParty, error) {
	switch {
	case cfg.RPID == "":
		return nil, errors.New("passkey: Config.RPID is required, e.g. \"example.com\"")
	case cfg.RPDisplayName == "":
		return nil, errors.New("passkey: Config.RPDisplayName is required")
	case len(cfg.RPOrigins) == 0:
		return nil, errors.New("passkey: Config.RPOrigins is required, e.g. [\"https://example.com\"]")
	case nilarg.Is(cfg.Credentials):
		return nil, errors.New("passkey: Config.Credentials is required: pass the credential store (sqlstore.New of package mfa/sqlstore; memstore.New of mfa/memstore for tests)")
	case nilarg.Is(cfg.Sessions):
		return nil, errors.New("passkey: Config.Sessions is required: pass the *session.Manager")
	case nilarg.Is(cfg.Challenges):
		return nil, errors.New("passkey: Config.Challenges is required: pass the *session.Manager")
	case cfg.MaxCredentials < 0 || cfg.Timeout < 0 || cfg.MaxBodyBytes < 0 || cfg.ReauthAge < 0:
		return nil, errors.New("passkey: Config: MaxCredentials, Timeout, MaxBodyBytes and ReauthAge must not be negative (0 means the default)")
	}
	for _, o := range cfg.RPOrigins {
		u, err := url.Parse(o)
		if err != nil || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.User != nil ||
			!(u.Scheme == "https" || u.Scheme == "http" && u.Hostname() == "localhost") {
			return nil, fmt.Errorf("passkey: Config.RPOrigins: %q: want an origin such as https://example.com (http only for localhost)", o)
		}
	}
	wa, err := webauthn.New(&webauthn.Config{
		RPID:                  cfg.RPID,
		RPDisplayName:         cfg.RPDisplayName,
		RPOrigins:             append([]string(nil), cfg.RPOrigins...),
		AttestationPreference: protocol.PreferNoAttestation,
	})
	if err != nil {
		return nil, fmt.Errorf("passkey: Config: %w", err)
	}
	w := &RelyingParty{
		wa:        wa,
		creds:     cfg.Credentials,
		sessions:  cfg.Sessions,
		chal:      cfg.Challenges,
		onLogin:   cfg.OnLogin,
		userNames: cfg.UserNames,
		onError:   cfg.OnError,
		audit:     cfg.Audit,
		allowReg:  cfg.AllowSignCountRegression,
		maxCreds:  cfg.MaxCredentials,
		timeout:   cfg.Timeout,
		maxBody:   cfg.MaxBodyBytes,
		reauth:    cmp.Or(cfg.ReauthAge, mfa.DefaultReauthAge),
		now:       cfg.Now,
	}
	if w.maxCreds == 0 {
		w.maxCreds = defaultMaxCredentials
	}
	if w.timeout == 0 {
		w.timeout = defaultCeremonyTimeout
	}
	if w.maxBody == 0 {
		w.maxBody = defaultMaxBody
	}
	if w.now == nil {
		w.now = time.Now
	}
	if w.onError == nil {
		w.onError = WriteError
	}
	return w, nil
}

// credentialData is the format of [mfa.StoredCredential.Data].
type credentialData struct {
	V          int                 `json:"v"`
	UserHandle []byte              `json:"user_handle"`
	Credential webauthn.Credential `json:"credential"`
}

// encodeCredential returns the [mfa.StoredCredential.Data] of cred, registered
// under the user handle.
func encodeCredential(handle []byte, cred *webauthn.Credential) ([]byte, error) {
	data, err := json.Marshal(credentialData{V: 1, UserHandle: handle, Credential: *cred})
	if err != nil {
		return nil, fmt.Errorf("passkey: encode credential: %w", err)
	}
	return data, nil
}

// ceremony is the state kept in the session between begin and finish.
type ceremony struct {
	UserID  string               `json:"user_id,omitempty"`
	Issued  time.Time            `json:"issued"`
	Session webauthn.SessionData `json:"session"`
}

// waUser adapts a user and their credentials to webauthn.User.
type waUser struct {
	id, name, display string
	handle            []byte
	stored            []mfa.StoredCredential
	creds             []webauthn.Credential
	handles           [][]byte // per credential
}

func (u *waUser) WebAuthnID() []byte                         { return u.handle }
func (u *waUser) WebAuthnName() string                       { return u.name }
func (u *waUser) WebAuthnDisplayName() string                { return u.display }
func (u *waUser) WebAuthnCredentials() []webauthn.Credential { return u.creds }

// loadUser reads userID's credentials. The user handle is the one the
// user's credentials were registered with, or a new random one.
func (w *RelyingParty) loadUser(ctx context.Context, userID string) (*waUser, error) {
	stored, err := w.creds.UserCredentials(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("passkey: load credentials: %w", err)
	}
	u := &waUser{id: userID, name: userID, display: userID, stored: stored}
	for _, s := range stored {
		var d credentialData
		if err := json.Unmarshal(s.Data, &d); err != nil || d.V != 1 {
			return nil, fmt.Errorf("passkey: credential of user %q: unreadable data", userID)
		}
		u.creds = append(u.creds, d.Credential)
		u.handles = append(u.handles, d.UserHandle)
	}
	if len(u.handles) > 0 {
		u.handle = u.handles[0]
	} else {
		u.handle = make([]byte, userHandleSize)
		_, _ = rand.Read(u.handle) // never fails: a broken system RNG aborts the program
	}
	return u, nil
}

// loadRegistrant is loadUser for a registration: it fails with
// ErrStoreFull when the user already has MaxCredentials credentials.
func (w *RelyingParty) loadRegistrant(ctx context.Context, userID string) (*waUser, error) {
	u, err := w.loadUser(ctx, userID)
	if err != nil {
		return nil, err
	}
	if len(u.creds) >= w.maxCreds {
		return nil, fmt.Errorf("passkey: user has %d credentials, the maximum: %w", len(u.creds), mfa.ErrStoreFull)
	}
	return u, nil
}

// useCredential points u's handle at the handle credential id was
// registered with, and reports whether u owns id.
func (u *waUser) useCredential(id []byte) bool {
	for i, c := range u.creds {
		if bytes.Equal(c.ID, id) {
			u.handle = u.handles[i]
			return true
		}
	}
	return false
}

// call is one request to a ceremony handler.
type call struct {
	rw  http.ResponseWriter
	r   *http.Request
	ctx context.Context
	// id is the signed-in user; zero in a passwordless login.
	id identity.Principal
	// userID names the user in audit: id.UserID, or the user a
	// passwordless login found.
	userID string
}

// reply is a handler's success: the status and JSON body to answer, and
// the credential and metadata of the success audit event. A reply without
// a credential (a begin step) is not audited.
type reply struct {
	status int
	body   any
	cred   []byte
	meta   map[string]string
}

// serve runs step as the handler of action. It accepts only POST, finds
// the signed-in user when signedIn (failing with mfa.ErrUnauthenticated when
// there is none), hands step's error to fail, and answers and audits its
// reply.
func (w *RelyingParty) serve(rw http.ResponseWriter, r *http.Request, action audit.Action, signedIn bool, step func(*call) (reply, error)) {
	if r.Method != http.MethodPost {
		rw.Header().Set("Allow", http.MethodPost)
		writeJSON(rw, http.StatusMethodNotAllowed, map[string]string{"error": "method_not_allowed"})
		return
	}
	c := &call{rw: rw, r: r, ctx: r.Context()}
	if signedIn {
		id, ok := identity.FromContext(c.ctx)
		if !ok {
			w.fail(rw, r, action, "", mfa.ErrUnauthenticated)
			return
		}
		c.id, c.userID = id, id.UserID
	}
	res, err := step(c)
	if err != nil {
		w.fail(rw, r, action, c.userID, err)
		return
	}
	if res.cred != nil {
		w.log(r, audit.Event{
			Category: audit.CategoryAuthentication, Action: action, Outcome: audit.OutcomeSuccess,
			Actor: identity.Principal{UserID: c.userID, Roles: c.id.Roles}, Target: credTarget(res.cred), Meta: res.meta,
		})
	}
	writeJSON(rw, res.status, res.body)
}

// BeginRegistration answers a POST from the signed-in user with the
// options for navigator.credentials.create(), as the JSON that
// PublicKeyCredential.parseCreationOptionsFromJSON takes: a discoverable
// credential, user verification required, no attestation, and the user's
// existing credentials excluded.
//
// The session must have proved itself within [Config.ReauthAge]
// ([mfa.CheckReauth]): a user who has a factor must have verified one, a
// user who has none must have signed in or re-entered their password;
// otherwise it fails with [mfa.ErrStepUpRequired] or
// [mfa.ErrReauthRequired] (401), so that a stolen session cannot add its
// own passkey (OWASP ASVS 5.0 §7.5.1). Register this route and
// FinishRegistration with [mfa.Policy.AllowEnrolment], behind
// [mfa.Policy.StepUp], which makes the same check first.
func (w *RelyingParty) BeginRegistration(rw http.ResponseWriter, r *http.Request) {
	w.serve(rw, r, ActionRegisterBegin, true, func(c *call) (reply, error) {
		u, err := w.loadRegistrant(c.ctx, c.userID)
		if err != nil {
			return reply{}, err
		}
		if err := w.checkReauth(c.ctx, c.userID, len(u.creds) > 0); err != nil {
			return reply{}, err
		}
		if w.userNames != nil {
			if u.name, u.display, err = w.userNames(c.ctx, c.userID); err != nil {
				return reply{}, fmt.Errorf("passkey: user names: %w", err)
			}
		}
		yes := true
		opts, sd, err := w.wa.BeginRegistration(u,
			webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{
				RequireResidentKey: &yes,
				ResidentKey:        protocol.ResidentKeyRequirementRequired,
				UserVerification:   protocol.VerificationRequired,
			}),
			webauthn.WithExclusions(webauthn.Credentials(u.creds).CredentialDescriptors()),
		)
		if err != nil {
			return reply{}, translate(err)
		}
		return w.begin(c, challengeRegister, sd, opts.Response)
	})
}

// FinishRegistration answers a POST whose body is the JSON of the new
// credential (credential.toJSON()) and stores the credential. The optional
// query parameter "name" labels it (at most 64 characters; default
// "Passkey"). It answers 201 {"id": base64url ID, "name": name}. The
// session's proof is checked again, as by BeginRegistration. Once the
// credential is stored, the user's other sessions are signed out and this
// one's token renewed ([Config.Sessions], OWASP ASVS 5.0 §7.4.3); if that
// fails, the handler fails with an error wrapping
// [mfa.ErrSessionsNotRevoked] (500), the passkey being registered all the
// same.
func (w *RelyingParty) FinishRegistration(rw http.ResponseWriter, r *http.Request) {
	w.serve(rw, r, ActionRegister, true, func(c *call) (reply, error) {
		name, err := cleanName(cmp.Or(r.URL.Query().Get("name"), "Passkey"))
		if err != nil {
			return reply{}, err
		}
		cer, err := w.takeCeremony(c.ctx, challengeRegister, c.userID)
		if err != nil {
			return reply{}, err
		}
		body, err := w.readBody(c)
		if err != nil {
			return reply{}, err
		}
		parsed, err := protocol.ParseCredentialCreationResponseBytes(body)
		if err != nil {
			return reply{}, translate(err)
		}
		u, err := w.loadRegistrant(c.ctx, c.userID)
		if err != nil {
			return reply{}, err
		}
		if err := w.checkReauth(c.ctx, c.userID, len(u.creds) > 0); err != nil {
			return reply{}, err
		}
		u.handle = cer.Session.UserID // the handle sent to the authenticator at begin
		cred, err := w.wa.CreateCredential(u, cer.Session, parsed)
		if err != nil {
			return reply{}, translate(err)
		}
		data, err := encodeCredential(u.handle, cred)
		if err != nil {
			return reply{}, err
		}
		sc := mfa.StoredCredential{ID: cred.ID, UserID: c.userID, Name: name, Data: data, CreatedAt: w.now()}
		if err := w.creds.CreateCredential(c.ctx, sc); err != nil {
			return reply{}, fmt.Errorf("passkey: store credential: %w", err)
		}
		if err := mfa.SignOutOthers(c.ctx, w.sessions, c.userID); err != nil {
			return reply{}, err
		}
		return reply{status: http.StatusCreated, body: map[string]string{"id": b64(cred.ID), "name": name}, cred: cred.ID}, nil
	})
}

// BeginVerify answers a POST from the signed-in user with the options for
// navigator.credentials.get() limited to the user's credentials, as the
// JSON that PublicKeyCredential.parseRequestOptionsFromJSON takes. Use it
// for the second factor after a password, and for step-up. It fails with
// [mfa.ErrNotEnrolled] (404) when the user has no credential.
func (w *RelyingParty) BeginVerify(rw http.ResponseWriter, r *http.Request) {
	w.serve(rw, r, ActionVerifyBegin, true, func(c *call) (reply, error) {
		u, err := w.loadUser(c.ctx, c.userID)
		if err != nil {
			return reply{}, err
		}
		if len(u.creds) == 0 {
			return reply{}, mfa.ErrNotEnrolled
		}
		opts, sd, err := w.wa.BeginLogin(u, webauthn.WithUserVerification(protocol.VerificationPreferred))
		if err != nil {
			return reply{}, translate(err)
		}
		return w.begin(c, challengeVerify, sd, opts.Response)
	})
}

// FinishVerify answers a POST whose body is the JSON of the assertion
// (credential.toJSON()). On success it stores the credential's new sign
// counter, marks the session as MFA-verified with
// [identity.MethodHardwareKey] and answers 200 {"ok":true}. Register it,
// and BeginVerify, with [mfa.Policy.AllowChallenge].
func (w *RelyingParty) FinishVerify(rw http.ResponseWriter, r *http.Request) {
	w.serve(rw, r, ActionVerify, true, func(c *call) (reply, error) {
		return w.finishAssertion(c, challengeVerify, func(cer ceremony, parsed *protocol.ParsedCredentialAssertionData) (*waUser, *webauthn.Credential, error) {
			u, err := w.loadUser(c.ctx, c.userID)
			if err != nil {
				return nil, nil, err
			}
			if !u.useCredential(parsed.RawID) {
				return u, nil, fmt.Errorf("%w: credential not owned by the user", ErrVerification)
			}
			// Ownership is checked against the store above; the handle
			// recorded at begin may differ if the user holds credentials
			// registered under another handle.
			cer.Session.UserID = u.handle
			cred, err := w.wa.ValidateLogin(u, cer.Session, parsed)
			if err != nil {
				return u, nil, translate(err)
			}
			return u, cred, nil
		})
	})
}

// BeginLogin answers a POST with the options for a passwordless login with
// a discoverable credential (empty allowCredentials, user verification
// required), as the JSON that PublicKeyCredential.parseRequestOptionsFromJSON
// takes. It answers 404 when [Config.OnLogin] is nil.
func (w *RelyingParty) BeginLogin(rw http.ResponseWriter, r *http.Request) {
	if w.onLogin == nil {
		http.NotFound(rw, r)
		return
	}
	w.serve(rw, r, ActionLoginBegin, false, func(c *call) (reply, error) {
		opts, sd, err := w.wa.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
		if err != nil {
			return reply{}, translate(err)
		}
		return w.begin(c, challengeLogin, sd, opts.Response)
	})
}

// FinishLogin answers a POST whose body is the JSON of the assertion. It
// finds the user from the credential and checks that the authenticator
// returned that user's handle and verified the user; stores the new sign
// counter; then calls [Config.OnLogin], marks the session as MFA-verified
// with [identity.MethodHardwareKey] and answers 200 {"ok":true}. It
// answers 404 when OnLogin is nil.
func (w *RelyingParty) FinishLogin(rw http.ResponseWriter, r *http.Request) {
	if w.onLogin == nil {
		http.NotFound(rw, r)
		return
	}
	w.serve(rw, r, ActionLogin, false, func(c *call) (reply, error) {
		return w.finishAssertion(c, challengeLogin, func(cer ceremony, parsed *protocol.ParsedCredentialAssertionData) (*waUser, *webauthn.Credential, error) {
			var u *waUser
			_, cred, err := w.wa.ValidatePasskeyLogin(func(rawID, userHandle []byte) (webauthn.User, error) {
				sc, err := w.creds.Credential(c.ctx, rawID)
				if err != nil {
					return nil, err
				}
				if u, err = w.loadUser(c.ctx, sc.UserID); err != nil {
					return nil, err
				}
				if !u.useCredential(rawID) {
					return nil, mfa.ErrNotFound
				}
				return u, nil
			}, cer.Session, parsed)
			if err != nil {
				return u, nil, translate(err)
			}
			return u, cred, nil
		})
	})
}

// begin keeps the state sd of a ceremony of kind key in the session, for
// c's user, and replies with the options for the browser.
func (w *RelyingParty) begin(c *call, key string, sd *webauthn.SessionData, opts any) (reply, error) {
	data, err := json.Marshal(ceremony{UserID: c.userID, Issued: w.now(), Session: *sd})
	if err != nil {
		return reply{}, fmt.Errorf("passkey: encode challenge: %w", err)
	}
	if err := w.chal.PutChallenge(c.ctx, key, data); err != nil {
		return reply{}, fmt.Errorf("passkey: store challenge: %w", err)
	}
	return reply{status: http.StatusOK, body: opts}, nil
}

// finishAssertion is FinishVerify and FinishLogin (key challengeLogin):
// it takes the ceremony begun under key and parses the assertion;
// validate checks it and returns its user (nil if none was found) and the
// updated credential. It then applies the sign-counter policy and stores
// the counter, has OnLogin sign the user in for a passwordless login, and
// marks the session as MFA-verified.
func (w *RelyingParty) finishAssertion(c *call, key string, validate func(ceremony, *protocol.ParsedCredentialAssertionData) (*waUser, *webauthn.Credential, error)) (reply, error) {
	cer, err := w.takeCeremony(c.ctx, key, c.userID)
	if err != nil {
		return reply{}, err
	}
	body, err := w.readBody(c)
	if err != nil {
		return reply{}, err
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(body)
	if err != nil {
		return reply{}, translate(err)
	}
	readAt := w.now() // before validate reads the credential and its user
	u, cred, err := validate(cer, parsed)
	if u != nil {
		c.userID = u.id
	}
	if err != nil {
		return reply{}, err
	}
	if err := w.afterLogin(c, u, cred); err != nil {
		return reply{}, err
	}
	var meta map[string]string
	if key == challengeLogin {
		uv := parsed.Response.AuthenticatorData.Flags.HasUserVerified()
		res := LoginResult{UserID: c.userID, CredentialID: cred.ID, UserVerified: uv, ReadAt: readAt,
			Methods: []identity.Method{identity.MethodHardwareKey}}
		if uv {
			res.Methods = append(res.Methods, identity.MethodPIN)
		}
		if err := w.onLogin(c.rw, c.r, res); err != nil {
			return reply{}, fmt.Errorf("passkey: OnLogin: %w", err)
		}
		meta = map[string]string{"method": "passkey"}
	}
	if err := w.sessions.MarkMFA(c.ctx, identity.MethodHardwareKey); err != nil {
		return reply{}, fmt.Errorf("passkey: mark session: %w", err)
	}
	return reply{status: http.StatusOK, body: map[string]bool{"ok": true}, cred: cred.ID, meta: meta}, nil
}

// afterLogin applies the sign-counter policy and stores the updated
// credential.
func (w *RelyingParty) afterLogin(c *call, u *waUser, cred *webauthn.Credential) error {
	if cred.Authenticator.CloneWarning {
		reason := "sign counter did not increase: possible cloned authenticator; login rejected"
		if w.allowReg {
			reason = "sign counter did not increase: possible cloned authenticator; login allowed by AllowSignCountRegression"
		}
		w.log(c.r, audit.Event{
			Category: audit.CategorySecurityAlert, Action: ActionCloneWarning, Outcome: audit.OutcomeDenied,
			Actor: actor(c.userID), Target: credTarget(cred.ID), Reason: reason,
		})
		if !w.allowReg {
			return ErrClonedAuthenticator
		}
		cred.Authenticator.CloneWarning = false
	}
	var sc mfa.StoredCredential
	for _, s := range u.stored {
		if bytes.Equal(s.ID, cred.ID) {
			sc = s
		}
	}
	data, err := encodeCredential(u.handle, cred)
	if err != nil {
		return err
	}
	sc.Data, sc.LastUsedAt = data, w.now()
	if err := w.creds.UpdateCredential(c.ctx, sc); err != nil {
		return fmt.Errorf("passkey: store sign counter: %w", err)
	}
	return nil
}

// Credentials lists the user's credentials, oldest first.
func (w *RelyingParty) Credentials(ctx context.Context, userID string) ([]CredentialInfo, error) {
	stored, err := w.creds.UserCredentials(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("passkey: list credentials: %w", err)
	}
	out := make([]CredentialInfo, len(stored))
	for i, s := range stored {
		out[i] = CredentialInfo{ID: s.ID, Name: s.Name, CreatedAt: s.CreatedAt, LastUsedAt: s.LastUsedAt}
	}
	return out, nil
}

// RenameCredential sets the label of the user's credential id. The name is
// trimmed and must be 1 to 64 printable characters.
func (w *RelyingParty) RenameCredential(ctx context.Context, userID string, id []byte, name string) error {
	name, err := cleanName(name)
	if err != nil {
		return err
	}
	sc, err := w.creds.Credential(ctx, id)
	if err != nil {
		return fmt.Errorf("passkey: rename: %w", err)
	}
	if sc.UserID != userID {
		return fmt.Errorf("passkey: rename: %w", mfa.ErrNotFound)
	}
	sc.Name = name
	if err := w.creds.UpdateCredential(ctx, sc); err != nil {
		return fmt.Errorf("passkey: rename: %w", err)
	}
	w.audit.Log(ctx, audit.Event{
		Category: audit.CategoryAuthentication, Action: ActionRename, Outcome: audit.OutcomeSuccess,
		Actor: actor(userID), Target: credTarget(id),
	})
	return nil
}

// RemoveCredential deletes the user's credential id. Call it only in a
// session that passed MFA recently (behind [mfa.Policy.StepUp]).
//
// With keepLast (pass [mfa.Policy.Required] of the user's roles), the
// credential is removed only if the user keeps another factor (another
// credential or a confirmed TOTP secret); otherwise RemoveCredential fails
// with [mfa.ErrLastFactor]. The check and the removal are one atomic step
// in the store, which must then implement [mfa.FactorStore], so that
// concurrent removals of the user's factors cannot leave them none. An
// unknown id, or one of another user, fails with [mfa.ErrNotFound].
//
// Once the credential is removed, the user's other sessions are signed out
// (all of them when ctx is not the user's own request; OWASP ASVS 5.0
// §7.4.3); if that fails, the error wraps [mfa.ErrSessionsNotRevoked], the
// credential being removed all the same.
func (w *RelyingParty) RemoveCredential(ctx context.Context, userID string, id []byte, keepLast bool) error {
	e := audit.Event{
		Category: audit.CategoryAuthentication, Action: ActionRemove, Outcome: audit.OutcomeSuccess,
		Actor: actor(userID), Target: credTarget(id),
	}
	err := w.removeCredential(ctx, userID, id, keepLast)
	if err == nil {
		err = mfa.SignOutOthers(ctx, w.sessions, userID)
	}
	switch {
	case errors.Is(err, mfa.ErrLastFactor):
		e.Outcome, e.Reason = audit.OutcomeDenied, err.Error()
	case errors.Is(err, mfa.ErrNotFound):
		e.Outcome, e.Reason = audit.OutcomeFailure, "no such credential of this user"
	case err != nil:
		e.Outcome, e.Reason = audit.OutcomeFailure, err.Error()
	}
	w.audit.Log(ctx, e)
	return err
}

func (w *RelyingParty) removeCredential(ctx context.Context, userID string, id []byte, keepLast bool) error {
	if !keepLast {
		if err := w.creds.DeleteCredential(ctx, userID, id); err != nil {
			return fmt.Errorf("passkey: remove: %w", err)
		}
		return nil
	}
	fs, ok := w.creds.(mfa.FactorStore)
	if !ok {
		return errors.New("passkey: remove: keeping the last factor needs a credential store that implements mfa.FactorStore (one store for TOTP and passkeys)")
	}
	deleted, err := fs.DeleteCredentialUnlessLast(ctx, userID, id)
	switch {
	case err != nil:
		return fmt.Errorf("passkey: remove: %w", err)
	case !deleted:
		return mfa.ErrLastFactor
	}
	return nil
}

// checkReauth is [mfa.CheckReauth] for registering a passkey: the user
// has a factor if they have a passkey (hasPasskey) or, when the
// credential store also keeps TOTP secrets, a confirmed one.
func (w *RelyingParty) checkReauth(ctx context.Context, userID string, hasPasskey bool) error {
	has := hasPasskey
	if ts, ok := w.creds.(mfa.TOTPStore); ok && !has {
		rec, err := ts.LoadTOTP(ctx, userID)
		switch {
		case errors.Is(err, mfa.ErrNotEnrolled):
		case err != nil:
			return fmt.Errorf("passkey: TOTP enrolment: %w", err)
		default:
			has = rec.Secret != nil
		}
	}
	return mfa.CheckReauth(ctx, userID, has, w.reauth, w.now())
}

// Enrolled reports whether the user has a passkey. It implements
// [mfa.EnrolmentChecker].
func (w *RelyingParty) Enrolled(ctx context.Context, userID string) (bool, error) {
	stored, err := w.creds.UserCredentials(ctx, userID)
	if err != nil {
		return false, fmt.Errorf("passkey: enrolled: %w", err)
	}
	return len(stored) > 0, nil
}

// takeCeremony removes and returns the pending ceremony of kind key. It
// fails with ErrNoChallenge if there is none, it expired, or it was begun
// by another user.
func (w *RelyingParty) takeCeremony(ctx context.Context, key, userID string) (ceremony, error) {
	data, err := w.chal.TakeChallenge(ctx, key)
	if err != nil {
		return ceremony{}, fmt.Errorf("%w: %w", ErrNoChallenge, err)
	}
	if data == nil {
		return ceremony{}, ErrNoChallenge
	}
	var c ceremony
	if err := json.Unmarshal(data, &c); err != nil {
		return ceremony{}, fmt.Errorf("%w: unreadable state", ErrNoChallenge)
	}
	age := w.now().Sub(c.Issued)
	if age < 0 || age > w.timeout {
		return ceremony{}, fmt.Errorf("%w: expired", ErrNoChallenge)
	}
	if c.UserID != userID {
		return ceremony{}, fmt.Errorf("%w: begun by another user", ErrNoChallenge)
	}
	return c, nil
}

// floodPace is the audit budget of the rejections a flood can trigger.
var floodPace = audit.Pace{Every: 500 * time.Millisecond, Burst: 20}

// errBodyTooLarge reports a request body over MaxBodyBytes.
var errBodyTooLarge = errors.New("passkey: request body too large")

// readBody reads c's request body, at most MaxBodyBytes of it.
func (w *RelyingParty) readBody(c *call) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(c.rw, c.r.Body, w.maxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, errBodyTooLarge
		}
		return nil, fmt.Errorf("%w: reading body: %v", ErrVerification, err)
	}
	return body, nil
}

// fail audits err and hands it to the error handler.
func (w *RelyingParty) fail(rw http.ResponseWriter, r *http.Request, action audit.Action, userID string, err error) {
	e := audit.Event{
		Category: audit.CategoryAuthentication, Action: action, Outcome: audit.OutcomeFailure,
		Actor: actor(userID), Reason: err.Error(),
	}
	var ve *verificationError
	if errors.As(err, &ve) {
		e.Reason = ve.Error() + ": " + ve.details
		if ve.devInfo != "" {
			e.Meta = map[string]string{"debug": ve.devInfo}
		}
	}
	if errors.Is(err, mfa.ErrUnauthenticated) || errors.Is(err, mfa.ErrReauthRequired) || errors.Is(err, mfa.ErrStepUpRequired) {
		e.Outcome = audit.OutcomeDenied
	}
	// Rejected input a flood can send (malformed or oversized payloads,
	// failed or replayed ceremonies, refusals) is paced (OWASP ASVS 5.0
	// §16.3.3); a cloned authenticator's alert and internal errors are not.
	if errors.Is(err, ErrVerification) || errors.Is(err, ErrNoChallenge) || errors.Is(err, errBodyTooLarge) ||
		errors.Is(err, errBadName) || e.Outcome == audit.OutcomeDenied {
		if !errors.Is(err, ErrClonedAuthenticator) {
			e.Pace = floodPace
		}
	}
	w.log(r, e)
	w.onError(rw, r, err)
}

// log writes e with the request's user agent; the audit logger adds the
// client address from the request context, if any.
func (w *RelyingParty) log(r *http.Request, e audit.Event) {
	e.UserAgent = r.UserAgent()
	w.audit.Log(r.Context(), e)
}

// actor is the audit actor naming userID.
func actor(userID string) identity.Principal {
	return identity.Principal{UserID: userID}
}

// verificationError is a go-webauthn error translated at our boundary. It
// wraps ErrVerification; its details and developer information go to audit
// only.
type verificationError struct {
	kind, details, devInfo string
}

func (e *verificationError) Error() string { return ErrVerification.Error() + " (" + e.kind + ")" }
func (e *verificationError) Unwrap() error { return ErrVerification }

// translate turns a go-webauthn error into one of ours.
func translate(err error) error {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		return &verificationError{kind: pe.Type, details: pe.Details, devInfo: pe.DevInfo}
	}
	if errors.Is(err, mfa.ErrNotFound) {
		return &verificationError{kind: "unknown_credential", details: err.Error()}
	}
	return &verificationError{kind: "error", details: err.Error()}
}

// WriteError is the default error handler of [RelyingParty]: it answers
// with a JSON body {"error": code} and a status that matches err, and
// never reveals err's text. Errors of package mfa are answered as
// [mfa.WriteError] does.
//
//	ErrVerification, ErrClonedAuthenticator  400 verification_failed
//	ErrNoChallenge                           400 no_challenge
//	bad credential name (FinishRegistration) 400 bad_name
//	request body too large                   413 body_too_large
//	mfa.ErrUnauthenticated                   401 unauthenticated
//	mfa.ErrNotEnrolled, mfa.ErrNotFound      404 not_enrolled / not_found
//	mfa.ErrExists, mfa.ErrStoreFull          409 credential_exists / too_many_credentials
//	mfa.ErrLastFactor                        409 last_factor
//	anything else                            500 internal_error
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	var status int
	var code string
	switch {
	case errors.Is(err, ErrVerification), errors.Is(err, ErrClonedAuthenticator):
		status, code = http.StatusBadRequest, "verification_failed"
	case errors.Is(err, ErrNoChallenge):
		status, code = http.StatusBadRequest, "no_challenge"
	case errors.Is(err, errBodyTooLarge):
		status, code = http.StatusRequestEntityTooLarge, "body_too_large"
	case errors.Is(err, errBadName):
		status, code = http.StatusBadRequest, "bad_name"
	default:
		mfa.WriteError(w, r, err)
		return
	}
	writeJSON(w, status, map[string]string{"error": code})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"internal_error"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// errBadName reports an unusable credential name.
var errBadName = errors.New("passkey: credential name must be 1 to 64 printable characters")

func cleanName(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" || !utf8.ValidString(s) || utf8.RuneCountInString(s) > maxCredentialName {
		return "", errBadName
	}
	for _, c := range s {
		if !unicode.IsPrint(c) {
			return "", errBadName
		}
	}
	return s, nil
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func credTarget(id []byte) audit.Target {
	return audit.Target{Kind: "webauthn_credential", ID: b64(id)}
}
