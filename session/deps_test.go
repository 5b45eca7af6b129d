package session_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies keeps package session a mechanism: a program that
// imports only session (and its stores' interface) links no database
// driver (they belong in the leaf store packages), no authentication
// policy (auth, mfa), no password hashing (argon2, bcrypt) and no
// password list.
func TestDependencies(t *testing.T) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go command is not on PATH")
	}
	out, err := exec.Command(goCmd, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	found := false
	for _, dep := range deps {
		found = found || dep == "github.com/alexedwards/scs/v2"
		for _, banned := range []string{
			"redis", "jackc/pgx", "modernc.org/sqlite", "mattn/go-sqlite3", "lib/pq",
			"rampart/auth", "rampart/mfa", "golang.org/x/crypto/argon2", "golang.org/x/crypto/bcrypt", "passwordlist", "blocklist",
		} {
			if strings.Contains(dep, banned) {
				t.Errorf("package session links %s", dep)
			}
		}
	}
	if !found {
		t.Fatalf("go list did not list session's dependencies: %q", deps)
	}
}
