package reauth_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/deployedworks/rampart/identity"
	"github.com/deployedworks/rampart/internal/reauth"
)

func TestRecent(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	age := 10 * time.Minute
	fresh, stale := now.Add(-age), now.Add(-age-time.Second)
	for _, r := range []struct {
		name       string
		p          identity.Principal
		needFactor bool
		want       bool
	}{
		{"sign-in at the limit", identity.Principal{AuthTime: fresh}, false, true},
		{"stale sign-in", identity.Principal{AuthTime: stale}, false, false},
		{"no times", identity.Principal{}, false, false},
		{"fresh factor", identity.Principal{AuthTime: stale, MFATime: fresh}, true, true},
		{"attack: fresh password when a factor is needed", identity.Principal{AuthTime: now}, true, false},
		{"stale factor, fresh sign-in, no factor needed", identity.Principal{AuthTime: now, MFATime: stale}, false, true},
		{"stale factor", identity.Principal{MFATime: stale}, true, false},
		{"clock ahead", identity.Principal{AuthTime: now.Add(time.Minute)}, false, true},
	} {
		t.Run(r.name, func(t *testing.T) {
			assert.Equal(t, r.want, reauth.Recent(r.p, now, age, r.needFactor))
		})
	}
}
