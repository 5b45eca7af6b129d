package account_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/deployedworks/rampart/account"
	"github.com/deployedworks/rampart/ratelimit"
	"github.com/deployedworks/rampart/token"
)

// BenchmarkRequestReset measures the request path of a reset (the
// limiter calls, a digest, queueing, an audit event): what a client waits
// for, the same for every address. The workers drain the queue
// meanwhile, competing for the CPU; the queue is large enough that none
// is refused.
func BenchmarkRequestReset(b *testing.B) {
	for _, known := range []bool{true, false} {
		b.Run(fmt.Sprintf("known=%v", known), func(b *testing.B) {
			e := newEnv(b, func(c *account.Config) { noLimits(c); c.QueueSize = 1 << 20 })
			e.addUser(b, "alice", "alice@example.com", goodPassword)
			r := req("192.0.2.1", nil)
			refused := 0
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				addr := fmt.Sprintf("user%d@example.com", i)
				if known {
					addr = "alice@example.com"
				}
				i++
				err := e.flows.RequestReset(r, addr)
				if errors.Is(err, ratelimit.ErrLimited) {
					refused++
				} else if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(refused)/float64(b.N), "refused/op")
		})
	}
}

// BenchmarkSignUp measures the request path of a sign-up.
func BenchmarkSignUp(b *testing.B) {
	e := newEnv(b, noLimits)
	r := req("192.0.2.1", nil)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		addr := fmt.Sprintf("new%d@example.com", i)
		i++
		if err := e.flows.SignUp(r, addr, e.users.create(addr, addr, "")); err != nil && !errors.Is(err, ratelimit.ErrLimited) {
			b.Fatal(err)
		}
	}
}

// BenchmarkBeginReset measures opening a reset link of a user without a
// factor: a token lookup, a user lookup, the binding check.
func BenchmarkBeginReset(b *testing.B) {
	e := newEnv(b, nil)
	e.addUser(b, "alice", "alice@example.com", goodPassword)
	if err := e.flows.RequestReset(req("192.0.2.1", nil), "alice@example.com"); err != nil {
		b.Fatal(err)
	}
	e.drain(b)
	tok := e.outbox.link(b, "alice@example.com", token.PasswordReset)
	r := req("192.0.2.1", nil)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.flows.BeginReset(r, tok); err != nil {
			b.Fatal(err)
		}
	}
}
