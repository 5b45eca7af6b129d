package detect_test

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/audit/detect"
)

var clock = func() time.Time { return time.Date(2026, 6, 25, 10, 0, 0, 0, time.UTC) }

// The detector raises an alert when one address fails on many accounts.
func Example() {
	mem := &audit.MemorySink{}
	det, err := detect.New(mem, detect.Config{SprayingAccounts: 3})
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
		if e.Category == audit.CategorySuspicious {
			fmt.Println(e.Action, e.ClientIP, e.Reason)
		}
	}
	// Output: alert.password_spraying 203.0.113.9 one address failed to log in to 3 accounts within 15m0s
}
