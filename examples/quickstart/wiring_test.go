package main

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The wiring cost of the quickstart, as the README states it, and its
// bound: at most 12 statements and 22 distinct Rampart identifiers.
//
// A wiring statement is a statement of newServer, outside the routes,
// that builds a Rampart component (calls into a Rampart package) or chains
// the components' handlers. The identifiers are the distinct names of
// Rampart's API those statements use: package-qualified names
// (session.New), fields set in Rampart config literals
// (AllowInsecureCookie) and methods called on components (Handler), each
// counted once.
func TestWiringCost(t *testing.T) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "main.go", nil, 0)
	require.NoError(t, err)
	rampart := map[string]bool{} // local names of Rampart's packages
	for _, im := range f.Imports {
		path, _ := strconv.Unquote(im.Path.Value)
		if rest, ok := strings.CutPrefix(path, "github.com/deployedworks/rampart/"); ok {
			name := rest[strings.LastIndex(rest, "/")+1:]
			if im.Name != nil {
				name = im.Name.Name
			}
			rampart[name] = true
		}
	}
	var fn *ast.FuncDecl
	for _, d := range f.Decls {
		if d, ok := d.(*ast.FuncDecl); ok && d.Name.Name == "newServer" {
			fn = d
		}
	}
	require.NotNil(t, fn, "newServer in main.go")

	components := map[string]bool{} // variables holding Rampart components
	idents := map[string]bool{}
	statements := 0
	for _, stmt := range fn.Body.List {
		var used []string
		ast.Inspect(stmt, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.FuncLit:
				return false // a handler: use, not wiring
			case *ast.SelectorExpr:
				if x, ok := n.X.(*ast.Ident); ok {
					if rampart[x.Name] {
						used = append(used, x.Name+"."+n.Sel.Name)
					} else if components[x.Name] {
						used = append(used, n.Sel.Name)
					}
				}
			case *ast.CompositeLit:
				if sel, ok := n.Type.(*ast.SelectorExpr); ok {
					if x, ok := sel.X.(*ast.Ident); ok && rampart[x.Name] {
						for _, el := range n.Elts {
							if kv, ok := el.(*ast.KeyValueExpr); ok {
								used = append(used, fmt.Sprint(kv.Key))
							}
						}
					}
				}
			}
			return true
		})
		building := slices.ContainsFunc(used, func(s string) bool { return strings.Contains(s, ".") })
		switch s := stmt.(type) {
		case *ast.AssignStmt:
			if !building {
				continue
			}
			for _, l := range s.Lhs {
				components[l.(*ast.Ident).Name] = true
			}
		case *ast.ReturnStmt:
			if len(used) == 0 {
				continue
			}
		default:
			continue // the routes
		}
		statements++
		for _, u := range used {
			idents[u] = true
		}
	}
	names := slices.Sorted(func(yield func(string) bool) {
		for k := range idents {
			if !yield(k) {
				return
			}
		}
	})
	t.Logf("%d wiring statements, %d identifiers: %s", statements, len(names), strings.Join(names, " "))
	assert.LessOrEqual(t, statements, 12)
	assert.LessOrEqual(t, len(names), 22)

	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	claim := fmt.Sprintf("%d wiring statements and %d distinct Rampart identifiers", statements, len(names))
	assert.True(t, strings.Contains(strings.Join(strings.Fields(string(readme)), " "), claim),
		"README.md must state the wiring cost: %q", claim)
}
