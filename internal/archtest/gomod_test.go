package archtest

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// neverRequired lists module path prefixes that must not enter the
// library's go.mod, and so a user's module graph: the browser driver of the
// example app's tests and the libraries bench/ compares against. They
// belong to the examples/ and bench/ modules.
var neverRequired = []string{
	"github.com/chromedp/",
	"github.com/didip/tollbooth",
	"github.com/go-chi/",
	"github.com/gorilla/",
	"github.com/sethvargo/go-limiter",
	"github.com/ulule/limiter",
	"github.com/unrolled/secure",
}

// TestGoModLean checks the library's go.mod against what the library uses:
// every direct requirement is the module of a package that a library
// package or a library test imports (so a requirement of only the example
// apps or the benchmarks cannot creep back), every requirement in the
// block commented "Test-only" is linked by no library package (programs
// that import Rampart never compile it), and none of neverRequired is
// required at all.
func TestGoModLean(t *testing.T) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go command is not on PATH")
	}
	// The root module alone, not the workspace that adds examples/ and bench/.
	run := func(args ...string) []string {
		t.Helper()
		cmd := exec.Command(goCmd, args...)
		cmd.Env = append(os.Environ(), "GOWORK=off")
		out, err := cmd.Output()
		if ee, ok := err.(*exec.ExitError); ok {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, ee.Stderr)
		}
		require.NoError(t, err)
		return strings.Fields(string(out))
	}
	gomod := run("env", "GOMOD")
	require.Len(t, gomod, 1)
	root := filepath.Dir(gomod[0])
	direct, testOnly := readRequires(t, gomod[0])
	require.NotEmpty(t, direct)
	require.NotEmpty(t, testOnly, `go.mod has a require block under a comment starting "// Test-only"`)

	modFmt := "{{with .Module}}{{.Path}}{{end}}"
	withTests := run("list", "-C", root, "-deps", "-test", "-f", modFmt, "./...")
	var public []string
	for _, p := range run("list", "-C", root, "./...") {
		if !slices.Contains(strings.Split(p, "/"), "internal") {
			public = append(public, p)
		}
	}
	require.NotEmpty(t, public)
	linked := run(append([]string{"list", "-C", root, "-deps", "-f", modFmt}, public...)...)

	for _, m := range direct {
		assert.Contains(t, withTests, m, "go.mod requires %s, but no library package or test imports it: move it to the module that uses it (examples/ or bench/) and run go mod tidy", m)
		for _, bad := range neverRequired {
			assert.False(t, strings.HasPrefix(m, bad), "go.mod requires %s: it belongs to examples/go.mod or bench/go.mod", m)
		}
	}
	for _, m := range testOnly {
		assert.NotContains(t, linked, m, "go.mod lists %s as test-only, but a library package links it: move it to the first require block", m)
	}
	for _, m := range direct {
		if !slices.Contains(testOnly, m) {
			assert.Contains(t, linked, m, "go.mod lists %s with what the library's packages import, but only tests use it: move it to the Test-only block", m)
		}
	}
}

// readRequires returns the modules go.mod requires directly (not marked
// indirect), and those among them in a require block whose comment starts
// with "// Test-only".
func readRequires(t *testing.T, path string) (direct, testOnly []string) {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var inBlock, testBlock, commentTest bool
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "// Test-only"):
			commentTest = true
		case line == "require (":
			inBlock, testBlock, commentTest = true, commentTest, false
		case inBlock && line == ")":
			inBlock, testBlock = false, false
		case inBlock && line != "" && !strings.HasPrefix(line, "//"):
			if strings.HasSuffix(line, "// indirect") {
				continue
			}
			m := strings.Fields(line)[0]
			direct = append(direct, m)
			if testBlock {
				testOnly = append(testOnly, m)
			}
		case strings.HasPrefix(line, "require ") && !strings.HasSuffix(line, "// indirect"):
			direct = append(direct, strings.Fields(line)[1])
		case line == "" || !strings.HasPrefix(line, "//"):
			commentTest = false
		}
	}
	require.NoError(t, sc.Err())
	return direct, testOnly
}
