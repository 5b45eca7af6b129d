package testenv

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestSkipSummary: the summary counts skips per variable, says how to
// enable each, and is empty when nothing skipped.
func TestSkipSummary(t *testing.T) {
	assert.Empty(t, summarize(""))
	records := skipLine(EnvPostgres, "TestA") + skipLine(EnvPostgres, "TestB/sub\nline") +
		skipLine(EnvRedis, "TestC") + "garbage\n"
	s := summarize(records)
	assert.Contains(t, s, "3 integration tests skipped")
	assert.Regexp(t, `\n +2  `+EnvPostgres+` +eval "\$\(scripts/services.sh start\)" sets it\n`, s)
	assert.Regexp(t, `\n +1  `+EnvRedis+` `, s)
	assert.Contains(t, s, EnvRequire+"=1")
	assert.Equal(t, 5, strings.Count(s, "\n")-1, "a heading, one line per variable and two lines of instructions:\n%s", s)
	o := summarize(skipLine("RAMPART_OBSERVATORY", "TestO"))
	assert.Contains(t, o, "1 integration test skipped")
	assert.Contains(t, o, "scripts/observatory/run.sh")
	assert.NotContains(t, o, EnvRequire, "the Observatory scans skip even when services are required")
}
