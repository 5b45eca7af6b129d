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
	"github.com/deployedworks/rampart/session/internal/storetest"
	"github.com/deployedworks/rampart/session/redisstore"
)

func client(t *testing.T) *redis.Client {
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
func uniquePrefix(t *testing.T, c *redis.Client) string {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	p := "rampart:test:" + hex.EncodeToString(b[:]) + ":"
	t.Cleanup(func() {
		ctx := context.Background()
		keys, _ := c.Keys(ctx, p+"*").Result()
		if len(keys) > 0 {
			_ = c.Del(ctx, keys...).Err()
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
	storetest.Run(t, storetest.Harness{
		New: func(t *testing.T) session.Store {
			c = client(t)
			p := uniquePrefix(t, c)
			s, err := redisstore.New(c, redisstore.Config{Prefix: p})
			require.NoError(t, err)
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
	p := uniquePrefix(t, c)
	s, err := redisstore.New(c, redisstore.Config{Prefix: p})
	require.NoError(t, err)
	ctx := context.Background()
	_, err = s.Save(ctx, "", session.Record{Key: "k1", UserID: "u", Data: []byte("x"), Expiry: time.Now().Add(time.Minute)})
	require.NoError(t, err)
	_, err = s.Save(ctx, "", session.Record{Key: "k2", UserID: "u", Data: []byte("x"), Expiry: time.Now().Add(time.Hour)})
	require.NoError(t, err)
	ttl := c.PTTL(ctx, p+"u:u").Val()
	assert.Greater(t, ttl, 59*time.Minute, "the index lives as long as its longest session")
	assert.LessOrEqual(t, ttl, time.Hour)
	assert.Greater(t, c.PTTL(ctx, p+"s:k1").Val(), 50*time.Second)
}

func TestNew(t *testing.T) {
	_, err := redisstore.New(nil, redisstore.Config{})
	assert.Error(t, err)
}
