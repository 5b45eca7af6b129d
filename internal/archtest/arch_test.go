// Package archtest holds the tests of the module's layering rules
// (DEVELOPERS.md): library packages never import examples/, and audit,
// clientip and secrets import no other Rampart package (audit may use
// clientip, identity and internal/gate).
package archtest

import (
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const module = "github.com/deployedworks/rampart"

// allowed lists, for the packages with a rule, the Rampart packages they
// may import.
var allowed = map[string][]string{
	"audit":    {"clientip", "identity", "internal/gate"},
	"clientip": nil,
	"secrets":  nil,
}

func TestLayering(t *testing.T) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go command is not on PATH")
	}
	out, err := exec.Command(goCmd, "list", "-json=ImportPath,Imports", module+"/...").Output()
	require.NoError(t, err)
	dec := json.NewDecoder(strings.NewReader(string(out)))
	seen := 0
	for {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else {
			require.NoError(t, err)
		}
		seen++
		rel := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")
		ok, ruled := allowed[rel]
		for _, imp := range p.Imports {
			if !strings.HasPrefix(imp, module+"/") {
				continue
			}
			dep := strings.TrimPrefix(imp, module+"/")
			if !strings.HasPrefix(rel, "examples/") {
				assert.False(t, strings.HasPrefix(dep, "examples/"), "%s imports %s: library packages never import examples/", rel, dep)
			}
			if ruled {
				assert.Contains(t, ok, dep, "%s imports %s: it may import only %v", rel, dep, ok)
			}
		}
	}
	assert.Greater(t, seen, 10, "go list listed the module's packages")
}
