package audit

import "time"

// KeepForever, as a [Retention] period, keeps a category's events forever.
const KeepForever time.Duration = -1

// Day is 24 hours, for writing retention periods.
const Day = 24 * time.Hour

// Default retention periods: events are kept only as long as they are
// needed. Privilege changes and admin actions are kept longest because
// they answer "who could do what, and who did it" in an investigation.
const (
	DefaultRetentionAuthentication = 365 * Day // 1 year
	DefaultRetentionAccess         = 730 * Day // 2 years
	DefaultRetentionAdmin          = 730 * Day // 2 years
	DefaultRetentionModeration     = 365 * Day // 1 year
	DefaultRetentionError          = 90 * Day  // 90 days
	DefaultRetentionSecurityAlert  = 365 * Day // 1 year
	DefaultRetentionSuspicious     = 180 * Day // 180 days
	// Browser reports are written by whoever can get a browser to send
	// one: kept a month, long enough to find a policy that breaks pages.
	DefaultRetentionBrowserReport = 30 * Day // 30 days
	DefaultRetentionOther         = 90 * Day // any category not listed above
)

// Retention says how long events of each category are kept. A category
// that is missing, or maps to 0, gets its default (the DefaultRetention
// constants); map it to [KeepForever] to keep it forever. The nil
// Retention therefore means "all defaults".
//
// The SQL sink (audit/sqlsink) deletes events older than their category's
// period; package audit/chain deletes a rotated file once every category it
// holds is past its period, oldest files first, so the chain is never cut
// in the middle.
type Retention map[Category]time.Duration

// For returns how long events of category c are kept, or [KeepForever].
func (r Retention) For(c Category) time.Duration {
	if d := r[c]; d > 0 {
		return d
	} else if d < 0 {
		return KeepForever
	}
	switch c {
	case CategoryAuthentication:
		return DefaultRetentionAuthentication
	case CategoryAccess:
		return DefaultRetentionAccess
	case CategoryAdmin:
		return DefaultRetentionAdmin
	case CategoryModeration:
		return DefaultRetentionModeration
	case CategoryError:
		return DefaultRetentionError
	case CategorySecurityAlert:
		return DefaultRetentionSecurityAlert
	case CategorySuspicious:
		return DefaultRetentionSuspicious
	case CategoryBrowserReport:
		return DefaultRetentionBrowserReport
	}
	return DefaultRetentionOther
}

// Longest returns the longest period among cats, or [KeepForever] if any
// of them is kept forever. It returns 0 for no categories.
func (r Retention) Longest(cats ...Category) time.Duration {
	var longest time.Duration
	for _, c := range cats {
		d := r.For(c)
		if d == KeepForever {
			return KeepForever
		}
		longest = max(longest, d)
	}
	return longest
}

// Cutoff returns the time before which events of category c are expired at
// now, and false when c is kept forever.
func (r Retention) Cutoff(c Category, now time.Time) (time.Time, bool) {
	d := r.For(c)
	if d == KeepForever {
		return time.Time{}, false
	}
	return now.Add(-d), true
}
