package mfa

import (
	"bytes"
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1" // #nosec G505 -- HMAC-SHA1 is the RFC 6238 default TOTP algorithm that authenticator apps expect
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"image/png"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/internal/nilarg"
	"github.com/deployedworks/rampart/ratelimit"
	"github.com/deployedworks/rampart/secrets"
)

// Algorithm is the HMAC hash of a TOTP enrolment (RFC 6238 §1.2).
type Algorithm uint8

// Algorithms. Many authenticator apps (Google Authenticator among them)
// ignore the algorithm in the enrolment URI and always use SHA-1, so keep
// the default unless you control the apps.
const (
	SHA1 Algorithm = iota + 1
	SHA256
	SHA512
)

// String returns "SHA1", "SHA256" or "SHA512".
func (a Algorithm) String() string {
	switch a {
	case SHA1:
		return "SHA1"
	case SHA256:
		return "SHA256"
	case SHA512:
		return "SHA512"
	}
	return "Algorithm(" + strconv.Itoa(int(a)) + ")"
}

func (a Algorithm) newHash() func() hash.Hash {
	switch a {
	case SHA256:
		return sha256.New
	case SHA512:
		return sha512.New
	default:
		return sha1.New
	}
}

func (a Algorithm) otp() otp.Algorithm {
	switch a {
	case SHA256:
		return otp.AlgorithmSHA256
	case SHA512:
		return otp.AlgorithmSHA512
	default:
		return otp.AlgorithmSHA1
	}
}

// TOTP secret size and input limits.
const (
	// SecretSize is the size of every new TOTP secret: 160 bits, as RFC
	// 4226 §4 (R6) recommends.
	SecretSize = 20
	// maxCodeInput bounds the code input read before normalising it.
	maxCodeInput = 64
	// sealVersion starts the plaintext of a sealed TOTP secret.
	sealVersion = 1
)

// TOTPConfig configures [NewTOTP].
type TOTPConfig struct {
	// Issuer names the service in the user's authenticator app, e.g.
	// "Marketplace". Required.
	Issuer string

	// Keyring encrypts secrets at rest, bound to the user ID. Required.
	Keyring *secrets.Keyring

	// Store keeps the sealed secrets and the last accepted time step.
	// Required; the stores of packages mfa/sqlstore and mfa/memstore (for
	// tests) implement it.
	Store TOTPStore

	// Limiter throttles attempts per user and session (key "mfa:totp:s:"
	// + session handle + ":" + userID). The session is the one of the
	// principal in the request context ([identity.FromContext]); checks
	// made outside any session all share one per-user key, which gives the
	// owner no protection from an attacker's guesses: run them in the
	// session of the sign-in they complete. If Limiter also has a method
	// Reset(ctx, key) error (a [ratelimit.Store] such as [ratelimit.Memory]
	// or redisstore.Store), a success resets the key, so that the limit
	// counts consecutive failures. A Limiter error refuses the attempt
	// (fail closed). Default: a per-process [ratelimit.Memory] allowing 5
	// attempts at once, then one every 3 minutes, bounded to 10,000 keys.
	Limiter ratelimit.Limiter

	// UserLimiter is the ceiling over all of a user's sessions (key
	// "mfa:totp:u:" + userID), asked after Limiter allowed an attempt, and
	// skipped for a session that already passed MFA as that user. Give it
	// a token bucket that refills steadily and at least four times
	// Limiter's rate, so that it delays rather than locks and one session
	// never empties it; it is never reset. Default: a per-process
	// [ratelimit.Memory] allowing 20 attempts at once, then one every 45
	// seconds, bounded to 10,000 users.
	UserLimiter ratelimit.Limiter

	// Sessions signs the user's other sessions out when a secret is
	// confirmed or removed (OWASP ASVS 5.0 §7.4.3). Required;
	// *session.Manager implements it.
	Sessions Sessions

	// ReauthAge is how recent the session's proof must be for [TOTP.Enrol]
	// and [TOTP.Confirm] (see [CheckReauth]): a second-factor verification
	// when the user has a factor, else the sign-in or a re-authentication.
	// Default: [DefaultReauthAge]. Keep it no longer than the session
	// layer's ReauthAge.
	ReauthAge time.Duration

	// Audit receives every outcome. Default: nil, the [audit.Logger] whose
	// Handler serves the request.
	Audit *audit.Logger

	// Algorithm, Digits and Period apply to new enrolments; each enrolment
	// keeps the values it was made with. Defaults: SHA1, 6 digits and 30
	// seconds, the only values every authenticator app supports. Digits
	// must be 6 or 8; Period a whole number of seconds from 15 to 300.
	Algorithm Algorithm
	Digits    int
	Period    time.Duration

	// AllowClockSkew, when true, also accepts the codes of the time steps
	// either side of the current one (RFC 6238 §5.2), for users whose
	// device clock drifts: a code then stays valid for up to three periods
	// (90 seconds by default) instead of one. Default: false: a code is
	// accepted only during its own period (30 seconds by default), as
	// OWASP ASVS 5.0 §6.5.5 requires of time-based one-time passwords.
	AllowClockSkew bool

	// Now returns the current time. Default: time.Now.
	// Tests in a testing/synctest bubble leave it nil (the bubble's fake
	// clock drives time.Now); set it only to drive one clock through a
	// whole application outside a bubble (against a real database).
	Now func() time.Time
}

// TOTP enrols and verifies time-based one-time passwords (RFC 6238) as a
// second factor. Verification accepts the code of the current time step
// only (one step either side with [TOTPConfig.AllowClockSkew]), compares
// it in constant time, accepts each
// time step at most once per user, and throttles attempts. Secrets are
// encrypted at rest with the configured Keyring.
//
// Attempts are limited per user and session, under a per-user ceiling
// that delays rather than locks (see "Throttling" in the package doc).
//
// A TOTP is safe for concurrent use. Every method fails closed: a store,
// keyring or limiter error refuses the attempt.
type TOTP struct {
	issuer  string
	keyring *secrets.Keyring
	store   TOTPStore
	sess    Sessions
	reauth  time.Duration
	limits  throttle
	audit   *audit.Logger
	params  totpParams
	skew    int64 // time steps accepted either side of the current one: 0 or 1
	now     func() time.Time
}

// totpParams are the parameters of one enrolment, sealed with its secret.
type totpParams struct {
	alg    Algorithm
	digits int
	period int64 // seconds
}

// NewTOTP checks cfg and returns a TOTP. It keeps a copy of cfg.
func NewTOTP(cfg TOTPConfig) (*TOTP, error) {
	if cfg.Issuer == "" || strings.ContainsAny(cfg.Issuer, ":") {
		return nil, errors.New("mfa: TOTPConfig.Issuer is required and must not contain ':' (it prefixes the account in the otpauth URI)")
	}
	if nilarg.Is(cfg.Keyring) {
		return nil, errors.New("mfa: TOTPConfig.Keyring is required: build one with secrets.NewKeyring or secrets.ParseKeyring")
	}
	if nilarg.Is(cfg.Store) {
		return nil, errors.New("mfa: TOTPConfig.Store is required (sqlstore.New of package mfa/sqlstore; memstore.New of mfa/memstore for tests)")
	}
	if nilarg.Is(cfg.Sessions) {
		return nil, errors.New("mfa: TOTPConfig.Sessions is required: pass the *session.Manager, which signs out the user's other sessions when a factor changes")
	}
	if cfg.ReauthAge < 0 {
		return nil, errors.New("mfa: TOTPConfig.ReauthAge must not be negative: leave it zero for DefaultReauthAge")
	}
	p := totpParams{alg: cfg.Algorithm, digits: cfg.Digits, period: 30}
	if p.alg == 0 {
		p.alg = SHA1
	}
	if p.alg > SHA512 {
		return nil, fmt.Errorf("mfa: TOTPConfig.Algorithm %v: use SHA1, SHA256 or SHA512", p.alg)
	}
	if p.digits == 0 {
		p.digits = 6
	}
	if p.digits != 6 && p.digits != 8 {
		return nil, fmt.Errorf("mfa: TOTPConfig.Digits is %d: use 6 or 8", p.digits)
	}
	if cfg.Period != 0 {
		if cfg.Period%time.Second != 0 || cfg.Period < 15*time.Second || cfg.Period > 300*time.Second {
			return nil, fmt.Errorf("mfa: TOTPConfig.Period is %v: use whole seconds from 15s to 300s", cfg.Period)
		}
		p.period = int64(cfg.Period / time.Second)
	}
	t := &TOTP{
		issuer:  cfg.Issuer,
		keyring: cfg.Keyring,
		store:   cfg.Store,
		sess:    cfg.Sessions,
		reauth:  cmp.Or(cfg.ReauthAge, DefaultReauthAge),
		audit:   cfg.Audit,
		params:  p,
		now:     cfg.Now,
	}
	if cfg.AllowClockSkew {
		t.skew = 1
	}
	if t.now == nil {
		t.now = time.Now
	}
	var err error
	if t.limits, err = newThrottle("totp", cfg.Limiter, cfg.UserLimiter, cfg.Audit, t.now); err != nil {
		return nil, err
	}
	return t, nil
}

// Enrolment is a new TOTP secret to show the user once, as a QR code or
// for manual entry. It prints as "[REDACTED]" with fmt and log/slog.
type Enrolment struct {
	key    *otp.Key
	secret string // base32, unpadded
}

// URI returns the otpauth:// URI (Key Uri Format) holding the secret.
func (e *Enrolment) URI() string { return e.key.URL() }

// Secret returns the secret in base32, in groups of four characters, for
// users who cannot scan the QR code.
func (e *Enrolment) Secret() string {
	var b strings.Builder
	for i := 0; i < len(e.secret); i += 4 {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(e.secret[i:min(i+4, len(e.secret))])
	}
	return b.String()
}

// PNG returns the URI as a QR code, size pixels square (at least 128;
// 256 is a good size).
func (e *Enrolment) PNG(size int) ([]byte, error) {
	if size < 128 || size > 4096 {
		return nil, fmt.Errorf("mfa: QR code size %d: use 128 to 4096 pixels", size)
	}
	img, err := e.key.Image(size, size)
	if err != nil {
		return nil, fmt.Errorf("mfa: QR code: %w", err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("mfa: QR code: %w", err)
	}
	return buf.Bytes(), nil
}

// String returns "[REDACTED]".
func (e Enrolment) String() string { return "[REDACTED]" }

// GoString returns "[REDACTED]".
func (e Enrolment) GoString() string { return "[REDACTED]" }

// LogValue returns "[REDACTED]".
func (e Enrolment) LogValue() slog.Value { return slog.StringValue("[REDACTED]") }

// Enrol starts a TOTP enrolment for userID with a new random secret, and
// returns it for display. account labels it in the authenticator app
// (e.g. the user's email). The enrolment counts only after [TOTP.Confirm]
// with a code from the app; until then a confirmed earlier secret stays in
// force, so Enrol is also how a user re-enrols. Calling Enrol again
// replaces an unconfirmed enrolment.
//
// ctx must be the request of userID's own session, which must have proved
// itself within [TOTPConfig.ReauthAge] (see [CheckReauth]): a user who
// has a factor must have verified one, a user who has none must have
// signed in or re-entered their password; otherwise Enrol fails with
// [ErrUnauthenticated], [ErrStepUpRequired] or [ErrReauthRequired]
// (OWASP ASVS 5.0 §7.5.1). Put the enrolment routes behind
// [Policy.StepUp] too, which makes the same check first.
func (t *TOTP) Enrol(ctx context.Context, userID, account string) (*Enrolment, error) {
	if userID == "" || account == "" {
		return nil, errors.New("mfa: Enrol: userID and account are required")
	}
	if err := t.checkReauth(ctx, userID); err != nil {
		t.logCode(ctx, userID, ActionTOTPEnrol, err, nil, "")
		return nil, err
	}
	raw := make([]byte, SecretSize)
	_, _ = rand.Read(raw) // never fails: a broken system RNG aborts the program
	key, err := totp.Generate(totp.GenerateOpts{
		Issuer:      t.issuer,
		AccountName: account,
		Period:      uint(t.params.period), // #nosec G115 -- period is 15 to 300 seconds, checked in NewTOTP
		Secret:      raw,
		Digits:      otp.Digits(t.params.digits),
		Algorithm:   t.params.alg.otp(),
	})
	if err != nil {
		return nil, fmt.Errorf("mfa: Enrol: %w", err)
	}
	sealed, err := t.seal(userID, t.params, raw)
	if err != nil {
		return nil, err
	}
	rec, err := t.store.LoadTOTP(ctx, userID)
	if err != nil && !errors.Is(err, ErrNotEnrolled) {
		return nil, fmt.Errorf("mfa: Enrol: load: %w", err)
	}
	rec.Pending = sealed
	if err := t.store.SaveTOTP(ctx, userID, rec); err != nil {
		return nil, fmt.Errorf("mfa: Enrol: save: %w", err)
	}
	t.logCode(ctx, userID, ActionTOTPEnrol, nil, nil, "")
	return &Enrolment{key: key, secret: base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(raw)}, nil
}

// Confirm completes a pending enrolment with a first valid code from the
// user's app; only then does the secret count, replacing any earlier one.
// The confirming code's time step is used up, like any verified code.
// Errors wrap [ErrNoPendingEnrolment], [ErrInvalidCode], [ErrCodeReused]
// or [ratelimit.ErrLimited] (a *[ratelimit.LimitedError] says when to
// retry). Having just proved possession, the session may be marked as
// MFA-verified with [identity.MethodOTP].
//
// Like [TOTP.Enrol], it needs userID's own session with a recent proof
// (checked before the code, which it does not spend). Once the secret is
// saved, the user's other sessions are signed out
// ([TOTPConfig.Sessions], OWASP ASVS 5.0 §7.4.3) and this one's token
// renewed; if that fails, the error wraps [ErrSessionsNotRevoked] and the
// secret is confirmed all the same.
func (t *TOTP) Confirm(ctx context.Context, userID, code string) error {
	err := t.confirm(ctx, userID, code)
	t.logCode(ctx, userID, ActionTOTPConfirm, err, nil, code)
	return err
}

func (t *TOTP) confirm(ctx context.Context, userID, code string) error {
	if err := t.checkReauth(ctx, userID); err != nil {
		return err
	}
	rec, _, err := t.attempt(ctx, userID, code, true)
	if err != nil {
		return err
	}
	rec.Secret, rec.Pending, rec.ConfirmedAt = rec.Pending, nil, t.now()
	if err := t.store.SaveTOTP(ctx, userID, rec); err != nil {
		return fmt.Errorf("mfa: Confirm: save: %w", err)
	}
	return SignOutOthers(ctx, t.sess, userID)
}

// checkReauth is [CheckReauth] for adding a TOTP secret: the user has a
// factor if a TOTP secret is confirmed or, when the store also keeps
// passkeys ([CredentialStore]), a passkey is registered.
func (t *TOTP) checkReauth(ctx context.Context, userID string) error {
	has, err := t.Enrolled(ctx, userID)
	if err != nil {
		return err
	}
	if cs, ok := t.store.(CredentialStore); ok && !has {
		creds, err := cs.UserCredentials(ctx, userID)
		if err != nil {
			return fmt.Errorf("mfa: TOTP: passkeys: %w", err)
		}
		has = len(creds) > 0
	}
	return CheckReauth(ctx, userID, has, t.reauth, t.now())
}

// Verify checks a code against the user's confirmed secret. It accepts the
// code of the current time step (and, with [TOTPConfig.AllowClockSkew],
// those of one step either side, RFC 6238 §5.2), compares in constant
// time, and accepts each step once: a code that was
// already accepted, or one older than the last accepted, fails with
// [ErrCodeReused]. Other errors wrap [ErrInvalidCode], [ErrNotEnrolled] or
// [ratelimit.ErrLimited]. Spaces and hyphens in code are ignored. Every
// outcome goes to audit. On success, mark the session with
// [identity.MethodOTP].
func (t *TOTP) Verify(ctx context.Context, userID, code string) error {
	_, skew, err := t.attempt(ctx, userID, code, false)
	var meta map[string]string
	if err == nil {
		meta = map[string]string{"skew": strconv.FormatInt(skew, 10)}
	}
	t.logCode(ctx, userID, ActionTOTPVerify, err, meta, code)
	return err
}

// attempt is one throttled check of code against the user's confirmed
// secret (Verify) or pending one (Confirm). It returns the record and the
// offset of the matching time step from the current one, after recording
// that step as used and forgetting the user's failed attempts.
func (t *TOTP) attempt(ctx context.Context, userID, code string, pending bool) (TOTPRecord, int64, error) {
	key, err := t.limits.allow(ctx, userID)
	if err != nil {
		return TOTPRecord{}, 0, err
	}
	op, none := "Verify", ErrNotEnrolled
	if pending {
		op, none = "Confirm", ErrNoPendingEnrolment
	}
	rec, err := t.store.LoadTOTP(ctx, userID)
	if errors.Is(err, ErrNotEnrolled) {
		return TOTPRecord{}, 0, none
	}
	if err != nil {
		return TOTPRecord{}, 0, fmt.Errorf("mfa: %s: load: %w", op, err)
	}
	sealed := rec.Secret
	if pending {
		sealed = rec.Pending
	}
	if sealed == nil {
		return TOTPRecord{}, 0, none
	}
	step, skew, err := t.check(userID, sealed, code)
	if err != nil {
		return TOTPRecord{}, 0, err
	}
	ok, err := t.store.AcceptTOTPStep(ctx, userID, step)
	if err != nil {
		return TOTPRecord{}, 0, fmt.Errorf("mfa: %s: record step: %w", op, err)
	}
	if !ok {
		return TOTPRecord{}, 0, ErrCodeReused
	}
	t.limits.reset(ctx, userID, key)
	return rec, skew, nil
}

// Enrolled reports whether the user has a confirmed TOTP secret. It
// implements [EnrolmentChecker].
func (t *TOTP) Enrolled(ctx context.Context, userID string) (bool, error) {
	rec, err := t.store.LoadTOTP(ctx, userID)
	if errors.Is(err, ErrNotEnrolled) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("mfa: TOTP enrolled: %w", err)
	}
	return rec.Secret != nil, nil
}

// Disable removes the user's TOTP secret and any pending enrolment. Call it
// only in a session that passed MFA recently (behind [Policy.StepUp]) or
// from an administrator's recovery procedure. Recovery codes and passkeys
// are left alone. Once the secret is removed, the user's other sessions
// are signed out (all of them when ctx is not the user's own request;
// OWASP ASVS 5.0 §7.4.3); if that fails, the error wraps
// [ErrSessionsNotRevoked] and the secret is removed all the same.
//
// With keepLast (pass [Policy.Required] of the user's roles), the secret
// is removed only if the user keeps another factor (a passkey); otherwise Disable fails with [ErrLastFactor]. The check and
// the removal are one atomic step in the store, which must then implement
// [FactorStore], so that concurrent removals of the user's factors cannot
// leave them none. Pass false to remove the secret whatever remains (a
// user turning MFA off, an administrator's recovery procedure).
func (t *TOTP) Disable(ctx context.Context, userID string, keepLast bool) error {
	err := t.disable(ctx, userID, keepLast)
	t.logCode(ctx, userID, ActionTOTPDisable, err, nil, "")
	return err
}

func (t *TOTP) disable(ctx context.Context, userID string, keepLast bool) error {
	if err := t.delete(ctx, userID, keepLast); err != nil {
		return err
	}
	return SignOutOthers(ctx, t.sess, userID)
}

func (t *TOTP) delete(ctx context.Context, userID string, keepLast bool) error {
	if !keepLast {
		if err := t.store.DeleteTOTP(ctx, userID); err != nil {
			return fmt.Errorf("mfa: Disable: %w", err)
		}
		return nil
	}
	fs, ok := t.store.(FactorStore)
	if !ok {
		return errors.New("mfa: Disable: keeping the last factor needs a TOTP store that implements mfa.FactorStore (one store for TOTP and passkeys)")
	}
	deleted, err := fs.DeleteTOTPUnlessLast(ctx, userID)
	switch {
	case err != nil:
		return fmt.Errorf("mfa: Disable: %w", err)
	case !deleted:
		return ErrLastFactor
	}
	return nil
}

// Rekey re-encrypts the user's TOTP secrets under the keyring's primary key
// if they were sealed under an older one, and reports whether it did. Run
// it over every user during step 3 of the key rotation procedure of
// package secrets; the associated data is internal to this package, so
// Keyring.Rotate cannot be called on the stored bytes directly.
func (t *TOTP) Rekey(ctx context.Context, userID string) (bool, error) {
	rec, err := t.store.LoadTOTP(ctx, userID)
	if errors.Is(err, ErrNotEnrolled) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("mfa: Rekey: load: %w", err)
	}
	changed := false
	for _, ct := range []*[]byte{&rec.Secret, &rec.Pending} {
		if *ct == nil || !t.keyring.NeedsRotation(*ct) {
			continue
		}
		n, rotated, err := t.keyring.Rotate(*ct, totpAD(userID))
		if err != nil {
			return false, fmt.Errorf("mfa: Rekey: %w", err)
		}
		*ct, changed = n, changed || rotated
	}
	if !changed {
		return false, nil
	}
	if err := t.store.SaveTOTP(ctx, userID, rec); err != nil {
		return false, fmt.Errorf("mfa: Rekey: save: %w", err)
	}
	return true, nil
}

// check opens a sealed secret and matches code against the current time
// step and, with skew, those either side. It returns the matching step and
// its offset from the current one (-1, 0 or +1).
func (t *TOTP) check(userID string, sealed []byte, code string) (int64, int64, error) {
	p, secret, err := t.open(userID, sealed)
	if err != nil {
		return 0, 0, err
	}
	in, ok := normaliseCode(code, p.digits)
	if !ok {
		return 0, 0, ErrInvalidCode
	}
	now := timeStep(t.now(), p.period)
	mac := hmac.New(p.alg.newHash(), secret)
	clear(secret)
	var buf [8]byte
	matched, found := int64(0), 0
	for d := -t.skew; d <= t.skew; d++ {
		step := now + d
		if step < 0 {
			continue
		}
		c := hotp(mac, uint64(step), p.digits, &buf)
		// Every candidate is compared, with no early exit; the highest
		// matching step wins, so a code shared by two steps is not
		// wrongly taken as reused.
		eq := subtle.ConstantTimeCompare(c, in[:p.digits])
		if eq == 1 { // branching on a match leaks only what the caller learns anyway
			matched = step
		}
		found |= eq
	}
	if found == 0 {
		return 0, 0, ErrInvalidCode
	}
	return matched, matched - now, nil
}

// timeStep is RFC 6238 §4.2 T = floor((unixtime - T0) / X) with T0 = 0.
func timeStep(now time.Time, period int64) int64 {
	u := now.Unix()
	s := u / period
	if u < 0 && u%period != 0 {
		s--
	}
	return s
}

// hotp computes the HOTP value of RFC 4226 §5.3 for counter with a keyed
// mac, as digits ASCII digits written into buf.
func hotp(mac hash.Hash, counter uint64, digits int, buf *[8]byte) []byte {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], counter)
	mac.Reset()
	mac.Write(msg[:])
	var sumBuf [sha512.Size]byte
	sum := mac.Sum(sumBuf[:0])
	off := sum[len(sum)-1] & 0x0f
	v := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	for i := digits - 1; i >= 0; i-- {
		buf[i] = byte('0' + v%10)
		v /= 10
	}
	return buf[:digits]
}

// normaliseCode strips spaces and hyphens from a user-typed code and
// checks that digits ASCII digits remain.
func normaliseCode(code string, digits int) (out [8]byte, ok bool) {
	if len(code) > maxCodeInput {
		return out, false
	}
	n := 0
	for i := 0; i < len(code); i++ {
		c := code[i]
		switch {
		case c == ' ' || c == '-':
			continue
		case c < '0' || c > '9' || n == digits:
			return out, false
		}
		out[n] = c
		n++
	}
	return out, n == digits
}

// totpAD is the associated data binding a sealed secret to its user.
func totpAD(userID string) []byte {
	return append([]byte("rampart/mfa/totp\x00"), userID...)
}

// seal encrypts the enrolment parameters and secret for userID.
func (t *TOTP) seal(userID string, p totpParams, secret []byte) ([]byte, error) {
	pt := make([]byte, 0, 5+len(secret))
	pt = append(pt, sealVersion, byte(p.alg), byte(p.digits)) // #nosec G115 -- alg is SHA1..SHA512 and digits 6 or 8, checked in NewTOTP
	pt = binary.BigEndian.AppendUint16(pt, uint16(p.period))  // #nosec G115 -- period is 15 to 300 seconds, checked in NewTOTP
	pt = append(pt, secret...)
	ct, err := t.keyring.Encrypt(pt, totpAD(userID))
	clear(pt)
	if err != nil {
		return nil, fmt.Errorf("mfa: seal TOTP secret: %w", err)
	}
	return ct, nil
}

// open decrypts a sealed secret of userID. The caller clears the secret.
func (t *TOTP) open(userID string, sealed []byte) (totpParams, []byte, error) {
	pt, err := t.keyring.Decrypt(sealed, totpAD(userID))
	if err != nil {
		return totpParams{}, nil, fmt.Errorf("mfa: open TOTP secret: %w", err)
	}
	if len(pt) < 5+16 || pt[0] != sealVersion {
		clear(pt)
		return totpParams{}, nil, errors.New("mfa: open TOTP secret: unknown format")
	}
	p := totpParams{alg: Algorithm(pt[1]), digits: int(pt[2]), period: int64(binary.BigEndian.Uint16(pt[3:5]))}
	if p.alg < SHA1 || p.alg > SHA512 || (p.digits != 6 && p.digits != 8) || p.period < 1 {
		clear(pt)
		return totpParams{}, nil, errors.New("mfa: open TOTP secret: bad parameters")
	}
	return p, pt[5:], nil
}

// logCode writes the outcome of an operation (err nil for a success) to
// audit; code is the input it checked, if any (never logged: only whether
// it is well formed counts). Refusals a flood can trigger
// (throttled attempts, malformed input) are paced ([floodPace]), with Meta
// "input" "malformed" for the latter.
func (t *TOTP) logCode(ctx context.Context, userID string, action audit.Action, err error, meta map[string]string, code string) {
	outcome, reason := outcomeOf(err)
	e := audit.Event{
		Category: audit.CategoryAuthentication,
		Action:   action,
		Outcome:  outcome,
		Actor:    actor(userID),
		Reason:   reason,
		Meta:     meta,
	}
	e.Pace, e.Meta = paceOf(err, code != "" && !wellFormedCode(code), meta)
	t.audit.Log(ctx, e)
}

// floodPace is the audit budget of the refusals a flood can trigger
// (OWASP ASVS 5.0 §16.3.3: rejected input is logged, at a bounded rate).
var floodPace = audit.Pace{Every: 500 * time.Millisecond, Burst: 20}

// paceOf returns the pace and meta of the audit event of a code check
// that failed with err: throttled refusals and malformed input are paced,
// and malformed input is marked.
func paceOf(err error, malformed bool, meta map[string]string) (audit.Pace, map[string]string) {
	switch {
	case err == nil:
		return audit.Pace{}, meta
	case errors.Is(err, ratelimit.ErrLimited):
		return floodPace, meta
	case malformed && errors.Is(err, ErrInvalidCode):
		m := make(map[string]string, len(meta)+1)
		for k, v := range meta {
			m[k] = v
		}
		m["input"] = "malformed"
		return floodPace, m
	}
	return audit.Pace{}, meta
}

// wellFormedCode reports whether code could be a TOTP code: 6 or 8
// digits, with spaces and hyphens, within the input bound.
func wellFormedCode(code string) bool {
	if len(code) > maxCodeInput {
		return false
	}
	n := 0
	for i := 0; i < len(code); i++ {
		switch c := code[i]; {
		case c == ' ' || c == '-':
		case c >= '0' && c <= '9':
			n++
		default:
			return false
		}
	}
	return n == 6 || n == 8
}

// outcomeOf maps an error to an audit outcome and reason: refusals by
// policy (throttled, last factor kept) are denied, other errors failures.
func outcomeOf(err error) (audit.Outcome, string) {
	switch {
	case err == nil:
		return audit.OutcomeSuccess, ""
	case errors.Is(err, ratelimit.ErrLimited), errors.Is(err, ErrLastFactor),
		errors.Is(err, ErrReauthRequired), errors.Is(err, ErrStepUpRequired), errors.Is(err, ErrUnauthenticated):
		return audit.OutcomeDenied, err.Error()
	default:
		return audit.OutcomeFailure, err.Error()
	}
}
