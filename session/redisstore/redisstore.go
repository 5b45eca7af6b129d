package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/deployedworks/rampart/internal/nilarg"
	"github.com/deployedworks/rampart/session"
)

// DefaultPrefix starts every key unless Config.Prefix is set.
const DefaultPrefix = "rampart:session:"

// Config tunes a [Store]. The zero value is ready to use.
type Config struct {
	// Prefix starts every key the store writes. Default: [DefaultPrefix].
	// Give each application (and each test) its own.
	Prefix string
}

// Store is a session.Store on Redis. It is safe for concurrent use and
// starts no goroutine; the caller owns and closes the client.
type Store struct {
	c      redis.UniversalClient
	prefix string
}

var _ session.Store = (*Store)(nil)

// New returns a Store using c.
func New(c redis.UniversalClient, cfg Config) (*Store, error) {
	if nilarg.Is(c) {
		return nil, errors.New("redisstore: New: nil client: pass a *redis.Client (or another redis.UniversalClient) you own and close")
	}
	p := cfg.Prefix
	if p == "" {
		p = DefaultPrefix
	}
	return &Store{c: c, prefix: p}, nil
}

func (s *Store) sessionKey(key string) string { return s.prefix + "s:" + key }
func (s *Store) userKey(user string) string   { return s.prefix + "u:" + user }
func (s *Store) markKey(user string) string   { return s.prefix + "w:" + user }
func (s *Store) claimKey(key string) string   { return s.prefix + "c:" + key }

// micros returns t in Unix microseconds, 0 for the zero time. Microseconds
// since 1970 stay below 2^53, exact in Lua's numbers.
func micros(t time.Time) string {
	if t.IsZero() {
		return "0"
	}
	return strconv.FormatInt(t.UnixMicro(), 10)
}

// saveScript writes a session, conditionally when ARGV[8] is "1": the old
// session must exist and belong to the same user, and is moved. A session
// established before its user's watermark (ARGV[9] below KEYS[4]) is not
// written. A session already expired (ttl <= 0) is removed rather than
// written.
//
// KEYS: new session, old session, user index, user watermark.
// ARGV: data, ttl ms, expiry ms, now ms, new member, old member, user,
// replace, auth time µs.
var saveScript = redis.NewScript(`
local user, ttl = ARGV[7], tonumber(ARGV[2])
if user ~= '' then
  local w = redis.call('GET', KEYS[4])
  if w and tonumber(w) > tonumber(ARGV[9]) then return 0 end
end
if ARGV[8] == '1' then
  if redis.call('HGET', KEYS[2], 'u') ~= user then return 0 end
  if KEYS[2] ~= KEYS[1] then
    redis.call('DEL', KEYS[2])
    if user ~= '' then redis.call('ZREM', KEYS[3], ARGV[6]) end
  end
end
if ttl <= 0 then
  redis.call('DEL', KEYS[1])
  if user ~= '' then redis.call('ZREM', KEYS[3], ARGV[5]) end
  return 1
end
redis.call('HSET', KEYS[1], 'd', ARGV[1], 'u', user, 'a', ARGV[9])
redis.call('PEXPIRE', KEYS[1], ttl)
if user ~= '' then
  redis.call('ZADD', KEYS[3], ARGV[3], ARGV[5])
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', ARGV[4])
  if redis.call('PTTL', KEYS[3]) < ttl then redis.call('PEXPIRE', KEYS[3], ttl) end
end
return 1
`)

// deleteUserScript raises the watermark KEYS[2] to ARGV[3] (never lowering
// it), keeping it at least ARGV[4] ms, then deletes every session in the
// index KEYS[1] except ARGV[2], and the index entries. ARGV[1] is the
// session key prefix.
var deleteUserScript = redis.NewScript(`
local w, keep = redis.call('GET', KEYS[2]), tonumber(ARGV[4])
if keep > 0 then
  keep = math.max(keep, redis.call('PTTL', KEYS[2]))
  if not w or tonumber(w) < tonumber(ARGV[3]) then redis.call('SET', KEYS[2], ARGV[3]) end
  redis.call('PEXPIRE', KEYS[2], keep)
end
local n = 0
for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if m ~= ARGV[2] then
    redis.call('DEL', ARGV[1] .. m)
    redis.call('ZREM', KEYS[1], m)
    n = n + 1
  end
end
return n
`)

// findScript returns the data of the session KEYS[1] unless it was
// established before its user's watermark (ARGV[1] is the watermark key
// prefix), in one round trip.
var findScript = redis.NewScript(`
local v = redis.call('HMGET', KEYS[1], 'd', 'u', 'a')
if not v[1] then return false end
if v[2] and v[2] ~= '' then
  local w = redis.call('GET', ARGV[1] .. v[2])
  if w and tonumber(w) > tonumber(v[3] or '0') then return false end
end
return v[1]
`)

// Find implements session.Store.
func (s *Store) Find(ctx context.Context, key string) ([]byte, bool, error) {
	b, err := findScript.Run(ctx, s.c, []string{s.sessionKey(key)}, s.prefix+"w:").Text()
	switch {
	case errors.Is(err, redis.Nil):
		return nil, false, nil
	case err != nil:
		return nil, false, fmt.Errorf("redisstore: find: %w", err)
	}
	return []byte(b), true, nil
}

// Save implements session.Store.
func (s *Store) Save(ctx context.Context, replace string, r session.Record) (bool, error) {
	now := time.Now()
	ttl := r.Expiry.Sub(now).Milliseconds()
	rep, old := "0", r.Key
	if replace != "" {
		rep, old = "1", replace
	}
	n, err := saveScript.Run(ctx, s.c,
		[]string{s.sessionKey(r.Key), s.sessionKey(old), s.userKey(r.UserID), s.markKey(r.UserID)},
		r.Data, ttl, r.Expiry.UnixMilli(), now.UnixMilli(), r.Key, old, r.UserID, rep, micros(r.AuthAt),
	).Int()
	if err != nil {
		return false, fmt.Errorf("redisstore: save: %w", err)
	}
	return n == 1, nil
}

// Delete implements session.Store.
func (s *Store) Delete(ctx context.Context, userID, key string) error {
	_, err := s.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, s.sessionKey(key))
		if userID != "" {
			p.ZRem(ctx, s.userKey(userID), key)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("redisstore: delete: %w", err)
	}
	return nil
}

// List implements session.Store.
func (s *Store) List(ctx context.Context, userID string) ([]session.Record, error) {
	if userID == "" {
		return nil, nil
	}
	idx := s.userKey(userID)
	zs, err := s.c.ZRangeByScoreWithScores(ctx, idx, &redis.ZRangeBy{
		Min: strconv.FormatInt(time.Now().UnixMilli(), 10), Max: "+inf",
	}).Result()
	if err != nil {
		return nil, fmt.Errorf("redisstore: list: %w", err)
	}
	if len(zs) == 0 {
		return nil, nil
	}
	cmds := make([]*redis.SliceCmd, len(zs))
	var mark *redis.StringCmd
	_, err = s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		mark = p.Get(ctx, s.markKey(userID))
		for i, z := range zs {
			cmds[i] = p.HMGet(ctx, s.sessionKey(z.Member.(string)), "d", "a")
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("redisstore: list: %w", err)
	}
	// Pipelined reports only the first error, which may be the redis.Nil of
	// a user without a watermark hiding a real failure further on: check
	// each.
	var w int64
	switch ws, err := mark.Result(); {
	case errors.Is(err, redis.Nil):
	case err != nil:
		return nil, fmt.Errorf("redisstore: list: %w", err)
	default:
		if w, err = strconv.ParseInt(ws, 10, 64); err != nil {
			return nil, fmt.Errorf("redisstore: list: watermark %q: %w", ws, err)
		}
	}
	out := make([]session.Record, 0, len(zs))
	for i, z := range zs {
		v, err := cmds[i].Result()
		if err != nil {
			return nil, fmt.Errorf("redisstore: list: %w", err)
		}
		d, ok := v[0].(string)
		if !ok { // gone (expired): the index entry is pruned on the next save
			continue
		}
		r := session.Record{Key: z.Member.(string), UserID: userID, Data: []byte(d), Expiry: time.UnixMilli(int64(z.Score))}
		var authAt int64
		if a, ok := v[1].(string); ok {
			authAt, _ = strconv.ParseInt(a, 10, 64)
		}
		if authAt < w {
			continue // established before the watermark
		}
		if authAt != 0 {
			r.AuthAt = time.UnixMicro(authAt)
		}
		out = append(out, r)
	}
	return out, nil
}

// DeleteUser implements session.Store: one script raises the watermark and
// deletes the sessions. The watermark key expires at rev.Until.
func (s *Store) DeleteUser(ctx context.Context, userID, except string, rev session.Revocation) error {
	if userID == "" {
		return nil
	}
	keep := time.Until(rev.Until).Milliseconds()
	err := deleteUserScript.Run(ctx, s.c, []string{s.userKey(userID), s.markKey(userID)},
		s.prefix+"s:", except, micros(rev.At), keep).Err()
	if err != nil {
		return fmt.Errorf("redisstore: delete user: %w", err)
	}
	return nil
}

// Claim implements session.Store with SET NX, expiring at expiry.
func (s *Store) Claim(ctx context.Context, key string, expiry time.Time) (bool, error) {
	ok, err := s.c.SetNX(ctx, s.claimKey(key), "1", max(time.Until(expiry), time.Millisecond)).Result()
	if err != nil {
		return false, fmt.Errorf("redisstore: claim: %w", err)
	}
	return ok, nil
}
