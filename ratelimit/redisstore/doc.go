// Package redisstore keeps rate limits in Redis, so that every instance of
// an app shares them: a client cannot multiply its budget by the number of
// instances behind the load balancer.
//
// # Use
//
// [New] returns a [Store], a ratelimit.Store for one limit, to pass to
// ratelimit.NewMiddleware in place of ratelimit.NewMemory. [NewBackend]
// returns a [Backend] to pass to ratelimit.NewLoginThrottle in place of
// ratelimit.MemoryBackend. Give every app instance the same Prefix, names
// and limits.
//
//	rdb := redis.NewClient(&redis.Options{Addr: addr, DialerRetries: 1, DialTimeout: 100 * time.Millisecond, ContextTimeoutEnabled: true})
//	api, _ := redisstore.New(rdb, "api", ratelimit.Limit{Events: 100, Per: time.Second}, redisstore.Config{})
//	mw, _ := ratelimit.NewMiddleware(api, ratelimit.KeyByIP(), ratelimit.MiddlewareConfig{})
//
// Configure the client to fail fast (few dial retries, short dial timeout)
// and to obey context deadlines (ContextTimeoutEnabled): while Redis is
// down or hangs, each request waits up to Config.Timeout before the
// failure policy applies. Without ContextTimeoutEnabled the Store still
// gives up at Config.Timeout, but leaves the call running on a goroutine
// until the client's ReadTimeout.
//
// # How
//
// Each call runs one Lua script (the generic cell rate algorithm of
// github.com/go-redis/redis_rate) on the Redis server's clock, so counts
// are exact under any concurrency across instances and do not depend on
// the instances' clocks. Keys are hashed with SHA-256 (128 bits kept)
// before they reach Redis: keys can be long, chosen by the client, or
// personal (an account name), and none of that belongs in Redis. Note that
// an unsalted hash of an IPv4 address can be reversed by trying them all;
// protect Redis like any store of personal data. Every key expires once its
// bucket is full again, so Redis holds only keys in use.
//
// # Failure policy
//
// When Redis cannot be reached within Config.Timeout, a Store fails closed
// (refuses) unless Config.FailOpen, returns an error wrapping
// ratelimit.ErrUnavailable, and records an audit.CategoryError event
// (paced, so an outage under load does not flood the audit log). A caller
// that gives up (its context ends) is not counted as an outage.
//
// # Out of scope
//
// Redis availability and persistence: limits held only in Redis are lost
// when it restarts without persistence, which at worst gives every key a
// full bucket once.
package redisstore
