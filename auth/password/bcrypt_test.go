package password_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/deployedworks/rampart/auth/password"
)

// Known answers from crypt_blowfish (Openwall), the implementation behind
// PHP's and glibc's bcrypt: independent of golang.org/x/crypto.
func TestVerifyBcryptVectors(t *testing.T) {
	h := newHasher(t, password.HasherConfig{})
	tests := []struct{ name, hash, password string }{
		{"$2a$", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW", "U*U"},
		{"$2a$ second", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.VGOzA784oUp/Z0DY336zx7pLYAy0lwK", "U*U*"},
		{"$2a$ third", "$2a$05$XXXXXXXXXXXXXXXXXXXXXOAcXxm9kjPGEMsLznoKqmqw7tc8WCx4a", "U*U*U"},
		{"$2y$ 8-bit", "$2y$05$/OK.fbVrR/bpIqNJ5ianF.CE5elHaaO4EbggVDjb8P19RukzXSM3e", "\xff\xff\xa3"},
		{"$2b$ 8-bit", "$2b$05$/OK.fbVrR/bpIqNJ5ianF.CE5elHaaO4EbggVDjb8P19RukzXSM3e", "\xff\xff\xa3"},
		{"72 bytes", "$2a$05$abcdefghijklmnopqrstuu5s2v8.iXieOjg/.AySBTTZIIVFJeBui",
			"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rehash, err := h.Verify(context.Background(), tt.password, tt.hash)
			require.NoError(t, err)
			assert.True(t, rehash, "bcrypt always needs a rehash")
			_, err = h.Verify(context.Background(), "X"+tt.password[1:], tt.hash)
			assert.ErrorIs(t, err, password.ErrMismatch)
		})
	}
}

// TestBcrypt72Bytes: bcrypt never saw bytes past the 72nd, so a longer
// password cannot be checked against a bcrypt hash. Truncating it (as
// crypt_blowfish does, in the vector above, whose 98-byte original is the
// 72 bytes plus "chars after 72 are ignored") would accept every password
// that shares the first 72 bytes. It is refused as a mismatch, after the
// same work as any bcrypt check.
func TestBcrypt72Bytes(t *testing.T) {
	ctx := context.Background()
	h := newHasher(t, password.HasherConfig{})
	p72 := strings.Repeat("a", 72)
	legacy, err := bcrypt.GenerateFromPassword([]byte(p72), bcrypt.MinCost)
	require.NoError(t, err)

	rehash, err := h.Verify(ctx, p72, string(legacy))
	require.NoError(t, err)
	assert.True(t, rehash)

	for _, pw := range []string{p72 + "b", p72 + "-the-rest-of-a-long-passphrase", p72 + strings.Repeat("a", 900)} {
		before := h.Computations()
		rehash, err = h.Verify(ctx, pw, string(legacy))
		assert.ErrorIs(t, err, password.ErrMismatch, "%d bytes sharing the first 72", len(pw))
		assert.False(t, rehash)
		assert.Equal(t, uint64(1), h.Computations()-before, "refused after the usual work")
	}
	// The crypt_blowfish vector's original 98-byte password, likewise.
	_, err = h.Verify(ctx, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789chars after 72 are ignored",
		"$2a$05$abcdefghijklmnopqrstuu5s2v8.iXieOjg/.AySBTTZIIVFJeBui")
	assert.ErrorIs(t, err, password.ErrMismatch)
	// A wrong long password is a mismatch as well, and a malformed hash
	// still says so.
	_, err = h.Verify(ctx, strings.Repeat("b", 80), string(legacy))
	assert.ErrorIs(t, err, password.ErrMismatch)
	_, err = h.Verify(ctx, strings.Repeat("b", 80), "$2a$05$"+strings.Repeat("!", 53))
	assert.ErrorIs(t, err, password.ErrMalformedHash)
}

func TestVerifyBcryptGenerated(t *testing.T) {
	h := newHasher(t, password.HasherConfig{Peppers: []password.Pepper{pepper1}})
	b, err := bcrypt.GenerateFromPassword([]byte("hunter2 hunter2"), bcrypt.MinCost)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(string(b), "$2a$") || strings.HasPrefix(string(b), "$2b$"))
	for _, v := range []string{"$2a$", "$2b$", "$2y$"} {
		enc := v + string(b[4:])
		rehash, err := h.Verify(context.Background(), "hunter2 hunter2", enc)
		require.NoError(t, err, v)
		assert.True(t, rehash)
		_, err = h.Verify(context.Background(), "hunter2 hunter3", enc)
		assert.ErrorIs(t, err, password.ErrMismatch)
	}
	assert.Equal(t, uint64(6), h.Computations())
}
