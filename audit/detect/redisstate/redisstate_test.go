package redisstate_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/audit/detect"
	"github.com/deployedworks/rampart/audit/detect/detecttest"
	"github.com/deployedworks/rampart/audit/detect/redisstate"
	"github.com/deployedworks/rampart/internal/testenv"
)

// quiet drops go-redis's own log lines about unreachable test servers.
type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

func TestMain(m *testing.M) {
	redis.SetLogger(quiet{})
	m.Run()
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// client connects to the test Redis (a client of its own: an instance),
// or skips.
func client(t testing.TB) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: testenv.RedisAddr(t), ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = c.Close() })
	require.NoError(t, c.Ping(context.Background()).Err())
	return c
}

// prefix returns a key prefix no other test uses.
func prefix(t testing.TB) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "rampart-test:" + t.Name() + ":" + hex.EncodeToString(b) + ":"
}

// newState returns a State on c; a zero Timeout becomes a generous one:
// tests about counting must not fall back to memory because a call was
// slow on a loaded machine.
func newState(t testing.TB, c redis.UniversalClient, cfg redisstate.Config) *redisstate.State {
	t.Helper()
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second
	}
	s, err := redisstate.New(c, cfg)
	require.NoError(t, err)
	return s
}

// instance is one application instance: a Detector on its own Redis
// client, writing to its own sink.
type instance struct {
	det  *detect.Detector
	sink *audit.MemorySink
}

func newInstance(t testing.TB, p string, cfg detect.Config) instance {
	t.Helper()
	if p != "" {
		cfg.State = newState(t, client(t), redisstate.Config{Prefix: p})
	}
	sink := &audit.MemorySink{}
	det, err := detect.New(sink, cfg)
	require.NoError(t, err)
	return instance{det, sink}
}

func ip(i int) netip.Addr { return netip.AddrFrom4([4]byte{198, 51, byte(i >> 8), byte(i)}) }

func loginFailed(at time.Duration, account string, addr netip.Addr) audit.Event {
	e := audit.Event{Category: audit.CategoryAuthentication, Action: audit.ActionLoginFailed, Outcome: audit.OutcomeFailure,
		Target: audit.Target{Kind: audit.TargetKindUser, ID: account}, ClientIP: addr}
	if at >= 0 {
		e.Time = t0.Add(at)
	}
	return e
}

func loginOK(at time.Duration, account string, addr netip.Addr) audit.Event {
	return audit.Event{Time: t0.Add(at), Category: audit.CategoryAuthentication, Action: audit.ActionLoginSucceeded, Outcome: audit.OutcomeSuccess,
		Target: audit.Target{Kind: audit.TargetKindUser, ID: account}, ClientIP: addr}
}

// alerts returns the actions of the alerts in the instances' sinks.
func alerts(is ...instance) []string {
	var out []string
	for _, in := range is {
		for _, e := range in.sink.Events() {
			if strings.HasPrefix(string(e.Action), "alert.") {
				out = append(out, string(e.Action))
			}
		}
	}
	return out
}

// An attack split over two instances raises the alert that neither raises
// alone, once; two instances without a shared state raise nothing.
func TestSplitAttackOverTwoInstances(t *testing.T) {
	attacks := []struct {
		name   string
		events func() []audit.Event
		want   audit.Action
	}{
		{"stuffing: 5 addresses on one account, 3 and 2 per instance", func() (ev []audit.Event) {
			for i := range 5 {
				ev = append(ev, loginFailed(time.Duration(i)*time.Second, "alice", ip(i)))
			}
			return ev
		}, detect.ActionCredentialStuffing},
		{"spraying: one address on 10 accounts, 5 per instance", func() (ev []audit.Event) {
			for i := range 10 {
				ev = append(ev, loginFailed(time.Duration(i)*time.Second, fmt.Sprint("user", i), ip(7)))
			}
			return ev
		}, detect.ActionPasswordSpraying},
		{"success after 5 failures, spread", func() (ev []audit.Event) {
			for i := range 5 {
				ev = append(ev, loginFailed(time.Duration(i)*time.Second, "bob", ip(1)))
			}
			return append(ev, loginOK(10*time.Second, "bob", ip(1)))
		}, detect.ActionLoginAfterFailures},
	}
	for _, tc := range attacks {
		t.Run(tc.name, func(t *testing.T) {
			for _, shared := range []bool{true, false} {
				p := ""
				if shared {
					p = prefix(t)
				}
				a, b := newInstance(t, p, detect.Config{}), newInstance(t, p, detect.Config{})
				for i, e := range tc.events() {
					in := a
					if i%2 == 1 {
						in = b
					}
					require.NoError(t, in.det.Write(context.Background(), e))
				}
				if shared {
					assert.Equal(t, []string{string(tc.want)}, alerts(a, b), "shared state")
				} else {
					assert.Empty(t, alerts(a, b), "memory only: each instance sees too little")
				}
			}
		})
	}
}

// Many attempts at once on two instances cross the threshold together:
// exactly one alert, whichever call crosses it. Two successes at once
// after a burst raise one alert too.
func TestAlertOnceUnderRace(t *testing.T) {
	for round := range 5 {
		p := prefix(t)
		a, b := newInstance(t, p, detect.Config{}), newInstance(t, p, detect.Config{})
		pick := func(i int) instance {
			if i%2 == 0 {
				return a
			}
			return b
		}
		testenv.Race(20, func(i int) {
			_ = pick(i).det.Write(context.Background(), loginFailed(time.Duration(i)*time.Millisecond, "carol", ip(i)))
		})
		testenv.Race(20, func(i int) { // 20 accounts from one address
			_ = pick(i).det.Write(context.Background(), loginFailed(time.Duration(i)*time.Millisecond, fmt.Sprint("u", i), ip(99)))
		})
		testenv.Race(4, func(i int) {
			_ = pick(i).det.Write(context.Background(), loginOK(time.Second, "carol", ip(1)))
		})
		assert.ElementsMatch(t, []string{string(detect.ActionCredentialStuffing), string(detect.ActionPasswordSpraying), string(detect.ActionLoginAfterFailures)},
			alerts(a, b), "round %d", round)
	}
}

// The stuffing alert is raised again after a quiet window, once.
func TestAlertAgainAfterWindow(t *testing.T) {
	p := prefix(t)
	a, b := newInstance(t, p, detect.Config{}), newInstance(t, p, detect.Config{})
	for round := range 2 {
		for i := range 6 {
			in := []instance{a, b}[i%2]
			require.NoError(t, in.det.Write(context.Background(), loginFailed(time.Duration(round)*time.Hour+time.Duration(i)*time.Second, "dave", ip(round*10+i))))
		}
	}
	assert.Equal(t, []string{string(detect.ActionCredentialStuffing), string(detect.ActionCredentialStuffing)}, alerts(a, b))
}

// Windows expire: failures further apart than Window do not add up, on
// the instances' clock (Config.Now: events without a Time).
func TestWindowsExpire(t *testing.T) {
	p := prefix(t)
	clock := testenv.NewClock(time.Now())
	cfg := detect.Config{Window: time.Minute, Now: clock.Now}
	a, b := newInstance(t, p, cfg), newInstance(t, p, cfg)
	for i := range 3 {
		require.NoError(t, a.det.Write(context.Background(), loginFailed(-1, "erin", ip(i))))
	}
	clock.Add(time.Minute + time.Second)
	for i := 3; i < 6; i++ {
		require.NoError(t, b.det.Write(context.Background(), loginFailed(-1, "erin", ip(i))))
	}
	assert.Empty(t, alerts(a, b), "3 then 3 a window apart")
	for i := 6; i < 8; i++ {
		require.NoError(t, a.det.Write(context.Background(), loginFailed(-1, "erin", ip(i))))
	}
	assert.Equal(t, []string{string(detect.ActionCredentialStuffing)}, alerts(a, b), "5 within the window")
}

// Keys are hashed, members capped, and every key expires within its
// window.
func TestKeysBoundedAndHashed(t *testing.T) {
	c := client(t)
	p := prefix(t)
	s := newState(t, c, redisstate.Config{Prefix: p})
	ctx := context.Background()
	w := detect.Window{Length: time.Minute, Max: 5, AlertAt: 5}
	alertsRaised := 0
	for i := range 200 {
		cnt, err := s.Add(ctx, "stuffing", "alice@example.com", fmt.Sprint("198.51.100.", i), t0.Add(time.Duration(i)*time.Millisecond), w)
		require.NoError(t, err)
		assert.LessOrEqual(t, cnt.N, 5)
		if cnt.Alert {
			alertsRaised++
		}
	}
	assert.Equal(t, 1, alertsRaised)
	keys, err := c.Keys(ctx, p+"*").Result()
	require.NoError(t, err)
	require.Len(t, keys, 2, "the set and its alert stamp")
	for _, k := range keys {
		assert.NotContains(t, k, "alice")
		assert.Less(t, len(k), len(p)+50)
		ttl, err := c.PTTL(ctx, k).Result()
		require.NoError(t, err)
		assert.Greater(t, ttl, time.Duration(0))
		assert.LessOrEqual(t, ttl, time.Minute+time.Millisecond)
	}
	set := p + "stuffing:{"
	for _, k := range keys {
		if strings.HasPrefix(k, set) && !strings.HasSuffix(k, ":alert") {
			n, err := c.ZCard(ctx, k).Result()
			require.NoError(t, err)
			assert.Equal(t, int64(5), n)
			members, err := c.ZRange(ctx, k, 0, -1).Result()
			require.NoError(t, err)
			assert.NotContains(t, strings.Join(members, " "), "198.51")
		}
	}
	_, err = s.Add(ctx, "Bad Kind", "k", "m", t0, w)
	assert.ErrorContains(t, err, "lower-case")
	_, err = s.Add(ctx, "stuffing", "k", "m", t0, detect.Window{})
	assert.ErrorContains(t, err, "window")
}

// Redis hung (or down): every event still reaches the sink, detection
// goes on in memory, the failure is recorded, once for the outage's first
// second (Redis is left alone meanwhile), and each event waits at most
// Config.Timeout. When Redis answers again, counts are shared again.
func TestRedisOutage(t *testing.T) {
	for _, mode := range []string{"hung", "down"} {
		t.Run(mode, func(t *testing.T) {
			var addr string
			var proxy *testenv.Proxy
			if mode == "hung" {
				proxy = testenv.NewProxy(t, testenv.RedisAddr(t))
				addr = proxy.Addr()
			} else {
				addr = "127.0.0.1:1"
			}
			c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialerRetries: 1, DialTimeout: 100 * time.Millisecond, ContextTimeoutEnabled: true})
			t.Cleanup(func() { _ = c.Close() })
			p := prefix(t)
			clock := testenv.NewClock(time.Now())
			errs := &audit.MemorySink{}
			sink := &audit.MemorySink{}
			det, err := detect.New(sink, detect.Config{
				State: newState(t, c, redisstate.Config{Prefix: p, Timeout: 50 * time.Millisecond}),
				Audit: audit.MustNew(errs, audit.Config{Now: clock.Now}),
				Now:   clock.Now,
			})
			require.NoError(t, err)
			if proxy != nil {
				require.NoError(t, c.Ping(context.Background()).Err()) // connected, then hung
				proxy.Hang()
			}
			start := time.Now()
			for i := range 5 {
				require.NoError(t, det.Write(context.Background(), loginFailed(-1, "frank", ip(i))))
			}
			assert.Less(t, time.Since(start), 2*time.Second, "bounded by Timeout, then Redis left alone")
			assert.Len(t, sink.Events(), 6, "5 events passed through and the alert raised in memory")
			assert.Equal(t, []string{string(detect.ActionCredentialStuffing)}, alerts(instance{sink: sink}))
			require.Len(t, errs.Events(), 1, "one error: Redis left alone for a second")
			e := errs.Events()[0]
			assert.Equal(t, detect.ActionStateError, e.Action)
			assert.Equal(t, audit.CategoryError, e.Category)
			assert.NotEmpty(t, e.Meta["error"])

			if proxy == nil {
				return
			}
			proxy.Resume()
			clock.Add(2 * time.Second)
			rc := client(t)
			require.Eventually(t, func() bool { // the held call of the hung client may still land
				return det.Write(context.Background(), loginFailed(-1, "grace", ip(1))) == nil &&
					len(rc.Keys(context.Background(), p+"stuffing:*").Val()) > 0
			}, 5*time.Second, 10*time.Millisecond, "counted in Redis again")
		})
	}
}

// A caller that hangs up is counted all the same: the attacker's
// disconnect does not hide its attempt from the other instances.
func TestCanceledContextStillCounts(t *testing.T) {
	p := prefix(t)
	a, b := newInstance(t, p, detect.Config{}), newInstance(t, p, detect.Config{})
	for i := range 5 {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		in := []instance{a, b}[i%2]
		in.det.Observe(ctx, loginFailed(time.Duration(i)*time.Second, "heidi", ip(i)))
	}
	alerts := a.det.Observe(context.Background(), loginFailed(10*time.Second, "heidi", ip(50)))
	assert.Empty(t, alerts, "the alert was raised by the fifth attempt already")
	cnt, err := newState(t, client(t), redisstate.Config{Prefix: p}).Take(context.Background(), "stuffing", "heidi", t0.Add(10*time.Second), detect.Window{Length: time.Hour, Max: 64})
	require.NoError(t, err)
	assert.Equal(t, 5, cnt, "every address counted (the cap is StuffingIPs)")
}

func TestNewErrors(t *testing.T) {
	_, err := redisstate.New(nil, redisstate.Config{})
	assert.ErrorContains(t, err, "nil client")
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	t.Cleanup(func() { _ = c.Close() })
	_, err = redisstate.New(c, redisstate.Config{Timeout: -1})
	assert.ErrorContains(t, err, "Timeout")
}

// BenchmarkObserve: a failed login observed with the counts in Redis on
// loopback (three scripts) and in memory.
func BenchmarkObserve(b *testing.B) {
	for _, shared := range []bool{true, false} {
		name := "memory"
		if shared {
			name = "redis"
		}
		b.Run(name, func(b *testing.B) {
			p := ""
			if shared {
				p = prefix(b)
			}
			in := newInstance(b, p, detect.Config{})
			events := make([]audit.Event, 4096)
			for i := range events {
				events[i] = loginFailed(time.Duration(i)*time.Millisecond, fmt.Sprint("acct", i), ip(i))
			}
			ctx := context.Background()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				in.det.Observe(ctx, events[i%len(events)])
				i++
			}
		})
	}
}

func TestConformance(t *testing.T) {
	c := client(t)
	detecttest.TestState(t, func(t *testing.T) detect.State {
		return newState(t, c, redisstate.Config{Prefix: prefix(t)})
	})
}
