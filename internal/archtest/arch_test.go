// Package archtest holds the tests of the module's design rules: the
// layering of its packages, what each package may link, the size of each
// package's API, and that godoc links resolve.
//
// The layers, lowest first; a package imports only packages of lower layers
// and the same-layer packages listed for it:
//
//   - facts and sinks: clientip, secrets, identity, sqldb, audit, ratelimit
//     (and ratelimit/redisstore);
//   - mechanisms: session and its stores, headers, auth/password, audit/chain,
//     audit/detect (and audit/detect/redisstate, audit/detect/detecttest),
//     audit/sqlsink, notify (and notify/mail), token (and
//     token/sqlstore, token/tokentest);
//   - policy: auth (login and guard), mfa (TOTP, recovery codes, policy),
//     mfa/passkey, mfa/sqlstore, mfa/memstore, account (recovery and
//     e-mail ownership, over auth and mfa).
//
// Library packages never import examples/. internal/ packages may be used
// by any layer and import only the facts layer; one given a layer in the
// map (internal/reqstate, below the facts layer) is held to it.
package archtest

import (
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const module = "github.com/deployedworks/rampart"

// layer of each library package; a package missing here fails the test
// until it is given one.
var layer = map[string]int{
	// internal/reqstate is below the facts layer (-1): it holds the
	// request state clientip, audit, headers, identity and session share,
	// and imports none of the module's packages.
	"internal/reqstate": -1,

	"clientip": 0, "secrets": 0, "identity": 0, "sqldb": 0,
	"audit": 0, "ratelimit": 0, "ratelimit/redisstore": 0,

	"session": 1, "session/sqlstore": 1, "session/redisstore": 1, "session/sessiontest": 1,
	"headers": 1, "auth/password": 1,
	"audit/chain": 1, "audit/chain/cmd/auditverify": 1,
	"audit/detect": 1, "audit/detect/redisstate": 1, "audit/detect/detecttest": 1, "audit/sqlsink": 1,
	"notify": 1, "notify/mail": 1,
	"token": 1, "token/sqlstore": 1, "token/tokentest": 1,

	"auth": 2, "account": 2, "mfa": 2, "mfa/passkey": 2, "mfa/sqlstore": 2, "mfa/memstore": 2, "mfa/mfatest": 2,
}

// sameLayer lists the imports allowed between packages of one layer.
var sameLayer = map[string][]string{
	"audit":                       {"clientip", "identity"},
	"ratelimit":                   {"audit", "clientip", "identity"},
	"ratelimit/redisstore":        {"ratelimit", "audit", "clientip"},
	"audit/detect/redisstate":     {"audit/detect"},
	"audit/detect/detecttest":     {"audit/detect"},
	"session/sqlstore":            {"session"},
	"session/redisstore":          {"session"},
	"session/sessiontest":         {"session"},
	"audit/chain/cmd/auditverify": {"audit/chain"},
	"token/sqlstore":              {"token"},
	"token/tokentest":             {"token"},
	"account":                     {"auth", "mfa"},
	"mfa/passkey":                 {"mfa"},
	"mfa/sqlstore":                {"mfa"},
	"mfa/memstore":                {"mfa"},
	"mfa/mfatest":                 {"mfa"},
	"notify/mail":                 {"notify"},
}

type pkg struct {
	ImportPath string
	Imports    []string
	Deps       []string
}

func list(t *testing.T, args ...string) []pkg {
	t.Helper()
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go command is not on PATH")
	}
	out, err := exec.Command(goCmd, append([]string{"list", "-json=ImportPath,Imports,Deps"}, args...)...).Output()
	require.NoError(t, err)
	dec := json.NewDecoder(strings.NewReader(string(out)))
	var ps []pkg
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			return ps
		} else {
			require.NoError(t, err)
		}
		ps = append(ps, p)
	}
}

// isInternal reports whether a package is internal: internal/... of the
// module, or a package's own internal/ directory.
func isInternal(name string) bool {
	return strings.HasPrefix(name, "internal/") || strings.Contains(name, "/internal/")
}

func rel(path string) string { return strings.TrimPrefix(strings.TrimPrefix(path, module), "/") }

func TestLayering(t *testing.T) {
	ps := list(t, module+"/...")
	assert.Greater(t, len(ps), 15, "go list listed the module's packages")
	for _, p := range ps {
		name := rel(p.ImportPath)
		if name == "bench" || strings.HasPrefix(name, "bench/") || strings.HasPrefix(name, "examples/") {
			continue // modules of their own (go.work lists them too)
		}
		internal := isInternal(name)
		mine, ruled := layer[name]
		if !ruled && !internal {
			t.Errorf("%s has no layer: add it to archtest's layer map", name)
			continue
		}
		for _, imp := range p.Imports {
			if !strings.HasPrefix(imp, module+"/") {
				continue
			}
			dep := rel(imp)
			if strings.HasPrefix(dep, "examples/") {
				t.Errorf("%s imports %s: library packages never import examples/", name, dep)
				continue
			}
			theirs, ok := layer[dep]
			if isInternal(dep) && !ok {
				continue
			}
			switch {
			case !ok:
				t.Errorf("%s imports %s, which has no layer", name, dep)
			case internal && !ruled:
				// internal packages serve whoever may import them
			case theirs > mine:
				t.Errorf("%s (layer %d) imports %s (layer %d): packages import downward only", name, mine, dep, theirs)
			case theirs == mine && !slices.Contains(sameLayer[name], dep):
				t.Errorf("%s imports %s of its own layer: allowed only %v", name, dep, sameLayer[name])
			}
		}
	}
}

// TestLinks checks what a program importing one package links: a
// session-only or TOTP-only program carries no password hashing, password
// list or WebAuthn code, and one that queues notifications no SMTP client.
func TestLinks(t *testing.T) {
	forbidden := map[string][]string{
		"session":   {module + "/auth", module + "/auth/password", "golang.org/x/crypto/argon2", "golang.org/x/crypto/bcrypt", "github.com/go-webauthn/"},
		"mfa":       {module + "/auth/password", module + "/session", "golang.org/x/crypto/argon2", "github.com/go-webauthn/", "github.com/fxamacker/cbor"},
		"headers":   {module + "/auth", module + "/session", "golang.org/x/crypto/argon2"},
		"ratelimit": {module + "/auth", module + "/session", "github.com/redis/"},
		"audit":     {module + "/auth", module + "/session", "database/sql"},
		"auth":      {module + "/session", "github.com/go-webauthn/", "github.com/redis/", "database/sql"},
		// Tokens are for recovery flows: no SQL, no mailer, no session.
		"token": {module + "/session", module + "/auth", module + "/notify", "github.com/wneessen/", "database/sql", "testing"},
		// Queueing a notification links no SMTP client.
		"notify": {module + "/notify/mail", "github.com/wneessen/", "net/smtp", module + "/auth", module + "/session", "github.com/redis/"},
	}
	for name, bad := range forbidden {
		ps := list(t, module+"/"+name)
		require.Len(t, ps, 1)
		for _, d := range ps[0].Deps {
			for _, b := range bad {
				if d == b || (strings.HasSuffix(b, "/") && strings.HasPrefix(d, b)) || strings.HasPrefix(d, b+"/") {
					t.Errorf("a program importing %s links %s", name, d)
				}
			}
		}
	}
}

// maxExported is how many functions, methods and types a package may
// export (counted as `go doc -all` lists them): past it, split by job.
const maxExported = 55

func TestPackageSize(t *testing.T) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go command is not on PATH")
	}
	for name := range layer {
		out, err := exec.Command(goCmd, "doc", "-all", module+"/"+name).Output()
		require.NoError(t, err, name)
		n := 0
		for _, line := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(line, "func ") || strings.HasPrefix(line, "type ") || strings.HasPrefix(line, "    func ") {
				n++
			}
		}
		assert.LessOrEqual(t, n, maxExported, "%s exports %d functions, methods and types: split it by job", name, n)
	}
}
