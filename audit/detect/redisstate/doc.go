// Package redisstate keeps the counts of an audit/detect Detector in
// Redis, so that every instance of an application shares them: an attack
// spread over instances behind a load balancer (a few addresses per
// instance on one account, a few accounts per instance from one address)
// is counted whole, and raises its alert once, not once per instance.
//
// # Use
//
// [New] returns a [State] to set as the Detector's Config.State. Give every
// instance the same Prefix and the same Detector thresholds.
//
//	rdb := redis.NewClient(&redis.Options{Addr: addr, DialerRetries: 1, DialTimeout: 100 * time.Millisecond, ContextTimeoutEnabled: true})
//	shared, _ := redisstate.New(rdb, redisstate.Config{})
//	det, _ := detect.New(sink, detect.Config{State: shared})
//
// Configure the client to fail fast (few dial retries, short dial
// timeout) and to obey context deadlines (ContextTimeoutEnabled).
//
// # How
//
// Each set is a sorted set scored by event time (milliseconds); each call
// runs one Lua script that adds the member, drops the oldest beyond the
// set's cap, counts the members within the window, sets the key to expire
// one window after its last use and, at the threshold, claims the set's
// alert for one window (SET … PX): the script is atomic, so two instances
// crossing the threshold together raise the alert once. Keys and members
// are hashed with SHA-256 (128 bits kept) before they reach Redis: they
// can be long, chosen by the client, or personal (an account name or an
// address), and none of that belongs in Redis. An unsalted hash of an IPv4
// address can be reversed by trying them all: protect Redis like any store
// of personal data. Redis 6.2 or later is needed (ZADD GT).
//
// # Failure policy
//
// Each call gives up after Config.Timeout and returns an error; the
// Detector then counts that event in its own memory, records an audit
// error event (paced) and leaves Redis alone for a second. An outage never
// holds back or drops the audit event the Detector passes on; during it,
// each instance detects only what it sees.
//
// # Out of scope
//
// Redis availability and persistence: counts held only in Redis are lost
// when it restarts without persistence, which at worst restarts the
// windows and has each user's next login learnt silently.
package redisstate
