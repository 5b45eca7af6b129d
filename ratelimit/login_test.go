package ratelimit_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/clientip"
	"github.com/deployedworks/rampart/internal/testenv"
	"github.com/deployedworks/rampart/ratelimit"
)

// throttle is the auth package's Throttle interface, copied: LoginThrottle
// must satisfy it without an adapter.
type throttle interface {
	Check(ctx context.Context, account string) error
	Failed(ctx context.Context, account string) error
	Succeeded(ctx context.Context, account string) error
}

var _ throttle = (*ratelimit.LoginThrottle)(nil)

func newLogin(t *testing.T, clk *testenv.Clock, cfg ratelimit.LoginThrottleConfig) *ratelimit.LoginThrottle {
	t.Helper()
	l, err := ratelimit.NewLoginThrottle(ratelimit.MemoryBackend{Config: ratelimit.MemoryConfig{Now: clk.Now, SweepInterval: -1}}, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, l.Close(context.Background())) })
	return l
}

// at is a request context from the client at ip, as clientip's handler
// makes it.
func at(ip netip.Addr) context.Context {
	return clientip.WithInfo(context.Background(), clientip.Info{Addr: ip})
}

// check runs l.Check from ip and returns the wait of its refusal (zero
// when allowed) or its other error.
func check(l *ratelimit.LoginThrottle, account string, ip netip.Addr) (time.Duration, error) {
	err := l.Check(at(ip), account)
	if le, ok := errors.AsType[*ratelimit.LimitedError](err); ok {
		if !errors.Is(err, ratelimit.ErrLimited) {
			panic("a LimitedError that is not ErrLimited")
		}
		return le.RetryAfter, nil
	}
	return 0, err
}

// try runs one login attempt that fails, and returns Check's answer.
func try(t *testing.T, l *ratelimit.LoginThrottle, account string, ip netip.Addr) time.Duration {
	t.Helper()
	wait, err := check(l, account, ip)
	require.NoError(t, err)
	if wait == 0 {
		require.NoError(t, l.Failed(at(ip), account))
	}
	return wait
}

var (
	attackerIP = netip.MustParseAddr("203.0.113.66")
	victimIP   = netip.MustParseAddr("198.51.100.7")
)

func addr(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{100, 64, byte(i >> 8), byte(i)})
}

// The default ladder for one client on one account, against an attacker
// who retries the moment it is allowed: 5 at once, then about one a
// minute; past 10, about one per 10 minutes; past 20, about one an hour.
func TestLoginGrowingDelays(t *testing.T) {
	clk := newClock()
	l := newLogin(t, clk, ratelimit.LoginThrottleConfig{})
	start := clk.Now()
	var waits []time.Duration // waits[i]: the wait before attempt i+1 got through
	for clk.Now().Sub(start) < 24*time.Hour {
		var waited time.Duration
		for {
			wait := try(t, l, "alice", attackerIP)
			if wait == 0 {
				break
			}
			waited += wait
			clk.Add(wait)
		}
		waits = append(waits, waited)
	}
	for i, w := range waits[:5] {
		assert.Zero(t, w, "attempt %d", i+1)
	}
	assert.Equal(t, time.Minute, waits[5].Round(time.Second), "attempt 6")
	for i := 6; i < 10; i++ {
		assert.InDelta(t, float64(time.Minute), float64(waits[i]), float64(5*time.Second), "attempt %d", i+1)
	}
	for i := 11; i < 20; i++ {
		assert.GreaterOrEqual(t, waits[i], 5*time.Minute, "attempt %d", i+1)
	}
	for i := 25; i < len(waits); i++ {
		assert.GreaterOrEqual(t, waits[i], 50*time.Minute, "attempt %d", i+1)
	}
	assert.InDelta(t, 20+24, len(waits), 3, "guesses a day from one address on one account")
}

func TestLoginSuccessResetsOwnLadder(t *testing.T) {
	clk := newClock()
	l := newLogin(t, clk, ratelimit.LoginThrottleConfig{})
	for range 5 {
		require.Zero(t, try(t, l, "bob", victimIP))
	}
	require.NotZero(t, try(t, l, "bob", victimIP))
	clk.Add(time.Minute)
	wait, err := check(l, "bob", victimIP)
	require.NoError(t, err)
	require.Zero(t, wait)
	require.NoError(t, l.Succeeded(at(victimIP), "bob"))
	for range 5 {
		assert.Zero(t, try(t, l, "bob", victimIP), "a fresh ladder after a success")
	}
}

// Attack: many addresses guess one account until its shared ladder is
// spent. The owner's known address still gets in; an unfamiliar address
// waits (the documented trade-off); the attacker's guessing is bounded.
func TestLoginVictimKeepsAPath(t *testing.T) {
	clk := newClock()
	l := newLogin(t, clk, ratelimit.LoginThrottleConfig{})

	// The owner logged in from home last week.
	_, err := check(l, "carol", victimIP)
	require.NoError(t, err)
	require.NoError(t, l.Succeeded(at(victimIP), "carol"))
	clk.Add(7 * 24 * time.Hour)

	// A botnet: 5 guesses from each of 200 addresses.
	allowed := 0
	for i := range 200 {
		for range 5 {
			if try(t, l, "carol", addr(i)) == 0 {
				allowed++
			}
		}
	}
	assert.Equal(t, 30, allowed, "the account ladder bounds distributed guessing")

	// The owner, at home: straight in, repeatedly.
	for range 3 {
		wait, err := check(l, "carol", victimIP)
		require.NoError(t, err)
		assert.Zero(t, wait, "the owner's known address keeps a path")
		require.NoError(t, l.Succeeded(at(victimIP), "carol"))
	}
	// Even after failing a few times (typos), the owner's ladder is their own.
	for range 4 {
		assert.Zero(t, try(t, l, "carol", victimIP))
	}
	// From an unfamiliar address, the owner waits like everyone else.
	assert.NotZero(t, try(t, l, "carol", netip.MustParseAddr("192.0.2.200")))
	// The lockout is not forever: the shared ladder refills.
	clk.Add(time.Minute)
	assert.Zero(t, try(t, l, "carol", netip.MustParseAddr("192.0.2.200")))
}

// Attack: one address trying many accounts (credential stuffing).
func TestLoginStopsSpraying(t *testing.T) {
	clk := newClock()
	l := newLogin(t, clk, ratelimit.LoginThrottleConfig{})
	nat := netip.MustParseAddr("192.0.2.1")

	// A regular user behind the same office NAT logged in before.
	_, err := check(l, "dave", nat)
	require.NoError(t, err)
	require.NoError(t, l.Succeeded(at(nat), "dave"))

	allowed := 0
	for i := range 1000 {
		if try(t, l, "user"+strconv.Itoa(i), nat) == 0 {
			allowed++
		}
	}
	assert.Equal(t, 19, allowed, "20 attempts at once from one address (dave's took one)")
	clk.Add(time.Hour)
	allowed = 0
	for i := range 1000 {
		if try(t, l, "other"+strconv.Itoa(i), nat) == 0 {
			allowed++
		}
		clk.Add(time.Second)
	}
	assert.LessOrEqual(t, allowed, 100+1000*100/3600+1, "the hourly ladder: its burst of 100, then 100 an hour")

	// Dave, known at this address, is not locked out by the spraying.
	wait, err := check(l, "dave", nat)
	require.NoError(t, err)
	assert.Zero(t, wait)
}

// Attack: spellings of one account name must not get separate ladders.
func TestLoginFoldsAccountNames(t *testing.T) {
	clk := newClock()
	l := newLogin(t, clk, ratelimit.LoginThrottleConfig{})
	for _, name := range []string{"erin@example.com", "ERIN@example.com", " Erin@Example.COM ", "ｅｒｉｎ@example.com", "erin@EXAMPLE.com"} {
		require.Zero(t, try(t, l, name, attackerIP), name)
	}
	assert.NotZero(t, try(t, l, "eRiN@example.com", attackerIP), "the 6th spelling shares the ladder")
	// A very long name is cut, never a way around the limit.
	long := strings.Repeat("x", 10_000)
	for range 5 {
		require.Zero(t, try(t, l, long+strconv.Itoa(0), attackerIP))
	}
	assert.NotZero(t, try(t, l, long+"1", attackerIP))
}

// Refused attempts spend nothing: hammering a locked pair does not drain
// the account's shared ladder (which would lock out its owner's other
// devices) nor the address's.
func TestLoginRefusedAttemptsSpendNothing(t *testing.T) {
	clk := newClock()
	l := newLogin(t, clk, ratelimit.LoginThrottleConfig{})
	for range 5 {
		require.Zero(t, try(t, l, "frank", attackerIP))
	}
	for range 10_000 {
		require.NotZero(t, try(t, l, "frank", attackerIP))
	}
	// The account still has 25 of its 30 for others.
	allowed := 0
	for i := range 40 {
		if try(t, l, "frank", addr(i)) == 0 {
			allowed++
		}
	}
	assert.Equal(t, 25, allowed)
}

// Concurrent attempts on one pair: exactly the burst gets through.
func TestLoginExactUnderConcurrency(t *testing.T) {
	clk := newClock()
	l := newLogin(t, clk, ratelimit.LoginThrottleConfig{})
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				wait, err := check(l, "grace", attackerIP)
				if err == nil && wait == 0 {
					allowed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	assert.Equal(t, int64(5), allowed.Load())
}

// Run in a synctest bubble: the pacing of audit events runs on the real
// clock, which stands still there.
func TestLoginAudit(t *testing.T) { synctest.Test(t, testLoginAudit) }

func testLoginAudit(t *testing.T) {
	clk := newClock()
	sink := &audit.MemorySink{}
	l := newLogin(t, clk, ratelimit.LoginThrottleConfig{Audit: audit.MustNew(sink, audit.Config{Now: clk.Now})})
	for range 6 {
		try(t, l, "heidi@example.com", attackerIP)
	}
	events := sink.Events()
	require.Len(t, events, 2)
	locked, throttled := events[0], events[1]
	assert.Equal(t, locked.Meta["account_digest"], throttled.Meta["account_digest"], "one account, one digest")
	assert.Equal(t, ratelimit.ActionLoginLocked, locked.Action)
	assert.Equal(t, ratelimit.ActionLoginThrottled, throttled.Action)
	for _, e := range events {
		assert.Equal(t, audit.CategorySuspicious, e.Category)
		assert.Equal(t, audit.OutcomeDenied, e.Outcome)
		assert.Equal(t, attackerIP, e.ClientIP)
		assert.Equal(t, "pair", e.Meta["scope"])
		assert.Len(t, e.Meta["account_digest"], 16)
		unkeyed := sha256.Sum256([]byte("heidi@example.com"))
		assert.NotContains(t, hex.EncodeToString(unkeyed[:]), e.Meta["account_digest"], "keyed: a reader cannot test a guessed name")
		assert.NotContains(t, e.Reason+e.Meta["limit"], "heidi", "the account name stays out of the log")
	}
	assert.Equal(t, "1m0s", throttled.Meta["retry_after"])

	// A flood of refusals is paced.
	for range 1000 {
		try(t, l, "heidi@example.com", attackerIP)
	}
	assert.Len(t, sink.Events(), 2+19, "the throttled events' gate had 19 of its 20 left")
}

// brokenBackend makes stores whose backend is down.
type brokenBackend struct{ calls atomic.Int64 }

func (b *brokenBackend) NewStore(string, ratelimit.Limit) (ratelimit.Store, error) {
	return brokenStore{b}, nil
}

type brokenStore struct{ b *brokenBackend }

var errDown = errors.Join(ratelimit.ErrUnavailable, errors.New("dial tcp 127.0.0.1:1: connection refused"))

func (s brokenStore) Allow(context.Context, string) (ratelimit.Decision, error) {
	s.b.calls.Add(1)
	return ratelimit.Decision{}, errDown
}
func (s brokenStore) Peek(context.Context, string) (ratelimit.Decision, error) {
	s.b.calls.Add(1)
	return ratelimit.Decision{}, errDown
}
func (s brokenStore) Reset(context.Context, string) error { return errDown }

func TestLoginStoreOutage(t *testing.T) {
	for _, tc := range []struct {
		name     string
		failOpen bool
		outcome  audit.Outcome
	}{
		{"default fails closed", false, audit.OutcomeDenied},
		{"FailOpen lets attempts through", true, audit.OutcomeFailure},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sink := &audit.MemorySink{}
			l, err := ratelimit.NewLoginThrottle(&brokenBackend{}, ratelimit.LoginThrottleConfig{FailOpen: tc.failOpen, Audit: audit.MustNew(sink, audit.Config{})})
			require.NoError(t, err)
			wait, err := check(l, "ivan", attackerIP)
			assert.Zero(t, wait)
			if tc.failOpen {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, ratelimit.ErrUnavailable)
			}
			events := sink.Events()
			require.NotEmpty(t, events)
			assert.Equal(t, audit.CategoryError, events[0].Category)
			assert.Equal(t, ratelimit.ActionLoginUnavailable, events[0].Action)
			assert.Equal(t, tc.outcome, events[0].Outcome)
			assert.Contains(t, events[0].Meta["error"], "connection refused")
			assert.ErrorIs(t, l.Failed(at(attackerIP), "ivan"), ratelimit.ErrUnavailable)
			assert.ErrorIs(t, l.Succeeded(at(attackerIP), "ivan"), ratelimit.ErrUnavailable)
		})
	}
}

func TestNewLoginThrottleErrors(t *testing.T) {
	_, err := ratelimit.NewLoginThrottle(nil, ratelimit.LoginThrottleConfig{})
	assert.Error(t, err)
	_, err = ratelimit.NewLoginThrottle(ratelimit.MemoryBackend{}, ratelimit.LoginThrottleConfig{PerPair: []ratelimit.Limit{{Events: 0}}})
	assert.ErrorContains(t, err, "Events")
	_, err = ratelimit.NewLoginThrottle(ratelimit.MemoryBackend{}, ratelimit.LoginThrottleConfig{IPv6Bits: 129})
	assert.Error(t, err)
	_, err = ratelimit.NewLoginThrottle(ratelimit.MemoryBackend{}, ratelimit.LoginThrottleConfig{KnownFor: -time.Hour})
	assert.Error(t, err)
}

// FuzzLoginAccount: any login name is counted under its folded form, and
// never makes the throttle fail. Each input gets a throttle of its own: a
// shared one needed a clock moved on a day per input to refill, and after
// 106,000 inputs that clock was 292 years on, past what time.Duration
// holds (the limiter then refuses, failing closed).
func FuzzLoginAccount(f *testing.F) {
	f.Add("alice@example.com", "ALICE@example.com")
	f.Add("ｅｒｉｎ", "erin")
	f.Add("\xff\xfe", "ß")
	f.Fuzz(func(t *testing.T, a, b string) {
		l, err := ratelimit.NewLoginThrottle(ratelimit.MemoryBackend{Config: ratelimit.MemoryConfig{Now: newClock().Now, SweepInterval: -1}},
			ratelimit.LoginThrottleConfig{PerPair: []ratelimit.Limit{{Events: 1, Per: time.Hour, Burst: 1}}})
		require.NoError(t, err)
		wait, err := check(l, a, attackerIP)
		require.NoError(t, err)
		require.Zero(t, wait)
		// The same name again is refused, however it is spelled upper-case.
		wait, err = check(l, strings.ToUpper(a), attackerIP)
		require.NoError(t, err)
		if utf8.ValidString(a) && strings.EqualFold(strings.ToUpper(a), a) {
			assert.NotZero(t, wait, "%q", a)
		}
		_, err = check(l, b, attackerIP)
		require.NoError(t, err)
	})
}

// Attack (misconfiguration): the throttle used where clientip's handler
// did not run. Without an address it cannot keep the per-address ladders,
// so every call fails closed with an error wrapping clientip.ErrNoClient,
// never a LimitedError, and nothing is counted.
func TestLoginThrottleNoClientFailsClosed(t *testing.T) {
	clk := newClock()
	l := newLogin(t, clk, ratelimit.LoginThrottleConfig{})
	ctx := context.Background()
	for range 10 {
		err := l.Check(ctx, "judy")
		require.ErrorIs(t, err, clientip.ErrNoClient)
		assert.NotErrorIs(t, err, ratelimit.ErrLimited)
	}
	assert.ErrorIs(t, l.Failed(ctx, "judy"), clientip.ErrNoClient)
	assert.ErrorIs(t, l.Succeeded(ctx, "judy"), clientip.ErrNoClient)
	for range 5 {
		assert.Zero(t, try(t, l, "judy", attackerIP), "the refused calls spent nothing")
	}
}
