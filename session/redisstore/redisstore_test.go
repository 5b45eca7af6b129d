package redisstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/internal/testenv"
	"github.com/deployedworks/rampart/session"
	"github.com/deployedworks/rampart/session/redisstore"
	"github.com/deployedworks/rampart/session/sessiontest"
)

func client(t testing.TB) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: testenv.RedisAddr(t)})
	t.Cleanup(func() { _ = c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, c.Ping(ctx).Err(), "Redis unreachable")
	return c
}

// uniquePrefix returns a key prefix no other test uses; its keys are
// deleted at cleanup.
// newStore returns a Store on c under a prefix of its own, and the prefix.
func newStore(t testing.TB, c *redis.Client) (*redisstore.Store, string) {
	t.Helper()
	p := uniquePrefix(t, c)
	s, err := redisstore.New(c, redisstore.Config{Prefix: p})
	require.NoError(t, err)
	return s, p
}

func uniquePrefix(t testing.TB, c *redis.Client) string {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	p := "rampart:test:" + hex.EncodeToString(b[:]) + ":"
	t.Cleanup(func() {
		ctx := context.Background()
		keys, _ := c.Keys(ctx, p+"*").Result()
		for len(keys) > 0 {
			n := min(len(keys), 1000)
			_ = c.Unlink(ctx, keys[:n]...).Err()
			keys = keys[n:]
		}
	})
	return p
}

// dump reads every key under prefix directly, with its value.
func dump(t *testing.T, c *redis.Client, prefix string) string {
	t.Helper()
	ctx := context.Background()
	keys, err := c.Keys(ctx, prefix+"*").Result()
	require.NoError(t, err)
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		switch typ := c.Type(ctx, k).Val(); typ {
		case "hash":
			fmt.Fprintf(&b, "%s %v\n", k, c.HGetAll(ctx, k).Val())
		case "zset":
			fmt.Fprintf(&b, "%s %v\n", k, c.ZRangeWithScores(ctx, k, 0, -1).Val())
		default:
			fmt.Fprintf(&b, "%s (%s)\n", k, typ)
		}
	}
	return b.String()
}

func TestRedis(t *testing.T) {
	prefixes := map[session.Store]string{}
	var c *redis.Client
	sessiontest.TestBackend(t, sessiontest.Backend{
		New: func(t *testing.T) session.Store {
			c = client(t)
			s, p := newStore(t, c)
			prefixes[s] = p
			return s
		},
		Dump: func(t *testing.T, s session.Store) string { return dump(t, c, prefixes[s]) },
		Broken: func(t *testing.T) session.Store {
			testenv.RedisAddr(t)
			down := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: time.Second})
			t.Cleanup(func() { _ = down.Close() })
			s, err := redisstore.New(down, redisstore.Config{})
			require.NoError(t, err)
			return s
		},
	})
}

func TestIndexExpires(t *testing.T) {
	c := client(t)
	s, p := newStore(t, c)
	ctx := context.Background()
	_, err := s.Save(ctx, "", session.Record{Key: "k1", UserID: "u", Data: []byte("x"), Expiry: time.Now().Add(time.Minute)})
	require.NoError(t, err)
	_, err = s.Save(ctx, "", session.Record{Key: "k2", UserID: "u", Data: []byte("x"), Expiry: time.Now().Add(time.Hour)})
	require.NoError(t, err)
	ttl := c.PTTL(ctx, p+"u:u").Val()
	assert.Greater(t, ttl, 59*time.Minute, "the index lives as long as its longest session")
	assert.LessOrEqual(t, ttl, time.Hour)
	assert.Greater(t, c.PTTL(ctx, p+"s:k1").Val(), 50*time.Second)
}

// TestListFailsClosedBehindExpired is the regression test for List
// treating a failed read as an expired session whenever an expired one came
// first in the pipeline (Pipelined reports only the first error, redis.Nil):
// Revoke then answered ErrUnknownSession for a live session.
func TestListFailsClosedBehindExpired(t *testing.T) {
	c := client(t)
	s, p := newStore(t, c)
	ctx := context.Background()
	exp := float64(time.Now().Add(time.Hour).UnixMilli())
	// "a" is indexed but expired (no session key); reading "b" fails
	// (WRONGTYPE: a string, not a hash).
	require.NoError(t, c.ZAdd(ctx, p+"u:u", redis.Z{Score: exp, Member: "a"}, redis.Z{Score: exp + 1, Member: "b"}).Err())
	require.NoError(t, c.Set(ctx, p+"s:b", "not a hash", time.Hour).Err())
	recs, err := s.List(ctx, "u")
	assert.ErrorContains(t, err, "WRONGTYPE")
	assert.Nil(t, recs)
}

func TestNew(t *testing.T) {
	_, err := redisstore.New(nil, redisstore.Config{})
	assert.ErrorContains(t, err, "nil client: pass a *redis.Client")
}

// BenchmarkRevokeUser ends the four sessions of one user among 100,000:
// "index" is DeleteUser (one script over the user's sorted set); "scan"
// walks the keyspace with SCAN and reads every session in pipelined
// batches, the least a revocation without an index must do (scs's
// goredisstore.AllCtx reads them one round trip at a time, and Iterate
// then decodes each). Each index iteration re-creates the four sessions
// with the timer stopped.
func BenchmarkRevokeUser(b *testing.B) {
	c := client(b)
	s, p := newStore(b, c)
	ctx := context.Background()
	data := make([]byte, 190)
	exp := time.Now().Add(time.Hour)
	for i := 0; i < 100000; i += 1000 {
		_, err := c.Pipelined(ctx, func(pp redis.Pipeliner) error {
			for j := i; j < i+1000; j++ {
				k, u := fmt.Sprintf("key-%d", j), fmt.Sprintf("user-%d", j%25000)
				pp.HSet(ctx, p+"s:"+k, "d", data, "u", u)
				pp.PExpire(ctx, p+"s:"+k, time.Hour)
				pp.ZAdd(ctx, p+"u:"+u, redis.Z{Score: float64(exp.UnixMilli()), Member: k})
			}
			return nil
		})
		require.NoError(b, err)
	}
	b.Run("index", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			for i := range 4 {
				_, err := s.Save(ctx, "", session.Record{Key: fmt.Sprintf("victim-%d", i), UserID: "victim", Data: data, Expiry: exp, AuthAt: exp})
				require.NoError(b, err)
			}
			b.StartTimer()
			require.NoError(b, s.DeleteUser(ctx, "victim", "", session.Revocation{At: time.Now(), Until: exp}))
		}
	})
	b.Run("scan", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			n := 0
			iter := c.Scan(ctx, 0, p+"s:*", 1000).Iterator()
			batch := make([]string, 0, 1000)
			flush := func() {
				cmds, err := c.Pipelined(ctx, func(pp redis.Pipeliner) error {
					for _, k := range batch {
						pp.HGet(ctx, k, "d")
					}
					return nil
				})
				require.NoError(b, err)
				n += len(cmds)
				batch = batch[:0]
			}
			for iter.Next(ctx) {
				if batch = append(batch, iter.Val()); len(batch) == cap(batch) {
					flush()
				}
			}
			require.NoError(b, iter.Err())
			if len(batch) > 0 {
				flush()
			}
			require.Equal(b, 100000, n)
		}
	})
}

// TestClaimExpires: a claim's key expires with the challenge it stands for,
// so that claims do not accumulate.
func TestClaimExpires(t *testing.T) {
	c := client(t)
	s, p := newStore(t, c)
	ctx := context.Background()
	ok, err := s.Claim(ctx, "k", time.Now().Add(10*time.Minute))
	require.NoError(t, err)
	require.True(t, ok)
	ttl := c.PTTL(ctx, p+"c:k").Val()
	assert.Greater(t, ttl, 9*time.Minute)
	assert.LessOrEqual(t, ttl, 10*time.Minute)
}

// TestWatermark covers what the conformance suite cannot reach through
// the Store: the watermark key expires at Revocation.Until (extended,
// never shortened, by later revocations), and a session hash below the
// watermark written behind DeleteUser's back is neither found nor listed.
func TestWatermark(t *testing.T) {
	c := client(t)
	s, p := newStore(t, c)
	ctx := context.Background()
	w := time.Now().Truncate(time.Microsecond)

	require.NoError(t, s.DeleteUser(ctx, "u", "", session.Revocation{At: w, Until: time.Now().Add(2 * time.Hour)}))
	ttl := c.PTTL(ctx, p+"w:u").Val()
	assert.Greater(t, ttl, 119*time.Minute)
	assert.LessOrEqual(t, ttl, 2*time.Hour)
	require.NoError(t, s.DeleteUser(ctx, "u", "", session.Revocation{At: w.Add(-time.Hour), Until: time.Now().Add(time.Hour)}))
	assert.Greater(t, c.PTTL(ctx, p+"w:u").Val(), 119*time.Minute, "not shortened")
	assert.Equal(t, fmt.Sprint(w.UnixMicro()), c.Get(ctx, p+"w:u").Val(), "not lowered")

	require.NoError(t, c.HSet(ctx, p+"s:raced", "d", "x", "u", "u", "a", w.UnixMicro()-1).Err())
	require.NoError(t, c.ZAdd(ctx, p+"u:u", redis.Z{Score: float64(time.Now().Add(time.Hour).UnixMilli()), Member: "raced"}).Err())
	_, found, err := s.Find(ctx, "raced")
	require.NoError(t, err)
	assert.False(t, found, "below the watermark")
	recs, err := s.List(ctx, "u")
	require.NoError(t, err)
	assert.Empty(t, recs)
	require.NoError(t, c.HSet(ctx, p+"s:raced", "a", w.UnixMicro()).Err())
	_, found, err = s.Find(ctx, "raced")
	require.NoError(t, err)
	assert.True(t, found, "at the watermark")
}
