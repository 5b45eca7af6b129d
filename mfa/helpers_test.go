package mfa_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/internal/testenv"
	"github.com/deployedworks/rampart/mfa"
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

func newStore(t testing.TB) *mfa.MemoryStore {
	t.Helper()
	s, err := mfa.NewMemoryStore(mfa.MemoryStoreConfig{})
	require.NoError(t, err)
	return s
}

func newAudit() (*audit.Logger, *audit.MemorySink) {
	sink := &audit.MemorySink{}
	return audit.New(sink, audit.Config{}), sink
}

// noSessions is an IdentityReader for calls made outside any session
// (context.Background()): they share one per-user bucket of the session
// limiter.
type noSessions struct{}

func (noSessions) Identity(context.Context) (mfa.Identity, bool) { return mfa.Identity{}, false }

// unlimited is an AttemptLimiter that allows everything.
var unlimited = mfa.AttemptLimiterFunc(func(context.Context, string) (bool, time.Duration, error) {
	return true, 0, nil
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
