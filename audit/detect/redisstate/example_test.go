package redisstate_test

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/audit/detect"
	"github.com/deployedworks/rampart/audit/detect/redisstate"
)

// Counts shared through Redis. Here Redis is unreachable: the events pass
// through all the same, the detector counts in its own memory and still
// raises the alert, and the outage is recorded as an audit error.
func ExampleNew() {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialerRetries: 1, DialTimeout: 100 * time.Millisecond, ContextTimeoutEnabled: true})
	defer rdb.Close()
	shared, err := redisstate.New(rdb, redisstate.Config{Prefix: "shop:detect:"})
	if err != nil {
		panic(err)
	}
	mem := &audit.MemorySink{}
	clock := func() time.Time { return time.Date(2026, 6, 25, 10, 0, 0, 0, time.UTC) }
	det, err := detect.New(mem, detect.Config{SprayingAccounts: 3, State: shared, Audit: audit.MustNew(mem, audit.Config{Now: clock})})
	if err != nil {
		panic(err)
	}
	events := audit.MustNew(det, audit.Config{Now: clock})
	attacker := audit.WithRequest(context.Background(), audit.Request{ClientIP: netip.MustParseAddr("203.0.113.9")})
	for _, account := range []string{"alice", "bob", "carol"} {
		events.Log(attacker, audit.Event{
			Category: audit.CategoryAuthentication, Action: audit.ActionLoginFailed, Outcome: audit.OutcomeFailure,
			Target: audit.Target{Kind: audit.TargetKindAccount, ID: account},
		})
	}
	for _, e := range mem.Events() {
		fmt.Println(e.Action)
	}
	// Output:
	// login.failed
	// detect.state_error
	// login.failed
	// login.failed
	// alert.password_spraying
}
