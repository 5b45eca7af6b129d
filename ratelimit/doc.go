// Package ratelimit throttles requests per client, user, route or any key,
// in memory or shared through Redis, and throttles password guessing.
//
// # Threat
//
// Credential stuffing, password guessing and spraying, scraping, and
// request floods that exhaust a service. The limiter must stay cheap on
// the hot path and bounded in memory when an attacker controls millions of
// source addresses (an IPv6 /48 holds 65,536 /64s), must not let a client
// pick its own key, and must not let an attacker who can break the
// limiter's backend switch the limits off.
//
// # Use
//
// Start with [NewMemory] and [NewMiddleware] keyed by [KeyByIP], inside
// the handler of a clientip.Resolver, which puts the client's address in
// the request context:
//
//	ips, _ := clientip.New(trustedProxies, clientip.Config{})
//	lim, _ := ratelimit.NewMemory(ratelimit.Limit{Events: 100, Per: time.Second}, ratelimit.MemoryConfig{})
//	defer lim.Close(ctx)
//	mw, _ := ratelimit.NewMiddleware(lim, ratelimit.KeyByIP(), ratelimit.MiddlewareConfig{})
//	http.ListenAndServe(addr, ips.Handler(mw.Handler(mux)))
//
// Throttle logins with [NewLoginThrottle] (its methods match the auth
// package's Throttle interface). When the app runs on more than one machine, keep the
// counters in Redis with package ratelimit/redisstore: its Store replaces
// [Memory] and its Backend replaces [MemoryBackend], with no other change.
//
// For different limits on different routes, give each route its own
// [Middleware] (a strict one on POST /login, a loose one on the API); for
// one budget per route under one limit, key with [KeyByRoute]. Once users
// are signed in, [KeyByUser] makes a user's limit follow them across
// addresses.
//
// # Algorithm and precision
//
// Every backend runs the generic cell rate algorithm (GCRA), which is a
// token bucket kept as a single "theoretical arrival time" (TAT) per key:
// a key may make Burst requests at once and one more per Limit.Interval.
// Denied requests change nothing. [Memory] keeps the TAT in 32 bits of
// ticks of a power-of-two number of nanoseconds chosen per limit; when the
// interval is a multiple of the tick (as for 100/s, 10/min, 5/15min) the
// timing is exact, and otherwise the interval is rounded up, so a token
// may come back late, never early: by less than 1/65536 of an interval
// for bursts up to 16384, and by less than about Burst/2^30 of one above
// that (1/64 at the largest burst, 1<<24). The limit is never exceeded.
//
// GCRA was chosen over golang.org/x/time/rate's Limiter because it is
// smaller and faster on the same path (same hashing, same 256 shards, no
// eviction for x/time/rate; run BenchmarkGCRAvsXTimeRate in this package):
// one 12-byte slot per key against a map entry and an 80-byte rate.Limiter
// with a mutex of its own, measured at about 15 against 118 bytes per key
// at a million keys, and 2 to 3 times faster per request (one lock, one
// clock reading and no floating point, against two locks and time.Now).
//
// # Memory bound and eviction
//
// [Memory] hashes each key with a per-limiter random seed (hash/maphash)
// and keeps only the 64-bit hash, in 256 shards (fewer for small tables),
// each an open-addressing table with its own mutex. Two keys whose hashes
// collide share a bucket; the odds are about n/2^64 per new key with n keys
// tracked (below 1e-13 at a million), and the seed is secret, so a client
// cannot aim for a collision.
//
// MemoryConfig.MaxKeys bounds the keys tracked (default 1<<20, at most 14
// MiB). A key whose bucket is full again carries no state and is forgotten
// by the janitor goroutine (every MemoryConfig.SweepInterval), which also
// gives back memory after a flood: the idle TTL of a key is the time its
// bucket takes to refill (at most Burst intervals after its last request)
// plus at most one SweepInterval.
//
// When a shard is full, a new key evicts one: among the 8 occupied slots
// from the new key's place in the table (as random as its hash, whose seed
// is secret), the one with the earliest TAT, that is the bucket closest to
// full; the new key takes its place, so a flood beyond the bound costs
// at most about twice what a known key does (BenchmarkMemoryKeyFlood). Its owner regains only what it had spent (its "debt",
// TAT minus now), which for the earliest of 8 is little. Keys being
// throttled have the largest debts and are evicted last. To push out a key
// with debt d, an attacker must fill the table with keys holding at least
// d each: MaxKeys×d/Interval requests, to win back d/Interval requests for
// one key. A flood of fresh keys (one request each) only evicts other
// fresh keys. The alternative, refusing new keys when full, would let the
// same flood lock everyone else out; evicting the least costly key is the
// better trade.
//
// # Failure policy
//
// [Memory] never fails on the request path (only after Close, closed). A
// backend that can fail (Redis) is built fail-closed or fail-open: on an
// error, Allow returns an error wrapping [ErrUnavailable] and a Decision
// whose Allowed field carries the policy, and records an
// [audit.CategoryError] event. [Middleware] follows the policy (503 when
// closed); [LoginThrottle] fails closed unless
// LoginThrottleConfig.FailOpen, whatever the store says, because an
// attacker able to overload Redis must not be able to switch off the login
// throttle.
//
// # Keys
//
// [KeyByIP] takes the client address from the request context, where
// clientip.Resolver's handler put it after believing X-Forwarded-For or
// Forwarded only from the proxies you trust: a client sending its own
// header does not change its key. A request with no address in its
// context is refused (fail closed, an error wrapping clientip.ErrNoClient).
// IPv6 clients are grouped by /64 ([AddrKey], the one grouping every
// Rampart package uses; [KeyByIPPrefix] to change it), because one
// subscriber usually holds a whole /64 and could otherwise take a fresh
// key per request. [KeyByRoute] uses the ServeMux pattern, never the path,
// which the client chooses. A KeyFunc error refuses the request (fail
// closed).
//
// # Response
//
// [Middleware.Handler] sets the RateLimit and RateLimit-Policy fields of
// draft-ietf-httpapi-ratelimit-headers (structured-field form, for
// example RateLimit: "default";r=42;t=1 and RateLimit-Policy:
// "default";q=100;w=1) on every response, and Retry-After (RFC 9110,
// Section 10.2.3) with 429 Too Many Requests (RFC 6585, Section 4) on
// refusals. The body comes from the MiddlewareConfig.OnDeny hook (over
// the limit: its error is a [*LimitedError] that says when to retry) or
// OnError (the middleware could not decide and fails closed), which you
// can replace: [DenyText] (default), [DenyJSON] (RFC 9457 problem
// details) or [DenyHTML].
//
// # Login throttling
//
// [LoginThrottle] counts every attempt before the password is checked, against
// three ladders of limits: per account and client address ("pair"), per
// account, and per client address. An attempt must pass every limit on
// each ladder; later rungs are slower, so the wait between attempts grows:
// by default 5 at once, then one a minute, one per 10 minutes after 10,
// one an hour after 20, about 44 guesses a day for one address on one
// account.
//
//   - The pair ladder is the owner's own: only attempts from their address
//     touch it, and a successful login resets it.
//   - The account ladder bounds guessing spread across many addresses (100
//     before it slows to 4 an hour). Addresses where the account logged
//     in within LoginThrottleConfig.KnownFor skip it, so an attacker who
//     exhausts it does not lock the owner out of their usual devices.
//   - The address ladder bounds one address spraying many accounts
//     (credential stuffing). Known addresses skip it for their own
//     accounts, so a busy office NAT does not lock out its regular users.
//   - Refused attempts spend nothing, so hammering a locked pair cannot
//     drain the account or address ladders that keep other paths open.
//   - Account names are folded (case, NFKC) so that spellings of one name
//     share their ladders.
//
// The trade-offs: while a distributed attack keeps an account's ladder
// empty, its owner on a new address waits like the attacker (it refills,
// so never forever); an attacker behind the owner's own address (a shared
// NAT) shares the owner's pair ladder there. Both are bounded by the refill
// rate, and each lockout is an audit event.
//
// # Out of scope
//
// Low-rate attacks from huge botnets that stay under every per-address
// limit (add CAPTCHA, proof of work or second factors), network-level
// floods (use your load balancer or CDN), limits by request cost or by
// concurrency, and device cookies (a login throttle keyed by a signed
// per-device token in addition to the address).
package ratelimit
