package session

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/clientip"
)

// TestOpenAnonRefusesIdentity: sealed state never carries a signed-in
// identity, so state that holds one is refused even when it authenticates
// (defence in depth: only this package seals).
func TestOpenAnonRefusesIdentity(t *testing.T) {
	m, err := New(clientip.MustNew(nil, clientip.Config{}), Config{})
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
