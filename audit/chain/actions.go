package chain

import "github.com/deployedworks/rampart/audit"

// Actions that a [Sink] writes into its own chain.
const (
	// ActionLogRecovered (CategorySecurityAlert) is written when a Sink
	// starts and finds that the previous file was not sealed: the process
	// stopped without Close, or someone removed its newest records.
	ActionLogRecovered audit.Action = "audit.log_recovered"
)
