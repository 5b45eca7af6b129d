package redisstate

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/deployedworks/rampart/internal/rediscall"

	"github.com/deployedworks/rampart/audit/detect"
	"github.com/deployedworks/rampart/internal/nilarg"
)

// DefaultPrefix starts every key unless Config.Prefix is set.
const DefaultPrefix = "rampart:detect:"

// Config tunes a [State]. The zero value is ready to use.
type Config struct {
	// Prefix starts every key the State writes. Instances of one
	// application that share counts need the same one; applications (and
	// tests) sharing one Redis need different ones. Default:
	// [DefaultPrefix].
	Prefix string

	// Timeout bounds each Redis call, so that a slow or hung Redis
	// delays an audit event by at most this much before the Detector
	// counts it in memory instead. Default: 100ms. A go-redis client obeys
	// it only with ContextTimeoutEnabled; without it the State waits for
	// the call on a goroutine of its own and gives up at Timeout, while
	// the abandoned call runs on until the client's ReadTimeout.
	Timeout time.Duration
}

// State is a detect.State in Redis, shared by every Detector that uses the
// same Redis and Prefix. It is safe for concurrent use and has no goroutine
// of its own (only, with a client that does not obey deadlines, one per
// call that ends with the call: see Config.Timeout); the caller owns and
// closes the client.
type State struct {
	c        redis.UniversalClient
	prefix   string
	timeout  time.Duration
	obeysCtx bool
	id       string // this State's part of the members it makes up
	seq      atomic.Uint64
}

var _ detect.State = (*State)(nil)

// New returns a State on c. It returns an error if c is nil or cfg is
// invalid.
func New(c redis.UniversalClient, cfg Config) (*State, error) {
	if nilarg.Is(c) {
		return nil, errors.New("redisstate: New with a nil client: pass a *redis.Client (or another redis.UniversalClient) you own and close")
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("redisstate: Config.Timeout is %v: it must not be negative", cfg.Timeout)
	}
	s := &State{c: c, prefix: cfg.Prefix, timeout: cfg.Timeout, obeysCtx: rediscall.ObeysDeadlines(c)}
	if s.prefix == "" {
		s.prefix = DefaultPrefix
	}
	if s.timeout == 0 {
		s.timeout = 100 * time.Millisecond
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	s.id = hex.EncodeToString(b[:])
	return s, nil
}

// addScript stamps a member in a sorted set scored by time, forgets the
// members out of the window and the oldest beyond the cap, and claims the
// set's alert when the count reaches the threshold and no alert was
// claimed within the window: all at once, so that of concurrent calls
// exactly one alerts.
//
// KEYS: set, alert stamp. ARGV: at ms, window ms, max, alert at, member.
var addScript = redis.NewScript(`
local at, win, max, alertAt = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
redis.call('ZADD', KEYS[1], 'GT', at, ARGV[5])
local n = redis.call('ZCARD', KEYS[1])
if n > max then redis.call('ZREMRANGEBYRANK', KEYS[1], 0, n - max - 1) end
redis.call('PEXPIRE', KEYS[1], win + 1)
n = redis.call('ZCOUNT', KEYS[1], at - win, '+inf')
local alert = 0
if alertAt > 0 and n >= alertAt then
  local last = redis.call('GET', KEYS[2])
  if not last or at - tonumber(last) > win then
    redis.call('SET', KEYS[2], at, 'PX', win + 1)
    alert = 1
  end
end
return {n, alert}
`)

// takeScript counts the members within the window and forgets the set.
//
// KEYS: set. ARGV: at ms, window ms.
var takeScript = redis.NewScript(`
local n = redis.call('ZCOUNT', KEYS[1], tonumber(ARGV[1]) - tonumber(ARGV[2]), '+inf')
redis.call('DEL', KEYS[1])
return n
`)

// learnScript stamps a member and reports whether it is new to a set
// holding other members within the window.
//
// KEYS: set. ARGV: at ms, window ms, max, member.
var learnScript = redis.NewScript(`
local at, win, max = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. (at - win))
local known = redis.call('ZSCORE', KEYS[1], ARGV[4])
local others = redis.call('ZCARD', KEYS[1])
if known then others = others - 1 end
redis.call('ZADD', KEYS[1], 'GT', at, ARGV[4])
local n = redis.call('ZCARD', KEYS[1])
if n > max then redis.call('ZREMRANGEBYRANK', KEYS[1], 0, n - max - 1) end
redis.call('PEXPIRE', KEYS[1], win + 1)
if not known and others > 0 then return 1 end
return 0
`)

// key returns the Redis key of (kind, key): the kind in clear, the key
// hashed (it may be long, attacker-chosen or personal), in braces so that
// a set and its alert stamp share a Redis Cluster slot.
func (s *State) key(kind detect.Kind, key string) string {
	return s.prefix + string(kind) + ":{" + digest(key) + "}"
}

// digest hashes a name: SHA-256, 128 bits kept.
func digest(v string) string {
	sum := sha256.Sum256([]byte(v))
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

// checkKind refuses a kind that does not belong in a key.
func checkKind(k detect.Kind) error {
	if k == "" || len(k) > 32 {
		return fmt.Errorf("redisstate: kind %q: want 1-32 lower-case letters", k)
	}
	for _, c := range []byte(k) {
		if c < 'a' || c > 'z' {
			return fmt.Errorf("redisstate: kind %q: want 1-32 lower-case letters", k)
		}
	}
	return nil
}

func checkWindow(w detect.Window) error {
	if w.Length < time.Millisecond || w.Max < 1 || w.AlertAt < 0 {
		return fmt.Errorf("redisstate: window %+v: want a Length of 1ms or more, a Max of 1 or more and an AlertAt of 0 or more", w)
	}
	return nil
}

// Add implements detect.State's Add: one Lua script, atomic across
// instances.
func (s *State) Add(ctx context.Context, kind detect.Kind, key, member string, at time.Time, w detect.Window) (detect.Count, error) {
	if err := errors.Join(checkKind(kind), checkWindow(w)); err != nil {
		return detect.Count{}, err
	}
	k := s.key(kind, key)
	if member == "" {
		member = "~" + s.id + strconv.FormatUint(s.seq.Add(1), 36) // a new member: no digest has "~"
	} else {
		member = digest(member)
	}
	res, err := rediscall.Do(ctx, s.timeout, s.obeysCtx, func(ctx context.Context) ([]int64, error) {
		return addScript.Run(ctx, s.c, []string{k, k + ":alert"},
			at.UnixMilli(), w.Length.Milliseconds(), w.Max, w.AlertAt, member).Int64Slice()
	})
	if err != nil {
		return detect.Count{}, fmt.Errorf("redisstate: add: %w", err)
	}
	if len(res) != 2 {
		return detect.Count{}, fmt.Errorf("redisstate: add: the script returned %d values, want 2", len(res))
	}
	return detect.Count{N: int(res[0]), Alert: res[1] == 1}, nil
}

// Take implements detect.State's Take: one Lua script, atomic across
// instances, so that of two concurrent Takes one gets the count.
func (s *State) Take(ctx context.Context, kind detect.Kind, key string, at time.Time, w detect.Window) (int, error) {
	if err := errors.Join(checkKind(kind), checkWindow(w)); err != nil {
		return 0, err
	}
	k := s.key(kind, key)
	n, err := rediscall.Do(ctx, s.timeout, s.obeysCtx, func(ctx context.Context) (int64, error) {
		return takeScript.Run(ctx, s.c, []string{k}, at.UnixMilli(), w.Length.Milliseconds()).Int64()
	})
	if err != nil {
		return 0, fmt.Errorf("redisstate: take: %w", err)
	}
	return int(n), nil
}

// Learn implements detect.State's Learn: one Lua script, atomic across
// instances.
func (s *State) Learn(ctx context.Context, kind detect.Kind, key, member string, at time.Time, w detect.Window) (bool, error) {
	if err := errors.Join(checkKind(kind), checkWindow(w)); err != nil {
		return false, err
	}
	k := s.key(kind, key)
	novel, err := rediscall.Do(ctx, s.timeout, s.obeysCtx, func(ctx context.Context) (int64, error) {
		return learnScript.Run(ctx, s.c, []string{k}, at.UnixMilli(), w.Length.Milliseconds(), w.Max, digest(member)).Int64()
	})
	if err != nil {
		return false, fmt.Errorf("redisstate: learn: %w", err)
	}
	return novel == 1, nil
}
