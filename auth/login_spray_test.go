package auth_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/audit/detect"
	"github.com/deployedworks/rampart/auth"
	"github.com/deployedworks/rampart/auth/password"
)

// sprayFixture is an Authenticator writing to a detect.Detector, with n
// known accounts acct0..acct(n-1).
func sprayFixture(t *testing.T, n int) (*auth.Authenticator, *audit.MemorySink) {
	t.Helper()
	f := newFixture(t, password.HasherConfig{})
	hash := f.store.hash("u1")
	for i := range n {
		f.store.byID[fmt.Sprint("k", i)] = auth.User{ID: fmt.Sprint("k", i), Login: fmt.Sprint("acct", i), PasswordHash: hash}
	}
	sink := &audit.MemorySink{}
	det, err := detect.New(sink, detect.Config{})
	require.NoError(t, err)
	a, err := auth.NewAuthenticator(f.store, f.sessions, auth.AuthenticatorConfig{
		Hasher: f.h, Throttle: f.throttle, Audit: audit.MustNew(det, audit.Config{}),
	})
	require.NoError(t, err)
	return a, sink
}

// sprayRequest is a login request from addr.
func sprayRequest(addr string) *http.Request {
	r := bareLoginRequest()
	r.RemoteAddr = addr + ":4444"
	return withClient(r)
}

func alerts[A ~string](events []audit.Event, action A) []audit.Event {
	var out []audit.Event
	for _, e := range events {
		if string(e.Action) == string(action) {
			out = append(out, e)
		}
	}
	return out
}

// TestLoginSprayingDetected: failed logins from one address over 20
// accounts raise one password-spraying alert from the audit Detector,
// whether the accounts exist, do not, or both. On the old code unknown
// accounts carried no target and 20 of them raised nothing.
func TestLoginSprayingDetected(t *testing.T) {
	tests := []struct {
		name           string
		known, unknown int
	}{
		{"unknown accounts", 0, 20},
		{"known accounts", 20, 0},
		{"mixed", 5, 15},
		{"mixed, under the threshold", 4, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, sink := sprayFixture(t, tt.known)
			for i := range tt.known {
				_, err := a.Login(sprayRequest("198.51.100.7"), fmt.Sprint("acct", i), "spring2026 spring2026")
				require.Equal(t, auth.ErrInvalidCredentials, err)
			}
			for i := range tt.unknown {
				_, err := a.Login(sprayRequest("198.51.100.7"), fmt.Sprintf("ghost%d@example.com", i), "spring2026 spring2026")
				require.Equal(t, auth.ErrInvalidCredentials, err)
			}
			// Another address's failures do not add to it.
			_, err := a.Login(sprayRequest("192.0.2.1"), "someone-else", "spring2026 spring2026")
			require.Equal(t, auth.ErrInvalidCredentials, err)

			got := alerts(sink.Events(), string(detect.ActionPasswordSpraying))
			if tt.known+tt.unknown < 10 {
				assert.Empty(t, got)
				return
			}
			require.Len(t, got, 1, "exactly one alert")
			assert.Equal(t, audit.Target{Kind: "address", ID: "198.51.100.7"}, got[0].Target)
			assert.Equal(t, netip.MustParseAddr("198.51.100.7"), got[0].ClientIP)
			assert.Len(t, alerts(sink.Events(), string(audit.ActionLoginFailed)), tt.known+tt.unknown+1)
		})
	}
}

// TestLoginUnknownNameDigest: an unknown login name is audited by a digest
// keyed per Authenticator: the same for spellings of one name, different
// for different names, not the plain SHA-256 a log reader could test
// guesses against, and never the name itself.
func TestLoginUnknownNameDigest(t *testing.T) {
	f := newFixture(t, password.HasherConfig{})
	other := newFixture(t, password.HasherConfig{})
	digest := func(f *fixture, login string) audit.Target {
		t.Helper()
		_, err := f.a.Login(loginRequest(), login, "hunter2 hunter2 hunter2")
		require.Equal(t, auth.ErrInvalidCredentials, err)
		ev := f.sink.Events()
		return ev[len(ev)-1].Target
	}
	secret := "my secret password 1"
	d := digest(f, secret)
	assert.Equal(t, audit.TargetKindLogin, d.Kind)
	assert.Equal(t, d, digest(f, " MY SECRET PASSWORD 1"), "one name, one digest")
	assert.NotEqual(t, d, digest(f, "my secret password 2"))
	assert.NotEqual(t, d, digest(other, secret), "keyed per Authenticator")
	plain := sha256.Sum256([]byte(secret))
	assert.NotContains(t, hex.EncodeToString(plain[:]), d.ID, "not the unkeyed SHA-256")
	assertNoSecrets(t, f.sink.Events(), secret, "secret password")
	for _, e := range f.sink.Events() {
		assert.Empty(t, e.Meta, "no other trace of the name")
	}
}

// TestLoginDigestKey: Authenticators given one LoginDigestKey (instances
// of one app) name an unknown login name by the same digest in their
// audit events, so that a detector sharing its counts between them counts
// one name; another key, or none, gives another digest. A key shorter
// than 32 bytes, or empty, is refused.
func TestLoginDigestKey(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	withKey := func(key []byte) *fixture {
		t.Helper()
		f := newFixture(t, password.HasherConfig{})
		var err error
		f.a, err = auth.NewAuthenticator(f.store, f.sessions, auth.AuthenticatorConfig{
			Hasher: f.h, Throttle: f.throttle, Audit: audit.MustNew(f.sink, audit.Config{}), LoginDigestKey: key,
		})
		require.NoError(t, err)
		return f
	}
	digest := func(f *fixture, login string) audit.Target {
		t.Helper()
		_, err := f.a.Login(loginRequest(), login, "hunter2 hunter2 hunter2")
		require.Equal(t, auth.ErrInvalidCredentials, err)
		ev := alerts(f.sink.Events(), string(audit.ActionLoginFailed))
		require.NotEmpty(t, ev)
		return ev[len(ev)-1].Target
	}
	shared := bytesCopy(key)
	a, b := withKey(shared), withKey(key)
	shared[0] ^= 1 // NewAuthenticator kept a copy
	d := digest(a, "ghost@example.com")
	assert.Equal(t, audit.TargetKindLogin, d.Kind)
	assert.Len(t, d.ID, 16)
	assert.Equal(t, d, digest(b, "Ghost@Example.com"), "one key, one digest across Authenticators")
	assert.NotEqual(t, d, digest(b, "ghost2@example.com"))
	other := bytesCopy(key)
	other[31] ^= 1
	assert.NotEqual(t, d, digest(withKey(other), "ghost@example.com"), "another key")
	assert.NotEqual(t, d, digest(withKey(nil), "ghost@example.com"), "the random default")

	f := newFixture(t, password.HasherConfig{})
	for _, n := range []int{0, 16, 31} {
		_, err := auth.NewAuthenticator(f.store, f.sessions, auth.AuthenticatorConfig{LoginDigestKey: make([]byte, n)})
		require.Error(t, err, "%d bytes", n)
		assert.Contains(t, err.Error(), "LoginDigestKey")
	}
}

func bytesCopy(b []byte) []byte { return append([]byte(nil), b...) }
