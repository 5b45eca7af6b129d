package testenv_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/internal/testenv"
)

// TestPostgresSmoke proves the CI wiring: the server is up and the DSN works.
func TestPostgresSmoke(t *testing.T) {
	dsn := testenv.PostgresDSN(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer conn.Close(ctx)
	var n int
	require.NoError(t, conn.QueryRow(ctx, "SELECT 40 + 2").Scan(&n))
	assert.Equal(t, 42, n)
}

// TestRedisSmoke proves the CI wiring: the server is up and the address works.
func TestRedisSmoke(t *testing.T) {
	addr := testenv.RedisAddr(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	key := "rampart:smoke:" + t.Name()
	require.NoError(t, c.Set(ctx, key, "ok", time.Minute).Err())
	v, err := c.Get(ctx, key).Result()
	require.NoError(t, err)
	assert.Equal(t, "ok", v)
}

func TestSkipMessageNamesVariable(t *testing.T) {
	if testenv.Required() {
		t.Skip("skips are failures under " + testenv.EnvRequire + "; nothing to check")
	}
	t.Setenv(testenv.EnvPostgres, "")
	var msg string
	ft := &fakeTB{TB: t, skip: func(args ...any) { msg = args[0].(string) }}
	func() {
		defer func() { _ = recover() }()
		testenv.PostgresDSN(ft)
	}()
	assert.Contains(t, msg, testenv.EnvPostgres)
}

type fakeTB struct {
	testing.TB
	skip func(args ...any)
}

func (f *fakeTB) Helper()           {}
func (f *fakeTB) Skip(args ...any)  { f.skip(args...); panic("skipped") }
func (f *fakeTB) Fatal(args ...any) { panic("fatal") }
