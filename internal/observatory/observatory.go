// Package observatory scores a site served on loopback with the MDN HTTP
// Observatory and Google's CSP Evaluator, through
// scripts/observatory/check.mjs, for tests that hold Rampart's defaults
// and the example app to an A+ with all 10 tests passed.
//
// The scans need Node 20+ and `npm ci --ignore-scripts` in
// scripts/observatory, so tests run them only with RAMPART_OBSERVATORY=1;
// scripts/observatory/run.sh does both, and CI runs it.
package observatory

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/internal/testenv"
)

// Env, set to 1, enables the scans.
const Env = "RAMPART_OBSERVATORY"

// Result is the JSON that check.mjs prints.
type Result struct {
	Observatory struct {
		Grade         string `json:"grade"`
		Score         int    `json:"score"`
		TestsPassed   int    `json:"testsPassed"`
		TestsQuantity int    `json:"testsQuantity"`
		StatusCode    int    `json:"statusCode"`
		FinalURL      string `json:"finalURL"`
		Tests         map[string]struct {
			Pass          bool   `json:"pass"`
			Result        string `json:"result"`
			ScoreModifier int    `json:"scoreModifier"`
		} `json:"tests"`
	} `json:"observatory"`
	CSPEvaluator struct {
		Policy   string `json:"policy"`
		Findings []struct {
			Severity     int    `json:"severity"`
			SeverityName string `json:"severityName"`
			Directive    string `json:"directive"`
			Description  string `json:"description"`
			Blocking     bool   `json:"blocking"`
		} `json:"findings"`
	} `json:"cspEvaluator"`
}

// Skip skips t unless RAMPART_OBSERVATORY=1.
func Skip(t testing.TB) {
	t.Helper()
	if os.Getenv(Env) != "1" {
		testenv.Skip(t, Env, "set "+Env+"=1 (or run scripts/observatory/run.sh) to score with the MDN HTTP Observatory; needs Node 20+")
	}
}

// Scan scores https://127.0.0.1:httpsPort/path (and the redirect from
// http://127.0.0.1:httpPort) with check.mjs; caPEM is the CA that issued
// the server's certificate. It fails t if the scan cannot run.
func Scan(t testing.TB, httpPort, httpsPort int, path string, caPEM []byte) (Result, error) {
	t.Helper()
	node, err := exec.LookPath("node")
	require.NoError(t, err, Env+"=1 needs node in PATH")
	_, self, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(self), "..", "..", "scripts", "observatory", "check.mjs")
	_, err = os.Stat(filepath.Join(filepath.Dir(script), "node_modules", "@mdn", "mdn-http-observatory"))
	require.NoError(t, err, "run `npm ci --ignore-scripts` in scripts/observatory first (scripts/observatory/run.sh does)")
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(caFile, caPEM, 0o600))

	cmd := exec.CommandContext(t.Context(), node, script, "--host", "127.0.0.1", // #nosec G204 -- node and the script path are found by the test; ports are integers; no shell
		"--http-port", strconv.Itoa(httpPort), "--https-port", strconv.Itoa(httpsPort), "--path", path)
	cmd.Env = append(os.Environ(), "NODE_EXTRA_CA_CERTS="+caFile)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	t.Logf("check.mjs:\n%s", stderr.String())
	var res Result
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &res), "check.mjs output: %s", stdout.String())
	return res, runErr
}

// AssertAPlus checks the scores themselves, not only check.mjs's exit
// status: grade A+, score at least 100, all 10 tests passed with no
// penalty, and no CSP Evaluator finding of medium severity or worse.
func AssertAPlus(t testing.TB, res Result) {
	t.Helper()
	obs := res.Observatory
	t.Logf("Observatory grade %s, score %d, %d/%d tests passed", obs.Grade, obs.Score, obs.TestsPassed, obs.TestsQuantity)
	assert.Equal(t, "A+", obs.Grade)
	assert.GreaterOrEqual(t, obs.Score, 100)
	assert.Equal(t, 10, obs.TestsQuantity)
	assert.Equal(t, obs.TestsQuantity, obs.TestsPassed)
	for name, tr := range obs.Tests {
		assert.True(t, tr.Pass, "%s: %s", name, tr.Result)
		assert.GreaterOrEqual(t, tr.ScoreModifier, 0, "%s: %s", name, tr.Result)
	}
	for _, f := range res.CSPEvaluator.Findings {
		t.Logf("CSP Evaluator: %s %s: %s", f.SeverityName, f.Directive, f.Description)
		// Severity: lower is worse; HIGH 10, SYNTAX 20, MEDIUM 30,
		// HIGH_MAYBE 40, STRICT_CSP 45, MEDIUM_MAYBE 50, INFO 60.
		assert.True(t, f.SeverityName == "STRICT_CSP" || f.Severity >= 60, "finding of medium severity or worse: %+v", f)
	}
	assert.Contains(t, res.CSPEvaluator.Policy, "'strict-dynamic'")
}
