package auth_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/deployedworks/rampart/auth"
)

// Known answers from crypt_blowfish (Openwall), the implementation behind
// PHP's and glibc's bcrypt: independent of golang.org/x/crypto.
func TestVerifyBcryptVectors(t *testing.T) {
	h := newHasher(t, auth.HasherConfig{})
	tests := []struct{ name, hash, password string }{
		{"$2a$", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW", "U*U"},
		{"$2a$ second", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.VGOzA784oUp/Z0DY336zx7pLYAy0lwK", "U*U*"},
		{"$2a$ third", "$2a$05$XXXXXXXXXXXXXXXXXXXXXOAcXxm9kjPGEMsLznoKqmqw7tc8WCx4a", "U*U*U"},
		{"$2y$ 8-bit", "$2y$05$/OK.fbVrR/bpIqNJ5ianF.CE5elHaaO4EbggVDjb8P19RukzXSM3e", "\xff\xff\xa3"},
		{"$2b$ 8-bit", "$2b$05$/OK.fbVrR/bpIqNJ5ianF.CE5elHaaO4EbggVDjb8P19RukzXSM3e", "\xff\xff\xa3"},
		{"over 72 bytes", "$2a$05$abcdefghijklmnopqrstuu5s2v8.iXieOjg/.AySBTTZIIVFJeBui",
			"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789chars after 72 are ignored"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rehash, err := h.Verify(context.Background(), tt.password, tt.hash)
			require.NoError(t, err)
			assert.True(t, rehash, "bcrypt always needs a rehash")
			_, err = h.Verify(context.Background(), "X"+tt.password[1:], tt.hash)
			assert.ErrorIs(t, err, auth.ErrMismatch)
		})
	}
}

// TestBcrypt72Bytes: bcrypt never saw bytes past the 72nd. A legacy hash is
// checked on what it recorded, and the rehash it asks for covers the whole
// password, so from then on the suffix counts.
func TestBcrypt72Bytes(t *testing.T) {
	ctx := context.Background()
	h := newHasher(t, auth.HasherConfig{})
	long := strings.Repeat("a", 72) + "-the-rest-of-a-long-passphrase"
	legacy, err := bcrypt.GenerateFromPassword([]byte(long[:72]), bcrypt.MinCost)
	require.NoError(t, err)

	rehash, err := h.Verify(ctx, long, string(legacy))
	require.NoError(t, err)
	assert.True(t, rehash)

	upgraded, err := h.Hash(ctx, long)
	require.NoError(t, err)
	_, err = h.Verify(ctx, long, upgraded)
	require.NoError(t, err)
	_, err = h.Verify(ctx, long[:72]+"-something-else", upgraded)
	assert.ErrorIs(t, err, auth.ErrMismatch, "after the rehash every byte counts")
}

func TestVerifyBcryptGenerated(t *testing.T) {
	h := newHasher(t, auth.HasherConfig{Peppers: []auth.Pepper{pepper1}})
	b, err := bcrypt.GenerateFromPassword([]byte("hunter2 hunter2"), bcrypt.MinCost)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(string(b), "$2a$") || strings.HasPrefix(string(b), "$2b$"))
	for _, v := range []string{"$2a$", "$2b$", "$2y$"} {
		enc := v + string(b[4:])
		rehash, err := h.Verify(context.Background(), "hunter2 hunter2", enc)
		require.NoError(t, err, v)
		assert.True(t, rehash)
		_, err = h.Verify(context.Background(), "hunter2 hunter3", enc)
		assert.ErrorIs(t, err, auth.ErrMismatch)
	}
	assert.Equal(t, uint64(6), h.Computations())
}
