package mfa_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// goListDeps returns the packages a program importing pkg links.
func goListDeps(t *testing.T, pkg string) []string {
	t.Helper()
	if testing.Short() {
		t.Skip("runs go list")
	}
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command in PATH")
	}
	out, err := exec.Command(goCmd, "list", "-deps", pkg).Output()
	require.NoError(t, err)
	return strings.Fields(string(out))
}

// A program that uses TOTP, recovery codes and the policy links no
// WebAuthn code (go-webauthn, its CBOR decoder) and no session package:
// passkeys live in mfa/passkey, and the signed-in user comes from package
// identity.
func TestDeps_TOTPOnlyLinksNoWebAuthn(t *testing.T) {
	deps := goListDeps(t, "github.com/deployedworks/rampart/mfa")
	for _, d := range deps {
		for _, banned := range []string{"github.com/go-webauthn/", "github.com/fxamacker/cbor", "github.com/deployedworks/rampart/session", "github.com/deployedworks/rampart/mfa/passkey"} {
			if strings.HasPrefix(d, banned) {
				t.Errorf("package mfa links %s", d)
			}
		}
	}
	require.True(t, slices.Contains(deps, "github.com/deployedworks/rampart/identity"), "the check ran on the real dependency list")

	// The passkey package is where WebAuthn lives.
	pk := goListDeps(t, "github.com/deployedworks/rampart/mfa/passkey")
	require.True(t, slices.ContainsFunc(pk, func(d string) bool { return strings.HasPrefix(d, "github.com/go-webauthn/webauthn") }))
	require.False(t, slices.ContainsFunc(pk, func(d string) bool { return strings.HasPrefix(d, "github.com/deployedworks/rampart/session") }), "passkey links no session package either")
}
