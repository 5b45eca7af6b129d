package secrets

import (
	"bytes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"math"

	"golang.org/x/crypto/chacha20poly1305"
)

// Ciphertext format constants; see the package documentation.
const (
	formatVersion = 0x01
	maxIDLen      = 32
	keySize       = chacha20poly1305.KeySize    // 32
	nonceSize     = chacha20poly1305.NonceSizeX // 24
	tagSize       = chacha20poly1305.Overhead   // 16
	// maxPlaintext is the XChaCha20-Poly1305 limit of x/crypto, whose Seal
	// and Open panic beyond it (about 256 GiB).
	maxPlaintext = 1<<38 - 64
)

// Errors returned by [Keyring.Decrypt] and [Keyring.Rotate]. Each is
// distinct, so callers can tell data corruption from a retired key; the
// returned error may wrap them with detail, so test with errors.Is.
var (
	// ErrTruncated means the ciphertext is shorter than the smallest valid
	// ciphertext for its header (empty input included). A ciphertext cut
	// short inside its sealed data cannot be told from a tampered one and
	// gives ErrTampered.
	ErrTruncated = errors.New("secrets: ciphertext truncated")

	// ErrTampered means the ciphertext failed authentication: it was
	// modified, corrupted, has an unknown format version, or was decrypted
	// with associated data other than the data it was encrypted with.
	ErrTampered = errors.New("secrets: ciphertext tampered with or corrupted, or wrong associated data")

	// ErrUnknownKey means the ciphertext names a key ID the keyring does not
	// hold: a key was removed before all data was rotated off it, or the
	// keyring is not the one the data was encrypted with.
	ErrUnknownKey = errors.New("secrets: unknown key ID")
)

// errNoKeyring reports use of a nil or zero Keyring: a programmer error,
// returned rather than panicking because it may surface on a request path.
var errNoKeyring = errors.New("secrets: Keyring is nil or zero; build one with NewKeyring or ParseKeyring")

// Key is one entry of a [Keyring].
type Key struct {
	// ID names the key inside every ciphertext it seals. It is 1 to 32
	// characters from A-Z a-z 0-9 . _ - and must be unique in the keyring;
	// a date such as "2026-06" makes rotation easy to follow. It is not
	// secret.
	ID string

	// Secret is the key: exactly 32 bytes, from [Random] or
	// "openssl rand -base64 32". Never reuse it under another ID.
	Secret Value
}

// Keyring encrypts and authenticates values at rest (a TOTP secret, a
// session blob, a backup that fits in memory) with XChaCha20-Poly1305 and a
// 24-byte random nonce per message, so there is no nonce to manage and no
// practical risk of reuse: 2^96 random nonces before a collision is likely.
// It encrypts under its primary key and decrypts with any of its keys, found
// by the key ID stored in each ciphertext; see the package documentation for
// the format and the rotation procedure. It fails closed: any ciphertext that
// does not authenticate is rejected as a whole.
//
// A Keyring is immutable once built and safe for concurrent use. Its keys
// are copied when it is built and never printed: fmt shows only pointers.
// A nil or zero Keyring holds no key: its methods return an error (or, for
// NeedsRotation and PrimaryID, true and ""), never panic.
//
// Specification: XChaCha20-Poly1305 as in draft-irtf-cfrg-xchacha-03,
// built on ChaCha20-Poly1305 of RFC 8439.
type Keyring struct {
	primary *keyEntry
	byID    map[string]*keyEntry
}

// keyEntry is one key, ready to use.
type keyEntry struct {
	id   string
	hdr  []byte // version, len(id), id: the ciphertext prefix
	aead cipher.AEAD
}

// NewKeyring returns a Keyring that encrypts under primary and can also
// decrypt data sealed under the older keys, which are never used to encrypt.
// It copies the key bytes, so later changes to the caller's data have no
// effect.
//
// It returns an error wrapping [ErrInvalid], naming the key ID but never the
// key, if a key is not 32 bytes or is all zeros, if an ID is malformed or
// repeated, or if one key appears under two IDs (a rotation that did not
// change the key).
func NewKeyring(primary Key, older ...Key) (*Keyring, error) {
	all := append([]Key{primary}, older...)
	k := &Keyring{byID: make(map[string]*keyEntry, len(all))}
	for i, key := range all {
		if !validID(key.ID) {
			return nil, fmt.Errorf("%w: keyring: key %d: ID must be 1 to %d characters from A-Z a-z 0-9 . _ -", ErrInvalid, i+1, maxIDLen)
		}
		if _, dup := k.byID[key.ID]; dup {
			return nil, fmt.Errorf("%w: keyring: key ID %q appears twice", ErrInvalid, key.ID)
		}
		secret := key.Secret.bytes()
		if len(secret) != keySize {
			return nil, fmt.Errorf("%w: keyring: key %q must be %d bytes; generate one with: openssl rand -base64 %d", ErrInvalid, key.ID, keySize, keySize)
		}
		if allZero(secret) {
			return nil, fmt.Errorf("%w: keyring: key %q is all zeros", ErrInvalid, key.ID)
		}
		for _, prev := range all[:i] {
			if subtle.ConstantTimeCompare(prev.Secret.bytes(), secret) == 1 {
				return nil, fmt.Errorf("%w: keyring: keys %q and %q are the same key; a new key ID needs a new key", ErrInvalid, prev.ID, key.ID)
			}
		}
		aead, err := chacha20poly1305.NewX(secret) // copies the key
		if err != nil {
			return nil, fmt.Errorf("secrets: keyring: key %q: %w", key.ID, err)
		}
		e := &keyEntry{
			id:   key.ID,
			hdr:  append([]byte{formatVersion, byte(len(key.ID))}, key.ID...), // #nosec G115 -- key IDs are 1 to maxIDLen (32) characters, checked above
			aead: aead,
		}
		k.byID[key.ID] = e
		if i == 0 {
			k.primary = e
		}
	}
	return k, nil
}

// ParseKeyring builds a Keyring from text of the form
//
//	ID:KEY,ID:KEY,...
//
// where each KEY is 32 bytes in base64 (standard or URL-safe alphabet, padded
// or not) and the first entry is the primary key. Entries may be separated by
// commas, spaces or line breaks, so a file with one entry per line works.
// Load the text with [Load] or [LoadAll] using the [Raw] encoding, for
// example from APP_KEYS or APP_KEYS_FILE:
//
//	APP_KEYS="2026-06:q3Jx...=,2025-12:Zm9v...="
//
// Errors wrap [ErrInvalid] and name the entry's position and, once it is
// known to be well formed, its ID; they never contain key material.
func ParseKeyring(text Value) (*Keyring, error) {
	fields := bytes.FieldsFunc(text.bytes(), func(r rune) bool {
		return r == ',' || r == ' ' || r == '\t' || r == '\n' || r == '\r'
	})
	if len(fields) == 0 {
		return nil, fmt.Errorf("%w: keyring: no keys; want ID:BASE64KEY[,ID:BASE64KEY...], primary first", ErrInvalid)
	}
	keys := make([]Key, 0, len(fields))
	for i, f := range fields {
		id, enc, ok := bytes.Cut(f, []byte(":"))
		if !ok {
			return nil, fmt.Errorf("%w: keyring: entry %d: want ID:BASE64KEY", ErrInvalid, i+1)
		}
		// The ID is not printed until known to be valid: a reversed entry
		// (KEY:ID) would otherwise leak the key.
		if !validID(string(id)) {
			return nil, fmt.Errorf("%w: keyring: entry %d: ID must be 1 to %d characters from A-Z a-z 0-9 . _ -", ErrInvalid, i+1, maxIDLen)
		}
		b, ok := decodeBase64(enc)
		if !ok || len(b) != keySize {
			clear(b)
			return nil, fmt.Errorf("%w: keyring: entry %d (%q): key must be %d bytes in base64; generate one with: openssl rand -base64 %d", ErrInvalid, i+1, id, keySize, keySize)
		}
		keys = append(keys, Key{ID: string(id), Secret: Value{p: &b}})
	}
	k, err := NewKeyring(keys[0], keys[1:]...)
	for _, key := range keys {
		clear(key.Secret.bytes()) // NewKeyring copied them
	}
	return k, err
}

// PrimaryID returns the ID of the key that [Keyring.Encrypt] uses.
func (k *Keyring) PrimaryID() string {
	if k == nil || k.primary == nil {
		return ""
	}
	return k.primary.id
}

// Encrypt seals plaintext under the primary key with a fresh random nonce and
// returns the ciphertext in the format described in the package
// documentation: 42 bytes plus the length of the key ID longer than the
// plaintext.
//
// ad (associated data) is authenticated but neither encrypted nor stored:
// Decrypt must be given the same bytes. Use it to bind the ciphertext to
// where it belongs, such as "mfa.totp:" + user ID, so that a value copied to
// another user's row fails to decrypt. Build it unambiguously (fixed
// prefixes, or lengths) when it joins several fields. nil and empty ad are
// the same.
//
// The only error is a plaintext over about 256 GiB, the limit of the
// cipher; large backups should be split into chunks well below that anyway.
func (k *Keyring) Encrypt(plaintext, ad []byte) ([]byte, error) {
	if k == nil || k.primary == nil {
		return nil, errNoKeyring
	}
	return k.primary.seal(plaintext, ad, nil)
}

// seal encrypts under e. nonce is nil for a random nonce; tests pass a fixed
// one to check known answers.
func (e *keyEntry) seal(plaintext, ad, nonce []byte) ([]byte, error) {
	if uint64(len(plaintext)) > maxPlaintext {
		return nil, errors.New("secrets: encrypt: plaintext larger than 256 GiB; split it into chunks")
	}
	h := len(e.hdr)
	n := h + nonceSize + len(plaintext) + tagSize
	if len(ad) > math.MaxInt-n-h { // only reachable on 32-bit platforms
		return nil, errors.New("secrets: encrypt: plaintext and associated data too large")
	}
	// One allocation holds the ciphertext and, past its end, the AEAD's
	// additional data (header || ad), which binds the version and key ID.
	buf := make([]byte, n+h+len(ad))
	copy(buf, e.hdr)
	nc := buf[h : h+nonceSize]
	if nonce == nil {
		_, _ = rand.Read(nc) // never fails (Go 1.24+)
	} else {
		copy(nc, nonce)
	}
	aad := buf[n:]
	copy(aad, e.hdr)
	copy(aad[h:], ad)
	out := e.aead.Seal(buf[:h+nonceSize:n], nc, plaintext, aad)
	return out[:n:n], nil
}

// Decrypt authenticates and decrypts a ciphertext made by [Keyring.Encrypt]
// under any key of the keyring, with the same ad. It fails closed and never
// panics: the error wraps [ErrTruncated], [ErrUnknownKey] or [ErrTampered].
func (k *Keyring) Decrypt(ciphertext, ad []byte) ([]byte, error) {
	pt, _, err := k.open(ciphertext, ad)
	return pt, err
}

// open decrypts and reports which key was used.
func (k *Keyring) open(c, ad []byte) ([]byte, *keyEntry, error) {
	e, err := k.entryFor(c)
	if err != nil {
		return nil, nil, err
	}
	h := len(e.hdr)
	nonce := c[h : h+nonceSize]
	sealed := c[h+nonceSize:]
	if uint64(len(sealed)) > maxPlaintext+tagSize {
		return nil, nil, ErrTampered // Encrypt never makes one; Open would panic
	}
	m := len(sealed) - tagSize
	if len(ad) > math.MaxInt-m-h { // only reachable on 32-bit platforms
		return nil, nil, ErrTampered
	}
	buf := make([]byte, m+h+len(ad))
	aad := buf[m:]
	copy(aad, e.hdr)
	copy(aad[h:], ad)
	pt, err := e.aead.Open(buf[:0:m], nonce, sealed, aad)
	if err != nil {
		return nil, nil, ErrTampered
	}
	return pt, e, nil
}

// entryFor parses the header of c and returns its key; on success c holds at
// least a header, a nonce and a tag.
func (k *Keyring) entryFor(c []byte) (*keyEntry, error) {
	if k == nil || k.primary == nil {
		return nil, errNoKeyring
	}
	if len(c) < 2 {
		return nil, fmt.Errorf("%w: %d bytes", ErrTruncated, len(c))
	}
	if c[0] != formatVersion {
		return nil, fmt.Errorf("%w: unknown format version %d", ErrTampered, c[0])
	}
	n := int(c[1])
	if n == 0 || n > maxIDLen {
		return nil, fmt.Errorf("%w: key ID length %d out of range", ErrTampered, n)
	}
	if want := 2 + n + nonceSize + tagSize; len(c) < want {
		return nil, fmt.Errorf("%w: %d bytes, want at least %d", ErrTruncated, len(c), want)
	}
	e := k.byID[string(c[2:2+n])]
	if e == nil {
		return nil, fmt.Errorf("%w %q; keep retired keys in the keyring until Rotate has re-encrypted all data", ErrUnknownKey, c[2:2+n])
	}
	return e, nil
}

// NeedsRotation reports whether ciphertext is not sealed under the primary
// key. It reads only the header and does not authenticate; it reports true
// for anything malformed or under an unknown key, so that a sweep calling
// [Keyring.Rotate] on every true result surfaces the error.
func (k *Keyring) NeedsRotation(ciphertext []byte) bool {
	e, err := k.entryFor(ciphertext)
	return err != nil || e != k.primary
}

// Rotate decrypts ciphertext (authenticating it with ad) and, if it was not
// sealed under the primary key, re-encrypts it under the primary key with the
// same ad and returns the new ciphertext with rotated == true. If it was
// already under the primary key, Rotate returns ciphertext itself (not a
// copy) with rotated == false. On any error, including a ciphertext that is
// already current but fails authentication, it returns nil, false and an
// error as from [Keyring.Decrypt].
//
// A rotation sweep reads each stored value, calls Rotate, and writes back
// the result when rotated is true; [Keyring.NeedsRotation] lets it skip
// current rows cheaply.
func (k *Keyring) Rotate(ciphertext, ad []byte) (newCiphertext []byte, rotated bool, err error) {
	pt, e, err := k.open(ciphertext, ad)
	if err != nil {
		return nil, false, err
	}
	defer clear(pt)
	if e == k.primary {
		return ciphertext, false, nil
	}
	out, err := k.Encrypt(pt, ad)
	if err != nil {
		return nil, false, err
	}
	return out, true, nil
}

// validID reports whether id is 1 to maxIDLen characters of [A-Za-z0-9._-].
func validID(id string) bool {
	if id == "" || len(id) > maxIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// allZero reports whether b holds only zero bytes, in time independent of
// its contents.
func allZero(b []byte) bool {
	var acc byte
	for _, x := range b {
		acc |= x
	}
	return acc == 0
}
