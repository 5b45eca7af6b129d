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
	"github.com/deployedworks/rampart/mfa"
	"github.com/deployedworks/rampart/secrets"
)

// clock is an injectable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 6, 25, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
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
		if e.Action == action {
			out = append(out, e)
		}
	}
	return out
}
