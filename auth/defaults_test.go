package auth_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/auth"
	"github.com/deployedworks/rampart/auth/password"
	"github.com/deployedworks/rampart/clientip"
	"github.com/deployedworks/rampart/ratelimit"
)

// The zero AuthenticatorConfig throttles guessing: a client that keeps
// failing on one account is refused before its password is hashed, and a
// request without a client address fails closed.
func TestDefaultThrottle(t *testing.T) {
	h, probe := newHasher(t, password.HasherConfig{})
	hash, err := h.Hash(context.Background(), alicePassword)
	require.NoError(t, err)
	a, err := auth.NewAuthenticator(newMemStore(auth.User{ID: "u1", Login: "alice", PasswordHash: hash}),
		&fakeSessions{}, auth.AuthenticatorConfig{Hasher: h})
	require.NoError(t, err)

	limited := -1
	for i := range 20 {
		_, err := a.Login(loginRequest(), "alice", "wrong password")
		if errors.Is(err, ratelimit.ErrLimited) {
			limited = i
			break
		}
		require.ErrorIs(t, err, auth.ErrInvalidCredentials)
	}
	require.Positive(t, limited, "the default throttle refuses a guesser")
	before := probe.computations()
	_, err = a.Login(loginRequest(), "alice", alicePassword)
	assert.ErrorIs(t, err, ratelimit.ErrLimited, "even the right password, while throttled")
	assert.Equal(t, before, probe.computations(), "refused before hashing")

	_, err = a.Login(bareLoginRequest(), "alice", alicePassword)
	assert.ErrorIs(t, err, clientip.ErrNoClient)
}
