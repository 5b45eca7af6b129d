// Package reauth decides whether a signed-in principal authenticated
// recently enough for an action that asks for it again (OWASP ASVS 5.0
// §7.5: adding or removing a factor, signing out other sessions). Packages
// session and mfa share it, so that they apply one rule.
package reauth

import (
	"time"

	"github.com/deployedworks/rampart/identity"
)

// Recent reports whether p proved itself within maxAge before now: by a
// second factor (p.MFATime) or, unless needFactor, by its sign-in or a
// later re-authentication (p.AuthTime). A user who has a factor must
// use it (needFactor), so that a stolen password alone cannot pass. A time
// ahead of now (another instance's clock) counts as now.
func Recent(p identity.Principal, now time.Time, maxAge time.Duration, needFactor bool) bool {
	if within(p.MFATime, now, maxAge) {
		return true
	}
	return !needFactor && within(p.AuthTime, now, maxAge)
}

func within(t, now time.Time, maxAge time.Duration) bool {
	return !t.IsZero() && now.Sub(t) <= maxAge
}
