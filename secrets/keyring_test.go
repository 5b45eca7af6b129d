package secrets_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/secrets"
)

// testKey derives a distinct, fixed 32-byte key from an ID.
func testKey(id string) secrets.Key {
	k := sha256.Sum256([]byte("rampart test key " + id))
	return secrets.Key{ID: id, Secret: secrets.NewValue(k[:])}
}

func newKeyring(t testing.TB, primary string, older ...string) *secrets.Keyring {
	t.Helper()
	keys := make([]secrets.Key, len(older))
	for i, id := range older {
		keys[i] = testKey(id)
	}
	kr, err := secrets.NewKeyring(testKey(primary), keys...)
	require.NoError(t, err)
	return kr
}

// keyringErrs are the decryption sentinels; each failure must match exactly
// one of them.
var keyringErrs = []error{secrets.ErrTruncated, secrets.ErrTampered, secrets.ErrUnknownKey}

func assertKeyringErr(t *testing.T, err, want error) {
	t.Helper()
	require.Error(t, err)
	n := 0
	for _, s := range keyringErrs {
		if errors.Is(err, s) {
			n++
		}
	}
	assert.Equal(t, 1, n, "error %q must match exactly one sentinel", err)
	if want != nil {
		assert.ErrorIs(t, err, want)
	}
	assert.True(t, strings.HasPrefix(err.Error(), "secrets: "), err.Error())
}

func TestNewKeyring(t *testing.T) {
	t.Parallel()
	good := testKey("2026-06")
	zero := secrets.Key{ID: "zero", Secret: secrets.NewValue(make([]byte, 32))}
	sized := func(n int) secrets.Key {
		return secrets.Key{ID: "k", Secret: secrets.NewValue(bytes.Repeat([]byte{7}, n))}
	}
	tests := []struct {
		name    string
		primary secrets.Key
		older   []secrets.Key
		wantErr string
	}{
		{name: "one key", primary: good},
		{name: "three keys", primary: good, older: []secrets.Key{testKey("2025-12"), testKey("2025-06")}},
		{name: "ID of 32 characters", primary: testKey(strings.Repeat("a", 32))},
		{name: "ID charset", primary: testKey("Az09._-")},

		{name: "empty ID", primary: testKey(""), wantErr: "keyring: key 1: ID must be 1 to 32 characters"},
		{name: "ID of 33 characters", primary: testKey(strings.Repeat("a", 33)), wantErr: "key 1: ID must be"},
		{name: "ID with space", primary: good, older: []secrets.Key{testKey("a b")}, wantErr: "key 2: ID must be"},
		{name: "ID with colon", primary: testKey("a:b"), wantErr: "ID must be"},
		{name: "ID with comma", primary: testKey("a,b"), wantErr: "ID must be"},
		{name: "ID with newline", primary: testKey("a\n"), wantErr: "ID must be"},
		{name: "ID non-ASCII", primary: testKey("clé"), wantErr: "ID must be"},
		{name: "duplicate ID", primary: good, older: []secrets.Key{testKey("x"), {ID: "2026-06", Secret: testKey("other").Secret}},
			wantErr: `keyring: key ID "2026-06" appears twice`},
		{name: "empty key", primary: sized(0), wantErr: `keyring: key "k" must be 32 bytes; generate one with: openssl rand -base64 32`},
		{name: "16-byte key", primary: sized(16), wantErr: `key "k" must be 32 bytes`},
		{name: "31-byte key", primary: sized(31), wantErr: `must be 32 bytes`},
		{name: "33-byte key", primary: sized(33), wantErr: `must be 32 bytes`},
		{name: "64-byte key", primary: sized(64), wantErr: `must be 32 bytes`},
		{name: "zero Value key", primary: secrets.Key{ID: "k"}, wantErr: `must be 32 bytes`},
		{name: "all-zero key", primary: good, older: []secrets.Key{zero}, wantErr: `keyring: key "zero" is all zeros`},
		{name: "same key under two IDs", primary: good, older: []secrets.Key{{ID: "copy", Secret: good.Secret}},
			wantErr: `keyring: keys "2026-06" and "copy" are the same key; a new key ID needs a new key`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			kr, err := secrets.NewKeyring(tt.primary, tt.older...)
			if tt.wantErr == "" {
				require.NoError(t, err)
				assert.Equal(t, tt.primary.ID, kr.PrimaryID())
				return
			}
			require.Error(t, err)
			assert.Nil(t, kr)
			assert.ErrorIs(t, err, secrets.ErrInvalid)
			assert.Contains(t, err.Error(), tt.wantErr)
			for _, k := range append([]secrets.Key{tt.primary}, tt.older...) {
				if k.Secret.Len() >= 8 {
					assertNoLeak(t, err.Error(), k.Secret.Reveal())
				}
			}
		})
	}
}

func TestKeyringRoundTrip(t *testing.T) {
	t.Parallel()
	kr := newKeyring(t, "2026-06", "2025-12")
	for _, size := range []int{0, 1, 15, 16, 17, 64, 4096, 1 << 20} {
		for _, ad := range [][]byte{nil, {}, []byte("mfa.totp:user-42")} {
			t.Run(fmt.Sprintf("%d bytes, ad %q", size, ad), func(t *testing.T) {
				t.Parallel()
				pt := make([]byte, size)
				_, _ = rand.Read(pt)
				ct, err := kr.Encrypt(pt, ad)
				require.NoError(t, err)
				assert.Len(t, ct, size+42+len("2026-06"))
				assert.Equal(t, []byte("\x01\x072026-06"), ct[:9], "version, ID length, ID")
				assert.Equal(t, len(ct), cap(ct), "no hidden tail in the returned slice")
				assert.False(t, kr.NeedsRotation(ct))

				got, err := kr.Decrypt(ct, ad)
				require.NoError(t, err)
				assert.Equal(t, len(pt), len(got))
				assert.True(t, bytes.Equal(pt, got))

				again, err := kr.Encrypt(pt, ad)
				require.NoError(t, err)
				assert.NotEqual(t, ct, again, "fresh random nonce per message")
			})
		}
	}
	// nil and empty associated data are the same.
	ct, err := kr.Encrypt([]byte("x"), nil)
	require.NoError(t, err)
	got, err := kr.Decrypt(ct, []byte{})
	require.NoError(t, err)
	assert.Equal(t, []byte("x"), got)
}

// Encrypt must not keep or modify the caller's slices.
func TestKeyringDoesNotAliasArguments(t *testing.T) {
	t.Parallel()
	kr := newKeyring(t, "k")
	pt, ad := []byte("plaintext"), []byte("ad")
	ct, err := kr.Encrypt(pt, ad)
	require.NoError(t, err)
	assert.Equal(t, []byte("plaintext"), pt)
	assert.Equal(t, []byte("ad"), ad)
	out, err := kr.Decrypt(ct, ad)
	require.NoError(t, err)
	out[0] = 'X'
	again, err := kr.Decrypt(ct, ad)
	require.NoError(t, err)
	assert.Equal(t, pt, again)
}

func TestDecryptAttacks(t *testing.T) {
	t.Parallel()
	kr := newKeyring(t, "2026-06", "2025-12")
	ad := []byte("mfa.totp:user-42")
	pt := []byte("JBSWY3DPEHPK3PXP")
	ct, err := kr.Encrypt(pt, ad)
	require.NoError(t, err)
	const hdr = 9 // 1 + 1 + len("2026-06")

	otherID, err := newKeyring(t, "other").Encrypt(pt, ad)
	require.NoError(t, err)
	sameIDOtherKey, err := secrets.NewKeyring(secrets.Key{ID: "2026-06", Secret: secrets.Random(32)})
	require.NoError(t, err)
	impostor, err := sameIDOtherKey.Encrypt(pt, ad)
	require.NoError(t, err)
	huge := make([]byte, 16<<20)
	_, _ = rand.Read(huge)

	edit := func(f func(c []byte) []byte) []byte { return f(bytes.Clone(ct)) }
	tests := []struct {
		name string
		c    []byte
		ad   []byte
		want error // nil: success expected
	}{
		{name: "valid", c: ct, ad: ad},
		{name: "nil input", c: nil, ad: ad, want: secrets.ErrTruncated},
		{name: "empty input", c: []byte{}, ad: ad, want: secrets.ErrTruncated},
		{name: "version byte only", c: ct[:1], ad: ad, want: secrets.ErrTruncated},
		{name: "header only", c: ct[:hdr], ad: ad, want: secrets.ErrTruncated},
		{name: "header and nonce, no tag", c: ct[:hdr+24], ad: ad, want: secrets.ErrTruncated},
		{name: "tag cut by one byte", c: ct[:len(ct)-1], ad: ad, want: secrets.ErrTampered},
		{name: "plaintext cut off, tag kept", c: append(bytes.Clone(ct[:hdr+24]), ct[len(ct)-16:]...), ad: ad, want: secrets.ErrTampered},
		{name: "byte appended", c: append(bytes.Clone(ct), 0), ad: ad, want: secrets.ErrTampered},
		{name: "version 0", c: edit(func(c []byte) []byte { c[0] = 0; return c }), ad: ad, want: secrets.ErrTampered},
		{name: "version 2", c: edit(func(c []byte) []byte { c[0] = 2; return c }), ad: ad, want: secrets.ErrTampered},
		{name: "version 0xff", c: edit(func(c []byte) []byte { c[0] = 0xff; return c }), ad: ad, want: secrets.ErrTampered},
		{name: "ID length 0", c: edit(func(c []byte) []byte { c[1] = 0; return c }), ad: ad, want: secrets.ErrTampered},
		{name: "ID length 33", c: edit(func(c []byte) []byte { c[1] = 33; return c }), ad: ad, want: secrets.ErrTampered},
		{name: "ID length 255", c: edit(func(c []byte) []byte { c[1] = 255; return c }), ad: ad, want: secrets.ErrTampered},
		{name: "ID length one short", c: edit(func(c []byte) []byte { c[1] = 6; return c }), ad: ad, want: secrets.ErrUnknownKey},
		{name: "ID length one long", c: edit(func(c []byte) []byte { c[1] = 8; return c }), ad: ad, want: secrets.ErrUnknownKey},
		{name: "ID length beyond input", c: edit(func(c []byte) []byte { c[1] = 32; return c[:40] }), ad: ad, want: secrets.ErrTruncated},
		{name: "ID swapped for the other known key", c: edit(func(c []byte) []byte { copy(c[2:], "2025-12"); return c }), ad: ad, want: secrets.ErrTampered},
		{name: "ID with control bytes", c: edit(func(c []byte) []byte { copy(c[2:], "\x00\x1b[2J\n"); return c }), ad: ad, want: secrets.ErrUnknownKey},
		{name: "unknown key ID", c: otherID, ad: ad, want: secrets.ErrUnknownKey},
		{name: "same ID, different key", c: impostor, ad: ad, want: secrets.ErrTampered},
		{name: "nonce bit flipped", c: edit(func(c []byte) []byte { c[hdr] ^= 1; return c }), ad: ad, want: secrets.ErrTampered},
		{name: "sealed bit flipped", c: edit(func(c []byte) []byte { c[hdr+24] ^= 0x80; return c }), ad: ad, want: secrets.ErrTampered},
		{name: "tag bit flipped", c: edit(func(c []byte) []byte { c[len(c)-1] ^= 1; return c }), ad: ad, want: secrets.ErrTampered},
		{name: "all zeros", c: make([]byte, 100), ad: ad, want: secrets.ErrTampered},
		{name: "wrong AD (another user)", c: ct, ad: []byte("mfa.totp:user-43"), want: secrets.ErrTampered},
		{name: "wrong AD (another field)", c: ct, ad: []byte("session.data:user-42"), want: secrets.ErrTampered},
		{name: "AD missing", c: ct, ad: nil, want: secrets.ErrTampered},
		{name: "AD with extra byte", c: ct, ad: append(bytes.Clone(ad), 0), want: secrets.ErrTampered},
		{name: "AD is header-shifted", c: ct, ad: append([]byte("\x01\x072026-06"), ad...), want: secrets.ErrTampered},
		{name: "huge garbage after valid header", c: append(bytes.Clone(ct[:hdr]), huge...), ad: ad, want: secrets.ErrTampered},
		{name: "huge random input", c: huge, ad: ad, want: nil /* any sentinel */},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got []byte
			var err error
			require.NotPanics(t, func() { got, err = kr.Decrypt(tt.c, tt.ad) })
			if tt.name == "valid" {
				require.NoError(t, err)
				assert.Equal(t, pt, got)
				return
			}
			assert.Nil(t, got)
			assertKeyringErr(t, err, tt.want)
			assertNoLeak(t, err.Error(), pt)

			var rotated bool
			require.NotPanics(t, func() { got, rotated, err = kr.Rotate(tt.c, tt.ad) })
			assert.Nil(t, got)
			assert.False(t, rotated)
			assertKeyringErr(t, err, tt.want)
		})
	}
}

// Every single-bit change anywhere in a ciphertext is detected, with the
// error that matches the region it hit.
func TestDecryptEveryBitFlip(t *testing.T) {
	t.Parallel()
	kr := newKeyring(t, "2026-06", "2025-12")
	ad := []byte("ad")
	ct, err := kr.Encrypt([]byte("a TOTP secret"), ad)
	require.NoError(t, err)
	const n = len("2026-06")
	for i := range ct {
		for bit := range 8 {
			c := bytes.Clone(ct)
			c[i] ^= 1 << bit
			var want error
			switch {
			case i == 0:
				want = secrets.ErrTampered // version
			case i == 1:
				want = nil // ID length: truncated, tampered or unknown key
			case i < 2+n:
				want = secrets.ErrUnknownKey // key ID
			default:
				want = secrets.ErrTampered // nonce, sealed data, tag
			}
			pt, err := kr.Decrypt(c, ad)
			assert.Nil(t, pt)
			assertKeyringErr(t, err, want)
		}
	}
}

// Every truncation is detected: before the minimum length as truncated,
// after it as tampered (the length of the plaintext is not stored).
func TestDecryptEveryTruncation(t *testing.T) {
	t.Parallel()
	kr := newKeyring(t, "2026-06")
	ct, err := kr.Encrypt([]byte("some plaintext of moderate length"), nil)
	require.NoError(t, err)
	minLen := 2 + len("2026-06") + 24 + 16
	for l := range len(ct) {
		pt, err := kr.Decrypt(ct[:l], nil)
		assert.Nil(t, pt)
		want := secrets.ErrTampered
		if l < minLen {
			want = secrets.ErrTruncated
		}
		assertKeyringErr(t, err, want)
	}
}

func TestUnknownKeyErrorNamesID(t *testing.T) {
	t.Parallel()
	ct, err := newKeyring(t, "2024-01").Encrypt([]byte("x"), nil)
	require.NoError(t, err)
	_, err = newKeyring(t, "2026-06").Decrypt(ct, nil)
	assert.EqualError(t, err, `secrets: unknown key ID "2024-01"; keep retired keys in the keyring until Rotate has re-encrypted all data`)
}

func TestKeyringRotation(t *testing.T) {
	t.Parallel()
	ad := []byte("mfa.totp:user-42")
	pt := []byte("JBSWY3DPEHPK3PXP")
	old := newKeyring(t, "2025-12")
	ct, err := old.Encrypt(pt, ad)
	require.NoError(t, err)

	// Phase 1: the new key is known but not primary; nothing changes yet,
	// and these instances can read what phase-2 instances write.
	phase1 := newKeyring(t, "2025-12", "2026-06")
	assert.False(t, phase1.NeedsRotation(ct))

	// Phase 2: the new key is primary.
	kr := newKeyring(t, "2026-06", "2025-12")
	assert.Equal(t, "2026-06", kr.PrimaryID())
	assert.True(t, kr.NeedsRotation(ct))

	rot, rotated, err := kr.Rotate(ct, ad)
	require.NoError(t, err)
	assert.True(t, rotated)
	assert.Equal(t, []byte("\x01\x072026-06"), rot[:9])
	assert.False(t, kr.NeedsRotation(rot))
	got, err := kr.Decrypt(rot, ad)
	require.NoError(t, err)
	assert.Equal(t, pt, got)
	got, err = phase1.Decrypt(rot, ad)
	require.NoError(t, err, "phase-1 instances read new data")
	assert.Equal(t, pt, got)

	// Already current: the same slice back, not rotated.
	same, rotated, err := kr.Rotate(rot, ad)
	require.NoError(t, err)
	assert.False(t, rotated)
	assert.Same(t, &rot[0], &same[0])

	// Rotation keeps the binding to the associated data.
	_, err = kr.Decrypt(rot, []byte("mfa.totp:user-43"))
	assert.ErrorIs(t, err, secrets.ErrTampered)
	_, rotated, err = kr.Rotate(ct, []byte("mfa.totp:user-43"))
	assert.ErrorIs(t, err, secrets.ErrTampered)
	assert.False(t, rotated)

	// Rotate authenticates even data that is already current.
	bad := bytes.Clone(rot)
	bad[len(bad)-1] ^= 1
	_, _, err = kr.Rotate(bad, ad)
	assert.ErrorIs(t, err, secrets.ErrTampered)

	// Phase 4: the old key is gone.
	final := newKeyring(t, "2026-06")
	_, err = final.Decrypt(ct, ad)
	assert.ErrorIs(t, err, secrets.ErrUnknownKey)
	got, err = final.Decrypt(rot, ad)
	require.NoError(t, err)
	assert.Equal(t, pt, got)
	_, err = old.Decrypt(rot, ad)
	assert.ErrorIs(t, err, secrets.ErrUnknownKey)
}

func TestNeedsRotationMalformed(t *testing.T) {
	t.Parallel()
	kr := newKeyring(t, "2026-06")
	ct, err := kr.Encrypt(nil, nil)
	require.NoError(t, err)
	foreign, err := newKeyring(t, "other").Encrypt(nil, nil)
	require.NoError(t, err)
	for name, c := range map[string][]byte{
		"nil":         nil,
		"empty":       {},
		"truncated":   ct[:20],
		"bad version": append([]byte{9}, ct[1:]...),
		"unknown key": foreign,
	} {
		assert.True(t, kr.NeedsRotation(c), name)
	}
	assert.False(t, kr.NeedsRotation(ct))
}

// A nil or zero Keyring (say, optional encryption left unconfigured) must
// fail with an error, not panic on the request path.
func TestZeroKeyringDoesNotPanic(t *testing.T) {
	t.Parallel()
	ct, err := newKeyring(t, "k").Encrypt([]byte("x"), nil)
	require.NoError(t, err)
	for name, kr := range map[string]*secrets.Keyring{"nil": nil, "zero": {}} {
		require.NotPanics(t, func() {
			_, err := kr.Encrypt([]byte("x"), nil)
			assert.ErrorContains(t, err, "build one with NewKeyring", name)
			_, err = kr.Decrypt(ct, nil)
			assert.ErrorContains(t, err, "build one with NewKeyring", name)
			_, rotated, err := kr.Rotate(ct, nil)
			assert.Error(t, err, name)
			assert.False(t, rotated)
			assert.True(t, kr.NeedsRotation(ct), name)
			assert.Empty(t, kr.PrimaryID(), name)
		}, name)
	}
}

func TestParseKeyring(t *testing.T) {
	t.Parallel()
	k1, k2, k3 := testKey("k1"), testKey("k2"), testKey("k3")
	std := func(k secrets.Key) string { return base64.StdEncoding.EncodeToString(k.Secret.Reveal()) }
	url := func(k secrets.Key) string { return base64.RawURLEncoding.EncodeToString(k.Secret.Reveal()) }
	short := base64.StdEncoding.EncodeToString(make([]byte, 16))
	long := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 33))
	zero := base64.StdEncoding.EncodeToString(make([]byte, 32))

	tests := []struct {
		name        string
		text        string
		wantPrimary string
		canDecrypt  []string // IDs whose ciphertexts the keyring must open
		wantErr     string
	}{
		{name: "one key", text: "k1:" + std(k1), wantPrimary: "k1", canDecrypt: []string{"k1"}},
		{name: "three keys, first is primary", text: "k1:" + std(k1) + ",k2:" + std(k2) + ",k3:" + std(k3),
			wantPrimary: "k1", canDecrypt: []string{"k1", "k2", "k3"}},
		{name: "URL-safe unpadded", text: "k2:" + url(k2) + ",k1:" + url(k1), wantPrimary: "k2", canDecrypt: []string{"k1", "k2"}},
		{name: "one per line with CRLF", text: "k1:" + std(k1) + "\r\nk2:" + std(k2) + "\r\n", wantPrimary: "k1", canDecrypt: []string{"k1", "k2"}},
		{name: "spaces after commas, trailing comma", text: " k1:" + std(k1) + ", k2:" + std(k2) + ",", wantPrimary: "k1", canDecrypt: []string{"k2"}},

		{name: "empty", text: "", wantErr: "keyring: no keys; want ID:BASE64KEY"},
		{name: "only separators", text: " ,\n, ", wantErr: "keyring: no keys"},
		{name: "no colon", text: std(k1), wantErr: "keyring: entry 1: want ID:BASE64KEY"},
		{name: "reversed entry", text: "k1:" + std(k1) + "," + std(k2) + ":k2", wantErr: "keyring: entry 2: ID must be 1 to 32 characters"},
		{name: "empty ID", text: ":" + std(k1), wantErr: "entry 1: ID must be"},
		{name: "bad ID", text: "k@1:" + std(k1), wantErr: "entry 1: ID must be"},
		{name: "space after colon", text: "k1: " + std(k1), wantErr: `entry 1 ("k1"): key must be 32 bytes in base64`},
		{name: "empty key", text: "k1:", wantErr: `entry 1 ("k1"): key must be 32 bytes in base64; generate one with: openssl rand -base64 32`},
		{name: "not base64", text: "k1:" + std(k1)[:40] + "!!!=", wantErr: `entry 1 ("k1"): key must be 32 bytes`},
		{name: "hex key", text: "k1:" + fmt.Sprintf("%x", k1.Secret.Reveal()), wantErr: `key must be 32 bytes`},
		{name: "16-byte key", text: "k1:" + short, wantErr: `key must be 32 bytes`},
		{name: "33-byte key", text: "k1:" + long, wantErr: `key must be 32 bytes`},
		{name: "second entry bad", text: "k1:" + std(k1) + ",k2:" + short, wantErr: `entry 2 ("k2")`},
		{name: "duplicate ID", text: "k1:" + std(k1) + ",k1:" + std(k2), wantErr: `key ID "k1" appears twice`},
		{name: "same key twice", text: "k1:" + std(k1) + ",k2:" + std(k1), wantErr: `keys "k1" and "k2" are the same key`},
		{name: "all-zero key", text: "k1:" + zero, wantErr: `key "k1" is all zeros`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			kr, err := secrets.ParseKeyring(secrets.NewValue([]byte(tt.text)))
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Nil(t, kr)
				assert.ErrorIs(t, err, secrets.ErrInvalid)
				assert.Contains(t, err.Error(), tt.wantErr)
				for _, k := range []secrets.Key{k1, k2, k3} {
					assertNoLeak(t, err.Error(), k.Secret.Reveal())
				}
				assert.NotContains(t, err.Error(), std(k1)[:16])
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.wantPrimary, kr.PrimaryID())
			for _, id := range tt.canDecrypt {
				ct, err := newKeyring(t, id).Encrypt([]byte("data"), []byte(id))
				require.NoError(t, err)
				got, err := kr.Decrypt(ct, []byte(id))
				require.NoError(t, err, id)
				assert.Equal(t, []byte("data"), got)
			}
		})
	}
}

// ParseKeyring reads the Value without consuming it.
func TestParseKeyringLeavesValueIntact(t *testing.T) {
	t.Parallel()
	text := "k1:" + base64.StdEncoding.EncodeToString(testKey("k1").Secret.Reveal())
	v := secrets.NewValue([]byte(text))
	_, err := secrets.ParseKeyring(v)
	require.NoError(t, err)
	assert.Equal(t, text, string(v.Reveal()))
}

func TestKeyringDoesNotPrintKeys(t *testing.T) {
	t.Parallel()
	kr := newKeyring(t, "2026-06", "2025-12")
	for _, verb := range []string{"%v", "%+v", "%#v", "%x", "%d", "%s"} {
		out := fmt.Sprintf(verb, kr) + fmt.Sprintf(verb, *kr) + fmt.Sprintf(verb, []*secrets.Keyring{kr})
		for _, id := range []string{"2026-06", "2025-12"} {
			assertNoLeak(t, out, testKey(id).Secret.Reveal())
		}
	}
}

// Run with -race: a Keyring is shared by every request.
func TestKeyringConcurrentUse(t *testing.T) {
	t.Parallel()
	old := newKeyring(t, "2025-12")
	kr := newKeyring(t, "2026-06", "2025-12")
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 100 {
				ad := fmt.Appendf(nil, "user-%d-%d", g, i)
				pt := fmt.Appendf(nil, "secret %d %d", g, i)
				legacy, err := old.Encrypt(pt, ad)
				if !assert.NoError(t, err) {
					return
				}
				ct, rotated, err := kr.Rotate(legacy, ad)
				if !assert.NoError(t, err) || !assert.True(t, rotated) {
					return
				}
				got, err := kr.Decrypt(ct, ad)
				if !assert.NoError(t, err) || !assert.Equal(t, pt, got) {
					return
				}
				assert.False(t, kr.NeedsRotation(ct))
			}
		})
	}
	wg.Wait()
}

func FuzzDecrypt(f *testing.F) {
	kr := newKeyring(f, "2026-06", "2025-12")
	old := newKeyring(f, "2025-12")
	for _, pt := range []string{"", "JBSWY3DPEHPK3PXP", strings.Repeat("x", 100)} {
		ct, err := kr.Encrypt([]byte(pt), []byte("ad"))
		require.NoError(f, err)
		f.Add(ct, []byte("ad"))
		f.Add(ct, []byte("other"))
		f.Add(ct[:len(ct)-1], []byte("ad"))
		f.Add(ct[:20], []byte("ad"))
		legacy, err := old.Encrypt([]byte(pt), nil)
		require.NoError(f, err)
		f.Add(legacy, []byte(nil))
	}
	foreign, err := newKeyring(f, "other").Encrypt([]byte("x"), nil)
	require.NoError(f, err)
	f.Add(foreign, []byte(nil))
	f.Add([]byte{}, []byte(nil))
	f.Add([]byte{1}, []byte(nil))
	f.Add([]byte{1, 0}, []byte(nil))
	f.Add([]byte{1, 255}, []byte(nil))
	f.Add([]byte("\x01\x072026-06"), []byte(nil))

	f.Fuzz(func(t *testing.T, c, ad []byte) {
		pt, err := kr.Decrypt(c, ad)
		kr.NeedsRotation(c)
		rot, rotated, rerr := kr.Rotate(c, ad)
		if err != nil {
			assertKeyringErr(t, err, nil)
			require.Nil(t, pt)
			require.Error(t, rerr)
			require.Nil(t, rot)
			require.False(t, rotated)
			return
		}
		// Anything that decrypts must round-trip, and Rotate must agree.
		require.NoError(t, rerr)
		ct, err := kr.Encrypt(pt, ad)
		require.NoError(t, err)
		again, err := kr.Decrypt(ct, ad)
		require.NoError(t, err)
		require.True(t, bytes.Equal(pt, again))
		again, err = kr.Decrypt(rot, ad)
		require.NoError(t, err)
		require.True(t, bytes.Equal(pt, again))
		require.Equal(t, kr.NeedsRotation(c), rotated)
	})
}

func FuzzParseKeyring(f *testing.F) {
	k1 := base64.StdEncoding.EncodeToString(testKey("k1").Secret.Reveal())
	k2 := base64.RawURLEncoding.EncodeToString(testKey("k2").Secret.Reveal())
	for _, s := range []string{"", "k1:" + k1, "k1:" + k1 + ",k2:" + k2, "k1:" + k1 + "\nk2:" + k2 + "\n", ":", "k1:", "a:b:c", k1} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		kr, err := secrets.ParseKeyring(secrets.NewValue([]byte(text)))
		if err != nil {
			require.ErrorIs(t, err, secrets.ErrInvalid)
			require.Nil(t, kr)
			return
		}
		ct, err := kr.Encrypt([]byte("x"), nil)
		require.NoError(t, err)
		got, err := kr.Decrypt(ct, nil)
		require.NoError(t, err)
		require.Equal(t, []byte("x"), got)
	})
}

func BenchmarkEncrypt(b *testing.B) {
	kr := newKeyring(b, "2026-06")
	ad := []byte("mfa.totp:user-42")
	for _, size := range []int{64, 4096} {
		pt := make([]byte, size)
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				if _, err := kr.Encrypt(pt, ad); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecrypt(b *testing.B) {
	kr := newKeyring(b, "2026-06")
	ad := []byte("mfa.totp:user-42")
	for _, size := range []int{64, 4096} {
		ct, err := kr.Encrypt(make([]byte, size), ad)
		require.NoError(b, err)
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				if _, err := kr.Decrypt(ct, ad); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
