package mfa_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/identity"
	"github.com/deployedworks/rampart/internal/testenv"
	"github.com/deployedworks/rampart/mfa"
	"github.com/deployedworks/rampart/mfa/memstore"
	"github.com/deployedworks/rampart/ratelimit"
	"github.com/deployedworks/rampart/secrets"
)

// newClock is an injectable clock.
func newClock() *testenv.Clock {
	return testenv.NewClock(time.Date(2026, 6, 25, 12, 0, 0, 0, time.UTC))
}

func newKeyring(t testing.TB) *secrets.Keyring {
	t.Helper()
	k, err := secrets.NewKeyring(secrets.Key{ID: "k1", Secret: secrets.Random(32)})
	require.NoError(t, err)
	return k
}

func newStore(t testing.TB) *memstore.Store {
	t.Helper()
	s, err := memstore.New(memstore.Config{})
	require.NoError(t, err)
	return s
}

func newAudit() (*audit.Logger, *audit.MemorySink) {
	sink := &audit.MemorySink{}
	return audit.MustNew(sink, audit.Config{}), sink
}

// limiterFunc adapts a function to ratelimit.Limiter.
type limiterFunc func(ctx context.Context, key string) (ratelimit.Decision, error)

func (f limiterFunc) Allow(ctx context.Context, key string) (ratelimit.Decision, error) {
	return f(ctx, key)
}

// unlimited is a ratelimit.Limiter that allows everything.
var unlimited = limiterFunc(func(context.Context, string) (ratelimit.Decision, error) {
	return ratelimit.Decision{Allowed: true}, nil
})

// codeAt computes the TOTP code of an enrolment at time at, with
// pquerna/otp as an independent implementation.
func codeAt(t testing.TB, e *mfa.Enrolment, at time.Time) string {
	t.Helper()
	return totpCode(t, strings.ReplaceAll(e.Secret(), " ", ""), at)
}

// totpCode computes the code of a base32 secret at time at.
func totpCode(t testing.TB, secret string, at time.Time) string {
	t.Helper()
	code, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{
		Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1,
	})
	require.NoError(t, err)
	return code
}

// events returns the audit events with the given action.
func events(sink *audit.MemorySink, action string) []audit.Event {
	var out []audit.Event
	for _, e := range sink.Events() {
		if string(e.Action) == action {
			out = append(out, e)
		}
	}
	return out
}

// fakeSessions records the sign-outs asked of the session layer.
type fakeSessions struct {
	mu     sync.Mutex
	err    error
	others []string // the signed-in user of each RevokeOthers
	users  []string // the user of each RevokeUser
}

func (f *fakeSessions) RevokeOthers(ctx context.Context) error {
	p, _ := identity.FromContext(ctx)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.others = append(f.others, p.UserID)
	return f.err
}

func (f *fakeSessions) RevokeUser(_ context.Context, userID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.users = append(f.users, userID)
	return f.err
}

func (f *fakeSessions) calls() (others, users []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.others...), append([]string(nil), f.users...)
}

var _ mfa.Sessions = (*fakeSessions)(nil)

// signedIn returns a context holding userID's session, signed in with a
// password at authAt, as the session layer's Handler puts it.
func signedIn(userID string, authAt time.Time) context.Context {
	return identity.NewContext(context.Background(), identity.Principal{
		UserID: userID, Methods: []identity.Method{identity.MethodPassword}, AuthTime: authAt})
}
