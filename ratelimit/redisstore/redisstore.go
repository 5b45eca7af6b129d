package redisstore

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"

	"github.com/deployedworks/rampart/internal/rediscall"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/internal/nilarg"
	"github.com/deployedworks/rampart/ratelimit"
)

// Config tunes a [Store] or [Backend]. The zero value is ready to use.
type Config struct {
	// Prefix starts the Redis keys of every store (after redis_rate's own
	// "rate:"). Apps sharing one Redis need different prefixes; instances
	// of one app sharing limits need the same one. Default:
	// "rampart:ratelimit:".
	Prefix string

	// Timeout bounds each Redis call, so that a slow Redis delays requests
	// by at most this much before the failure policy applies. Default:
	// 250ms. A go-redis client obeys it only with ContextTimeoutEnabled;
	// without it (and for clients of other types) the Store waits for the
	// call on a goroutine of its own and gives up at Timeout, which costs
	// a goroutine per call, while the abandoned call runs on until the
	// client's ReadTimeout (5s by default).
	Timeout time.Duration

	// FailOpen lets requests through when Redis cannot be reached, instead
	// of refusing them. Default: false, fail closed: an attacker who can
	// overload Redis must not switch the limit off. Choose fail-open for
	// limits that protect capacity rather than accounts. Either way each
	// failure is recorded in Audit. [ratelimit.LoginThrottle] fails closed on its
	// own unless told otherwise, whatever this says.
	FailOpen bool

	// Audit receives an [audit.CategoryError] event with action
	// [ratelimit.ActionBackendError] when Redis fails: Outcome
	// [audit.OutcomeDenied] when failing closed, [audit.OutcomeFailure]
	// when failing open. The Logger paces them ([audit.Event.Pace]):
	// unless the application sets its own pace, at most 5 at once and one
	// a second after that; the next one written carries the number held
	// back in Meta["suppressed"]. Default: nil, the [audit.Logger] whose
	// Handler serves the request.
	Audit *audit.Logger
}

// Store is a [ratelimit.Store] in Redis: limits shared by every instance
// that uses the same Redis, Prefix, name and limit. It runs the generic
// cell rate algorithm in one Lua script per call (github.com/go-redis/redis_rate),
// so concurrent calls from any number of instances are counted exactly.
// Keys are hashed (SHA-256, 128 bits kept) before they reach Redis, and
// expire once their bucket is full again, so Redis holds only keys in use.
// It is safe for concurrent use and has no goroutine of its own (only,
// with a client that does not obey deadlines, one per call that ends with
// the call: see Config.Timeout).
type Store struct {
	lim      *redis_rate.Limiter
	rl       redis_rate.Limit
	limit    ratelimit.Limit
	name     string
	prefix   string
	timeout  time.Duration
	obeysCtx bool // the client ends a call at its context's deadline
	failOpen bool
	audit    *audit.Logger
}

var _ ratelimit.Store = (*Store)(nil)

// New returns a Store enforcing l under name on client. Stores with the
// same Prefix and name share counters, so they must use the same limit.
// It returns an error if client is nil or l, name or cfg is invalid.
func New(client redis.UniversalClient, name string, l ratelimit.Limit, cfg Config) (*Store, error) {
	if nilarg.Is(client) {
		return nil, errors.New("redisstore: New with a nil client: pass a *redis.Client, *redis.ClusterClient or *redis.Ring")
	}
	if name == "" {
		return nil, errors.New("redisstore: New with an empty name: name the limit (for example \"api\"), so that different limits do not share keys")
	}
	l, err := l.WithDefaults()
	if err != nil {
		return nil, err
	}
	if l.Per < time.Microsecond*time.Duration(l.Events) {
		return nil, fmt.Errorf("redisstore: limit %v: Redis keeps time in microseconds, so an event must take at least 1µs", l)
	}
	s := &Store{
		lim:      redis_rate.NewLimiter(client),
		rl:       redis_rate.Limit{Rate: l.Events, Period: l.Per, Burst: l.Burst},
		limit:    l,
		name:     name,
		prefix:   cfg.Prefix,
		timeout:  cfg.Timeout,
		obeysCtx: rediscall.ObeysDeadlines(client),
		failOpen: cfg.FailOpen,
		audit:    cfg.Audit,
	}
	if s.prefix == "" {
		s.prefix = "rampart:ratelimit:"
	}
	if s.timeout < 0 {
		return nil, fmt.Errorf("redisstore: Config.Timeout is %v: it must not be negative", s.timeout)
	}
	if s.timeout == 0 {
		s.timeout = 250 * time.Millisecond
	}
	s.prefix += name + ":"
	return s, nil
}

// Limit returns the limit s enforces, with defaults filled in.
func (s *Store) Limit() ratelimit.Limit { return s.limit }

// Allow counts one request for key and reports whether it may proceed.
// When Redis fails it returns an error wrapping [ratelimit.ErrUnavailable]
// and a Decision whose Allowed field follows Config.FailOpen.
func (s *Store) Allow(ctx context.Context, key string) (ratelimit.Decision, error) {
	return s.take(ctx, key, 1)
}

// Peek reports what Allow would decide for key, without counting a
// request. Its Remaining is the number of requests key may make now.
func (s *Store) Peek(ctx context.Context, key string) (ratelimit.Decision, error) {
	return s.take(ctx, key, 0)
}

// Reset forgets key, so that its bucket is full again.
func (s *Store) Reset(ctx context.Context, key string) error {
	k := s.key(key)
	_, err := rediscall.Do(ctx, s.timeout, s.obeysCtx, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, s.lim.Reset(ctx, k)
	})
	if err != nil {
		_, err = s.failed(ctx, "reset", err)
		return err
	}
	return nil
}

// key hashes a caller's key into its Redis key: the key may be long,
// attacker-chosen or personal (an e-mail address), and none of that
// belongs in Redis.
func (s *Store) key(key string) string {
	sum := sha256.Sum256([]byte(key))
	return s.prefix + base64.RawURLEncoding.EncodeToString(sum[:16])
}

func (s *Store) take(ctx context.Context, key string, n int) (ratelimit.Decision, error) {
	k := s.key(key)
	res, err := rediscall.Do(ctx, s.timeout, s.obeysCtx, func(ctx context.Context) (*redis_rate.Result, error) {
		return s.lim.AllowN(ctx, k, s.rl, n)
	})
	if err != nil {
		op := "allow"
		if n == 0 {
			op = "peek"
		}
		return s.failed(ctx, op, err)
	}
	d := ratelimit.Decision{Limit: s.limit, Remaining: max(res.Remaining, 0), ResetAfter: max(res.ResetAfter, 0)}
	switch {
	case n > 0:
		d.Allowed = res.Allowed > 0
		if !d.Allowed {
			d.RetryAfter = max(res.RetryAfter, time.Nanosecond)
		}
	case res.Remaining >= 1:
		d.Allowed = true
	default:
		// Peek at an empty bucket: the next token is due when the
		// bucket's arrival time, less Burst-1 intervals, is reached.
		d.RetryAfter = max(d.ResetAfter-time.Duration(s.limit.Burst-1)*s.limit.Interval(), time.Nanosecond)
	}
	return d, nil
}

// failed applies the failure policy: it records the failure and returns
// the policy's Decision with the error.
func (s *Store) failed(ctx context.Context, op string, err error) (ratelimit.Decision, error) {
	if ctx.Err() != nil {
		// The caller gave up (the client went away): not an outage.
		return ratelimit.Decision{Limit: s.limit}, fmt.Errorf("redisstore: %s: %w", op, err)
	}
	d := ratelimit.Decision{Allowed: s.failOpen, Limit: s.limit}
	outcome, policy, reason := audit.OutcomeDenied, "fail-closed", "rate-limit store unreachable: requests refused (fail closed)"
	if s.failOpen {
		outcome, policy, reason = audit.OutcomeFailure, "fail-open", "rate-limit store unreachable: requests let through (fail open)"
	}
	s.audit.Log(ctx, audit.Event{
		Category: audit.CategoryError,
		Action:   ratelimit.ActionBackendError,
		Outcome:  outcome,
		Reason:   reason,
		Meta: map[string]string{
			"store":  s.name,
			"op":     op,
			"policy": policy,
			"error":  err.Error(),
		},
		Pace: audit.Pace{Every: time.Second, Burst: 5, Scope: s.name},
	})
	return d, fmt.Errorf("redisstore: %s: %w: %w", op, ratelimit.ErrUnavailable, err)
}

// Backend makes Stores on one client, all with one Config: the
// [ratelimit.Backend] for a [ratelimit.LoginThrottle] shared by every
// instance.
type Backend struct {
	client redis.UniversalClient
	cfg    Config
}

var _ ratelimit.Backend = (*Backend)(nil)

// NewBackend returns a Backend making Stores on client with cfg. It
// returns an error if client is nil.
func NewBackend(client redis.UniversalClient, cfg Config) (*Backend, error) {
	if nilarg.Is(client) {
		return nil, errors.New("redisstore: NewBackend with a nil client: pass a *redis.Client, *redis.ClusterClient or *redis.Ring")
	}
	return &Backend{client: client, cfg: cfg}, nil
}

// NewStore returns New(client, name, l, cfg).
func (b *Backend) NewStore(name string, l ratelimit.Limit) (ratelimit.Store, error) {
	return New(b.client, name, l, b.cfg)
}
