package mfa_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/identity"
	"github.com/deployedworks/rampart/mfa"
	"github.com/deployedworks/rampart/ratelimit"
	"github.com/deployedworks/rampart/secrets"
)

// throttleFixture is TOTP and recovery codes with the built-in limiters
// and sessions that tell the owner's requests from an attacker's.
type throttleFixture struct {
	clock    bubbleClock
	totp     *mfa.TOTP
	recovery *mfa.Recovery
	sink     *audit.MemorySink
}

func newThrottleFixture(t *testing.T) *throttleFixture {
	t.Helper()
	f := &throttleFixture{}
	var lg *audit.Logger
	lg, f.sink = newAudit()
	store := newStore(t)
	var err error
	f.totp, err = mfa.NewTOTP(mfa.TOTPConfig{Issuer: "X", Keyring: newKeyring(t), Store: store, Sessions: &fakeSessions{}, Audit: lg})
	require.NoError(t, err)
	f.recovery, err = mfa.NewRecovery(mfa.RecoveryConfig{Key: secrets.Random(32), Store: store, Audit: lg})
	require.NoError(t, err)
	return f
}

// bubbleClock is the clock of a synctest bubble: the fixture runs inside
// one, where time.Now is fake and time.Sleep moves it at once.
type bubbleClock struct{}

func (bubbleClock) Now() time.Time      { return time.Now() }
func (bubbleClock) Add(d time.Duration) { time.Sleep(d) }

// signIn returns the context of a new session of user that passed the
// password only, as the owner's new login or an attacker who knows the
// password.
func (f *throttleFixture) signIn(user string) context.Context {
	ref := make([]byte, 16)
	_, _ = rand.Read(ref)
	return identity.NewContext(context.Background(), identity.Principal{
		UserID: user, Methods: []identity.Method{identity.MethodPassword},
		AuthTime: f.clock.Now(), SessionRef: hex.EncodeToString(ref),
	})
}

// markMFA returns ctx with its session verified by a second factor, as
// the session layer's MarkMFA leaves it for the next request.
func (f *throttleFixture) markMFA(ctx context.Context) context.Context {
	p, _ := identity.FromContext(ctx)
	p = p.With(identity.MethodOTP)
	p.MFATime = f.clock.Now()
	return identity.NewContext(ctx, p)
}

// enrolTOTP enrols and confirms a TOTP secret for user in ctx.
func (f *throttleFixture) enrolTOTP(t *testing.T, ctx context.Context, user string) *mfa.Enrolment {
	t.Helper()
	e, err := f.totp.Enrol(ctx, user, user+"@example.com")
	require.NoError(t, err)
	require.NoError(t, f.totp.Confirm(ctx, user, codeAt(t, e, f.clock.Now())))
	return e
}

// guessUntilThrottled makes wrong guesses in ctx until refused, and
// returns how many were checked.
func guessUntilThrottled(t *testing.T, check func(ctx context.Context) error, ctx context.Context) int {
	t.Helper()
	for n := 0; ; n++ {
		err := check(ctx)
		if err == nil {
			t.Fatal("a wrong guess was accepted")
		}
		if errorsIsThrottled(err) {
			return n
		}
		require.ErrorIs(t, err, mfa.ErrInvalidCode)
		require.Less(t, n, 100, "never throttled")
	}
}

func errorsIsThrottled(err error) bool { return errors.Is(err, ratelimit.ErrLimited) }

// TestTOTP_AttackerSessionCannotLockOwnerRegression: the attempt limit
// was per user, so whoever held the password could keep it shut with one
// wrong guess every few minutes, and the owner could not get past the MFA
// challenge. Now each session has its own limit: the attacker, guessing
// as fast as allowed for two hours, is throttled, while the owner signs
// in and verifies every ten minutes.
func TestTOTP_AttackerSessionCannotLockOwnerRegression(t *testing.T) {
	synctest.Test(t, testTOTP_AttackerSessionCannotLockOwnerRegression)
}

func testTOTP_AttackerSessionCannotLockOwnerRegression(t *testing.T) {
	f := newThrottleFixture(t)
	owner := f.signIn("admin")
	e := f.enrolTOTP(t, owner, "admin")

	attacker := f.signIn("admin")
	wrong := func(ctx context.Context) error { return f.totp.Verify(ctx, "admin", "000000") }
	checked := 0
	for minute := 0; minute < 120; minute += 10 {
		// Every ten minutes the attacker guesses until refused.
		checked += guessUntilThrottled(t, wrong, attacker)
		f.clock.Add(30 * time.Second) // the owner's code is for a new time step
		fresh := f.signIn("admin")
		require.NoError(t, f.totp.Verify(fresh, "admin", codeAt(t, e, f.clock.Now())), "minute %d: the owner verifies", minute)
		f.clock.Add(10*time.Minute - 30*time.Second)
	}
	assert.LessOrEqual(t, checked, 5+120/3, "the attacker is throttled: 5 guesses at once, then one every 3 minutes")

	var denied []audit.Event
	for _, ev := range events(f.sink, "mfa.totp.verify") {
		if ev.Outcome == audit.OutcomeDenied {
			denied = append(denied, ev)
		}
	}
	assert.Len(t, denied, 12, "every refusal of the attacker is audited")
}

// The same for recovery codes: an attacker guessing them does not stop
// the owner using one.
func TestRecovery_AttackerSessionCannotLockOwnerRegression(t *testing.T) {
	synctest.Test(t, testRecovery_AttackerSessionCannotLockOwnerRegression)
}

func testRecovery_AttackerSessionCannotLockOwnerRegression(t *testing.T) {
	f := newThrottleFixture(t)
	owner := f.signIn("admin")
	codes, err := f.recovery.Generate(owner, "admin")
	require.NoError(t, err)
	attacker := f.signIn("admin")
	wrong := func(ctx context.Context) error {
		_, err := f.recovery.Use(ctx, "admin", "AAAAA-AAAAA-AAAA")
		return err
	}
	for i := range 3 {
		require.Equal(t, 5, guessUntilThrottled(t, wrong, attacker))
		left, err := f.recovery.Use(f.signIn("admin"), "admin", codes[i])
		require.NoError(t, err, "round %d: the owner gets in", i)
		assert.Equal(t, 9-i, left)
		f.clock.Add(15 * time.Minute)
	}
}

// An attacker who signs in again and again for fresh sessions meets the
// per-user ceiling: it delays every session, the owner's new ones too, by
// at most 45 seconds at a time, and never locks. Sessions that already
// passed MFA (the owner stepping up) are not held by it.
func TestTOTP_UserCeilingDelaysNotLocks(t *testing.T) {
	synctest.Test(t, testTOTP_UserCeilingDelaysNotLocks)
}

func testTOTP_UserCeilingDelaysNotLocks(t *testing.T) {
	f := newThrottleFixture(t)
	owner := f.signIn("admin")
	e := f.enrolTOTP(t, owner, "admin")
	owner = f.markMFA(owner)

	wrong := func(ctx context.Context) error { return f.totp.Verify(ctx, "admin", "000000") }
	checked := 0
	for range 10 { // ten sessions, each guessing until refused
		checked += guessUntilThrottled(t, wrong, f.signIn("admin"))
	}
	assert.Equal(t, 19, checked, "the ceiling (20 at once, the confirmation included) caps guesses over all sessions")

	// A new session of the owner is delayed, not locked.
	fresh := f.signIn("admin")
	f.clock.Add(30 * time.Second)
	err := f.totp.Verify(fresh, "admin", codeAt(t, e, f.clock.Now()))
	var te *ratelimit.LimitedError
	require.ErrorAs(t, err, &te)
	assert.Positive(t, te.RetryAfter)
	assert.LessOrEqual(t, te.RetryAfter, 45*time.Second)
	assert.Contains(t, err.Error(), "all the user's sessions")

	// The owner's verified session steps up meanwhile.
	require.NoError(t, f.totp.Verify(owner, "admin", codeAt(t, e, f.clock.Now())), "step-up in a verified session")

	// A session verified as another user is held like the others.
	other := f.signIn("other")
	other = f.markMFA(other)
	require.ErrorAs(t, f.totp.Verify(other, "admin", codeAt(t, e, f.clock.Now())), &te, "another user's verified session")

	// After the delay, the new session gets its turn.
	f.clock.Add(te.RetryAfter + 30*time.Second)
	require.NoError(t, f.totp.Verify(fresh, "admin", codeAt(t, e, f.clock.Now())))
}
