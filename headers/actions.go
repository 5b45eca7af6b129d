package headers

import "github.com/deployedworks/rampart/audit"

// Actions of the audit events written by this package.
const (
	// ActionCSPViolation ([audit.CategoryBrowserReport]) records
	// Meta["count"] CSP violation reports of one document, directive,
	// blocked URL and disposition: the first report of a window at once
	// (count 1), and the reports that repeated it during the window when
	// the window ends (see [ReportsConfig].Window).
	ActionCSPViolation audit.Action = "csp.violation"

	// ActionReportsCapped ([audit.CategorySuspicious]) is written when the
	// reports of one kind of client (Meta["client"]: "anonymous" or
	// "signed-in") reach the day's cap (see [ReportsConfig].MaxBytesPerDay),
	// and again once the day is over (or at [Reports.Flush]) with the
	// number of reports dropped in Meta["dropped"]. It is exempt from the
	// cap: at most a few per day.
	ActionReportsCapped audit.Action = "csp.reports_capped"

	// ActionCrossOriginRejected ([audit.CategorySecurityAlert]) records a
	// request that [CrossOrigin] rejected.
	ActionCrossOriginRejected audit.Action = "csrf.rejected"
)
