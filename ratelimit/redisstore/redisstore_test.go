package redisstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/clientip"
	"github.com/deployedworks/rampart/internal/testenv"
	"github.com/deployedworks/rampart/ratelimit"
	"github.com/deployedworks/rampart/ratelimit/redisstore"
)

// quiet drops go-redis's own log lines about the unreachable test server.
type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

func TestMain(m *testing.M) {
	redis.SetLogger(quiet{})
	m.Run()
}

// client connects to the test Redis, or skips.
func client(t *testing.T) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: testenv.RedisAddr(t)})
	t.Cleanup(func() { _ = c.Close() })
	require.NoError(t, c.Ping(context.Background()).Err())
	return c
}

// prefix returns a key prefix no other test uses.
func prefix(t *testing.T) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "rampart-test:" + t.Name() + ":" + hex.EncodeToString(b) + ":"
}

// newStore makes a Store; without a Timeout in cfg it gets a generous one,
// so that on a loaded machine (2 cores, -race, packages in parallel) a
// healthy Redis is not taken for a slow one: the 250 ms default is for
// production, and the tests of timeouts set theirs.
func newStore(t *testing.T, c redis.UniversalClient, name string, l ratelimit.Limit, cfg redisstore.Config) *redisstore.Store {
	t.Helper()
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second
	}
	s, err := redisstore.New(c, name, l, cfg)
	require.NoError(t, err)
	return s
}

func TestStoreBurstAndRetry(t *testing.T) {
	c := client(t)
	s := newStore(t, c, "api", ratelimit.Limit{Events: 5, Per: time.Hour}, redisstore.Config{Prefix: prefix(t)})
	ctx := context.Background()
	for i := range 5 {
		d, err := s.Allow(ctx, "198.51.100.1")
		require.NoError(t, err)
		require.True(t, d.Allowed, "request %d", i)
		assert.Equal(t, 4-i, d.Remaining)
	}
	d, err := s.Allow(ctx, "198.51.100.1")
	require.NoError(t, err)
	assert.False(t, d.Allowed)
	assert.InDelta(t, float64(12*time.Minute), float64(d.RetryAfter), float64(time.Second))
	assert.InDelta(t, float64(time.Hour), float64(d.ResetAfter), float64(time.Second))

	d, err = s.Allow(ctx, "198.51.100.2")
	require.NoError(t, err)
	assert.True(t, d.Allowed, "other keys are not affected")
}

func TestStorePeekAndReset(t *testing.T) {
	c := client(t)
	s := newStore(t, c, "api", ratelimit.Limit{Events: 3, Per: time.Hour}, redisstore.Config{Prefix: prefix(t)})
	ctx := context.Background()
	d, err := s.Peek(ctx, "k")
	require.NoError(t, err)
	assert.True(t, d.Allowed)
	assert.Equal(t, 3, d.Remaining)
	for range 3 {
		_, err := s.Allow(ctx, "k")
		require.NoError(t, err)
	}
	d, err = s.Peek(ctx, "k")
	require.NoError(t, err)
	assert.False(t, d.Allowed)
	assert.InDelta(t, float64(20*time.Minute), float64(d.RetryAfter), float64(time.Second))
	d, err = s.Peek(ctx, "k")
	require.NoError(t, err)
	assert.False(t, d.Allowed, "Peek spends nothing")

	require.NoError(t, s.Reset(ctx, "k"))
	d, err = s.Peek(ctx, "k")
	require.NoError(t, err)
	assert.Equal(t, 3, d.Remaining)
}

// Two app instances (two clients, two stores) share one limit, exactly,
// under concurrent load.
func TestTwoInstancesShareOneLimit(t *testing.T) {
	p := prefix(t)
	l := ratelimit.Limit{Events: 50, Per: time.Hour}
	a := newStore(t, client(t), "api", l, redisstore.Config{Prefix: p})
	b := newStore(t, client(t), "api", l, redisstore.Config{Prefix: p})
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for i := range 8 {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Go(func() {
			for range 25 {
				d, err := s.Allow(context.Background(), "shared-client")
				if err == nil && d.Allowed {
					allowed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	assert.Equal(t, int64(50), allowed.Load(), "8 goroutines on 2 instances sent 200 requests")

	// A different name on the same prefix is a different limit.
	other := newStore(t, client(t), "other", l, redisstore.Config{Prefix: p})
	d, err := other.Allow(context.Background(), "shared-client")
	require.NoError(t, err)
	assert.True(t, d.Allowed)
}

// Keys reach Redis hashed, and expire.
func TestStoreHashesKeys(t *testing.T) {
	c := client(t)
	p := prefix(t)
	s := newStore(t, c, "login", ratelimit.Limit{Events: 1, Per: time.Minute}, redisstore.Config{Prefix: p})
	ctx := context.Background()
	_, err := s.Allow(ctx, "alice@example.com")
	require.NoError(t, err)
	keys, err := c.Keys(ctx, "rate:"+p+"*").Result()
	require.NoError(t, err)
	require.Len(t, keys, 1)
	assert.NotContains(t, keys[0], "alice")
	assert.Less(t, len(keys[0]), len("rate:"+p)+40)
	ttl, err := c.TTL(ctx, keys[0]).Result()
	require.NoError(t, err)
	assert.Greater(t, ttl, time.Duration(0))
	assert.LessOrEqual(t, ttl, time.Minute)
}

func TestMiddlewareOnRedis(t *testing.T) {
	s := newStore(t, client(t), "web", ratelimit.Limit{Events: 2, Per: time.Minute}, redisstore.Config{Prefix: prefix(t)})
	res := clientip.MustNew(nil, clientip.Config{})
	mw, err := ratelimit.NewMiddleware(s, ratelimit.KeyByIP(), ratelimit.MiddlewareConfig{})
	require.NoError(t, err)
	h := res.Handler(mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})))
	codes := []int{}
	for range 3 {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = "198.51.100.9:1234"
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		codes = append(codes, w.Code)
	}
	assert.Equal(t, []int{200, 200, 429}, codes)
}

// down returns a client for a Redis that is not there.
func down(t *testing.T) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialerRetries: 1, DialTimeout: 100 * time.Millisecond})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Redis outage: each store follows its policy and records an audit error
// event. Needs no Redis.
func TestStoreOutage(t *testing.T) {
	for _, tc := range []struct {
		name     string
		failOpen bool
		outcome  audit.Outcome
		status   int
	}{
		{"fail closed (default)", false, audit.OutcomeDenied, http.StatusServiceUnavailable},
		{"fail open", true, audit.OutcomeFailure, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sink := &audit.MemorySink{}
			s := newStore(t, down(t), "api", ratelimit.Limit{Events: 1, Per: time.Second},
				redisstore.Config{FailOpen: tc.failOpen, Audit: audit.MustNew(sink, audit.Config{})})
			d, err := s.Allow(context.Background(), "k")
			require.ErrorIs(t, err, ratelimit.ErrUnavailable)
			assert.Equal(t, tc.failOpen, d.Allowed)
			_, err = s.Peek(context.Background(), "k")
			require.ErrorIs(t, err, ratelimit.ErrUnavailable)
			require.ErrorIs(t, s.Reset(context.Background(), "k"), ratelimit.ErrUnavailable)

			events := sink.Events()
			require.Len(t, events, 3)
			e := events[0]
			assert.Equal(t, audit.CategoryError, e.Category)
			assert.Equal(t, ratelimit.ActionBackendError, e.Action)
			assert.Equal(t, tc.outcome, e.Outcome)
			assert.Equal(t, "api", e.Meta["store"])
			assert.Contains(t, e.Meta["error"], "127.0.0.1:1")

			// Through the middleware: the policy decides, the client sees no details.
			mw, err := ratelimit.NewMiddleware(s, ratelimit.KeyByIP(), ratelimit.MiddlewareConfig{})
			require.NoError(t, err)
			r := httptest.NewRequest("GET", "/", nil)
			w := httptest.NewRecorder()
			clientip.MustNew(nil, clientip.Config{}).Handler(mw.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))).ServeHTTP(w, r)
			assert.Equal(t, tc.status, w.Code)
			assert.NotContains(t, w.Body.String(), "127.0.0.1")
		})
	}
}

// hung returns the address of a server that takes connections and reads
// commands but never answers, as an overloaded or wedged Redis does.
func hung(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { // until the client hangs up
				_, _ = io.Copy(io.Discard, c)
				_ = c.Close()
			}()
		}
	}()
	return ln.Addr().String()
}

// Attack: a Redis that hangs must not hold each request for the client's
// ReadTimeout (5s by default): Config.Timeout bounds every call, whether
// or not the client obeys context deadlines, and the policy applies.
func TestStoreTimeoutBoundsHungRedis(t *testing.T) {
	addr := hung(t)
	for _, tc := range []struct {
		name     string
		obeysCtx bool
		failOpen bool
	}{
		{"client ignores deadlines, fail closed", false, false},
		{"client ignores deadlines, fail open", false, true},
		{"ContextTimeoutEnabled", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, ContextTimeoutEnabled: tc.obeysCtx})
			t.Cleanup(func() { _ = c.Close() })
			s := newStore(t, c, "api", ratelimit.Limit{Events: 1, Per: time.Second},
				redisstore.Config{Timeout: 50 * time.Millisecond, FailOpen: tc.failOpen})
			ctx := context.Background()
			for _, op := range []func() error{
				func() error {
					d, err := s.Allow(ctx, "k")
					assert.Equal(t, tc.failOpen, d.Allowed, "the failure policy decides")
					return err
				},
				func() error { _, err := s.Peek(ctx, "k"); return err },
				func() error { return s.Reset(ctx, "k") },
			} {
				start := time.Now()
				err := op()
				assert.Less(t, time.Since(start), 2*time.Second, "bounded by Config.Timeout, not ReadTimeout")
				require.ErrorIs(t, err, ratelimit.ErrUnavailable)
			}
		})
	}
}

// A flood of requests during an outage writes few audit events.
func TestStoreOutageAuditIsPaced(t *testing.T) {
	sink := &audit.MemorySink{}
	now := time.Date(2026, 6, 25, 0, 0, 0, 0, time.UTC)
	s := newStore(t, down(t), "api", ratelimit.Limit{Events: 1, Per: time.Second},
		redisstore.Config{Audit: audit.MustNew(sink, audit.Config{Now: func() time.Time { return now }})})
	for range 50 {
		_, _ = s.Allow(context.Background(), "k")
	}
	assert.Len(t, sink.Events(), 5)
}

// A caller that gives up is not an outage.
func TestStoreCanceledIsNotAnOutage(t *testing.T) {
	sink := &audit.MemorySink{}
	s := newStore(t, down(t), "api", ratelimit.Limit{Events: 1, Per: time.Second}, redisstore.Config{Audit: audit.MustNew(sink, audit.Config{})})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	d, err := s.Allow(ctx, "k")
	require.Error(t, err)
	assert.False(t, d.Allowed)
	assert.Empty(t, sink.Events())
}

func TestNewErrors(t *testing.T) {
	c := down(t)
	l := ratelimit.Limit{Events: 1, Per: time.Second}
	for _, tc := range []struct {
		name string
		fn   func() error
	}{
		{"nil client", func() error { _, err := redisstore.New(nil, "x", l, redisstore.Config{}); return err }},
		{"empty name", func() error { _, err := redisstore.New(c, "", l, redisstore.Config{}); return err }},
		{"bad limit", func() error { _, err := redisstore.New(c, "x", ratelimit.Limit{}, redisstore.Config{}); return err }},
		{"sub-microsecond interval", func() error {
			_, err := redisstore.New(c, "x", ratelimit.Limit{Events: 1000, Per: time.Microsecond}, redisstore.Config{})
			return err
		}},
		{"negative timeout", func() error { _, err := redisstore.New(c, "x", l, redisstore.Config{Timeout: -1}); return err }},
		{"nil backend client", func() error { _, err := redisstore.NewBackend(nil, redisstore.Config{}); return err }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.fn()
			require.Error(t, err)
			assert.True(t, strings.HasPrefix(err.Error(), "redisstore: ") || strings.HasPrefix(err.Error(), "ratelimit: "), err.Error())
		})
	}
}

// Login throttling shared through Redis: two instances, one ladder.
func TestLoginOnRedis(t *testing.T) {
	p := prefix(t)
	cfg := ratelimit.LoginThrottleConfig{PerPair: []ratelimit.Limit{{Events: 1, Per: time.Hour, Burst: 3}}}
	newLogin := func() *ratelimit.LoginThrottle {
		b, err := redisstore.NewBackend(client(t), redisstore.Config{Prefix: p})
		require.NoError(t, err)
		l, err := ratelimit.NewLoginThrottle(b, cfg)
		require.NoError(t, err)
		t.Cleanup(func() { _ = l.Close(context.Background()) })
		return l
	}
	one, two := newLogin(), newLogin()
	attacker := at(netip.MustParseAddr("203.0.113.66"))
	owner := at(netip.MustParseAddr("198.51.100.7"))

	// The owner logs in on instance one.
	wait, err := check(one.Check(owner, "alice"))
	require.NoError(t, err)
	require.Zero(t, wait)
	require.NoError(t, one.Succeeded(owner, "alice"))

	// The attacker alternates instances: the ladder is shared.
	var waits []time.Duration
	for i := range 5 {
		l := one
		if i%2 == 1 {
			l = two
		}
		wait, err := check(l.Check(attacker, "alice"))
		require.NoError(t, err)
		if wait == 0 {
			require.NoError(t, l.Failed(attacker, "alice"))
		}
		waits = append(waits, wait)
	}
	assert.Equal(t, []time.Duration{0, 0, 0}, waits[:3])
	assert.InDelta(t, float64(time.Hour), float64(waits[3]), float64(time.Second))

	// The owner is not affected, on either instance.
	wait, err = check(two.Check(owner, "alice"))
	require.NoError(t, err)
	assert.Zero(t, wait)
}

// Redis down: login fails closed by default, whatever the store's policy.
func TestLoginOnRedisOutage(t *testing.T) {
	b, err := redisstore.NewBackend(down(t), redisstore.Config{FailOpen: true})
	require.NoError(t, err)
	sink := &audit.MemorySink{}
	l, err := ratelimit.NewLoginThrottle(b, ratelimit.LoginThrottleConfig{Audit: audit.MustNew(sink, audit.Config{})})
	require.NoError(t, err)
	err = l.Check(at(netip.MustParseAddr("203.0.113.66")), "alice")
	require.ErrorIs(t, err, ratelimit.ErrUnavailable)
	assert.NotErrorIs(t, err, ratelimit.ErrLimited)
	require.NotEmpty(t, sink.Events())
	assert.Equal(t, ratelimit.ActionLoginUnavailable, sink.Events()[0].Action)
	assert.Equal(t, audit.OutcomeDenied, sink.Events()[0].Outcome)
}

// at is a request context from the client at ip, as clientip's handler
// makes it.
func at(ip netip.Addr) context.Context {
	return clientip.WithInfo(context.Background(), clientip.Info{Addr: ip})
}

// check turns LoginThrottle.Check's answer into the wait of a refusal
// (zero when allowed) or its other error.
func check(err error) (time.Duration, error) {
	if le, ok := errors.AsType[*ratelimit.LimitedError](err); ok {
		return le.RetryAfter, nil
	}
	return 0, err
}
