package password

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Errors about stored hash strings. Verify wraps them with the detail of
// what was wrong; test with errors.Is.
var (
	// ErrMalformedHash means a stored hash string is not a well-formed PHC
	// or bcrypt string: it is truncated, has a stray character, a
	// non-canonical number or base64 field, or an out-of-range parameter.
	// The message names the field, never the password.
	ErrMalformedHash = errors.New("password: malformed password hash")

	// ErrUnsupportedHash means a stored hash is well formed but uses an
	// algorithm, version or parameter this package does not verify
	// (argon2d, Argon2 version 0x10, the PHC "data" parameter, bcrypt $2x$,
	// or costs above the [Hasher]'s limits).
	ErrUnsupportedHash = errors.New("password: unsupported password hash")
)

// Limits of the PHC parser. They bound the work done on a stored string
// before any hashing starts.
const (
	maxEncodedLen = 512 // longest hash string parsed at all
	minSaltLen    = 8   // RFC 9106 §3.1: salt at least 8 bytes
	maxSaltLen    = 64
	minKeyLen     = 16 // shorter tags are too easy to collide
	maxKeyLen     = 64
	maxKeyIDLen   = 32
)

// Argon2 variants this package reads.
const (
	algArgon2id = "argon2id"
	algArgon2i  = "argon2i"
)

// argon2Version is the only Argon2 version parsed: 0x13 (19), the version of
// RFC 9106 and of golang.org/x/crypto/argon2.
const argon2Version = 19

// phcHash is a parsed Argon2 PHC string:
//
//	$argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>[,keyid=<id>]$<salt>$<hash>
//
// as specified by the PHC string format
// (https://github.com/P-H-C/phc-string-format/blob/master/phc-sf-spec.md)
// and written by the Argon2 reference implementation, with salt and hash in
// unpadded standard base64.
type phcHash struct {
	alg     string
	memory  uint32 // KiB
	time    uint32
	threads uint8
	keyID   string // pepper key ID, "" when not peppered
	salt    []byte
	hash    []byte
}

// String encodes h. For any string s that parsePHC accepts,
// parsePHC(s).String() == s: the parser accepts only the canonical form.
func (h phcHash) String() string {
	var b strings.Builder
	b.Grow(64 + b64Len(len(h.salt)) + b64Len(len(h.hash)))
	b.WriteByte('$')
	b.WriteString(h.alg)
	b.WriteString("$v=")
	b.WriteString(strconv.Itoa(argon2Version))
	b.WriteString("$m=")
	b.WriteString(strconv.FormatUint(uint64(h.memory), 10))
	b.WriteString(",t=")
	b.WriteString(strconv.FormatUint(uint64(h.time), 10))
	b.WriteString(",p=")
	b.WriteString(strconv.FormatUint(uint64(h.threads), 10))
	if h.keyID != "" {
		b.WriteString(",keyid=")
		b.WriteString(h.keyID)
	}
	b.WriteByte('$')
	b.WriteString(b64.EncodeToString(h.salt))
	b.WriteByte('$')
	b.WriteString(b64.EncodeToString(h.hash))
	return b.String()
}

func b64Len(n int) int { return b64.EncodedLen(n) }

// malformed returns an error wrapping ErrMalformedHash that names the field.
func malformed(field, problem string) error {
	return fmt.Errorf("%w: %s: %s", ErrMalformedHash, field, problem)
}

func unsupported(what string) error {
	return fmt.Errorf("%w: %s", ErrUnsupportedHash, what)
}

// parsePHC parses an Argon2 PHC string. It is strict: it accepts exactly the
// strings that [phcHash.String] produces, so that a hash has one spelling
// and a stored value can be compared, fuzzed and migrated reliably. The
// parameter order m, t, p is the one the reference implementation writes
// and requires.
func parsePHC(s string) (phcHash, error) {
	var h phcHash
	if len(s) > maxEncodedLen {
		return h, malformed("hash string", fmt.Sprintf("longer than %d bytes", maxEncodedLen))
	}
	if !strings.HasPrefix(s, "$") {
		return h, malformed("hash string", `does not start with "$"`)
	}
	parts := strings.Split(s[1:], "$")
	switch alg := parts[0]; alg {
	case algArgon2id, algArgon2i:
		h.alg = alg
	case "argon2d":
		return h, unsupported("argon2d is not meant for passwords; only argon2id and argon2i are verified")
	default:
		return h, unsupported(fmt.Sprintf("algorithm %q", truncate(alg, 16)))
	}
	if len(parts) == 4 && !strings.HasPrefix(parts[1], "v=") {
		return h, unsupported("argon2 version 0x10 (no v= field); only v=19 is supported")
	}
	if len(parts) != 5 {
		return h, malformed("hash string", fmt.Sprintf("has %d $-separated fields after the algorithm, want 4", len(parts)-1))
	}
	v, ok := strings.CutPrefix(parts[1], "v=")
	if !ok {
		return h, malformed("version", `want "v=19"`)
	}
	ver, err := parseDecimal(v, 32)
	if err != nil {
		return h, malformed("version", err.Error())
	}
	if ver != argon2Version {
		return h, unsupported(fmt.Sprintf("argon2 version %d; only 19 is supported", ver))
	}
	if err := h.parseParams(parts[2]); err != nil {
		return h, err
	}
	if h.salt, err = decodeB64(parts[3]); err != nil {
		return h, malformed("salt", err.Error())
	}
	if n := len(h.salt); n < minSaltLen || n > maxSaltLen {
		return h, malformed("salt", fmt.Sprintf("%d bytes, want %d to %d", n, minSaltLen, maxSaltLen))
	}
	if h.hash, err = decodeB64(parts[4]); err != nil {
		return h, malformed("hash", err.Error())
	}
	if n := len(h.hash); n < minKeyLen || n > maxKeyLen {
		return h, malformed("hash", fmt.Sprintf("%d bytes, want %d to %d", n, minKeyLen, maxKeyLen))
	}
	return h, nil
}

// parseParams parses "m=…,t=…,p=…[,keyid=…]".
func (h *phcHash) parseParams(s string) error {
	fields := strings.Split(s, ",")
	want := []string{"m", "t", "p"}
	if len(fields) < len(want) {
		return malformed("parameters", `want "m=<KiB>,t=<passes>,p=<lanes>"`)
	}
	var vals [3]uint64
	for i, name := range want {
		k, v, ok := strings.Cut(fields[i], "=")
		if !ok || k != name {
			return malformed("parameters", fmt.Sprintf("parameter %d: want %q in the order m, t, p", i+1, name))
		}
		bits := 32
		if name == "p" {
			bits = 8 // x/crypto/argon2 takes at most 255 lanes
		}
		n, err := parseDecimal(v, bits)
		if err != nil {
			return malformed("parameter "+name, err.Error())
		}
		vals[i] = n
	}
	h.memory, h.time, h.threads = uint32(vals[0]), uint32(vals[1]), uint8(vals[2]) // #nosec G115 -- parseDecimal above bounded each value to its bit size (32, 32, 8)
	for _, f := range fields[3:] {
		k, v, ok := strings.Cut(f, "=")
		switch {
		case !ok:
			return malformed("parameters", "a parameter has no value")
		case k == "keyid" && h.keyID == "":
			if !validKeyID(v) {
				return malformed("parameter keyid", "want 1 to 32 characters from A-Z a-z 0-9 . -")
			}
			h.keyID = v
		case k == "data":
			return unsupported(`the PHC "data" parameter (associated data)`)
		case k == "keyid":
			return malformed("parameters", "keyid repeated")
		default:
			return malformed("parameters", fmt.Sprintf("unknown parameter %q", truncate(k, 16)))
		}
	}
	switch {
	case h.time < 1:
		return malformed("parameter t", "must be at least 1")
	case h.threads < 1:
		return malformed("parameter p", "must be at least 1")
	case uint64(h.memory) < 8*uint64(h.threads):
		return malformed("parameter m", "must be at least 8 × p KiB (RFC 9106 §3.1)")
	}
	return nil
}

// parseDecimal parses a canonical unsigned decimal: digits only, no sign, no
// leading zero (except "0"), at most bits wide.
func parseDecimal(s string, bits int) (uint64, error) {
	if s == "" {
		return 0, errors.New("empty number")
	}
	if len(s) > 1 && s[0] == '0' {
		return 0, errors.New("number has a leading zero")
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, errors.New("not a decimal number")
		}
	}
	n, err := strconv.ParseUint(s, 10, bits)
	if err != nil {
		return 0, fmt.Errorf("number out of range (at most %d bits)", bits)
	}
	return n, nil
}

// decodeB64 decodes canonical unpadded standard base64. The stdlib decoder
// silently skips \r and \n, so the alphabet is checked first.
func decodeB64(s string) ([]byte, error) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/') {
			return nil, errors.New("not unpadded standard base64")
		}
	}
	b, err := b64.DecodeString(s)
	if err != nil {
		return nil, errors.New("not canonical unpadded standard base64")
	}
	return b, nil
}

// validKeyID reports whether id is a usable pepper key ID: 1 to 32
// characters from A-Z a-z 0-9 . -, all of them valid in a PHC parameter
// value.
func validKeyID(id string) bool {
	if id == "" || len(id) > maxKeyIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// truncate shortens attacker-controlled text before it goes in an error.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
