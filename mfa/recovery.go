package mfa

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"strconv"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/internal/nilarg"
	"github.com/deployedworks/rampart/ratelimit"
	"github.com/deployedworks/rampart/secrets"
)

// Recovery-code format: 24 characters of Crockford's base32 alphabet
// (digits and upper-case letters without I, L, O and U), 120 random bits,
// shown in six groups of four: XXXX-XXXX-XXXX-XXXX-XXXX-XXXX.
const (
	recoveryAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	recoveryLen      = 24
	recoveryGroup    = 4
	// legacyRecoveryLen is the length of the 70-bit codes issued before
	// v0.x (XXXXX-XXXXX-XXXX), still accepted until the user's set is
	// regenerated so that nobody is locked out by the upgrade.
	legacyRecoveryLen = 14
	// RecoveryCodeBits is the entropy of one recovery code: at least the
	// 112 bits OWASP ASVS 5.0 §6.5.2 asks of recovery codes kept under a
	// fast keyed hash.
	RecoveryCodeBits = recoveryLen * 5
	// MinRecoveryCodes is the smallest set [Recovery.Generate] makes.
	MinRecoveryCodes = 10
	maxRecoveryCodes = 100
	// minRecoveryKey is the smallest HMAC key accepted, in bytes.
	minRecoveryKey = 32
)

// RecoveryConfig configures [NewRecovery].
type RecoveryConfig struct {
	// Key is the HMAC-SHA256 key for hashing codes: at least 32 random
	// bytes, loaded with secrets.Load. Required. Changing it invalidates
	// every stored code.
	Key secrets.Value

	// Store keeps the hashes. Required; the stores of packages
	// mfa/sqlstore and mfa/memstore (for tests) implement it.
	Store RecoveryStore

	// Limiter throttles attempts per user and session (key
	// "mfa:recovery:s:" + session handle + ":" + userID), as
	// [TOTPConfig.Limiter]; a success resets it if it can. Default: a
	// per-process [ratelimit.Memory] allowing 5 attempts at once, then one
	// every 3 minutes, bounded to 10,000 keys.
	Limiter ratelimit.Limiter

	// UserLimiter is the ceiling over all of a user's sessions (key
	// "mfa:recovery:u:" + userID), as [TOTPConfig.UserLimiter]. Default: a
	// per-process [ratelimit.Memory] allowing 20 attempts at once, then
	// one every 45 seconds, bounded to 10,000 users.
	UserLimiter ratelimit.Limiter

	// Audit receives every outcome. Default: nil, the [audit.Logger] whose
	// Handler serves the request.
	Audit *audit.Logger

	// Count is how many codes a set has. Default and minimum: 10.
	// Maximum: 100.
	Count int
}

// Recovery issues and checks single-use recovery codes: the way back in
// for a user who lost their authenticator. A set has at least ten codes of
// 120 bits each, written as XXXX-XXXX-XXXX-XXXX-XXXX-XXXX in Crockford's
// base32 so that they are easy to read out and type; input is case-insensitive, ignores
// spaces and hyphens, and reads O as 0 and I or L as 1.
//
// Only keyed hashes are stored: HMAC-SHA256 under [RecoveryConfig.Key] of
// the user ID and the code. A slow password hash such as Argon2id would add
// nothing: it exists to make guessing low-entropy passwords expensive,
// whereas 120 random bits (ASVS 5.0 §6.5.2 asks for 112 when no slow hash
// is used) cannot be searched even at HMAC speed, and without
// the key a leaked table cannot be tested at all. A fast hash keeps
// checking cheap, so attempts cannot be used to load the server.
//
// Attempts are throttled like TOTP's, per user and session under a
// per-user ceiling (see "Throttling" in the package doc).
//
// A Recovery is safe for concurrent use and fails closed.
type Recovery struct {
	key    []byte
	store  RecoveryStore
	limits throttle
	audit  *audit.Logger
	count  int
}

// NewRecovery checks cfg and returns a Recovery. It keeps a copy of cfg.
func NewRecovery(cfg RecoveryConfig) (*Recovery, error) {
	if cfg.Key.Len() < minRecoveryKey {
		return nil, fmt.Errorf("mfa: RecoveryConfig.Key must be at least %d bytes; generate one with: openssl rand -base64 32", minRecoveryKey)
	}
	if nilarg.Is(cfg.Store) {
		return nil, errors.New("mfa: RecoveryConfig.Store is required (sqlstore.New of package mfa/sqlstore; memstore.New of mfa/memstore for tests)")
	}
	if cfg.Count == 0 {
		cfg.Count = MinRecoveryCodes
	}
	if cfg.Count < MinRecoveryCodes || cfg.Count > maxRecoveryCodes {
		return nil, fmt.Errorf("mfa: RecoveryConfig.Count is %d: use %d to %d", cfg.Count, MinRecoveryCodes, maxRecoveryCodes)
	}
	limits, err := newThrottle("recovery", cfg.Limiter, cfg.UserLimiter, cfg.Audit, nil)
	if err != nil {
		return nil, err
	}
	return &Recovery{key: cfg.Key.Reveal(), store: cfg.Store, limits: limits, audit: cfg.Audit, count: cfg.Count}, nil
}

// Generate makes a new set of codes for userID, replacing (and so
// invalidating) any earlier set, and returns them for the user to write
// down. They cannot be shown again. Call it only in a session that passed
// MFA recently (behind [Policy.StepUp]).
func (r *Recovery) Generate(ctx context.Context, userID string) ([]string, error) {
	if userID == "" {
		return nil, errors.New("mfa: Generate: userID is required")
	}
	codes := make([]string, r.count)
	hashes := make([][]byte, r.count)
	seen := make(map[string]bool, r.count)
	for i := range codes {
		var raw [recoveryLen]byte
		for {
			_, _ = rand.Read(raw[:]) // never fails: a broken system RNG aborts the program
			for j := range raw {
				raw[j] = recoveryAlphabet[raw[j]&31] // 256 is a multiple of 32: uniform
			}
			if !seen[string(raw[:])] {
				break
			}
		}
		seen[string(raw[:])] = true
		codes[i] = groupCode(raw[:])
		hashes[i] = r.hash(userID, raw[:])
	}
	if err := r.store.ReplaceRecoveryCodes(ctx, userID, hashes); err != nil {
		err = fmt.Errorf("mfa: Generate: store: %w", err)
		r.log(ctx, audit.CategoryAuthentication, userID, ActionRecoveryGenerate, audit.OutcomeFailure, err.Error(), nil)
		return nil, err
	}
	r.log(ctx, audit.CategoryAuthentication, userID, ActionRecoveryGenerate, audit.OutcomeSuccess, "",
		map[string]string{"count": strconv.Itoa(r.count)})
	return codes, nil
}

// Use checks code against the user's set and, if it matches, removes it
// and returns how many codes remain. A used, unknown or malformed code
// fails with [ErrInvalidCode]; too many attempts with
// [ratelimit.ErrLimited]. Each successful use is written to audit as a
// security alert (action [ActionRecoveryUse]). On success, mark the
// session with [identity.MethodOTP] (a recovery code is a one-time
// password), and suggest regenerating when few codes remain.
func (r *Recovery) Use(ctx context.Context, userID, code string) (remaining int, err error) {
	remaining, err = r.use(ctx, userID, code)
	if err != nil {
		outcome, reason := outcomeOf(err)
		_, wellFormed := normaliseRecoveryCode(code)
		pace, meta := paceOf(err, !wellFormed, nil)
		r.audit.Log(ctx, audit.Event{
			Category: audit.CategoryAuthentication, Action: ActionRecoveryUse, Outcome: outcome,
			Actor: actor(userID), Reason: reason, Meta: meta, Pace: pace,
		})
		return 0, err
	}
	reason := "recovery code used"
	if remaining == 0 {
		reason = "last recovery code used; the user needs a new set"
	}
	r.log(ctx, audit.CategorySecurityAlert, userID, ActionRecoveryUse, audit.OutcomeSuccess, reason,
		map[string]string{"remaining": strconv.Itoa(remaining)})
	return remaining, nil
}

func (r *Recovery) use(ctx context.Context, userID, code string) (int, error) {
	key, err := r.limits.allow(ctx, userID)
	if err != nil {
		return 0, err
	}
	norm, ok := normaliseRecoveryCode(code)
	if !ok {
		return 0, ErrInvalidCode
	}
	found, err := r.store.ConsumeRecoveryCode(ctx, userID, r.hash(userID, norm))
	if err != nil {
		return 0, fmt.Errorf("mfa: recovery code: store: %w", err)
	}
	if !found {
		return 0, ErrInvalidCode
	}
	r.limits.reset(ctx, userID, key)
	n, err := r.store.CountRecoveryCodes(ctx, userID)
	if err != nil {
		return 0, fmt.Errorf("mfa: recovery code: count: %w", err)
	}
	return n, nil
}

// Remaining returns how many unused codes the user has.
func (r *Recovery) Remaining(ctx context.Context, userID string) (int, error) {
	n, err := r.store.CountRecoveryCodes(ctx, userID)
	if err != nil {
		return 0, fmt.Errorf("mfa: recovery codes: count: %w", err)
	}
	return n, nil
}

// Revoke deletes the user's codes, e.g. when the user turns MFA off.
func (r *Recovery) Revoke(ctx context.Context, userID string) error {
	if err := r.store.ReplaceRecoveryCodes(ctx, userID, nil); err != nil {
		return fmt.Errorf("mfa: recovery codes: revoke: %w", err)
	}
	r.log(ctx, audit.CategoryAuthentication, userID, ActionRecoveryRevoke, audit.OutcomeSuccess, "", nil)
	return nil
}

// groupCode writes a code in groups of four characters joined by hyphens.
func groupCode(raw []byte) string {
	b := make([]byte, 0, len(raw)+len(raw)/recoveryGroup)
	for i, c := range raw {
		if i > 0 && i%recoveryGroup == 0 {
			b = append(b, '-')
		}
		b = append(b, c)
	}
	return string(b)
}

// hash is HMAC-SHA256(key, "rampart/mfa/recovery/v1" 0x00 userID 0x00
// code). The code follows the user ID's terminator to the end of the input
// and contains no NUL, so the input parses one way only.
func (r *Recovery) hash(userID string, code []byte) []byte {
	m := hmac.New(sha256.New, r.key)
	m.Write([]byte("rampart/mfa/recovery/v1\x00"))
	m.Write([]byte(userID))
	m.Write([]byte{0})
	m.Write(code)
	return m.Sum(nil)
}

// normaliseRecoveryCode turns user input into the canonical characters of
// a code (24, or 14 for a legacy code): upper case, spaces and hyphens
// dropped, O read as 0, I and L as 1.
func normaliseRecoveryCode(s string) (code []byte, ok bool) {
	if len(s) > 4*recoveryLen {
		return nil, false
	}
	var out [recoveryLen]byte
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == ' ' || c == '-' {
			continue
		}
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		switch c {
		case 'O':
			c = '0'
		case 'I', 'L':
			c = '1'
		}
		if !('0' <= c && c <= '9' || 'A' <= c && c <= 'Z') || c == 'U' || n == recoveryLen {
			return nil, false
		}
		out[n] = c
		n++
	}
	if n != recoveryLen && n != legacyRecoveryLen {
		return nil, false
	}
	return out[:n], true
}

func (r *Recovery) log(ctx context.Context, cat audit.Category, userID string, action audit.Action, outcome audit.Outcome, reason string, meta map[string]string) {
	r.audit.Log(ctx, audit.Event{
		Category: cat,
		Action:   action,
		Outcome:  outcome,
		Actor:    actor(userID),
		Reason:   reason,
		Meta:     meta,
	})
}
