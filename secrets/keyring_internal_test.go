package secrets

import (
	"encoding/hex"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestKnownAnswer pins format version 1 to fixed-key, fixed-nonce vectors.
//
// The expected bytes were computed independently of this package and of
// x/crypto: HChaCha20 written out by hand in Python and the IETF
// ChaCha20-Poly1305 of pyca/cryptography, checked first against the
// XChaCha20-Poly1305 vector of draft-irtf-cfrg-xchacha-03 §A.3.1 (whose key
// and nonce are reused here). The additional data is the header followed by
// the caller's associated data, as the package documentation specifies.
// A failure here means data encrypted by earlier releases may no longer
// decrypt: do not update the vectors, add a new format version instead.
func TestKnownAnswer(t *testing.T) {
	t.Parallel()
	key := mustHex(t, "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f")
	nonce := mustHex(t, "404142434445464748494a4b4c4d4e4f5051525354555657")
	kr, err := NewKeyring(Key{ID: "2026-06", Secret: NewValue(key)})
	require.NoError(t, err)

	tests := []struct {
		name string
		pt   string
		ad   []byte
		want string
	}{
		{
			name: "TOTP secret bound to a user",
			pt:   "JBSWY3DPEHPK3PXP",
			ad:   []byte("mfa.totp:user-42"),
			want: "01" + "07" + hex.EncodeToString([]byte("2026-06")) +
				"404142434445464748494a4b4c4d4e4f5051525354555657" +
				"bb4e20a302c3b00abe5a2798c5fec505" + // ciphertext
				"8d48e564fbb3e117921767b1b7bafe8c", // tag
		},
		{
			name: "empty plaintext, no associated data",
			pt:   "",
			ad:   nil,
			want: "0107323032362d3036" +
				"404142434445464748494a4b4c4d4e4f5051525354555657" +
				"cb941d0b379b515363f47d846974b001", // tag only
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := kr.primary.seal([]byte(tt.pt), tt.ad, nonce)
			require.NoError(t, err)
			assert.Equal(t, tt.want, hex.EncodeToString(got))

			// Through the public API: stored data stays readable.
			pt, err := kr.Decrypt(mustHex(t, tt.want), tt.ad)
			require.NoError(t, err)
			assert.Equal(t, tt.pt, string(pt))
		})
	}
}

// NewKeyring copies the key bytes: changing them afterwards (here through
// the Value's internals, which no caller can reach) does not affect it.
func TestNewKeyringCopiesKeys(t *testing.T) {
	t.Parallel()
	v := NewValue(mustHex(t, "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"))
	kr, err := NewKeyring(Key{ID: "k", Secret: v})
	require.NoError(t, err)
	ct, err := kr.Encrypt([]byte("x"), nil)
	require.NoError(t, err)
	clear(*v.p)
	pt, err := kr.Decrypt(ct, nil)
	require.NoError(t, err)
	assert.Equal(t, []byte("x"), pt)
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	require.NoError(t, err)
	return b
}
