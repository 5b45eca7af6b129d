package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

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
	if c == nil {
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
func (s *Store) claimKey(key string) string   { return s.prefix + "c:" + key }

// saveScript writes a session, conditionally when ARGV[8] is "1": the old
// session must exist and belong to the same user, and is moved. A session
// already expired (ttl <= 0) is removed rather than written.
//
// KEYS: new session, old session, user index.
// ARGV: data, ttl ms, expiry ms, now ms, new member, old member, user, replace.
var saveScript = redis.NewScript(`
local user, ttl = ARGV[7], tonumber(ARGV[2])
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
redis.call('HSET', KEYS[1], 'd', ARGV[1], 'u', user)
redis.call('PEXPIRE', KEYS[1], ttl)
if user ~= '' then
  redis.call('ZADD', KEYS[3], ARGV[3], ARGV[5])
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', ARGV[4])
  if redis.call('PTTL', KEYS[3]) < ttl then redis.call('PEXPIRE', KEYS[3], ttl) end
end
return 1
`)

// deleteUserScript deletes every session in the index KEYS[1] except
// ARGV[2], and the index entries. ARGV[1] is the session key prefix.
var deleteUserScript = redis.NewScript(`
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

// Find implements session.Store.
func (s *Store) Find(ctx context.Context, key string) ([]byte, bool, error) {
	b, err := s.c.HGet(ctx, s.sessionKey(key), "d").Bytes()
	switch {
	case errors.Is(err, redis.Nil):
		return nil, false, nil
	case err != nil:
		return nil, false, fmt.Errorf("redisstore: find: %w", err)
	}
	return b, true, nil
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
		[]string{s.sessionKey(r.Key), s.sessionKey(old), s.userKey(r.UserID)},
		r.Data, ttl, r.Expiry.UnixMilli(), now.UnixMilli(), r.Key, old, r.UserID, rep,
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
	cmds := make([]*redis.StringCmd, len(zs))
	_, err = s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, z := range zs {
			cmds[i] = p.HGet(ctx, s.sessionKey(z.Member.(string)), "d")
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("redisstore: list: %w", err)
	}
	// Pipelined reports only the first error, which may be the redis.Nil of
	// an expired session hiding a real failure further on: check each.
	out := make([]session.Record, 0, len(zs))
	for i, z := range zs {
		b, err := cmds[i].Bytes()
		switch {
		case errors.Is(err, redis.Nil): // gone (expired): the index entry is pruned on the next save
			continue
		case err != nil:
			return nil, fmt.Errorf("redisstore: list: %w", err)
		}
		out = append(out, session.Record{
			Key: z.Member.(string), UserID: userID, Data: b, Expiry: time.UnixMilli(int64(z.Score)),
		})
	}
	return out, nil
}

// DeleteUser implements session.Store.
func (s *Store) DeleteUser(ctx context.Context, userID, except string) error {
	if userID == "" {
		return nil
	}
	if err := deleteUserScript.Run(ctx, s.c, []string{s.userKey(userID)}, s.prefix+"s:", except).Err(); err != nil {
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
