package session

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/secrets"
)

// TestOpenAnonRefusesIdentity: sealed state never carries a signed-in
// identity, so state that holds one is refused even when it authenticates
// (defence in depth: only this package seals).
func TestOpenAnonRefusesIdentity(t *testing.T) {
	m, err := New(Config{})
	require.NoError(t, err)
	ok, err := m.sealAnon(map[string]any{"flash": "hi"})
	require.NoError(t, err)
	assert.NotNil(t, m.openAnon(ok))
	forged, err := m.sealAnon(map[string]any{metaKey: &meta{UserID: "admin", Roles: []string{"admin"}}})
	require.NoError(t, err)
	assert.Nil(t, m.openAnon(forged))
	empty, err := m.sealAnon(map[string]any{})
	require.NoError(t, err)
	assert.Nil(t, m.openAnon(empty))
	assert.Nil(t, m.openAnon("not base64!"))
}

// TestLargestAnonFitsCookie: the largest state Put accepts, sealed under
// the longest key ID a keyring allows, is a cookie value the Handler
// reads back (maxSealed is derived by hand from maxAnon and the keyring's
// overhead).
func TestLargestAnonFitsCookie(t *testing.T) {
	kr, err := secrets.NewKeyring(secrets.Key{ID: strings.Repeat("k", 32), Secret: secrets.Random(32)})
	require.NoError(t, err)
	m, err := New(Config{Keyring: kr})
	require.NoError(t, err)
	n := maxAnon
	for {
		b, err := codec{}.Encode(m.now().Add(anonTTL), map[string]any{"k": strings.Repeat("v", n)})
		require.NoError(t, err)
		if len(b) <= maxAnon {
			require.Equal(t, maxAnon, len(b), "the largest value found")
			break
		}
		n--
	}
	v, err := m.sealAnon(map[string]any{"k": strings.Repeat("v", n)})
	require.NoError(t, err)
	assert.LessOrEqual(t, len(v), maxSealed)
	assert.Equal(t, v, cookieFromHeader(DefaultCookieName+"="+v, DefaultCookieName), "the Handler reads it")
	assert.NotNil(t, m.openAnon(v))
	_, err = m.sealAnon(map[string]any{"k": strings.Repeat("v", n+1)})
	assert.ErrorIs(t, err, ErrTooLarge)
}
