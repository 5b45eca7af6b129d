package password_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// goListDeps returns the packages pkg links, itself included.
func goListDeps(t *testing.T, pkg string) []string {
	t.Helper()
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go command is not on PATH")
	}
	out, err := exec.Command(goCmd, "list", "-deps", pkg).Output()
	require.NoError(t, err, "go list -deps %s", pkg)
	return strings.Fields(string(out))
}

// TestImportsDownwardOnly: package password is a mechanism under the auth
// policy package; it must never import auth (which imports it), nor the
// session layer or anything else above it, so that a program that only
// hashes passwords links no login flow, and package auth's split stays
// clean.
func TestImportsDownwardOnly(t *testing.T) {
	const self = "github.com/deployedworks/rampart/auth/password"
	deps := goListDeps(t, ".")
	require.Contains(t, deps, "golang.org/x/crypto/argon2", "go list listed password's dependencies")
	for _, dep := range deps {
		if !strings.HasPrefix(dep, "github.com/deployedworks/rampart/") || dep == self {
			continue
		}
		rest := strings.TrimPrefix(dep, "github.com/deployedworks/rampart/")
		switch {
		case rest == "clientip", rest == "ratelimit", rest == "audit",
			rest == "identity", strings.HasPrefix(rest, "internal/"):
			// Facts and sinks below, and internal helpers.
		default:
			t.Errorf("package password imports %s: it may import only packages below it", dep)
		}
	}
	assert.Contains(t, goListDeps(t, "github.com/deployedworks/rampart/auth"), self, "auth builds on password")
}
