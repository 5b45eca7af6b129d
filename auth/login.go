package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/clientip"
	"github.com/deployedworks/rampart/internal/gate"
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

	// ErrThrottled is wrapped by [*ThrottledError].
	ErrThrottled = errors.New("auth: too many login attempts")

	// ErrSessionsNotRevoked is returned (wrapped) by
	// [Authenticator.ChangePassword] when the password was changed but the
	// [SessionRevoker] failed: other sessions may still be signed in. Tell
	// the user, and retry the revocation or sign the user out everywhere.
	ErrSessionsNotRevoked = errors.New("auth: password changed, but other sessions were not revoked")
)

// ThrottledError means the [Throttle] refused the attempt, or for a
// password change the user's budget of changes
// (AuthenticatorConfig.PasswordChanges) is spent, before any password was
// checked. It wraps [ErrThrottled]. Send HTTP 429 with a Retry-After
// header of RetryAfter rounded up to whole seconds.
type ThrottledError struct {
	RetryAfter time.Duration
}

// Error names the wait, rounded to the second.
func (e *ThrottledError) Error() string {
	return fmt.Sprintf("auth: too many login attempts: retry after %s", e.RetryAfter.Round(time.Second))
}

// Unwrap returns [ErrThrottled].
func (e *ThrottledError) Unwrap() error { return ErrThrottled }

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
	// PasswordHash is the stored hash: a PHC string from [Hasher.Hash], or
	// a legacy bcrypt or Argon2 hash, upgraded at the next login. Empty
	// for an account that has no password (single sign-on only): password
	// logins to it fail like any other.
	PasswordHash string
	// Disabled accounts cannot log in. They fail exactly like a wrong
	// password, after the same hashing work.
	Disabled bool
	// Roles are copied into [LoginResult] for the session layer.
	Roles []string
	// MFAEnabled reports that the user has a second factor enrolled, which
	// must follow a successful password check (see
	// LoginResult.MFARequired) and lowers the password policy's minimum
	// length to PolicyConfig.MinLengthMFA.
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

// Throttle slows down password guessing. The ratelimit package's login
// throttle implements it (possibly through a small adapter). account is the
// login name folded to lower case and NFKC, with invalid UTF-8 and control
// characters replaced by U+FFFD, so that it is always printable text
// whatever was typed; ip is the client address from
// [clientip] (the zero Addr when unknown: treat it as one shared client).
// Implementations must be safe for concurrent use.
type Throttle interface {
	// Check is called before any password work. A positive retryAfter
	// refuses the attempt; an error fails the login closed (HTTP 500).
	Check(ctx context.Context, account string, ip netip.Addr) (retryAfter time.Duration, err error)
	// Failed records a failed attempt: wrong password, unknown or disabled
	// account.
	Failed(ctx context.Context, account string, ip netip.Addr) error
	// Succeeded records a successful login, so that the account's failure
	// count can reset.
	Succeeded(ctx context.Context, account string, ip netip.Addr) error
}

// SessionRevoker ends the signed-in user's other sessions after a password
// change (OWASP Session Management: a password change must sign out whoever
// else holds a session). ctx is the request's context, which identifies the
// session to keep and its user. *session.Manager implements it.
type SessionRevoker interface {
	RevokeOthers(ctx context.Context) error
}

// SessionRevokerFunc adapts a function to [SessionRevoker].
type SessionRevokerFunc func(ctx context.Context) error

// RevokeOthers calls f(ctx).
func (f SessionRevokerFunc) RevokeOthers(ctx context.Context) error { return f(ctx) }

// AuthenticatorConfig tunes an [Authenticator]. The zero value is ready to
// use, with default hashing, the default policy and no throttling.
type AuthenticatorConfig struct {
	// Hasher hashes and verifies passwords. Default: NewHasher with a zero
	// HasherConfig (no pepper).
	Hasher *Hasher

	// Policy applies to new passwords (ChangePassword, HashNewPassword),
	// never to logins. Default: NewPolicy with a zero PolicyConfig.
	Policy *Policy

	// Throttle, if set, is asked before every login and password change
	// and told the outcome. Default: none. Production apps should set it
	// (ratelimit's login throttle): without it, guessing is bounded only
	// by hashing speed.
	Throttle Throttle

	// Audit receives an event for every login, failure, throttled attempt
	// and password change; never a password or a hash. Default: nil, which
	// discards events. A failing sink does not block logins; its errors
	// are logged to Logger. Login events use [audit.ActionLoginSucceeded]
	// and [audit.ActionLoginFailed], with the account as Target: a known
	// user as [audit.TargetKindUser] and its ID, a login name that matched
	// no account as [audit.TargetKindLogin] and a digest of the name keyed
	// with a random key made by [NewAuthenticator] (never the name, which
	// may be a password typed into the wrong field), so that an
	// [audit.Detector] counts both for password spraying. Digests match
	// within one Authenticator's lifetime only.
	Audit *audit.Logger

	// ClientIP resolves the client's address for throttling and audit.
	// Default: a resolver that trusts no proxy (the peer's address). Pass
	// the app's shared resolver when behind a proxy.
	ClientIP *clientip.Resolver

	// Logger receives audit sink errors and unexpected store errors.
	// Default: slog.Default().
	Logger *slog.Logger

	// Now returns the current time, for LoginResult.ReadAt. Default:
	// time.Now. It must agree with the session layer's clock.
	Now func() time.Time

	// PasswordChanges budgets [Authenticator.ChangePassword] per user,
	// keyed by user ID: every attempt that gets as far as checking the
	// current password spends one, and a success gives nothing back
	// (unlike the Throttle's per-address count, which a success resets),
	// so a signed-in user, or a script holding many accounts, cannot keep
	// the hashing slots busy by changing passwords in a loop. A spent
	// budget returns a [*ThrottledError]; a limiter error fails the change
	// closed unless the limiter's Decision allows it. Default: in memory,
	// 5 per 15 minutes per user (then one every 3 minutes), for up to
	// 65,536 users (evicting the fullest budgets beyond). Apps on several
	// instances pass a shared store (ratelimit/redisstore).
	PasswordChanges ratelimit.Limiter
}

// LoginResult is a successful password check.
type LoginResult struct {
	UserID string
	Roles  []string
	// MFARequired reports that the user has a second factor
	// (User.MFAEnabled): the session must not count as authenticated until
	// it is verified. Role-based MFA requirements belong to the mfa
	// package.
	MFARequired bool
	// Rehashed reports that the stored hash was upgraded to the current
	// parameters during this login.
	Rehashed bool
	// ReadAt is when the user record was read, taken just before reading
	// it (before the password was hashed). Pass it to the session layer
	// (session.Manager.Login), which refuses the session if the user's
	// sessions were revoked after it: a login that overlapped an account
	// disable, a role removal or a password change must not outlive it.
	ReadAt time.Time
}

// Authenticator runs password logins and password changes against a
// [UserStore]. It is safe for concurrent use; build it with
// [NewAuthenticator].
type Authenticator struct {
	users    UserStore
	sessions SessionRevoker
	hasher   *Hasher
	policy   *Policy
	throttle Throttle
	audit    *audit.Logger
	ips      *clientip.Resolver
	log      *slog.Logger
	now      func() time.Time
	changes  ratelimit.Limiter // password changes per user

	busyGate, changeGate *gate.Gate // pace refusal events
	// digestKey keys the digests that name unknown login names in audit.
	digestKey []byte
}

// defaultPasswordChanges is AuthenticatorConfig.PasswordChanges's limit.
var defaultPasswordChanges = ratelimit.Limit{Events: 5, Per: 15 * time.Minute}

// maxLoginBytes bounds the login name: longer ones fail without a lookup.
const maxLoginBytes = 320

// ValidLoginName reports whether login can name an account: 1 to 320
// bytes of valid UTF-8 without control characters (Unicode category Cc:
// the C0 set with NUL and tab, DEL, and the C1 set), checked after NFKC
// normalisation as [Policy] checks passwords. [Authenticator.Login] refuses
// any other name as invalid credentials, after the same work as for an
// unknown account and without asking the [UserStore] (PostgreSQL, for
// one, fails on NUL and invalid UTF-8). Refuse such names at registration
// too, so that every account can log in.
func ValidLoginName(login string) bool {
	return len(login) > 0 && len(login) <= maxLoginBytes && utf8.ValidString(login) &&
		!strings.ContainsFunc(Normalize(login), unicode.IsControl)
}

// NewAuthenticator returns an Authenticator over users. sessions is
// required: a password change that leaves an attacker's session alive
// defeats its purpose. Apps without server-side sessions pass a
// [SessionRevokerFunc] that does nothing, deliberately.
func NewAuthenticator(users UserStore, sessions SessionRevoker, cfg AuthenticatorConfig) (*Authenticator, error) {
	if users == nil {
		return nil, errors.New("auth: NewAuthenticator: UserStore is nil")
	}
	if sessions == nil {
		return nil, errors.New("auth: NewAuthenticator: SessionRevoker is nil: pass the session manager, which ends other sessions after a password change")
	}
	a := &Authenticator{users: users, sessions: sessions, hasher: cfg.Hasher, policy: cfg.Policy,
		throttle: cfg.Throttle, audit: cfg.Audit, ips: cfg.ClientIP, log: cfg.Logger, now: cfg.Now, changes: cfg.PasswordChanges,
		busyGate: gate.New(500*time.Millisecond, 20), changeGate: gate.New(500*time.Millisecond, 20),
		digestKey: make([]byte, 32)}
	rand.Read(a.digestKey)
	var err error
	if a.hasher == nil {
		if a.hasher, err = NewHasher(HasherConfig{}); err != nil {
			return nil, err
		}
	}
	if a.policy == nil {
		if a.policy, err = NewPolicy(PolicyConfig{}); err != nil {
			return nil, err
		}
	}
	if a.log == nil {
		a.log = slog.Default()
	}
	if a.now == nil {
		a.now = time.Now
	}
	if a.ips == nil {
		a.ips = clientip.MustNew(nil, clientip.Config{Logger: a.log})
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

// Login checks login and password, for the request r (its context, client
// address and user agent). On success it returns the user's ID and roles,
// whether MFA must follow, and when the user was read; the caller then
// signs the user in with all of them (session.Manager.Login, which renews
// the session token).
//
// Every failure to authenticate returns [ErrInvalidCredentials] after the
// same work: the password is hashed once, against the user's hash or, for
// an unknown user, a login name that fails [ValidLoginName] (never passed
// to the [UserStore]) or an unusable stored hash, against a dummy hash at
// the current parameters; a disabled account is checked like any other and
// then refused. Each such failure counts with the [Throttle] and is
// audited as a failed login. (The user store's own timing, and rehashing
// on success, are outside this guarantee.) A password over bcrypt's
// 72-byte limit never matches a legacy bcrypt hash (see [Hasher.Verify]).
// Other errors:
//
//   - [*BusyError] when hashing is busy (see [HasherConfig]): refused at
//     once, before any lookup or throttle check, or after waiting up to
//     HasherConfig.MaxWait for a slot; not a failed attempt, and the same
//     for every account;
//   - [*ThrottledError] when the [Throttle] refuses the attempt, before any
//     hashing;
//   - an error wrapping both [ErrInvalidCredentials] and
//     [ErrPasswordTooLong] for a password over the hasher's limit, refused
//     before any lookup;
//   - an error wrapping the store's, the throttle's or ctx's error when one
//     fails: answer HTTP 500 or 503, without the details.
//
// On success with a hash that needs a rehash, Login stores a new hash at
// the current parameters (compare-and-swap, see [UserStore]); a failure
// there is logged and audited but does not fail the login.
func (a *Authenticator) Login(r *http.Request, login, password string) (LoginResult, error) {
	ev := a.event(r, "login")
	ctx, done, err := a.admit(r.Context(), ev)
	if err != nil {
		return LoginResult{}, err
	}
	defer done()
	account := accountKey(login[:min(len(login), maxLoginBytes)])
	// Until a user is found, the attempt names the login by a keyed digest.
	ev.Target = audit.Target{Kind: audit.TargetKindLogin, ID: a.loginDigest(account)}

	if err := a.checkThrottle(ctx, ev, account); err != nil {
		return LoginResult{}, err
	}
	if len(password) > a.hasher.maxLen {
		return LoginResult{}, a.fail(ctx, ev, account, "password_too_long",
			fmt.Errorf("%w: %w", ErrInvalidCredentials, a.hasher.tooLong(len(password))))
	}
	pw := Normalize(password)

	if !ValidLoginName(login) {
		// No account has this name, and some stores fail on it (NUL on
		// PostgreSQL): an unknown user, without asking the store.
		return LoginResult{}, a.failDummy(ctx, ev, account, pw, "bad_login_name")
	}
	readAt := a.now() // before the read: anything revoked after it may postdate what we read
	u, err := a.users.UserByLogin(ctx, login)
	if errors.Is(err, ErrUserNotFound) {
		return LoginResult{}, a.failDummy(ctx, ev, account, pw, "unknown_user")
	}
	if err != nil {
		return LoginResult{}, a.internal(ctx, ev, "looking up user", err)
	}
	ev.Actor = audit.Actor{UserID: u.ID}
	ev.Target = audit.Target{Kind: audit.TargetKindUser, ID: u.ID}

	if u.PasswordHash == "" {
		// An account without a password (single sign-on, invitation not
		// yet accepted): same work, same answer.
		if err := a.hasher.verifyDummy(ctx, pw); err != nil {
			return LoginResult{}, a.hashFailed(ctx, ev, "hashing", err)
		}
		return LoginResult{}, a.fail(ctx, ev, account, "no_password", ErrInvalidCredentials)
	}
	rehash, err := a.hasher.Verify(ctx, pw, u.PasswordHash)
	reason := ""
	switch {
	case err == nil:
	case errors.Is(err, errBcryptTooLong): // no rehash: the owner keeps their password
		reason = "password_too_long_for_bcrypt"
	case errors.Is(err, ErrMismatch):
		reason = "bad_password"
	case errors.Is(err, ErrBusy) || ctx.Err() != nil:
		return LoginResult{}, a.hashFailed(ctx, ev, "hashing", err)
	case errors.Is(err, ErrPasswordTooLong): // NFKC made it longer
		reason = "password_too_long"
	default:
		// The stored hash is unusable (malformed, unsupported, unknown
		// pepper). No hash was computed: spend the dummy's work so the
		// response looks like any other failure, and report it.
		a.record(ctx, audit.Event{Category: audit.CategoryError, Action: "password.hash_invalid",
			Outcome: audit.OutcomeFailure, Actor: ev.Actor, Target: ev.Target, Reason: err.Error()})
		if err := a.hasher.verifyDummy(ctx, pw); err != nil {
			return LoginResult{}, a.hashFailed(ctx, ev, "hashing", err)
		}
		reason = "stored_hash_invalid"
	}
	if reason == "" && u.Disabled {
		reason = "disabled"
	}
	if reason != "" {
		return LoginResult{}, a.fail(ctx, ev, account, reason, ErrInvalidCredentials)
	}

	if a.throttle != nil {
		if err := a.throttle.Succeeded(ctx, account, ev.ClientIP); err != nil {
			a.internalNote(ctx, ev, "throttle success report", err)
		}
	}
	res := LoginResult{UserID: u.ID, Roles: u.Roles, MFARequired: u.MFAEnabled, ReadAt: readAt}
	if rehash {
		res.Rehashed = a.rehash(ctx, ev, u, pw)
	}
	ev.Category, ev.Action, ev.Outcome = audit.CategoryAuthentication, audit.ActionLoginSucceeded, audit.OutcomeSuccess
	ev.Actor.Roles = u.Roles
	ev.Meta = map[string]string{"mfa_required": strconv.FormatBool(res.MFARequired), "rehashed": strconv.FormatBool(res.Rehashed)}
	a.record(ctx, ev)
	return res, nil
}

// rehash stores a new hash of pw for u, reporting whether it did.
func (a *Authenticator) rehash(ctx context.Context, ev audit.Event, u User, pw string) bool {
	h, err := a.hasher.Hash(ctx, pw)
	if errors.Is(err, ErrBusy) || ctx.Err() != nil {
		return false // busy, or the client has gone: upgraded at a later login
	}
	if err == nil {
		err = a.users.SetPasswordHash(ctx, u.ID, u.PasswordHash, h)
	}
	if errors.Is(err, ErrHashConflict) {
		return false // the password changed meanwhile: nothing to upgrade
	}
	if err != nil {
		a.internalNote(ctx, ev, "rehash", err)
		return false
	}
	return true
}

// ChangePassword changes the password of the signed-in user userID (taken
// from the session, never from the form) from current to next, for the
// request r. It checks the throttle, verifies current, applies the policy
// (with the user's login and e-mail as context words, and the MFA minimum
// if the user has MFA), stores the new hash with compare-and-swap, and
// asks the [SessionRevoker] to end the user's other sessions.
//
// It returns [ErrInvalidCredentials] if current is wrong, the account is
// disabled or gone, or it has no password; a [*PolicyError] if next is not
// acceptable (code [CodeUnchanged] if it equals current);
// [*ThrottledError] when the throttle refuses or the user's budget of
// password changes is spent (AuthenticatorConfig.PasswordChanges, which a
// success does not reset); [*BusyError] when hashing is busy, as for
// [Authenticator.Login]; an error wrapping [ErrHashConflict] if the
// password changed meanwhile; or one wrapping [ErrSessionsNotRevoked] if
// the new password is stored but revocation failed. The caller should
// renew the current session's token afterwards.
func (a *Authenticator) ChangePassword(r *http.Request, userID, current, next string) error {
	ev := a.event(r, "password.change")
	ev.Actor = audit.Actor{UserID: userID}
	ev.Target = audit.Target{Kind: audit.TargetKindUser, ID: userID}
	ctx, done, err := a.admit(r.Context(), ev)
	if err != nil {
		return err
	}
	defer done()

	u, err := a.users.UserByID(ctx, userID)
	if errors.Is(err, ErrUserNotFound) {
		return a.changeFailed(ctx, ev, "unknown_user", ErrInvalidCredentials)
	}
	if err != nil {
		return a.internal(ctx, ev, "looking up user", err)
	}
	account := accountKey(u.Login)
	if err := a.checkThrottle(ctx, ev, account); err != nil {
		return err
	}
	if u.Disabled {
		return a.changeFailed(ctx, ev, "disabled", ErrInvalidCredentials)
	}
	if len(current) > a.hasher.maxLen {
		return a.fail(ctx, ev, account, "password_too_long", ErrInvalidCredentials)
	}
	if u.PasswordHash == "" {
		// No password (single sign-on only): no current password matches.
		return a.fail(ctx, ev, account, "no_password", ErrInvalidCredentials)
	}
	if err := a.checkChangeBudget(ctx, ev, u.ID); err != nil {
		return err
	}
	cur := Normalize(current)
	if _, err := a.hasher.Verify(ctx, cur, u.PasswordHash); err != nil {
		if errors.Is(err, ErrMismatch) || errors.Is(err, ErrPasswordTooLong) {
			return a.fail(ctx, ev, account, "bad_password", ErrInvalidCredentials)
		}
		return a.hashFailed(ctx, ev, "verifying current password", err)
	}
	if len(next) > a.hasher.maxLen {
		return a.changeFailed(ctx, ev, "policy:"+string(CodeTooLong), a.policy.tooLong())
	}
	nw := Normalize(next)
	if nw == cur {
		return a.changeFailed(ctx, ev, "policy:"+string(CodeUnchanged),
			&PolicyError{CodeUnchanged, "The new password must be different from the current one."})
	}
	if err := a.policy.Check(ctx, nw, PasswordContext{UserName: u.Login, Email: u.Email, MFA: u.MFAEnabled}); err != nil {
		var pe *PolicyError
		if errors.As(err, &pe) {
			return a.changeFailed(ctx, ev, "policy:"+string(pe.Code), err)
		}
		return a.internal(ctx, ev, "password policy", err)
	}
	h, err := a.hasher.Hash(ctx, nw)
	if err != nil {
		return a.hashFailed(ctx, ev, "hashing", err)
	}
	if err := a.users.SetPasswordHash(ctx, u.ID, u.PasswordHash, h); err != nil {
		if errors.Is(err, ErrHashConflict) {
			return a.changeFailed(ctx, ev, "conflict", fmt.Errorf("auth: change password: %w; try again", err))
		}
		return a.internal(ctx, ev, "storing hash", err)
	}
	if a.throttle != nil {
		if err := a.throttle.Succeeded(ctx, account, ev.ClientIP); err != nil {
			a.internalNote(ctx, ev, "throttle success report", err)
		}
	}
	ev.Category, ev.Action, ev.Outcome = audit.CategoryAuthentication, "password.changed", audit.OutcomeSuccess
	if err := a.sessions.RevokeOthers(ctx); err != nil {
		ev.Meta = map[string]string{"sessions_revoked": "false"}
		a.record(ctx, ev)
		a.internalNote(ctx, ev, "revoking other sessions", err)
		return fmt.Errorf("%w: %w", ErrSessionsNotRevoked, err)
	}
	ev.Meta = map[string]string{"sessions_revoked": "true"}
	a.record(ctx, ev)
	return nil
}

// HashNewPassword applies the policy to password for user u (its login and
// e-mail as context words; u.ID may be empty at registration) and returns
// its hash to store. Use it at registration and password reset; the caller
// stores the hash and, for a reset, revokes the user's sessions. It returns
// a [*PolicyError] for a rejected password, and a [*BusyError] when
// hashing is busy (the client is the one the clientip middleware recorded
// in ctx, if any; see HasherConfig.MaxPerClient).
func (a *Authenticator) HashNewPassword(ctx context.Context, u User, password string) (string, error) {
	if len(password) > a.hasher.maxLen {
		return "", a.policy.tooLong()
	}
	nw := Normalize(password)
	if err := a.policy.Check(ctx, nw, PasswordContext{UserName: u.Login, Email: u.Email, MFA: u.MFAEnabled}); err != nil {
		return "", err
	}
	h, err := a.hasher.Hash(ctx, nw)
	if errors.Is(err, ErrPasswordTooLong) {
		return "", a.policy.tooLong()
	}
	var be *BusyError
	if errors.As(err, &be) {
		ev := audit.Event{Action: "password.new", Actor: audit.Actor{UserID: u.ID}}
		if info, ok := clientip.FromContext(ctx); ok {
			ev.ClientIP = info.Addr
		}
		a.recordBusy(ctx, ev, be)
	}
	return h, err
}

// checkThrottle asks the throttle, failing closed on its errors.
func (a *Authenticator) checkThrottle(ctx context.Context, ev audit.Event, account string) error {
	if a.throttle == nil {
		return nil
	}
	wait, err := a.throttle.Check(ctx, account, ev.ClientIP)
	if err != nil {
		return a.internal(ctx, ev, "throttle", err)
	}
	if wait <= 0 {
		return nil
	}
	ev.Category, ev.Action, ev.Outcome = audit.CategorySuspicious, ev.Action+".throttled", audit.OutcomeDenied
	ev.Meta = map[string]string{"retry_after": wait.String()}
	a.record(ctx, ev)
	return &ThrottledError{RetryAfter: wait}
}

// failDummy fails a login that has no hash to check pw against after
// checking it against the dummy hash, so that it takes the usual time.
func (a *Authenticator) failDummy(ctx context.Context, ev audit.Event, account, pw, reason string) error {
	if err := a.hasher.verifyDummy(ctx, pw); err != nil {
		return a.hashFailed(ctx, ev, "hashing", err)
	}
	return a.fail(ctx, ev, account, reason, ErrInvalidCredentials)
}

// fail records a failed credential check with the throttle and audit.
func (a *Authenticator) fail(ctx context.Context, ev audit.Event, account, reason string, err error) error {
	if a.throttle != nil {
		if terr := a.throttle.Failed(ctx, account, ev.ClientIP); terr != nil {
			a.internalNote(ctx, ev, "throttle failure report", terr)
		}
	}
	ev.Category, ev.Action, ev.Outcome, ev.Reason = audit.CategoryAuthentication, ev.Action+".failed", audit.OutcomeFailure, reason
	a.record(ctx, ev)
	return err
}

// changeFailed records a refused password change that is not a credential
// failure (policy, conflict, unknown user).
func (a *Authenticator) changeFailed(ctx context.Context, ev audit.Event, reason string, err error) error {
	ev.Category, ev.Action, ev.Outcome, ev.Reason = audit.CategoryAuthentication, ev.Action+".failed", audit.OutcomeFailure, reason
	a.record(ctx, ev)
	return err
}

// internal records an internal failure and returns it wrapped with the
// step. The caller answers 500 without details.
func (a *Authenticator) internal(ctx context.Context, ev audit.Event, step string, err error) error {
	a.internalNote(ctx, ev, step, err)
	return fmt.Errorf("auth: %s: %s: %w", ev.Action, step, err)
}

// internalNote audits and logs an internal failure that does not change
// the outcome.
func (a *Authenticator) internalNote(ctx context.Context, ev audit.Event, step string, err error) {
	a.log.ErrorContext(ctx, "auth: "+string(ev.Action)+": "+step+" failed", slog.String("user_id", ev.Actor.UserID), slog.Any("error", err))
	a.record(ctx, audit.Event{Category: audit.CategoryError, Action: ev.Action + ".error", Outcome: audit.OutcomeFailure,
		Actor: ev.Actor, Target: ev.Target, ClientIP: ev.ClientIP, UserAgent: ev.UserAgent,
		Reason: step + ": " + err.Error()})
}

func (a *Authenticator) record(ctx context.Context, e audit.Event) {
	if err := a.audit.Log(ctx, e); err != nil {
		a.log.ErrorContext(ctx, "auth: audit log failed", slog.String("action", string(e.Action)), slog.Any("error", err))
	}
}

// event starts an audit event for r.
func (a *Authenticator) event(r *http.Request, action string) audit.Event {
	return audit.Event{Action: audit.Action(action), ClientIP: a.ips.Resolve(r).Addr, UserAgent: truncate(r.UserAgent(), 256)}
}

// accountKey is the throttling key for a login name: trimmed, NFKC, lower
// case, so that "Alice" and "alice " share a budget, with invalid UTF-8 and
// control characters replaced by U+FFFD, so that a name like "a\x00" makes
// a key any throttle store can keep.
func accountKey(login string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return utf8.RuneError
		}
		return r
	}, foldPassword(strings.TrimSpace(strings.ToValidUTF8(login, string(utf8.RuneError)))))
}

// loginDigest identifies a login name (its account key) in audit without
// storing it: users often type their password into the name field. The
// digest is keyed, so that a reader of the log cannot test guesses
// against it; 64 bits tell the names of one attack apart.
func (a *Authenticator) loginDigest(account string) string {
	m := hmac.New(sha256.New, a.digestKey)
	m.Write([]byte(account))
	return hex.EncodeToString(m.Sum(nil)[:8])
}
