package token

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/deployedworks/rampart/internal/nilarg"
)

const (
	// tokenBytes is how many random bytes a token carries: 256 bits.
	tokenBytes = 32
	// tokenLen is the length of a token: tokenBytes in unpadded base64url.
	tokenLen = 43
	// maxUserID and maxData bound what a record holds.
	maxUserID = 256
	maxData   = 1024
	// minTTL is the shortest lifetime Config.TTL accepts.
	minTTL = time.Minute
)

// encoding is strict, so that each token has one spelling: the unused low
// bits of the last character must be zero.
var encoding = base64.RawURLEncoding.Strict()

// Config tunes an [Issuer]. The zero value is ready to use.
type Config struct {
	// TTL is how long a token of each purpose stays valid. Purposes
	// missing from the map, or mapped to 0, get the default:
	// [PasswordReset] 30 minutes, [EmailVerify] 24 hours, [EmailChange] 1
	// hour, [EmailChangeUndo] 7 days. A lifetime is at least one minute
	// and at most 24 hours (7 days for EmailVerify and EmailChangeUndo):
	// a reset link is a password, and it should not outlive the user's
	// attention.
	TTL map[Purpose]time.Duration
	// Now is the clock. Default: time.Now. Set it only in tests that run
	// against a real database, outside a testing/synctest bubble, to move
	// the clock of the Issuer and the tests together.
	Now func() time.Time
}

// Issuer issues and redeems single-use tokens, keeping their records in a
// [Store]. It is safe for concurrent use and starts no goroutine.
type Issuer struct {
	store Store
	ttl   map[Purpose]time.Duration
	now   func() time.Time
}

// New returns an Issuer keeping its records in s. It returns an error for
// a nil s (or a nil pointer in it), and for a TTL out of bounds or for an
// unknown purpose.
func New(s Store, cfg Config) (*Issuer, error) {
	if nilarg.Is(s) {
		return nil, errors.New("token: New: nil Store: pass token.NewMemoryStore(...) or a token/sqlstore.Store")
	}
	ttl := make(map[Purpose]time.Duration, len(purposes))
	for _, k := range purposes {
		ttl[k.p] = k.def
	}
	for p, d := range cfg.TTL {
		if !known(p) {
			return nil, fmt.Errorf("token: New: TTL for unknown purpose %q: use PasswordReset, EmailVerify, EmailChange or EmailChangeUndo", p)
		}
		if d == 0 {
			continue
		}
		for _, k := range purposes {
			if k.p == p && (d < minTTL || d > k.max) {
				return nil, fmt.Errorf("token: New: TTL[%s] = %v: use between %v and %v, or 0 for the default %v", p, d, minTTL, k.max, k.def)
			}
		}
		ttl[p] = d
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &Issuer{store: s, ttl: ttl, now: now}, nil
}

// Issue returns a new token for userID and purpose p, valid for the
// purpose's lifetime, carrying data (opaque, at most 1 KiB: see
// [Record.Data]). The token is 32 bytes from crypto/rand (256 bits) in
// unpadded base64url, 43 characters: put it in a link as it is. The store
// keeps only its SHA-256, and voids userID's older tokens of purpose p.
//
// userID must be 1 to 256 bytes of UTF-8 without control characters.
func (i *Issuer) Issue(ctx context.Context, userID string, p Purpose, data string) (string, error) {
	if !known(p) {
		return "", unknownPurpose("issue", p)
	}
	if err := checkUserID(userID); err != nil {
		return "", fmt.Errorf("token: issue: %w", err)
	}
	if len(data) > maxData {
		return "", fmt.Errorf("token: issue: data is %d bytes: at most %d", len(data), maxData)
	}
	var raw [tokenBytes]byte
	_, _ = rand.Read(raw[:]) // never fails (crypto/rand)
	sum := sha256.Sum256(raw[:])
	now := i.now().Truncate(time.Millisecond)
	rec := Record{
		Hash:    sum[:],
		UserID:  userID,
		Purpose: p,
		Data:    data,
		Created: now,
		Expires: now.Add(i.ttl[p]),
	}
	if err := i.store.Put(ctx, rec); err != nil {
		return "", fmt.Errorf("token: issue: %w", err)
	}
	return encoding.EncodeToString(raw[:]), nil
}

// Check returns the record of tok if tok is valid for purpose p, without
// consuming it: use it to show the form a link leads to, then [Issuer.Redeem]
// when the form is submitted. It returns [ErrInvalid] for every token that
// cannot be used; any other error is the store failing (fail closed:
// treat it as invalid, and log it).
func (i *Issuer) Check(ctx context.Context, tok string, p Purpose) (Record, error) {
	return i.lookup(ctx, "check", i.store.Get, tok, p)
}

// Redeem consumes tok and returns its record if tok is valid for purpose
// p: of any number of concurrent Redeems of one token, on any number of
// instances sharing the store, exactly one succeeds. Errors are those of
// [Issuer.Check]. Act on the record (set the password, confirm the
// address) only after Redeem succeeds.
func (i *Issuer) Redeem(ctx context.Context, tok string, p Purpose) (Record, error) {
	return i.lookup(ctx, "redeem", i.store.Take, tok, p)
}

type lookupFunc func(ctx context.Context, hash []byte, p Purpose, now time.Time) (Record, error)

func (i *Issuer) lookup(ctx context.Context, op string, get lookupFunc, tok string, p Purpose) (Record, error) {
	if !known(p) {
		return Record{}, unknownPurpose(op, p)
	}
	raw, ok := parse(tok)
	if !ok {
		return Record{}, ErrInvalid // malformed: the store is not asked
	}
	sum := sha256.Sum256(raw[:])
	now := i.now()
	rec, err := get(ctx, sum[:], p, now)
	if errors.Is(err, ErrInvalid) {
		return Record{}, ErrInvalid
	}
	if err != nil {
		return Record{}, fmt.Errorf("token: %s: %w", op, err)
	}
	// The store matched; check again what it returned, so that a faulty
	// store fails closed.
	if subtle.ConstantTimeCompare(rec.Hash, sum[:]) != 1 || rec.Purpose != p || !now.Before(rec.Expires) {
		return Record{}, ErrInvalid
	}
	return rec, nil
}

// Void voids userID's tokens of purposes ps, of every purpose when ps is
// empty; userID must be valid as for [Issuer.Issue]. Call it when what a
// token was issued against changes: void PasswordReset tokens when the
// password changes, EmailChange tokens when the address does, and all of
// them when the account is disabled or deleted.
func (i *Issuer) Void(ctx context.Context, userID string, ps ...Purpose) error {
	for _, p := range ps {
		if !known(p) {
			return unknownPurpose("void", p)
		}
	}
	if err := checkUserID(userID); err != nil {
		return fmt.Errorf("token: void: %w", err)
	}
	if err := i.store.Void(ctx, userID, ps...); err != nil {
		return fmt.Errorf("token: void: %w", err)
	}
	return nil
}

// parse decodes a token, reporting whether it is well-formed: 43
// characters of base64url, in the one spelling Issue writes.
func parse(tok string) (raw [tokenBytes]byte, ok bool) {
	if len(tok) != tokenLen {
		return raw, false
	}
	n, err := encoding.Decode(raw[:], []byte(tok))
	return raw, err == nil && n == tokenBytes
}

func checkUserID(id string) error {
	switch {
	case id == "":
		return errors.New("empty user ID")
	case len(id) > maxUserID:
		return fmt.Errorf("user ID is %d bytes: at most %d", len(id), maxUserID)
	case !utf8.ValidString(id):
		return errors.New("user ID is not valid UTF-8")
	}
	for _, r := range id {
		if unicode.IsControl(r) {
			return fmt.Errorf("user ID holds control character %U", r)
		}
	}
	return nil
}

func unknownPurpose(op string, p Purpose) error {
	return fmt.Errorf("token: %s: unknown purpose %q: use PasswordReset, EmailVerify, EmailChange or EmailChangeUndo", op, p)
}
