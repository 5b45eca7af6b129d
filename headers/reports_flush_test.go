package headers

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/audit"
)

// With Config.Audit unset, Reports served inside audit's Handler records
// to that Logger, and Flush on shutdown (outside any request) writes the
// open window's repeats to the last Logger it saw rather than dropping
// them.
func TestReportsFlushUsesTheRequestsLogger(t *testing.T) {
	sink := &audit.MemorySink{}
	events := audit.MustNew(sink, audit.Config{})
	rp, err := NewReports(ReportsConfig{})
	require.NoError(t, err)
	h := events.Handler(rp)
	for range 10 {
		require.Equal(t, 204, postAs(h, "application/csp-report", cspReport("https://shop.example/", "https://evil.example/x.js"), "198.51.100.7:1", ""))
	}
	assert.Equal(t, 1, reportCount(t, sink.Events()), "the first report at once, the repeats held in the window")
	rp.Flush(context.Background())
	assert.Equal(t, 10, reportCount(t, sink.Events()), "Flush records the window's 9 repeats")
}
