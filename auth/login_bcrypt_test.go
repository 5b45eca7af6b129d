package auth_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/deployedworks/rampart/auth"
	"github.com/deployedworks/rampart/auth/password"
)

// TestLoginBcryptOver72Bytes: against a legacy bcrypt hash of a 72-byte
// password, a longer password sharing those 72 bytes is refused and not
// stored; the owner's own password still works. On the old code it logged
// in and replaced the owner's hash with an Argon2id hash of itself.
func TestLoginBcryptOver72Bytes(t *testing.T) {
	f := newFixture(t, password.HasherConfig{})
	owner := strings.Repeat("correct horse battery staple ", 3)[:72]
	legacy, err := bcrypt.GenerateFromPassword([]byte(owner), bcrypt.MinCost)
	require.NoError(t, err)
	f.store.byID["u1"] = auth.User{ID: "u1", Login: "alice", PasswordHash: string(legacy)}

	for _, impostor := range []string{owner + "!", owner + " and then some more words", owner + strings.Repeat("x", 500)} {
		before := f.probe.computations()
		res, err := f.a.Login(loginRequest(), "alice", impostor)
		assert.Equal(t, auth.ErrInvalidCredentials, err, "%d bytes", len(impostor))
		assert.Zero(t, res)
		assert.Equal(t, uint64(1), f.probe.computations()-before, "the usual work")
		assert.Equal(t, string(legacy), f.store.hash("u1"), "no rehash")
		assert.Zero(t, f.store.sets)
	}
	ev := f.sink.Events()
	require.NotEmpty(t, ev)
	assert.Equal(t, "password_too_long_for_bcrypt", ev[len(ev)-1].Reason)
	assert.Len(t, f.throttle.failed, 3)

	res, err := f.a.Login(loginRequest(), "alice", owner)
	require.NoError(t, err, "the owner still logs in")
	assert.True(t, res.Rehashed)
	_, err = f.a.Login(loginRequest(), "alice", owner+"!")
	assert.Equal(t, auth.ErrInvalidCredentials, err, "and after the rehash every byte counts")
	_, err = f.a.Login(loginRequest(), "alice", owner)
	assert.NoError(t, err)
}
