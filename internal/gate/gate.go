// Package gate bounds how many audit events a component writes, so that an
// attacker who triggers refusals or a backend outage at a high rate cannot
// flood the audit log through us.
package gate

import (
	"sync"
	"time"
)

// Gate lets Burst events through at once and one per Every after that,
// counting the ones it holds back. It is safe for concurrent use.
type Gate struct {
	mu         sync.Mutex
	every      time.Duration
	window     time.Duration // every * burst
	tat        time.Time
	suppressed int
}

// New returns a Gate passing burst events at once and one per every.
func New(every time.Duration, burst int) *Gate {
	return &Gate{every: every, window: every * time.Duration(burst)}
}

// Allow reports whether an event at now may be written. When it may,
// suppressed is the number of events held back since the last one that
// was let through, for the caller to record with it.
func (g *Gate) Allow(now time.Time) (ok bool, suppressed int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	tat := g.tat
	if tat.Before(now) {
		tat = now
	}
	next := tat.Add(g.every)
	if next.Sub(now) > g.window {
		g.suppressed++
		return false, 0
	}
	g.tat = next
	suppressed, g.suppressed = g.suppressed, 0
	return true, suppressed
}
