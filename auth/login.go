package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/auth/password"
	"github.com/deployedworks/rampart/clientip"
	"github.com/deployedworks/rampart/identity"
	"github.com/deployedworks/rampart/internal/loginkey"
	"github.com/deployedworks/rampart/internal/nilarg"
	"github.com/deployedworks/rampart/ratelimit"
)

// Errors of the login flow.
var (
	// ErrInvalidCredentials is the one error a failed login returns,
	// whether the user does not exist, the password is wrong, the account
	// is disabled or its stored hash is unusable, so that the response
	// cannot tell an attacker which. Show the user one generic message
	// ("Wrong user name or password"); the reason goes to audit.
	ErrInvalidCredentials = errors.New("auth: invalid user name or password")

	// ErrUserNotFound is what a [UserStore] returns when no user matches.
	// Any other store error is treated as a failure of the store (HTTP
	// 500), not as an unknown user.
	ErrUserNotFound = errors.New("auth: user not found")

	// ErrHashConflict is what UserStore.SetPasswordHash returns when the
	// stored hash is no longer the one the caller read: another request
	// changed the password in between. [Authenticator.ChangePassword]
	// returns it (wrapped) so the user can retry.
	ErrHashConflict = errors.New("auth: password hash changed concurrently")

	// ErrSessionsNotRevoked is returned (wrapped) by
	// [Authenticator.ChangePassword] when the password was changed but
	// Sessions.RevokeOthers failed: other sessions may still be signed in.
	// Tell the user, and retry the revocation or sign the user out
	// everywhere.
	ErrSessionsNotRevoked = errors.New("auth: password changed, but other sessions were not revoked")
)

// User is what [Authenticator] needs to know about an account.
type User struct {
	// ID is the stable, unique user ID: never the login name, which can
	// change.
	ID string
	// Login is the name the user logs in with (user name or e-mail). It
	// keys throttling and is a context word for the password policy.
	Login string
	// Email, if known, is a context word for the password policy.
	Email string
	// PasswordHash is the stored hash: a PHC string from
	// [password.Hasher.Hash], or
	// a legacy bcrypt or Argon2 hash, upgraded at the next login. Empty
	// for an account that has no password (single sign-on only): password
	// logins to it fail like any other.
	PasswordHash string
	// Disabled accounts cannot log in. They fail exactly like a wrong
	// password, after the same hashing work.
	Disabled bool
	// Roles are copied into the principal the session is established
	// with.
	Roles []string
	// MFAEnabled reports that the user has a second factor enrolled, which
	// must follow a successful password check (see
	// LoginResult.MFARequired) and lowers the password policy's minimum
	// length to password.PolicyConfig.MinLengthMFA.
	MFAEnabled bool
}

// UserStore is the app's user table, as [Authenticator] needs it. Methods
// take ctx first and are called with the request's context.
type UserStore interface {
	// UserByLogin returns the user who logs in as login, exactly as the
	// user typed it (apps that match case-insensitively fold it here), or
	// an error wrapping [ErrUserNotFound].
	UserByLogin(ctx context.Context, login string) (User, error)

	// UserByID returns the user with the given ID, or an error wrapping
	// [ErrUserNotFound].
	UserByID(ctx context.Context, id string) (User, error)

	// SetPasswordHash replaces the user's hash with newHash only if it is
	// still oldHash (compare-and-swap, e.g. UPDATE … WHERE id = $1 AND
	// password_hash = $2), and returns [ErrHashConflict] otherwise. Without
	// the condition, a login that upgrades an old hash could overwrite a
	// password change made a moment before.
	SetPasswordHash(ctx context.Context, userID, oldHash, newHash string) error
}

// Throttle slows down password guessing. The ratelimit package's
// LoginThrottle implements it. account is the login name folded to lower
// case and NFKC, with invalid UTF-8 and control characters replaced by
// U+FFFD, so that it is always printable text whatever was typed; the
// client's address is in ctx, where the clientip middleware put it.
// Implementations must be safe for concurrent use.
type Throttle interface {
	// Check is called before any password work. It refuses the attempt
	// with an error wrapping [ratelimit.ErrLimited] (a
	// *ratelimit.LimitedError gives the wait); any other error fails the
	// login closed.
	Check(ctx context.Context, account string) error
	// Failed records a failed attempt: wrong password, unknown or disabled
	// account.
	Failed(ctx context.Context, account string) error
	// Succeeded records a successful login, so that the account's failure
	// count can reset.
	Succeeded(ctx context.Context, account string) error
}

// Sessions is the session layer, as [Authenticator] needs it: the session
// package's Manager implements it. Both methods take the request's
// context, which identifies the request's session.
type Sessions interface {
	// Login signs p in on the request's session, renewing its token
	// (OWASP Session Management: renew the session ID after any privilege
	// change). p.AuthTime is when the account was read, before its
	// password was checked: the session layer refuses the session if the
	// user's sessions were revoked after it (the account was disabled, a
	// role removed or the password changed meanwhile).
	Login(ctx context.Context, p identity.Principal) error

	// RevokeOthers ends the signed-in user's other sessions after a
	// password change (a password change must sign out whoever else holds
	// a session), keeping the request's own.
	RevokeOthers(ctx context.Context) error

	// Reauthenticate records that the signed-in user proved a credential
	// again ([Authenticator.Reauthenticate], and the current password of
	// [Authenticator.ChangePassword], before RevokeOthers), renewing the
	// session token.
	Reauthenticate(ctx context.Context, m identity.Method) error
}

// AuthenticatorConfig tunes an [Authenticator]. The zero value is ready to
// use, with default hashing, the default policy and a per-process login
// throttle.
type AuthenticatorConfig struct {
	// Hasher hashes and verifies passwords. Default: password.NewHasher
	// with a zero HasherConfig (no pepper).
	Hasher *password.Hasher

	// Policy applies to new passwords (ChangePassword, HashNewPassword),
	// never to logins. Default: password.NewPolicy with a zero
	// PolicyConfig.
	Policy *password.Policy

	// Throttle is asked before every login and password change and told
	// the outcome. Default: a [ratelimit.LoginThrottle] of this
	// Authenticator's own, in memory ([ratelimit.MemoryBackend], no
	// goroutine, bounded), with the throttle's default limits. Apps on
	// several instances pass one on a shared backend
	// (ratelimit/redisstore), so that an attacker cannot multiply the
	// budget by the number of instances; a restart forgets the addresses
	// each account is known from.
	//
	// The throttle decides on the client address: without clientip's
	// Handler in front, logins fail closed (an error wrapping
	// clientip.ErrNoClient), and behind a proxy that clientip does not
	// trust every client has the proxy's address, so a few wrong guesses
	// by anyone throttle everyone's logins to an account: list the
	// proxy's networks in clientip. Like every login throttle, its
	// per-account limit can be used by an attacker to delay the owner's
	// logins from addresses the account is not known from; see
	// [ratelimit.LoginThrottleConfig] for the limits and how they trade
	// guessing against lockout.
	Throttle Throttle

	// Audit receives an event for every login, failure, throttled attempt
	// and password change, and every internal failure; never a password or
	// a hash. Default: nil, the [audit.Logger] whose Handler serves the
	// request. A failing sink does not
	// block logins (package audit reports its own failures). Login events
	// use [audit.ActionLoginSucceeded]
	// and [audit.ActionLoginFailed], with the account as Target: a known
	// user as [audit.TargetKindUser] and its ID, a login name that matched
	// no account as [audit.TargetKindLogin] and a digest of the name keyed
	// with a random key made by [NewAuthenticator] (never the name, which
	// may be a password typed into the wrong field), so that the detector
	// of package audit/detect counts both for password spraying. The
	// digest key is [AuthenticatorConfig.LoginDigestKey].
	Audit *audit.Logger

	// LoginDigestKey keys the HMAC-SHA-256 digest that names a login name
	// with no account in audit events (see Audit). Default: nil, a random
	// 32-byte key made by [NewAuthenticator], so digests match within one
	// Authenticator's lifetime only: with several instances sharing the
	// detector's counts (audit/detect with a shared State), an attack on
	// a name that does not exist is then counted per instance and can
	// stay under every threshold, and a restart forgets it. Apps on
	// several instances pass one key to all of them: at least 32 bytes
	// from a secret of their own, e.g. derived with crypto/hkdf from an
	// existing secret under a label used for nothing else.
	// [NewAuthenticator] refuses a shorter key and keeps a copy. Anyone
	// with the key can test guesses of a login name (or of a password
	// typed into the name field) against the digests in the log: keep it
	// as secret as the log's readers are untrusted.
	LoginDigestKey []byte

	// Now returns the current time, for the AuthTime of the principal
	// that Login signs in. Default: time.Now. It must agree with the
	// session layer's clock, with which the session layer compares it:
	// tests that give the session layer a fake clock (outside a
	// testing/synctest bubble, against a real database) pass the same one
	// here.
	Now func() time.Time

	// PasswordChanges budgets [Authenticator.ChangePassword] per user,
	// keyed by user ID: every attempt that gets as far as checking the
	// current password spends one, and a success gives nothing back
	// (unlike the Throttle's per-address count, which a success resets),
	// so a signed-in user, or a script holding many accounts, cannot keep
	// the hashing slots busy by changing passwords in a loop. A spent
	// budget returns a [*ratelimit.LimitedError]; a limiter error fails the change
	// closed unless the limiter's Decision allows it. Default: in memory,
	// 5 per 15 minutes per user (then one every 3 minutes), for up to
	// 65,536 users (evicting the fullest budgets beyond). Apps on several
	// instances pass a shared store (ratelimit/redisstore).
	PasswordChanges ratelimit.Limiter
}

// LoginResult is a successful login.
type LoginResult struct {
	// Principal is the user as the session was signed in: ID, roles,
	// Methods [identity.MethodPassword], and AuthTime, when the account
	// was read (just before reading it, before the password was hashed).
	Principal identity.Principal
	// MFARequired reports that the user has a second factor
	// (User.MFAEnabled) to verify next. Role-based MFA requirements belong
	// to the mfa package, whose policy the app asks after login either
	// way.
	MFARequired bool
	// Rehashed reports that the stored hash was upgraded to the current
	// parameters during this login.
	Rehashed bool
}

// Authenticator runs password logins and password changes against a
// [UserStore]. It is safe for concurrent use; build it with
// [NewAuthenticator].
type Authenticator struct {
	users    UserStore
	sessions Sessions
	hasher   *password.Hasher
	policy   *password.Policy
	throttle Throttle
	audit    *audit.Logger
	now      func() time.Time
	changes  ratelimit.Limiter // password changes per user

	// digestKey keys the digests that name unknown login names in audit.
	digestKey []byte
}

// defaultPasswordChanges is AuthenticatorConfig.PasswordChanges's limit.
var defaultPasswordChanges = ratelimit.Limit{Events: 5, Per: 15 * time.Minute}

// minLoginDigestKey is the shortest AuthenticatorConfig.LoginDigestKey,
// in bytes: the output size of SHA-256 (RFC 2104 §3).
const minLoginDigestKey = 32

// maxLoginBytes bounds the login name: longer ones fail without a lookup.
const maxLoginBytes = 320

// ValidLoginName reports whether login can name an account: 1 to 320
// bytes of valid UTF-8 without control characters (Unicode category Cc:
// the C0 set with NUL and tab, DEL, and the C1 set), checked after NFKC
// normalisation as [password.Policy] checks passwords. [Authenticator.Login] refuses
// any other name as invalid credentials, after the same work as for an
// unknown account and without asking the [UserStore] (PostgreSQL, for
// one, fails on NUL and invalid UTF-8). Refuse such names at registration
// too, so that every account can log in.
func ValidLoginName(login string) bool {
	return len(login) > 0 && len(login) <= maxLoginBytes && utf8.ValidString(login) &&
		!strings.ContainsFunc(password.Normalize(login), unicode.IsControl)
}

// NewAuthenticator returns an Authenticator over users, signing users in
// on sessions. Both are required: it returns an error naming the one that
// is nil.
func NewAuthenticator(users UserStore, sessions Sessions, cfg AuthenticatorConfig) (*Authenticator, error) {
	if nilarg.Is(users) {
		return nil, errors.New("auth: NewAuthenticator: UserStore is nil: pass the app's user table")
	}
	if nilarg.Is(sessions) {
		return nil, errors.New("auth: NewAuthenticator: Sessions is nil: pass the session manager, which signs users in and ends other sessions after a password change")
	}
	a := &Authenticator{users: users, sessions: sessions, hasher: cfg.Hasher, policy: cfg.Policy,
		throttle: cfg.Throttle, audit: cfg.Audit, now: cfg.Now, changes: cfg.PasswordChanges}
	switch {
	case cfg.LoginDigestKey == nil:
		a.digestKey = make([]byte, minLoginDigestKey)
		rand.Read(a.digestKey)
	case len(cfg.LoginDigestKey) < minLoginDigestKey:
		return nil, fmt.Errorf("auth: NewAuthenticator: LoginDigestKey is %d bytes: pass at least %d random bytes (or nil for a random key of this Authenticator's own)",
			len(cfg.LoginDigestKey), minLoginDigestKey)
	default:
		a.digestKey = slices.Clone(cfg.LoginDigestKey)
	}
	var err error
	if a.hasher == nil {
		if a.hasher, err = password.NewHasher(password.HasherConfig{}); err != nil {
			return nil, err
		}
	}
	if a.policy == nil {
		if a.policy, err = password.NewPolicy(password.PolicyConfig{}); err != nil {
			return nil, err
		}
	}
	if a.now == nil {
		a.now = time.Now
	}
	if a.throttle == nil {
		// No janitor goroutine (negative SweepInterval), so nothing to
		// close; the backend bounds each scope's table.
		if a.throttle, err = ratelimit.NewLoginThrottle(ratelimit.MemoryBackend{
			Config: ratelimit.MemoryConfig{SweepInterval: -1}}, ratelimit.LoginThrottleConfig{}); err != nil {
			return nil, err
		}
	}
	if a.changes == nil {
		// No janitor goroutine (negative SweepInterval), so nothing to
		// close; at most about 1 MiB.
		if a.changes, err = ratelimit.NewMemory(defaultPasswordChanges,
			ratelimit.MemoryConfig{MaxKeys: 1 << 16, SweepInterval: -1}); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// flow names the audit actions of one of the Authenticator's flows.
type flow struct {
	step                       string // Meta["step"] of hashing-busy events, and errors
	failed, throttled, errored audit.Action
}

// floodPace is the audit budget of refusals a flood can trigger.
var floodPace = audit.Pace{Every: 500 * time.Millisecond, Burst: 20}

var (
	loginFlow  = &flow{"login", audit.ActionLoginFailed, ActionLoginThrottled, ActionLoginError}
	changeFlow = &flow{"password.change", ActionPasswordChangeFailed, ActionPasswordChangeThrottled, ActionPasswordChangeError}
	reauthFlow = &flow{"reauth", ActionReauthFailed, ActionReauthThrottled, ActionReauthError}
	newFlow    = &flow{step: "password.new"}
)

// Login checks login and password for the request r and, when they are
// right, signs the user in on r's session ([Sessions].Login, which renews
// the session token) with a principal whose AuthTime is when the account
// was read. On success it returns that principal, whether a second factor
// must follow, and whether the hash was upgraded; the handler only
// redirects. r must have passed through the clientip middleware and the
// session layer's.
//
// Every failure to authenticate returns [ErrInvalidCredentials] after the
// same work: the password is hashed once, against the user's hash or, for
// an unknown user, a login name that fails [ValidLoginName] (never passed
// to the [UserStore]) or an unusable stored hash, against a dummy hash at
// the current parameters; a disabled account is checked like any other and
// then refused. Each such failure counts with the [Throttle] and is
// audited as a failed login. (The user store's own timing, and rehashing
// on success, are outside this guarantee.) A password over bcrypt's
// 72-byte limit never matches a legacy bcrypt hash (see
// [password.Hasher.Verify]). Other errors:
//
//   - an error wrapping [clientip.ErrNoClient] when r's context holds no
//     client address (the clientip middleware is missing): the throttle
//     and the hashing admission decide on the address, so Login fails
//     closed, before any other work; answer 500;
//   - [*password.BusyError] when hashing is busy (see
//     [password.HasherConfig]): refused at once, before any lookup or
//     throttle check, or after waiting up to MaxWait for a slot; not a
//     failed attempt, and the same for every account; answer 503 with
//     Retry-After;
//   - [*ratelimit.LimitedError] (errors.Is [ratelimit.ErrLimited]) when
//     the [Throttle] refuses the attempt, before any hashing; answer 429
//     with Retry-After;
//   - an error wrapping both [ErrInvalidCredentials] and
//     [password.ErrPasswordTooLong] for a password over the hasher's
//     limit, refused before any lookup;
//   - an error wrapping the store's, the throttle's, the session layer's
//     or ctx's error when one fails: answer HTTP 500 or 503, without the
//     details.
//
// On success with a hash that needs a rehash, Login stores a new hash at
// the current parameters (compare-and-swap, see [UserStore]); a failure
// there is audited but does not fail the login.
func (a *Authenticator) Login(r *http.Request, login, pw string) (LoginResult, error) {
	fl := loginFlow
	ctx := r.Context()
	ev, err := a.event(r, fl)
	if err != nil {
		return LoginResult{}, err
	}
	ctx, done, err := a.admit(ctx, fl, ev)
	if err != nil {
		return LoginResult{}, err
	}
	defer done()
	account := accountKey(login[:min(len(login), maxLoginBytes)])
	// Until a user is found, the attempt names the login by a keyed digest.
	ev.Target = audit.Target{Kind: audit.TargetKindLogin, ID: a.loginDigest(account)}

	if err := a.checkThrottle(ctx, fl, ev, account); err != nil {
		return LoginResult{}, err
	}
	if limit := a.hasher.MaxPasswordBytes(); len(pw) > limit {
		return LoginResult{}, a.fail(ctx, fl, ev, account, "password_too_long",
			fmt.Errorf("%w: %w: %d bytes, the maximum is %d", ErrInvalidCredentials, password.ErrPasswordTooLong, len(pw), limit))
	}
	pw = password.Normalize(pw)

	if !ValidLoginName(login) {
		// No account has this name, and some stores fail on it (NUL on
		// PostgreSQL): an unknown user, without asking the store.
		return LoginResult{}, a.failDummy(ctx, fl, ev, account, pw, "bad_login_name")
	}
	readAt := a.now() // before the read: anything revoked after it may postdate what we read
	u, err := a.users.UserByLogin(ctx, login)
	if errors.Is(err, ErrUserNotFound) {
		return LoginResult{}, a.failDummy(ctx, fl, ev, account, pw, "unknown_user")
	}
	if err != nil {
		return LoginResult{}, a.internal(ctx, fl, ev, "looking up user", err)
	}
	ev.Actor = identity.Principal{UserID: u.ID}
	ev.Target = audit.Target{Kind: audit.TargetKindUser, ID: u.ID}

	if u.PasswordHash == "" {
		// An account without a password (single sign-on, invitation not
		// yet accepted): same work, same answer.
		return LoginResult{}, a.failDummy(ctx, fl, ev, account, pw, "no_password")
	}
	rehash, err := a.hasher.Verify(ctx, pw, u.PasswordHash)
	reason := ""
	switch {
	case err == nil:
	case errors.Is(err, password.ErrBcryptTooLong): // no rehash: the owner keeps their password
		reason = "password_too_long_for_bcrypt"
	case errors.Is(err, password.ErrMismatch):
		reason = "bad_password"
	case errors.Is(err, password.ErrBusy) || ctx.Err() != nil:
		return LoginResult{}, a.hashFailed(ctx, fl, ev, "hashing", err)
	case errors.Is(err, password.ErrPasswordTooLong): // NFKC made it longer
		reason = "password_too_long"
	default:
		// The stored hash is unusable (malformed, unsupported, unknown
		// pepper). No hash was computed: spend the dummy's work so the
		// response looks like any other failure, and report it.
		a.audit.Log(ctx, audit.Event{Category: audit.CategoryError, Action: ActionPasswordHashInvalid,
			Outcome: audit.OutcomeFailure, Actor: ev.Actor, Target: ev.Target, Reason: err.Error()})
		if err := a.hasher.VerifyDummy(ctx, pw); err != nil {
			return LoginResult{}, a.hashFailed(ctx, fl, ev, "hashing", err)
		}
		reason = "stored_hash_invalid"
	}
	if reason == "" && u.Disabled {
		reason = "disabled"
	}
	if reason != "" {
		return LoginResult{}, a.fail(ctx, fl, ev, account, reason, ErrInvalidCredentials)
	}

	if a.throttle != nil {
		if err := a.throttle.Succeeded(ctx, account); err != nil {
			a.internalNote(ctx, fl, ev, "throttle success report", err)
		}
	}
	res := LoginResult{MFARequired: u.MFAEnabled, Principal: identity.Principal{
		UserID: u.ID, Roles: slices.Clone(u.Roles), Methods: []identity.Method{identity.MethodPassword}, AuthTime: readAt}}
	if rehash {
		res.Rehashed = a.rehash(ctx, fl, ev, u, pw)
	}
	if err := a.sessions.Login(ctx, res.Principal); err != nil {
		return LoginResult{}, a.internal(ctx, fl, ev, "signing in the session", err)
	}
	ev.Category, ev.Action, ev.Outcome = audit.CategoryAuthentication, audit.ActionLoginSucceeded, audit.OutcomeSuccess
	ev.Actor.Roles = u.Roles
	ev.Meta = map[string]string{"mfa_required": strconv.FormatBool(res.MFARequired), "rehashed": strconv.FormatBool(res.Rehashed)}
	a.audit.Log(ctx, ev)
	return res, nil
}

// rehash stores a new hash of pw for u, reporting whether it did.
func (a *Authenticator) rehash(ctx context.Context, fl *flow, ev audit.Event, u User, pw string) bool {
	h, err := a.hasher.Hash(ctx, pw)
	if errors.Is(err, password.ErrBusy) || ctx.Err() != nil {
		return false // busy, or the client has gone: upgraded at a later login
	}
	if err == nil {
		err = a.users.SetPasswordHash(ctx, u.ID, u.PasswordHash, h)
	}
	if errors.Is(err, ErrHashConflict) {
		return false // the password changed meanwhile: nothing to upgrade
	}
	if err != nil {
		a.internalNote(ctx, fl, ev, "rehash", err)
		return false
	}
	return true
}

// ChangePassword changes the password of the request's signed-in user (the
// principal the session layer put in r's context, never a form field) from
// current to next. It checks the throttle, verifies current, applies the
// policy (with the user's login and e-mail as context words, and the MFA
// minimum if the user has MFA), stores the new hash with compare-and-swap,
// and asks [Sessions] to end the user's other sessions.
//
// It returns [ErrUnauthenticated] when r has no signed-in user;
// [ErrInvalidCredentials] if current is wrong, the account is disabled or
// gone, or it has no password; a [*password.PolicyError] if next is not
// acceptable (code [password.CodeUnchanged] if it equals current);
// [*ratelimit.LimitedError] when the throttle refuses or the user's budget
// of password changes is spent (AuthenticatorConfig.PasswordChanges, which
// a success does not reset); [*password.BusyError] when hashing is busy,
// as for [Authenticator.Login]; an error wrapping [clientip.ErrNoClient]
// without the clientip middleware, as for Login; an error wrapping
// [ErrHashConflict] if the password changed meanwhile; or one wrapping
// [ErrSessionsNotRevoked] if the new password is stored but revocation
// failed. The caller should renew the current session's token afterwards.
func (a *Authenticator) ChangePassword(r *http.Request, current, next string) error {
	fl := changeFlow
	ctx, done, ev, u, account, err := a.signedInUser(r, fl, current)
	if err != nil {
		return err
	}
	defer done()
	if err := a.checkChangeBudget(ctx, fl, ev, u.ID); err != nil {
		return err
	}
	cur := password.Normalize(current)
	if err := a.verifyCurrent(ctx, fl, ev, u, account, cur); err != nil {
		return err
	}
	if len(next) > a.hasher.MaxPasswordBytes() {
		return a.changeFailed(ctx, fl, ev, "policy:"+string(password.CodeTooLong), a.tooLong())
	}
	nw := password.Normalize(next)
	if nw == cur {
		return a.changeFailed(ctx, fl, ev, "policy:"+string(password.CodeUnchanged),
			&password.PolicyError{Code: password.CodeUnchanged, Message: "The new password must be different from the current one."})
	}
	if err := a.policy.Check(ctx, nw, password.Context{UserName: u.Login, Email: u.Email, MFA: u.MFAEnabled}); err != nil {
		var pe *password.PolicyError
		if errors.As(err, &pe) {
			return a.changeFailed(ctx, fl, ev, "policy:"+string(pe.Code), err)
		}
		return a.internal(ctx, fl, ev, "password policy", err)
	}
	h, err := a.hasher.Hash(ctx, nw)
	if err != nil {
		return a.hashFailed(ctx, fl, ev, "hashing", err)
	}
	if err := a.users.SetPasswordHash(ctx, u.ID, u.PasswordHash, h); err != nil {
		if errors.Is(err, ErrHashConflict) {
			return a.changeFailed(ctx, fl, ev, "conflict", fmt.Errorf("auth: change password: %w; try again", err))
		}
		return a.internal(ctx, fl, ev, "storing hash", err)
	}
	if a.throttle != nil {
		if err := a.throttle.Succeeded(ctx, account); err != nil {
			a.internalNote(ctx, fl, ev, "throttle success report", err)
		}
	}
	ev.Category, ev.Action, ev.Outcome = audit.CategoryAuthentication, ActionPasswordChanged, audit.OutcomeSuccess
	// The current password was just checked: a re-authentication, which
	// the session layer asks of RevokeOthers.
	err = a.sessions.Reauthenticate(ctx, identity.MethodPassword)
	if err == nil {
		err = a.sessions.RevokeOthers(ctx)
	}
	if err != nil {
		ev.Meta = map[string]string{"sessions_revoked": "false"}
		a.audit.Log(ctx, ev)
		a.internalNote(ctx, fl, ev, "revoking other sessions", err)
		return fmt.Errorf("%w: %w", ErrSessionsNotRevoked, err)
	}
	ev.Meta = map[string]string{"sessions_revoked": "true"}
	a.audit.Log(ctx, ev)
	return nil
}

// Reauthenticate checks the password of the signed-in user of r and, when
// it is right, records the re-authentication in the session
// ([Sessions].Reauthenticate: the token is renewed and the principal's
// AuthTime becomes now). Ask for it before actions that need a recent
// authentication (OWASP ASVS 5.0 §7.5): adding a first second factor with
// package mfa, signing out other sessions. It returns
// [ErrUnauthenticated] without a signed-in user and, like
// [Authenticator.ChangePassword], [ErrInvalidCredentials] for a wrong
// password (counted by the [Throttle] and audited as
// [ActionReauthFailed]), [*ratelimit.LimitedError],
// [*password.BusyError], or an internal error.
func (a *Authenticator) Reauthenticate(r *http.Request, pw string) error {
	fl := reauthFlow
	ctx, done, ev, u, account, err := a.signedInUser(r, fl, pw)
	if err != nil {
		return err
	}
	defer done()
	if err := a.verifyCurrent(ctx, fl, ev, u, account, password.Normalize(pw)); err != nil {
		return err
	}
	if a.throttle != nil {
		if err := a.throttle.Succeeded(ctx, account); err != nil {
			a.internalNote(ctx, fl, ev, "throttle success report", err)
		}
	}
	if err := a.sessions.Reauthenticate(ctx, identity.MethodPassword); err != nil {
		return a.internal(ctx, fl, ev, "recording the re-authentication", err)
	}
	return nil
}

// signedInUser starts a flow that checks the password of r's signed-in
// user: it admits the request to hashing, reads the user, checks the
// throttle, and refuses a disabled account, an over-long pw and an account
// without a password. The caller calls done.
func (a *Authenticator) signedInUser(r *http.Request, fl *flow, pw string) (context.Context, func(), audit.Event, User, string, error) {
	nop := func() {}
	p, ok := identity.FromContext(r.Context())
	if !ok {
		return nil, nop, audit.Event{}, User{}, "", ErrUnauthenticated
	}
	ev, err := a.event(r, fl)
	if err != nil {
		return nil, nop, ev, User{}, "", err
	}
	ev.Actor = identity.Principal{UserID: p.UserID}
	ev.SessionRef = p.SessionRef
	ev.Target = audit.Target{Kind: audit.TargetKindUser, ID: p.UserID}
	ctx, done, err := a.admit(r.Context(), fl, ev)
	if err != nil {
		return nil, nop, ev, User{}, "", err
	}
	fail := func(err error) (context.Context, func(), audit.Event, User, string, error) {
		done()
		return nil, nop, ev, User{}, "", err
	}
	u, err := a.users.UserByID(ctx, p.UserID)
	if errors.Is(err, ErrUserNotFound) {
		return fail(a.changeFailed(ctx, fl, ev, "unknown_user", ErrInvalidCredentials))
	}
	if err != nil {
		return fail(a.internal(ctx, fl, ev, "looking up user", err))
	}
	account := accountKey(u.Login)
	if err := a.checkThrottle(ctx, fl, ev, account); err != nil {
		return fail(err)
	}
	if u.Disabled {
		return fail(a.changeFailed(ctx, fl, ev, "disabled", ErrInvalidCredentials))
	}
	if len(pw) > a.hasher.MaxPasswordBytes() {
		return fail(a.fail(ctx, fl, ev, account, "password_too_long", ErrInvalidCredentials))
	}
	if u.PasswordHash == "" {
		// No password (single sign-on only): no current password matches.
		return fail(a.fail(ctx, fl, ev, account, "no_password", ErrInvalidCredentials))
	}
	return ctx, done, ev, u, account, nil
}

// verifyCurrent checks the normalised password cur against u's hash.
func (a *Authenticator) verifyCurrent(ctx context.Context, fl *flow, ev audit.Event, u User, account, cur string) error {
	if _, err := a.hasher.Verify(ctx, cur, u.PasswordHash); err != nil {
		if errors.Is(err, password.ErrMismatch) || errors.Is(err, password.ErrPasswordTooLong) {
			return a.fail(ctx, fl, ev, account, "bad_password", ErrInvalidCredentials)
		}
		return a.hashFailed(ctx, fl, ev, "verifying current password", err)
	}
	return nil
}

// HashNewPassword applies the policy to pw for user u (its login and
// e-mail as context words; u.ID may be empty at registration) and returns
// its hash to store. Use it at registration and password reset; the caller
// stores the hash and, for a reset, revokes the user's sessions. It returns
// a [*password.PolicyError] for a rejected password, and a
// [*password.BusyError] when hashing is busy (the client is the one the
// clientip middleware recorded in ctx, if any; see
// password.HasherConfig.MaxPerClient).
func (a *Authenticator) HashNewPassword(ctx context.Context, u User, pw string) (string, error) {
	if len(pw) > a.hasher.MaxPasswordBytes() {
		return "", a.tooLong()
	}
	nw := password.Normalize(pw)
	if err := a.policy.Check(ctx, nw, password.Context{UserName: u.Login, Email: u.Email, MFA: u.MFAEnabled}); err != nil {
		return "", err
	}
	h, err := a.hasher.Hash(ctx, nw)
	if errors.Is(err, password.ErrPasswordTooLong) {
		return "", a.tooLong()
	}
	var be *password.BusyError
	if errors.As(err, &be) {
		ev := audit.Event{Actor: identity.Principal{UserID: u.ID}}
		if info, ok := clientip.FromContext(ctx); ok {
			ev.ClientIP = info.Addr
		}
		a.recordBusy(ctx, newFlow, ev, be)
	}
	return h, err
}

// tooLong is the policy's refusal of a password longer than the hasher
// takes.
func (a *Authenticator) tooLong() error {
	return &password.PolicyError{Code: password.CodeTooLong, Message: fmt.Sprintf("Use at most %d characters.", a.policy.MaxLength())}
}

// checkThrottle asks the throttle, failing closed on its errors.
func (a *Authenticator) checkThrottle(ctx context.Context, fl *flow, ev audit.Event, account string) error {
	if a.throttle == nil {
		return nil
	}
	err := a.throttle.Check(ctx, account)
	if err == nil {
		return nil
	}
	if !errors.Is(err, ratelimit.ErrLimited) {
		return a.internal(ctx, fl, ev, "throttle", err)
	}
	le, ok := errors.AsType[*ratelimit.LimitedError](err)
	if !ok {
		le = &ratelimit.LimitedError{}
	}
	ev.Category, ev.Action, ev.Outcome, ev.Pace = audit.CategorySuspicious, fl.throttled, audit.OutcomeDenied, floodPace
	ev.Meta = map[string]string{"retry_after": le.RetryAfter.String()}
	a.audit.Log(ctx, ev)
	return le
}

// failDummy fails a login that has no hash to check pw against after
// checking it against the dummy hash, so that it takes the usual time.
func (a *Authenticator) failDummy(ctx context.Context, fl *flow, ev audit.Event, account, pw, reason string) error {
	if err := a.hasher.VerifyDummy(ctx, pw); err != nil {
		return a.hashFailed(ctx, fl, ev, "hashing", err)
	}
	return a.fail(ctx, fl, ev, account, reason, ErrInvalidCredentials)
}

// fail records a failed credential check with the throttle and audit.
func (a *Authenticator) fail(ctx context.Context, fl *flow, ev audit.Event, account, reason string, err error) error {
	if a.throttle != nil {
		if terr := a.throttle.Failed(ctx, account); terr != nil {
			a.internalNote(ctx, fl, ev, "throttle failure report", terr)
		}
	}
	return a.changeFailed(ctx, fl, ev, reason, err)
}

// changeFailed records a refusal that is not a credential failure (policy,
// conflict, unknown user in a password change).
func (a *Authenticator) changeFailed(ctx context.Context, fl *flow, ev audit.Event, reason string, err error) error {
	ev.Category, ev.Action, ev.Outcome, ev.Reason = audit.CategoryAuthentication, fl.failed, audit.OutcomeFailure, reason
	a.audit.Log(ctx, ev)
	return err
}

// internal records an internal failure and returns it wrapped with the
// step. The caller answers 500 without details.
func (a *Authenticator) internal(ctx context.Context, fl *flow, ev audit.Event, step string, err error) error {
	a.internalNote(ctx, fl, ev, step, err)
	return fmt.Errorf("auth: %s: %s: %w", fl.step, step, err)
}

// internalNote audits an internal failure that does not change the
// outcome.
func (a *Authenticator) internalNote(ctx context.Context, fl *flow, ev audit.Event, step string, err error) {
	a.audit.Log(ctx, audit.Event{Category: audit.CategoryError, Action: fl.errored, Outcome: audit.OutcomeFailure,
		Actor: ev.Actor, Target: ev.Target, ClientIP: ev.ClientIP, UserAgent: ev.UserAgent, SessionRef: ev.SessionRef,
		Reason: step + ": " + err.Error()})
}

// event starts an audit event for r, with the client address the clientip
// middleware recorded. Without one it fails closed: the throttle and the
// hashing admission decide on the address.
func (a *Authenticator) event(r *http.Request, fl *flow) (audit.Event, error) {
	ev := audit.Event{UserAgent: truncate(r.UserAgent(), 256)}
	info, ok := clientip.FromContext(r.Context())
	if !ok {
		err := fmt.Errorf("auth: %s: %w", fl.step, clientip.ErrNoClient)
		a.internalNote(r.Context(), fl, ev, "client address", err)
		return ev, err
	}
	ev.ClientIP = info.Addr
	return ev, nil
}

// accountKey is the throttling key for a login name (see
// [loginkey.Of]), shared with package account.
func accountKey(login string) string { return loginkey.Of(login) }

// loginDigest identifies a login name (its account key) in audit without
// storing it: users often type their password into the name field. The
// digest is keyed, so that a reader of the log cannot test guesses
// against it; 64 bits tell the names of one attack apart.
func (a *Authenticator) loginDigest(account string) string {
	m := hmac.New(sha256.New, a.digestKey)
	m.Write([]byte(account))
	return hex.EncodeToString(m.Sum(nil)[:8])
}

// truncate cuts s to n bytes, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
