package password

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// bcrypt limits.
const (
	// bcryptMaxPassword is the number of password bytes bcrypt reads; the
	// rest never influenced a bcrypt hash.
	bcryptMaxPassword = 72
	// bcryptMaxCost is the highest cost verified: 2^16 rounds already take
	// seconds, and a planted hash with cost 31 would take days.
	bcryptMaxCost = 16
	bcryptLen     = 60
)

// ErrBcryptTooLong is [Hasher.Verify]'s answer for a password over
// bcrypt's 72-byte limit against a bcrypt hash. It wraps [ErrMismatch]:
// the password is refused, and its owner must reset it (bcrypt never read
// past byte 72, so the stored hash cannot tell the rest).
var ErrBcryptTooLong = fmt.Errorf("%w: bcrypt reads only the first %d bytes of a password, so a longer one cannot be checked against a bcrypt hash", ErrMismatch, bcryptMaxPassword)

// isBcrypt reports whether s claims to be a bcrypt hash ($2a$, $2b$, $2y$,
// or another $2 variant that parseBcrypt then rejects).
func isBcrypt(s string) bool {
	return len(s) >= 4 && s[0] == '$' && s[1] == '2' && (s[2] == '$' || s[3] == '$')
}

// parseBcrypt checks that s is a well-formed bcrypt hash:
//
//	$2b$<cost, two digits>$<22 characters of salt><31 characters of hash>
//
// in bcrypt's base64 alphabet (./A-Za-z0-9), and returns its cost.
func parseBcrypt(s string) (int, error) {
	if len(s) < 4 || s[3] != '$' {
		return 0, unsupported("bcrypt version: only $2a$, $2b$ and $2y$ are verified")
	}
	switch s[2] {
	case 'a', 'b', 'y':
	case 'x':
		return 0, unsupported("bcrypt $2x$ (hashes from the buggy crypt_blowfish before 1.1)")
	default:
		return 0, unsupported("bcrypt version: only $2a$, $2b$ and $2y$ are verified")
	}
	if len(s) != bcryptLen {
		return 0, malformed("bcrypt hash", fmt.Sprintf("%d bytes, want %d", len(s), bcryptLen))
	}
	if s[6] != '$' || s[4] < '0' || s[4] > '9' || s[5] < '0' || s[5] > '9' {
		return 0, malformed("bcrypt cost", `want two digits followed by "$"`)
	}
	cost := int(s[4]-'0')*10 + int(s[5]-'0')
	if cost < bcrypt.MinCost || cost > bcrypt.MaxCost {
		return 0, malformed("bcrypt cost", fmt.Sprintf("%d, want %d to %d", cost, bcrypt.MinCost, bcrypt.MaxCost))
	}
	for i := 7; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '/') {
			return 0, malformed("bcrypt salt and hash", "character outside ./A-Za-z0-9")
		}
	}
	if cost > bcryptMaxCost {
		return 0, unsupported(fmt.Sprintf("bcrypt cost %d is above the limit of %d", cost, bcryptMaxCost))
	}
	return cost, nil
}

// verifyBcrypt verifies a legacy bcrypt hash, and always reports
// needsRehash on a match. bcrypt only ever read the first 72 bytes of a
// password, so the hash records nothing about the rest: a longer password
// is refused with ErrBcryptTooLong (wrapping [ErrMismatch]), never
// truncated, since truncating would accept every password that shares the
// first 72 bytes, and the rehash that follows would then store the
// impostor's password and lock the owner out. It is refused after the
// same work as any other bcrypt check, so that its timing tells nothing.
func (h *Hasher) verifyBcrypt(ctx context.Context, password, encoded string) (bool, error) {
	if _, err := parseBcrypt(encoded); err != nil {
		return false, err
	}
	release, err := h.acquire(ctx)
	if err != nil {
		return false, err
	}
	defer release()
	start := time.Now()
	defer func() { h.hashed(time.Since(start)) }()
	pw := []byte(password)
	tooLong := len(pw) > bcryptMaxPassword
	if tooLong {
		pw = pw[:bcryptMaxPassword] // for the work only: the answer is no
	}
	// CompareHashAndPassword compares in constant time.
	err = bcrypt.CompareHashAndPassword([]byte(encoded), pw)
	switch {
	case tooLong && (err == nil || errors.Is(err, bcrypt.ErrMismatchedHashAndPassword)):
		return false, ErrBcryptTooLong
	case err == nil:
		return true, nil
	case errors.Is(err, bcrypt.ErrMismatchedHashAndPassword):
		return false, ErrMismatch
	default:
		return false, malformed("bcrypt hash", err.Error())
	}
}
