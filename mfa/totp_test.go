package mfa_test

import (
	"bytes"
	"context"
	"encoding/base32"
	"errors"
	"fmt"
	"image/png"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/identity"
	"github.com/deployedworks/rampart/internal/testenv"
	"github.com/deployedworks/rampart/mfa"
	"github.com/deployedworks/rampart/mfa/memstore"
	"github.com/deployedworks/rampart/ratelimit"
	"github.com/deployedworks/rampart/secrets"
)

type totpFixture struct {
	totp     *mfa.TOTP
	store    *memstore.Store
	clock    *testenv.Clock
	sink     *audit.MemorySink
	sessions *fakeSessions
}

// as is the context of user's own session, signed in now.
func (f *totpFixture) as(user string) context.Context { return signedIn(user, f.clock.Now()) }

// verified is the context of user's own session, which verified a second
// factor now.
func (f *totpFixture) verified(user string) context.Context {
	ctx := f.as(user)
	p, _ := identity.FromContext(ctx)
	p.MFATime = f.clock.Now()
	return identity.NewContext(ctx, p)
}

func newTOTP(t *testing.T, lim ratelimit.Limiter) *totpFixture {
	t.Helper()
	return newTOTPConfig(t, func(c *mfa.TOTPConfig) { c.Limiter, c.UserLimiter = lim, lim })
}

// newTOTPConfig is newTOTP with the config edited by edit.
func newTOTPConfig(t *testing.T, edit func(*mfa.TOTPConfig)) *totpFixture {
	t.Helper()
	f := &totpFixture{store: newStore(t), clock: newClock(), sessions: &fakeSessions{}}
	var lg *audit.Logger
	lg, f.sink = newAudit()
	cfg := mfa.TOTPConfig{
		Issuer: "Marketplace", Keyring: newKeyring(t), Store: f.store, Sessions: f.sessions,
		Limiter: unlimited, UserLimiter: unlimited, Audit: lg, Now: f.clock.Now,
	}
	edit(&cfg)
	var err error
	f.totp, err = mfa.NewTOTP(cfg)
	require.NoError(t, err)
	return f
}

// enrol enrols and confirms user, leaving the clock one step later.
func (f *totpFixture) enrol(t *testing.T, user string) *mfa.Enrolment {
	t.Helper()
	e, err := f.totp.Enrol(f.as(user), user, user+"@example.com")
	require.NoError(t, err)
	require.NoError(t, f.totp.Confirm(f.as(user), user, codeAt(t, e, f.clock.Now())))
	f.clock.Add(30 * time.Second)
	return e
}

func TestNewTOTP_Config(t *testing.T) {
	kr, st, ss := newKeyring(t), newStore(t), &fakeSessions{}
	for _, r := range []struct {
		name string
		cfg  mfa.TOTPConfig
		ok   bool
	}{
		{"ok", mfa.TOTPConfig{Sessions: ss, Issuer: "X", Keyring: kr, Store: st}, true},
		{"no issuer", mfa.TOTPConfig{Sessions: ss, Keyring: kr, Store: st}, false},
		{"colon in issuer", mfa.TOTPConfig{Sessions: ss, Issuer: "a:b", Keyring: kr, Store: st}, false},
		{"no keyring", mfa.TOTPConfig{Sessions: ss, Issuer: "X", Store: st}, false},
		{"no store", mfa.TOTPConfig{Sessions: ss, Issuer: "X", Keyring: kr}, false},
		{"no sessions", mfa.TOTPConfig{Issuer: "X", Keyring: kr, Store: st}, false},
		{"negative ReauthAge", mfa.TOTPConfig{Sessions: ss, Issuer: "X", Keyring: kr, Store: st, ReauthAge: -time.Second}, false},
		{"7 digits", mfa.TOTPConfig{Sessions: ss, Issuer: "X", Keyring: kr, Store: st, Digits: 7}, false},
		{"bad algorithm", mfa.TOTPConfig{Sessions: ss, Issuer: "X", Keyring: kr, Store: st, Algorithm: 9}, false},
		{"fractional period", mfa.TOTPConfig{Sessions: ss, Issuer: "X", Keyring: kr, Store: st, Period: 1500 * time.Millisecond}, false},
		{"8 digits sha256 60s", mfa.TOTPConfig{Sessions: ss, Issuer: "X", Keyring: kr, Store: st, Digits: 8, Algorithm: mfa.SHA256, Period: time.Minute}, true},
	} {
		t.Run(r.name, func(t *testing.T) {
			_, err := mfa.NewTOTP(r.cfg)
			if r.ok {
				assert.NoError(t, err)
			} else {
				assert.Error(t, err)
			}
		})
	}
}

func TestTOTP_Enrolment(t *testing.T) {
	f := newTOTP(t, unlimited)
	ctx := context.Background()
	e, err := f.totp.Enrol(f.as("u1"), "u1", "alice@example.com")
	require.NoError(t, err)

	u, err := url.Parse(e.URI())
	require.NoError(t, err)
	assert.Equal(t, "otpauth", u.Scheme)
	assert.Equal(t, "totp", u.Host)
	assert.Equal(t, "/Marketplace:alice@example.com", u.Path)
	q := u.Query()
	assert.Equal(t, "Marketplace", q.Get("issuer"))
	assert.Equal(t, "SHA1", q.Get("algorithm"))
	assert.Equal(t, "6", q.Get("digits"))
	assert.Equal(t, "30", q.Get("period"))
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(q.Get("secret"))
	require.NoError(t, err)
	assert.Len(t, raw, 20, "160-bit secret")
	assert.Equal(t, q.Get("secret"), strings.ReplaceAll(e.Secret(), " ", ""))

	img, err := e.PNG(256)
	require.NoError(t, err)
	decoded, err := png.Decode(bytes.NewReader(img))
	require.NoError(t, err)
	assert.Equal(t, 256, decoded.Bounds().Dx())
	_, err = e.PNG(10)
	assert.Error(t, err)

	// The enrolment never prints its secret.
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("enrol", "e", e)
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("enrol", "e", e)
	printed := []string{fmt.Sprint(e), fmt.Sprintf("%+v %#v %v", e, e, *e), logged.String()}
	for _, verb := range []string{"%s", "%q", "%x"} { // verbs vet refuses for a non-Stringer, which is the point
		printed = append(printed, fmt.Sprintf(verb, []any{e}...))
	}
	secret := q.Get("secret")
	for _, s := range printed {
		assert.NotContains(t, s, secret)
		assert.NotContains(t, s, strings.ToLower(secret))
		assert.NotContains(t, s, "otpauth")
	}

	// Not enrolled until confirmed.
	ok, err := f.totp.Enrolled(ctx, "u1")
	require.NoError(t, err)
	assert.False(t, ok)
	require.ErrorIs(t, f.totp.Verify(ctx, "u1", codeAt(t, e, f.clock.Now())), mfa.ErrNotEnrolled)

	require.ErrorIs(t, f.totp.Confirm(f.as("u1"), "u1", "000000x"), mfa.ErrInvalidCode)
	require.NoError(t, f.totp.Confirm(f.as("u1"), "u1", codeAt(t, e, f.clock.Now())))
	ok, err = f.totp.Enrolled(ctx, "u1")
	require.NoError(t, err)
	assert.True(t, ok)

	// The confirming code is used up.
	require.ErrorIs(t, f.totp.Verify(ctx, "u1", codeAt(t, e, f.clock.Now())), mfa.ErrCodeReused)
	f.clock.Add(30 * time.Second)
	require.NoError(t, f.totp.Verify(ctx, "u1", codeAt(t, e, f.clock.Now())))

	require.ErrorIs(t, f.totp.Confirm(f.as("nobody"), "nobody", "123456"), mfa.ErrNoPendingEnrolment)
	require.ErrorIs(t, f.totp.Confirm(f.verified("u1"), "u1", "123456"), mfa.ErrNoPendingEnrolment)
}

// TestTOTP_ValidityWindow: by default a code is accepted during its own
// 30-second step only (ASVS 5.0 §6.5.5); AllowClockSkew widens that to one
// step either side, and never further.
func TestTOTP_ValidityWindow(t *testing.T) {
	ctx := context.Background()
	// Steps are 30 s long; the clock is placed at the first and the last
	// second of a step, and codes from other steps are tried.
	rows := []struct {
		name     string
		within   time.Duration // where in the current step "now" is
		offset   int           // code's step relative to now's
		strict   error         // the default
		withSkew error         // AllowClockSkew
	}{
		{"current step, start", 0, 0, nil, nil},
		{"current step, end", 29 * time.Second, 0, nil, nil},
		{"previous step, start", 0, -1, mfa.ErrInvalidCode, nil},
		{"previous step, end", 29 * time.Second, -1, mfa.ErrInvalidCode, nil},
		{"next step, start", 0, +1, mfa.ErrInvalidCode, nil},
		{"next step, end", 29 * time.Second, +1, mfa.ErrInvalidCode, nil},
		{"attack: two steps back, start", 0, -2, mfa.ErrInvalidCode, mfa.ErrInvalidCode},
		{"attack: two steps back, end", 29 * time.Second, -2, mfa.ErrInvalidCode, mfa.ErrInvalidCode},
		{"attack: two steps ahead, start", 0, +2, mfa.ErrInvalidCode, mfa.ErrInvalidCode},
		{"attack: two steps ahead, end", 29 * time.Second, +2, mfa.ErrInvalidCode, mfa.ErrInvalidCode},
		{"attack: an hour old", 0, -120, mfa.ErrInvalidCode, mfa.ErrInvalidCode},
	}
	base := time.Unix(1_800_000_000/30*30, 0) // a step boundary
	for _, skew := range []bool{false, true} {
		f := newTOTPConfig(t, func(c *mfa.TOTPConfig) { c.AllowClockSkew = skew })
		for i, r := range rows {
			t.Run(fmt.Sprintf("skew=%v/%s", skew, r.name), func(t *testing.T) {
				user := fmt.Sprint("skew", i)
				f.clock.Set(base.Add(-time.Hour))
				e := f.enrol(t, user)
				now := base.Add(r.within)
				f.clock.Set(now)
				code := codeAt(t, e, now.Add(time.Duration(r.offset)*30*time.Second))
				err := f.totp.Verify(ctx, user, code)
				want := r.strict
				if skew {
					want = r.withSkew
				}
				if want == nil {
					assert.NoError(t, err)
				} else {
					assert.ErrorIs(t, err, want)
				}
			})
		}
	}
}

func TestTOTP_Replay(t *testing.T) {
	// With skew, so that an older step can still match.
	f := newTOTPConfig(t, func(c *mfa.TOTPConfig) { c.AllowClockSkew = true })
	ctx := context.Background()
	e := f.enrol(t, "u")
	now := f.clock.Now()

	code := codeAt(t, e, now)
	require.NoError(t, f.totp.Verify(ctx, "u", code))
	assert.ErrorIs(t, f.totp.Verify(ctx, "u", code), mfa.ErrCodeReused, "same code again")
	assert.ErrorIs(t, f.totp.Verify(ctx, "u", codeAt(t, e, now.Add(-30*time.Second))), mfa.ErrCodeReused,
		"attack: an older step after a newer one was accepted")

	// The next step's code is accepted in the next step.
	f.clock.Add(30 * time.Second)
	require.NoError(t, f.totp.Verify(ctx, "u", codeAt(t, e, f.clock.Now())))
	assert.ErrorIs(t, f.totp.Verify(ctx, "u", codeAt(t, e, f.clock.Now())), mfa.ErrCodeReused)
	f.clock.Add(30 * time.Second)
	assert.NoError(t, f.totp.Verify(ctx, "u", codeAt(t, e, f.clock.Now())))

	// Replay protection is per user: another user's steps are separate.
	e2 := f.enrol(t, "v")
	assert.NoError(t, f.totp.Verify(ctx, "v", codeAt(t, e2, f.clock.Now())))

	var reused int
	for _, ev := range events(f.sink, "mfa.totp.verify") {
		if ev.Outcome == audit.OutcomeFailure && strings.Contains(ev.Reason, "already used") {
			reused++
		}
	}
	assert.Equal(t, 3, reused)
}

// Of many concurrent submissions of one valid code exactly one passes.
func TestTOTP_ConcurrentReplay(t *testing.T) {
	f := newTOTP(t, unlimited)
	ctx := context.Background()
	e := f.enrol(t, "u")
	code := codeAt(t, e, f.clock.Now())

	var ok, reused atomic.Int32
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			switch err := f.totp.Verify(ctx, "u", code); {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, mfa.ErrCodeReused):
				reused.Add(1)
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	assert.Equal(t, int32(1), ok.Load())
	assert.Equal(t, int32(31), reused.Load())
}

func TestTOTP_Throttling(t *testing.T) {
	f := newTOTP(t, nil) // built-in limiter: 5 attempts at once, then one every 3 minutes
	ctx := context.Background()
	e := f.enrol(t, "u") // the confirmation succeeded: the count starts over

	for range 5 {
		require.ErrorIs(t, f.totp.Verify(ctx, "u", "000000"), mfa.ErrInvalidCode)
	}
	// Even the right code is refused now.
	err := f.totp.Verify(ctx, "u", codeAt(t, e, f.clock.Now()))
	require.ErrorIs(t, err, ratelimit.ErrLimited)
	var te *ratelimit.LimitedError
	require.ErrorAs(t, err, &te)
	assert.Greater(t, te.RetryAfter, 2*time.Minute)
	assert.LessOrEqual(t, te.RetryAfter, 3*time.Minute)

	// Other users are not affected.
	e2 := f.enrol(t, "v")
	require.NoError(t, f.totp.Verify(ctx, "v", codeAt(t, e2, f.clock.Now())))

	denied := 0
	for _, ev := range events(f.sink, "mfa.totp.verify") {
		if ev.Outcome == audit.OutcomeDenied {
			denied++
			assert.Equal(t, "u", ev.Actor.UserID)
		}
	}
	assert.Equal(t, 1, denied)

	f.clock.Add(15 * time.Minute)
	require.NoError(t, f.totp.Verify(ctx, "u", codeAt(t, e, f.clock.Now())))
}

// The limit counts consecutive failures: successes (an administrator who
// steps up again and again) are never throttled, and a success starts
// the count over.
func TestTOTP_ThrottlingCountsFailures(t *testing.T) {
	f := newTOTP(t, nil) // built-in limiter: 5 attempts at once, then one every 3 minutes
	ctx := context.Background()
	e := f.enrol(t, "u")
	for i := range 12 {
		f.clock.Add(30 * time.Second) // each step is accepted once
		require.NoError(t, f.totp.Verify(ctx, "u", codeAt(t, e, f.clock.Now())), "success %d", i)
	}
	for range 4 {
		require.ErrorIs(t, f.totp.Verify(ctx, "u", "000000"), mfa.ErrInvalidCode)
	}
	f.clock.Add(30 * time.Second)
	require.NoError(t, f.totp.Verify(ctx, "u", codeAt(t, e, f.clock.Now())))
	for range 5 {
		require.ErrorIs(t, f.totp.Verify(ctx, "u", "000000"), mfa.ErrInvalidCode)
	}
	require.ErrorIs(t, f.totp.Verify(ctx, "u", "000000"), ratelimit.ErrLimited)
}

func TestTOTP_LimiterFailsClosed(t *testing.T) {
	var fail atomic.Bool
	var keys []string
	var mu sync.Mutex
	lim := limiterFunc(func(_ context.Context, key string) (ratelimit.Decision, error) {
		mu.Lock()
		keys = append(keys, key)
		mu.Unlock()
		if fail.Load() {
			return ratelimit.Decision{Allowed: true}, errors.New("redis down") // Allowed is ignored
		}
		return ratelimit.Decision{Allowed: true}, nil
	})
	f := newTOTP(t, lim)
	ctx := context.Background()
	e := f.enrol(t, "u")
	fail.Store(true)
	err := f.totp.Verify(ctx, "u", codeAt(t, e, f.clock.Now()))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "redis down")
	assert.Equal(t, []string{"mfa:totp:s::u", "mfa:totp:u:u", "mfa:totp:s::u"}, keys, "per session (none here), then the user ceiling; a failure stops at the first")
}

// The store holds no plaintext secret, and a sealed secret moved to
// another user does not decrypt.
func TestTOTP_EncryptedAtRest(t *testing.T) {
	f := newTOTP(t, unlimited)
	ctx := context.Background()
	e := f.enrol(t, "alice")
	b32 := strings.ReplaceAll(e.Secret(), " ", "")
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(b32)
	require.NoError(t, err)

	rec, err := f.store.LoadTOTP(ctx, "alice")
	require.NoError(t, err)
	require.NotEmpty(t, rec.Secret)
	assert.Nil(t, rec.Pending)
	for _, needle := range [][]byte{raw, []byte(b32), []byte(strings.ToLower(b32)), raw[:8]} {
		assert.False(t, bytes.Contains(rec.Secret, needle), "plaintext found in store")
	}

	// Copying alice's sealed secret into mallory's record does not give
	// mallory a working factor: the ciphertext is bound to alice's ID.
	require.NoError(t, f.store.SaveTOTP(ctx, "mallory", mfa.TOTPRecord{Secret: rec.Secret}))
	err = f.totp.Verify(ctx, "mallory", codeAt(t, e, f.clock.Now()))
	require.Error(t, err)
	assert.NotErrorIs(t, err, mfa.ErrInvalidCode)

	// Tampering is detected.
	rec.Secret[len(rec.Secret)-1] ^= 1
	require.NoError(t, f.store.SaveTOTP(ctx, "alice", rec))
	require.Error(t, f.totp.Verify(ctx, "alice", codeAt(t, e, f.clock.Now())))
}

func TestTOTP_DisableAndReenrol(t *testing.T) {
	f := newTOTP(t, unlimited)
	ctx := context.Background()
	old := f.enrol(t, "u")

	// Re-enrolling keeps the old secret in force until the new one is
	// confirmed.
	fresh, err := f.totp.Enrol(f.verified("u"), "u", "u@example.com")
	require.NoError(t, err)
	require.NoError(t, f.totp.Verify(ctx, "u", codeAt(t, old, f.clock.Now())))
	f.clock.Add(30 * time.Second)
	require.ErrorIs(t, f.totp.Verify(ctx, "u", codeAt(t, fresh, f.clock.Now())), mfa.ErrInvalidCode)
	require.ErrorIs(t, f.totp.Confirm(f.verified("u"), "u", codeAt(t, old, f.clock.Now())), mfa.ErrInvalidCode)
	require.NoError(t, f.totp.Confirm(f.verified("u"), "u", codeAt(t, fresh, f.clock.Now())))
	f.clock.Add(30 * time.Second)
	require.ErrorIs(t, f.totp.Verify(ctx, "u", codeAt(t, old, f.clock.Now())), mfa.ErrInvalidCode)
	require.NoError(t, f.totp.Verify(ctx, "u", codeAt(t, fresh, f.clock.Now())))

	require.NoError(t, f.totp.Disable(f.verified("u"), "u", false))
	ok, err := f.totp.Enrolled(ctx, "u")
	require.NoError(t, err)
	assert.False(t, ok)
	f.clock.Add(30 * time.Second)
	require.ErrorIs(t, f.totp.Verify(ctx, "u", codeAt(t, fresh, f.clock.Now())), mfa.ErrNotEnrolled)

	again := f.enrol(t, "u")
	require.NoError(t, f.totp.Verify(ctx, "u", codeAt(t, again, f.clock.Now())))

	assert.Len(t, events(f.sink, "mfa.totp.disable"), 1)
	assert.Len(t, events(f.sink, "mfa.totp.enrol"), 3)
}

func TestTOTP_AuditEveryOutcome(t *testing.T) {
	f := newTOTP(t, nil)
	ctx := context.Background()
	e := f.enrol(t, "u")
	_ = f.totp.Verify(ctx, "u", codeAt(t, e, f.clock.Now()))
	_ = f.totp.Verify(ctx, "u", codeAt(t, e, f.clock.Now()))
	_ = f.totp.Verify(ctx, "u", "nope")
	_ = f.totp.Verify(ctx, "nobody", "123456")

	var got []string
	for _, ev := range events(f.sink, "mfa.totp.verify") {
		assert.Equal(t, audit.CategoryAuthentication, ev.Category)
		got = append(got, string(ev.Outcome)+":"+ev.Reason)
	}
	assert.Equal(t, []string{
		"success:",
		"failure:" + mfa.ErrCodeReused.Error(),
		"failure:" + mfa.ErrInvalidCode.Error(),
		"failure:" + mfa.ErrNotEnrolled.Error(),
	}, got)
	ev := events(f.sink, "mfa.totp.verify")[0]
	assert.Equal(t, "0", ev.Meta["skew"])
	for _, ev := range f.sink.Events() {
		assert.NotContains(t, fmt.Sprint(ev), codeAt(t, e, f.clock.Now()), "codes never reach audit")
	}
}

func TestTOTP_Rekey(t *testing.T) {
	ctx := context.Background()
	oldKey := secrets.Key{ID: "old", Secret: secrets.Random(32)}
	newKey := secrets.Key{ID: "new", Secret: secrets.Random(32)}
	before, err := secrets.NewKeyring(oldKey)
	require.NoError(t, err)
	after, err := secrets.NewKeyring(newKey, oldKey)
	require.NoError(t, err)
	onlyNew, err := secrets.NewKeyring(newKey)
	require.NoError(t, err)

	store, c := newStore(t), newClock()
	mk := func(k *secrets.Keyring) *mfa.TOTP {
		tp, err := mfa.NewTOTP(mfa.TOTPConfig{Issuer: "X", Keyring: k, Store: store, Sessions: &fakeSessions{}, Limiter: unlimited, UserLimiter: unlimited, Now: c.Now})
		require.NoError(t, err)
		return tp
	}
	e, err := mk(before).Enrol(signedIn("u", c.Now()), "u", "u")
	require.NoError(t, err)
	require.NoError(t, mk(before).Confirm(signedIn("u", c.Now()), "u", codeAt(t, e, c.Now())))

	rotated, err := mk(after).Rekey(ctx, "u")
	require.NoError(t, err)
	assert.True(t, rotated)
	rotated, err = mk(after).Rekey(ctx, "u")
	require.NoError(t, err)
	assert.False(t, rotated, "already under the primary key")
	rotated, err = mk(after).Rekey(ctx, "nobody")
	require.NoError(t, err)
	assert.False(t, rotated)

	// The old key can now be retired.
	c.Add(30 * time.Second)
	require.NoError(t, mk(onlyNew).Verify(ctx, "u", codeAt(t, e, c.Now())))
}

// resetFails allows every attempt and cannot reset.
type resetFails struct{}

func (resetFails) Allow(context.Context, string) (ratelimit.Decision, error) {
	return ratelimit.Decision{Allowed: true}, nil
}

func (resetFails) Reset(context.Context, string) error { return errors.New("redis: down") }

// A limiter that cannot forget the attempts does not fail the check; the
// failure is audited.
func TestTOTP_ResetFailureAudited(t *testing.T) {
	f := newTOTP(t, resetFails{})
	e := f.enrol(t, "u")
	f.clock.Add(30 * time.Second)
	require.NoError(t, f.totp.Verify(context.Background(), "u", codeAt(t, e, f.clock.Now())))
	evs := events(f.sink, string(mfa.ActionLimiterReset))
	require.Len(t, evs, 2, "confirmation and verification")
	assert.Equal(t, audit.CategoryError, evs[0].Category)
	assert.Contains(t, evs[0].Reason, "redis: down")
}

// TestTOTP_EnrolNeedsRecentAuth: ASVS 5.0 §7.5.1. A session stolen after
// sign-in cannot add its own authenticator: enrolling (and confirming) a
// first factor needs a sign-in or password re-entry within ReauthAge, and
// replacing one needs a recent verification of a factor the user has.
func TestTOTP_EnrolNeedsRecentAuth(t *testing.T) {
	f := newTOTP(t, unlimited)
	age := mfa.DefaultReauthAge
	now := f.clock.Now()
	stale := signedIn("victim", now.Add(-age-time.Second))
	for _, r := range []struct {
		name string
		ctx  context.Context
		want error
	}{
		{"attack: stale session", stale, mfa.ErrReauthRequired},
		{"attack: no session", context.Background(), mfa.ErrUnauthenticated},
		{"attack: another user's session", signedIn("mallory", now), mfa.ErrUnauthenticated},
	} {
		t.Run(r.name, func(t *testing.T) {
			_, err := f.totp.Enrol(r.ctx, "victim", "victim@example.com")
			assert.ErrorIs(t, err, r.want)
			rec, err := f.store.LoadTOTP(context.Background(), "victim")
			if err == nil {
				assert.Nil(t, rec.Pending, "nothing pending")
			}
		})
	}
	denied := 0
	for _, ev := range events(f.sink, string(mfa.ActionTOTPEnrol)) {
		if ev.Outcome == audit.OutcomeDenied {
			denied++
		}
	}
	assert.Equal(t, 3, denied, "each refusal is audited")

	// The password re-entered (AuthTime now): enrolment and confirmation.
	e, err := f.totp.Enrol(signedIn("victim", now.Add(-age)), "victim", "victim@example.com")
	require.NoError(t, err)
	f.clock.Add(time.Second) // the sign-in is now just over ReauthAge old
	assert.ErrorIs(t, f.totp.Confirm(signedIn("victim", now.Add(-age)), "victim", codeAt(t, e, f.clock.Now())), mfa.ErrReauthRequired,
		"confirmation is checked too")
	require.NoError(t, f.totp.Confirm(f.as("victim"), "victim", codeAt(t, e, f.clock.Now())))

	// Now that a factor exists, a fresh password is not enough to replace it.
	f.clock.Add(30 * time.Second)
	_, err = f.totp.Enrol(f.as("victim"), "victim", "victim@example.com")
	assert.ErrorIs(t, err, mfa.ErrStepUpRequired)
	_, err = f.totp.Enrol(f.verified("victim"), "victim", "victim@example.com")
	assert.NoError(t, err)
}

// TestTOTP_FactorChangeSignsOutOthers: ASVS 5.0 §7.4.3. Confirming or
// removing a secret signs out the user's other sessions (the request's own
// survives), or every session when an administrator removes it; a failure
// to do so is reported, the change being made.
func TestTOTP_FactorChangeSignsOutOthers(t *testing.T) {
	f := newTOTP(t, unlimited)
	f.enrol(t, "u")
	others, users := f.sessions.calls()
	assert.Equal(t, []string{"u"}, others, "confirm: RevokeOthers in u's session")
	assert.Empty(t, users)

	require.NoError(t, f.totp.Disable(f.verified("u"), "u", false))
	others, _ = f.sessions.calls()
	assert.Equal(t, []string{"u", "u"}, others, "disable by the user")

	f.enrol(t, "v")
	require.NoError(t, f.totp.Disable(f.verified("admin"), "v", false))
	_, users = f.sessions.calls()
	assert.Equal(t, []string{"v"}, users, "disable by an administrator: all of v's sessions")

	f.sessions.err = errors.New("store down")
	e, err := f.totp.Enrol(f.as("w"), "w", "w@example.com")
	require.NoError(t, err)
	err = f.totp.Confirm(f.as("w"), "w", codeAt(t, e, f.clock.Now()))
	assert.ErrorIs(t, err, mfa.ErrSessionsNotRevoked)
	ok, err := f.totp.Enrolled(context.Background(), "w")
	require.NoError(t, err)
	assert.True(t, ok, "the secret is confirmed all the same")
}

// TestTOTP_RejectedInputAudited: ASVS 5.0 §16.3.3. A malformed code is
// refused and audited, marked as malformed; a flood of them (and of
// throttled attempts) is paced, so that it cannot flood the audit log.
func TestTOTP_RejectedInputAudited(t *testing.T) {
	f := newTOTP(t, unlimited)
	f.enrol(t, "u")
	ctx := context.Background()
	for _, code := range []string{"12345a", strings.Repeat("9", 65), "1234567", "\x00\x01"} {
		assert.ErrorIs(t, f.totp.Verify(ctx, "u", code), mfa.ErrInvalidCode)
	}
	assert.ErrorIs(t, f.totp.Verify(ctx, "u", "000000"), mfa.ErrInvalidCode) // well-formed, wrong
	var malformed, plain int
	for _, ev := range events(f.sink, string(mfa.ActionTOTPVerify)) {
		switch {
		case ev.Meta["input"] == "malformed":
			malformed++
		case ev.Outcome == audit.OutcomeFailure:
			plain++
		}
	}
	assert.Equal(t, 4, malformed)
	assert.Equal(t, 1, plain, "a wrong code is not marked malformed")

	for range 300 {
		_ = f.totp.Verify(ctx, "u", "junk")
	}
	assert.Less(t, len(events(f.sink, string(mfa.ActionTOTPVerify))), 60, "a flood of malformed codes is paced")
}
