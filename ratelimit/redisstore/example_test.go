package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/deployedworks/rampart/ratelimit"
	"github.com/deployedworks/rampart/ratelimit/redisstore"
)

// A limit shared by every instance, failing closed when Redis is down:
// here Redis is unreachable, so the request is refused and the error says
// why (for the logs and the audit trail, never for the client).
func ExampleNew() {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialerRetries: 1, DialTimeout: 100 * time.Millisecond, ContextTimeoutEnabled: true})
	defer rdb.Close()
	api, err := redisstore.New(rdb, "api", ratelimit.Limit{Events: 100, Per: time.Second}, redisstore.Config{})
	if err != nil {
		panic(err)
	}
	d, err := api.Allow(context.Background(), "198.51.100.7")
	fmt.Println(d.Allowed, errors.Is(err, ratelimit.ErrUnavailable))
	// Output: false true
}

// Login throttling shared by every instance: the same NewLoginThrottle
// call, with the Redis backend in place of ratelimit.MemoryBackend.
func ExampleNewBackend() {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379", DialerRetries: 1, DialTimeout: 100 * time.Millisecond, ContextTimeoutEnabled: true})
	defer rdb.Close()
	backend, err := redisstore.NewBackend(rdb, redisstore.Config{Prefix: "shop:ratelimit:"})
	if err != nil {
		panic(err)
	}
	throttle, err := ratelimit.NewLoginThrottle(backend, ratelimit.LoginThrottleConfig{})
	if err != nil {
		panic(err)
	}
	defer throttle.Close(context.Background())
	// Pass it to the auth package's Authenticator as its Throttle.
	_ = throttle
}
