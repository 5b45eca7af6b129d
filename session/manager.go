package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/alexedwards/scs/v2"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/internal/nilarg"
	"github.com/deployedworks/rampart/secrets"
)

// Defaults for [Config].
const (
	// DefaultIdleTimeout ends a session after 30 minutes without a request,
	// OWASP's upper bound for applications of moderate risk.
	DefaultIdleTimeout = 30 * time.Minute
	// DefaultLifetime ends a session 12 hours after it began, however
	// active: one working day, after which the user signs in again.
	DefaultLifetime = 12 * time.Hour
	// DefaultCookieName is the cookie used unless Config.CookieName is set.
	// The __Host- prefix makes browsers refuse the cookie unless it is
	// Secure, has Path=/ and no Domain, so that neither a sibling subdomain
	// nor a plain-HTTP page can plant or overwrite it (RFC 6265bis §4.1.3.2).
	DefaultCookieName = "__Host-session"
	// DevCookieName is the default cookie name with AllowInsecureCookie,
	// where the __Host- prefix cannot be used.
	DevCookieName = "session"
	// DefaultReauthAge is how recent a sign-in, re-authentication or
	// second-factor verification must be for [Manager.RevokeOthers] and a
	// user's own [Manager.Revoke]: 10 minutes, long enough to finish what
	// the user set out to do, short enough that a session left open or
	// stolen hours ago cannot sign its owner out (OWASP ASVS 5.0 §7.5.2).
	DefaultReauthAge = 10 * time.Minute
	// DefaultMaxSessions is how many signed-in sessions one user may hold
	// at once unless Config.MaxSessions says otherwise: 10, more than the
	// browsers and devices one person uses, few enough that a password
	// guessed or phished cannot be turned into an unbounded number of
	// sessions, and that the per-user index each sign-in reads stays small
	// (OWASP ASVS 5.0 §7.1.2).
	DefaultMaxSessions = 10
)

// Errors returned by [Manager] methods. Test with errors.Is.
var (
	// ErrNoSession reports a call made outside [Manager.Handler]: the
	// context carries no session.
	ErrNoSession = errors.New("session: no session in context: wrap the handler with Manager.Handler")
	// ErrNotLoggedIn reports a call that needs a signed-in user.
	ErrNotLoggedIn = errors.New("session: not logged in: call Manager.Login first")
	// ErrNoChallenge reports that [Manager.TakeChallenge] found no
	// unexpired challenge under the key: start the ceremony again.
	ErrNoChallenge = errors.New("session: no pending challenge: start the ceremony again")
	// ErrUnknownSession reports that [Manager.Revoke] found no session of
	// the user with that handle (it may have ended already).
	ErrUnknownSession = errors.New("session: no such session for this user")
	// ErrInvalidKey reports a value key that is empty, longer than 128
	// bytes or begins with a NUL byte (reserved for this package).
	ErrInvalidKey = errors.New("session: invalid key: use 1 to 128 bytes not starting with NUL")
	// ErrStore wraps failures of the [Store]. The Handler answers them
	// with 500 and an audit event; methods return them.
	ErrStore = errors.New("session: store failed")
	// ErrReauthRequired reports that the action needs a recent
	// authentication (Config.ReauthAge): ask for the password again and
	// call [Manager.Reauthenticate], or verify a second factor
	// ([Manager.MarkMFA]), then retry.
	ErrReauthRequired = errors.New("session: recent authentication required: ask for the password or a second factor again")
	// ErrInsecureHost reports a request for a host other than localhost
	// while Config.AllowInsecureCookie is set.
	ErrInsecureHost = errors.New("session: AllowInsecureCookie is for http://localhost only: unset it in production")
)

// Config tunes a [Manager]. The zero value is the secure default.
type Config struct {
	// Store keeps the sessions and the per-user index used for
	// revocation. Default: a new [MemoryStore], right for one instance.
	// Several instances must share a store (session/sqlstore,
	// session/redisstore) for revocation to reach every instance. A nil
	// pointer here (a store variable never set) is an error, not the
	// default.
	Store Store

	// IdleTimeout ends a session after this long without a request.
	// Default: [DefaultIdleTimeout]. Activity is recorded at most once per
	// IdleTimeout/30 (at most once a minute), so a session may end up to
	// that much earlier than exactly IdleTimeout after its last request;
	// this keeps reads from turning into writes. The client address and
	// User-Agent shown by [Manager.Sessions] are recorded with the
	// activity: a request from a new address within that interval writes
	// nothing, and the address is recorded by the session's next write.
	IdleTimeout time.Duration

	// Lifetime ends a session this long after it began (after login, for a
	// signed-in session), however active it is. Default: [DefaultLifetime].
	Lifetime time.Duration

	// ReauthAge is how recent the session's sign-in, last
	// [Manager.Reauthenticate] or last [Manager.MarkMFA] must be for the
	// user to sign out their other sessions ([Manager.RevokeOthers], and
	// [Manager.Revoke] of their own sessions); older, those fail with
	// [ErrReauthRequired]. Default: [DefaultReauthAge]. Give package mfa's
	// ReauthAge settings no more than this, since adding or removing a
	// factor signs out the other sessions through RevokeOthers.
	ReauthAge time.Duration

	// MaxSessions caps the signed-in sessions of one user. Once a login's
	// session is saved, if the user holds more than MaxSessions, their
	// least recently used sessions are revoked so that MaxSessions remain,
	// this one among them, each eviction audited ([ActionEvicted]): the
	// user is never locked out, and a forgotten browser is the one signed
	// out. Default: [DefaultMaxSessions]. The cap is applied at each login
	// through the per-user index; logins racing each other may leave more
	// until the next login, and a store failure while applying it is
	// audited without failing the login.
	MaxSessions int

	// CookieName names the session cookie. Default: [DefaultCookieName],
	// or [DevCookieName] with AllowInsecureCookie. Without
	// AllowInsecureCookie it must begin with "__Host-".
	CookieName string

	// AllowInsecureCookie drops the Secure attribute and the __Host- prefix
	// so that sessions work on plain http://localhost during development.
	// Default: false. While set, the Handler refuses (500) any request
	// whose Host is not localhost or a loopback address, so that a
	// development build deployed by mistake fails loudly instead of
	// sending session cookies over plain HTTP.
	AllowInsecureCookie bool

	// Keyring, when set, encrypts session data at rest with
	// XChaCha20-Poly1305, bound to the session's store key so that a record
	// copied to another key fails to decrypt, and seals the state of
	// visitors who are not signed in, which travels in the cookie (see
	// [Manager.Put]). Data that fails to decrypt (a retired key) ends the
	// session, with an audit event. New refuses a zero Keyring, which
	// would fail every save.
	//
	// Default: nil, allowed only with a [MemoryStore]: no encryption at
	// rest (tokens are hashed in the store either way), and anonymous
	// state sealed under a random key made by New, which no other
	// instance can open. New refuses any other Store without a Keyring,
	// since instances sharing a store must open each other's cookies.
	Keyring *secrets.Keyring

	// Audit receives logins, logouts, MFA step-ups, revocations, expiries
	// and store failures. Default: nil, the [audit.Logger] whose Handler
	// serves the request.
	Audit *audit.Logger

	// Logger receives audit sink failures. Default: slog.Default().
	Logger *slog.Logger

	// OnError answers a request whose session could not be loaded or
	// saved; err wraps [ErrStore] (or [ErrInsecureHost]). It must not
	// write err to the client. Default: 500 Internal Server Error with a
	// fixed plain-text body.
	OnError func(w http.ResponseWriter, r *http.Request, err error)

	// Now returns the current time for timeouts and timestamps. Default:
	// time.Now. Tests that can run in a testing/synctest bubble need not
	// set it; tests against a store with a clock of its own (a database)
	// inject one that must not run behind the store's, which stores use to
	// expire records.
	Now func() time.Time
}

// Manager issues, loads, saves and revokes sessions. It is safe for
// concurrent use; its configuration is fixed by [New]. Install
// [Manager.Handler] around every route that reads or changes the session.
// It starts no goroutine and holds nothing to close.
type Manager struct {
	scs        *scs.SessionManager
	store      Store
	idle       time.Duration
	lifetime   time.Duration
	reauthAge  time.Duration
	maxPerUser int
	touchEvery time.Duration
	cookieName string
	insecure   bool
	keyring    *secrets.Keyring
	sealer     *secrets.Keyring // seals anonymous state: keyring, or a random one
	anonAD     []byte
	audit      *audit.Logger
	log        *slog.Logger
	onError    func(http.ResponseWriter, *http.Request, error)
	now        func() time.Time
}

// New returns a Manager for cfg, or an error naming the offending field.
func New(cfg Config) (*Manager, error) {
	m := &Manager{
		store:      cfg.Store,
		idle:       cfg.IdleTimeout,
		lifetime:   cfg.Lifetime,
		reauthAge:  cfg.ReauthAge,
		maxPerUser: cfg.MaxSessions,
		cookieName: cfg.CookieName,
		insecure:   cfg.AllowInsecureCookie,
		keyring:    cfg.Keyring,
		audit:      cfg.Audit,
		log:        cfg.Logger,
		onError:    cfg.OnError,
		now:        cfg.Now,
	}
	if m.idle < 0 || m.lifetime < 0 || m.reauthAge < 0 || m.maxPerUser < 0 {
		return nil, errors.New("session: New: IdleTimeout, Lifetime, ReauthAge and MaxSessions must not be negative: leave them zero for the defaults")
	}
	if m.maxPerUser == 0 {
		m.maxPerUser = DefaultMaxSessions
	}
	if m.reauthAge == 0 {
		m.reauthAge = DefaultReauthAge
	}
	if m.idle == 0 {
		m.idle = DefaultIdleTimeout
	}
	if m.lifetime == 0 {
		m.lifetime = DefaultLifetime
	}
	if m.idle > m.lifetime {
		return nil, fmt.Errorf("session: New: IdleTimeout %v exceeds Lifetime %v: lower it or raise Lifetime", m.idle, m.lifetime)
	}
	m.touchEvery = min(m.idle/30, time.Minute)
	if m.cookieName == "" {
		m.cookieName = DefaultCookieName
		if m.insecure {
			m.cookieName = DevCookieName
		}
	}
	if !validCookieName(m.cookieName) {
		return nil, fmt.Errorf("session: New: CookieName %q is not a valid cookie name (RFC 6265 token)", m.cookieName)
	}
	hostPrefixed := strings.HasPrefix(m.cookieName, "__Host-")
	switch {
	case !m.insecure && !hostPrefixed:
		return nil, fmt.Errorf("session: New: CookieName %q must begin with __Host- so that subdomains cannot plant it; set AllowInsecureCookie only for http://localhost", m.cookieName)
	case m.insecure && (hostPrefixed || strings.HasPrefix(m.cookieName, "__Secure-")):
		return nil, fmt.Errorf("session: New: CookieName %q needs the Secure attribute, which AllowInsecureCookie drops: use %q", m.cookieName, DevCookieName)
	}
	if m.keyring != nil && m.keyring.PrimaryID() == "" {
		return nil, errors.New("session: New: Keyring holds no key: build it with secrets.NewKeyring or secrets.ParseKeyring, or leave it nil for no encryption")
	}
	switch {
	case m.store == nil:
		m.store = NewMemoryStore()
	case nilarg.Is(m.store):
		return nil, fmt.Errorf("session: New: Store is a nil %T: pass the store that was built, or leave Store unset for a MemoryStore", m.store)
	}
	m.sealer = m.keyring
	if m.sealer == nil {
		if _, ok := m.store.(*MemoryStore); !ok {
			return nil, errors.New("session: New: a Store other than MemoryStore needs Config.Keyring: every instance sharing the store must open the anonymous state (flash messages, passkey sign-in) that another sealed in the cookie; build one with secrets.ParseKeyring from a secret all instances share")
		}
		var err error
		if m.sealer, err = secrets.NewKeyring(secrets.Key{ID: "anon", Secret: secrets.Random(32)}); err != nil {
			return nil, fmt.Errorf("session: New: %w", err)
		}
	}
	m.anonAD = []byte(anonADPrefix + m.cookieName)
	if m.log == nil {
		m.log = slog.Default()
	}
	if m.onError == nil {
		m.onError = defaultError
	}
	if m.now == nil {
		m.now = time.Now
	}

	// Built without scs.New, which would start a goroutine sweeping a
	// memory store the Manager does not use. The token travels in the
	// cookie written by the Handler with these settings.
	m.scs = &scs.SessionManager{
		Lifetime:         m.lifetime,
		IdleTimeout:      0, // enforced by the Manager, which records activity once a minute, not every request
		Store:            scsStore{ck: ctxKey{m}, store: m.store, keyring: m.keyring, idle: m.idle, lifetime: m.lifetime},
		Codec:            codec{},
		HashTokenInStore: false, // the adapter hashes, once per request (see scsStore)
		Cookie: scs.SessionCookie{
			Name:     m.cookieName,
			Path:     "/",
			HttpOnly: true,
			Secure:   !m.insecure,
			SameSite: http.SameSiteLaxMode,
			Persist:  false, // a session cookie unless Remember
		},
	}
	return m, nil
}

func defaultError(w http.ResponseWriter, _ *http.Request, _ error) {
	http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
}

// validCookieName reports whether s is an RFC 6265 token.
func validCookieName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?={}`, c) >= 0 {
			return false
		}
	}
	return true
}

// ctxKey finds a Manager's request state in a context.
type ctxKey struct{ m *Manager }

// state returns the request state the Handler stored, or nil.
func (m *Manager) state(ctx context.Context) *reqState {
	st, _ := ctx.Value(ctxKey{m}).(*reqState)
	return st
}

// meta returns the request state and the session's meta, or nil when there
// is no session in ctx or it holds no meta yet.
func (m *Manager) meta(ctx context.Context) (*reqState, *meta) {
	st := m.state(ctx)
	if st == nil {
		return nil, nil
	}
	return st, st.md.Load()
}

// signedIn returns the request state and meta of ctx's session, or
// [ErrNoSession] outside the Handler and [ErrNotLoggedIn] when no user is
// signed in.
func (m *Manager) signedIn(ctx context.Context) (*reqState, *meta, error) {
	st, md := m.meta(ctx)
	switch {
	case st == nil:
		return nil, nil, ErrNoSession
	case md == nil || md.UserID == "":
		return nil, nil, ErrNotLoggedIn
	}
	return st, md, nil
}

// setMeta replaces the session's meta, in scs's values (saved with the
// session) and in the request state (read without going through scs).
func (m *Manager) setMeta(st *reqState, md *meta) {
	m.scs.Put(st.sctx, metaKey, md)
	st.md.Store(md)
}

// end ends the request's session: it deletes its record, if any and
// deleteRecord is set, and starts a new empty session in its place. The
// cookie is deleted when the response is sent, unless the request signs
// in again or stores values.
func (m *Manager) end(ctx context.Context, st *reqState, deleteRecord bool) error {
	if md := st.md.Load(); deleteRecord && md != nil && md.Stored != "" {
		if err := m.store.Delete(ctx, md.UserID, md.Stored); err != nil {
			return fmt.Errorf("%w: delete: %w", ErrStore, err)
		}
	}
	st.md.Store(nil)
	st.sctx = m.fresh(st)
	st.ended = true
	return nil
}

// logAudit records e with the request's client details, reporting sink
// failures through the Logger. It never fails the caller: the event's
// subject has already happened.
func (m *Manager) logAudit(ctx context.Context, st *reqState, e audit.Event) {
	if st != nil {
		e.ClientIP, e.UserAgent = st.ip, st.ua
	}
	m.audit.Log(ctx, e)
}
