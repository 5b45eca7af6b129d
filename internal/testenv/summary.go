package testenv

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
)

// The skip summary: `go test ./...` shows nothing of a passing package's
// output, not even its skips, so a developer without the services would
// never learn that integration tests did not run. Every skip through this
// package is therefore also appended to a file named after the go command
// that runs the test binaries (the binaries' parent process), and the
// first binary to skip starts a watcher process (itself, re-executed in
// summary mode) that waits for that go command to finish and then writes
// one summary to the go command's standard output when that is a terminal
// or a pipe, else to the terminal: how many tests skipped, for want of
// which variable, and how to run them.
//
// Nothing is written when no test skipped (in CI, where
// RAMPART_REQUIRE_INTEGRATION=1 turns a missing service into a failure,
// only the Observatory scans skip: CI runs them in a step of their own),
// under `go test -json` (the summary would corrupt the JSON stream), when
// the test binary does not run under the go command, or on a system that
// is not Unix. A package whose tests skipped always runs again rather than
// replaying a cached result, so that the next summary counts it too: its
// test binary opened the skip file, which the watcher deletes.

// envSummary, in the environment of a re-executed test binary, makes it the
// watcher: the go command's pid, its work directory and the skip file,
// separated by tabs.
const envSummary = "RAMPART_TESTENV_SKIP_SUMMARY"

// Skip skips t with msg and counts the skip, for want of env, in the
// summary. Tests that need a service call the helper for that service
// (PostgresDSN, RedisAddr, Chromium), which calls Skip; call Skip directly
// only for other opt-in tests, such as the Observatory scans.
func Skip(t testing.TB, env, msg string) {
	t.Helper()
	t.Cleanup(func() {
		if t.Skipped() {
			recordSkip(env, t.Name())
		}
	})
	t.Skip(msg)
}

// hints says how to enable the tests that each variable gates.
var hints = map[string]string{
	EnvPostgres:           `eval "$(scripts/services.sh start)" sets it`,
	EnvRedis:              `eval "$(scripts/services.sh start)" sets it`,
	EnvChromium:           "scripts/services.sh install installs Chromium",
	"RAMPART_OBSERVATORY": "scripts/observatory/run.sh sets it and runs them; needs Node 20+",
	"RAMPART_TESTSSL":     "scripts/testssl/run.sh sets it and runs them; needs testssl.sh (scripts/services.sh install)",
}

// summarize turns the skip file's lines ("VAR\tTestName") into the
// summary, or "" when there are none.
func summarize(records string) string {
	count := map[string]int{}
	total := 0
	for line := range strings.Lines(records) {
		env, _, ok := strings.Cut(strings.TrimSpace(line), "\t")
		if !ok || env == "" {
			continue
		}
		count[env]++
		total++
	}
	if total == 0 {
		return ""
	}
	envs := make([]string, 0, len(count))
	for env := range count {
		envs = append(envs, env)
	}
	slices.Sort(envs)
	var b strings.Builder
	tests := "tests"
	if total == 1 {
		tests = "test"
	}
	fmt.Fprintf(&b, "\nrampart: %d integration %s skipped, for want of:\n", total, tests)
	for _, env := range envs {
		fmt.Fprintf(&b, "  %4d  %-26s  %s\n", count[env], env, hints[env])
	}
	if count[EnvPostgres]+count[EnvRedis]+count[EnvChromium] > 0 {
		b.WriteString("To start the services (Debian, Ubuntu): sudo scripts/services.sh install; " +
			"eval \"$(scripts/services.sh start)\"; then go test again.\n" +
			EnvRequire + "=1 turns a missing service into a failure instead of a skip.\n")
	}
	return b.String()
}

// skipLine is one record of the skip file.
func skipLine(env, test string) string {
	return env + "\t" + strings.ReplaceAll(test, "\n", " ") + "\n"
}

// readAndRemove reads the skip file and removes it with its lock.
func readAndRemove(file string) string {
	b, _ := os.ReadFile(file)     // #nosec G304 G703 -- file is the summary path testenv chose, not input
	_ = os.Remove(file)           // #nosec G703 -- file is the summary path testenv chose, not input
	_ = os.Remove(file + ".lock") // #nosec G703 -- file is the summary path testenv chose, not input
	return string(b)
}
