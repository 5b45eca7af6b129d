package archtest

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAuditActionsAreConstants fails on an audit event whose Action is a
// string literal: an audit.Event composite literal with Action: "…", or an
// assignment of a literal to an Event's Action field; and on any
// conversion to audit.Action outside a const declaration
// (audit.Action("listing." + verb), audit.Action(m[k])), which builds an
// action from a string at run time. Every action is an exported
// audit.Action constant of the package that emits it, so that the detector
// and queries cannot miss an event spelled differently.
//
// It parses every non-test .go file of the repository's modules (the
// library, examples/ and bench/; testdata excluded) and recognises the
// package by its import path, whatever name the file gives it. Package
// audit itself may convert (its Logger truncates the field).
func TestAuditActionsAreConstants(t *testing.T) {
	root := moduleRoot(t)
	fset := token.NewFileSet()
	files, examples := 0, 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			if path != root && (name == "testdata" || name == "vendor" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
				return filepath.SkipDir
			}
			return nil // the example and benchmark modules included
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		files++
		rel, _ := filepath.Rel(root, path)
		if strings.HasPrefix(rel, "examples"+string(filepath.Separator)) {
			examples++
		}
		for _, pos := range literalActions(f) {
			p := fset.Position(pos)
			t.Errorf("%s:%d: audit event Action is a string literal: export an audit.Action constant (in the package's actions.go) and use it", rel, p.Line)
		}
		for _, pos := range convertedActions(f) {
			p := fset.Position(pos)
			t.Errorf("%s:%d: audit.Action converted from a string at run time: export an audit.Action constant (in the package's actions.go) for each action and pick among the constants", rel, p.Line)
		}
		return nil
	})
	require.NoError(t, err)
	assert.Greater(t, files, 50, "the walk found the module's sources")
	assert.Greater(t, examples, 20, "the walk found the example apps' sources")
}

// literalActions returns the positions of string-literal actions in f:
// Action fields of audit.Event composite literals (named through the
// import of package audit, or unqualified inside package audit itself) and
// assignments of a literal to X.Action where X is such an event.
func literalActions(f *ast.File) []token.Pos {
	const auditPath = module + "/audit"
	auditName := ""
	for _, imp := range f.Imports {
		p, _ := strconv.Unquote(imp.Path.Value)
		if p != auditPath {
			continue
		}
		auditName = "audit"
		if imp.Name != nil {
			auditName = imp.Name.Name
		}
	}
	inAudit := f.Name.Name == "audit"
	if auditName == "" && !inAudit {
		return nil
	}
	isEvent := func(typ ast.Expr) bool {
		switch x := typ.(type) {
		case *ast.SelectorExpr:
			id, ok := x.X.(*ast.Ident)
			return ok && id.Name == auditName && auditName != "" && x.Sel.Name == "Event"
		case *ast.Ident:
			return inAudit && x.Name == "Event"
		case *ast.StarExpr:
			return false
		}
		return false
	}
	isLit := func(e ast.Expr) bool {
		b, ok := ast.Unparen(e).(*ast.BasicLit)
		return ok && b.Kind == token.STRING
	}
	// Names of variables declared as audit.Event (var e audit.Event, or
	// e := audit.Event{...}), for the assignments.
	events := map[string]bool{}
	var out []token.Pos
	// checkLit reports a literal Action field in an Event literal; elided
	// element types ([]audit.Event{{Action: "x"}}) count too.
	checkLit := func(cl *ast.CompositeLit) {
		for _, el := range cl.Elts {
			kv, ok := el.(*ast.KeyValueExpr)
			if !ok {
				continue
			}
			if k, ok := kv.Key.(*ast.Ident); ok && k.Name == "Action" && isLit(kv.Value) {
				out = append(out, kv.Value.Pos())
			}
		}
	}
	ast.Inspect(f, func(n ast.Node) bool {
		switch x := n.(type) {
		case *ast.CompositeLit:
			if isEvent(x.Type) {
				checkLit(x)
			}
			// Slices, arrays and maps of events with elided element types.
			var elem ast.Expr
			switch t := x.Type.(type) {
			case *ast.ArrayType:
				elem = t.Elt
			case *ast.MapType:
				elem = t.Value
			}
			if elem != nil && isEvent(elem) {
				for _, el := range x.Elts {
					if kv, ok := el.(*ast.KeyValueExpr); ok {
						el = kv.Value
					}
					if cl, ok := el.(*ast.CompositeLit); ok && cl.Type == nil {
						checkLit(cl)
					}
				}
			}
		case *ast.ValueSpec:
			if x.Type != nil && isEvent(x.Type) {
				for _, n := range x.Names {
					events[n.Name] = true
				}
			}
			for i, v := range x.Values {
				if cl, ok := v.(*ast.CompositeLit); ok && isEvent(cl.Type) && i < len(x.Names) {
					events[x.Names[i].Name] = true
				}
			}
		case *ast.Field:
			if isEvent(x.Type) {
				for _, n := range x.Names {
					events[n.Name] = true
				}
			}
		case *ast.AssignStmt:
			for i, lhs := range x.Lhs {
				if i < len(x.Rhs) {
					if cl, ok := x.Rhs[i].(*ast.CompositeLit); ok && isEvent(cl.Type) {
						if id, ok := lhs.(*ast.Ident); ok {
							events[id.Name] = true
						}
					}
				}
			}
		}
		return true
	})
	// Second pass: assignments to the Action field of known events.
	ast.Inspect(f, func(n ast.Node) bool {
		as, ok := n.(*ast.AssignStmt)
		if !ok || len(as.Lhs) != len(as.Rhs) {
			return true
		}
		for i, lhs := range as.Lhs {
			sel, ok := lhs.(*ast.SelectorExpr)
			if !ok || sel.Sel.Name != "Action" || !isLit(as.Rhs[i]) {
				continue
			}
			if id, ok := sel.X.(*ast.Ident); ok && events[id.Name] {
				out = append(out, as.Rhs[i].Pos())
			}
		}
		return true
	})
	return out
}

// convertedActions returns the positions of conversions to audit.Action
// (audit.Action(x), through the import of package audit) outside const
// declarations. Package audit itself is not checked.
func convertedActions(f *ast.File) []token.Pos {
	const auditPath = module + "/audit"
	auditName := ""
	for _, imp := range f.Imports {
		if p, _ := strconv.Unquote(imp.Path.Value); p == auditPath {
			auditName = "audit"
			if imp.Name != nil {
				auditName = imp.Name.Name
			}
		}
	}
	if auditName == "" || auditName == "_" || auditName == "." {
		return nil
	}
	var out []token.Pos
	ast.Inspect(f, func(n ast.Node) bool {
		switch x := n.(type) {
		case *ast.GenDecl:
			return x.Tok != token.CONST // a constant's value is fixed at compile time
		case *ast.CallExpr:
			sel, ok := ast.Unparen(x.Fun).(*ast.SelectorExpr)
			if !ok || sel.Sel.Name != "Action" || len(x.Args) != 1 {
				return true
			}
			if id, ok := sel.X.(*ast.Ident); ok && id.Name == auditName {
				out = append(out, x.Pos())
			}
		}
		return true
	})
	return out
}

// moduleRoot returns the directory of the module's go.mod.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	require.NoError(t, err)
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		require.NotEqual(t, parent, dir, "go.mod not found above the test")
		dir = parent
	}
}

// The checker itself: what it must find, and what it must let through.
func TestLiteralActionsChecker(t *testing.T) {
	src := `package p

import (
	a "github.com/deployedworks/rampart/audit"
)

const ActionOK a.Action = "ok.ok"

func f(e2 a.Event, name string) {
	_ = a.Event{Category: a.CategoryAdmin, Action: "bad.one"}           // 1
	_ = a.Event{Action: ActionOK}
	_ = a.Event{Action: a.Action("x." + name)}
	_ = []a.Event{{Action: "bad.two"}, {Action: ActionOK}}              // 2
	ev := a.Event{Action: ActionOK}
	ev.Action = "bad.three"                                             // 3
	ev.Action = ActionOK
	e2.Action = ("bad.four")                                            // 4
	var e3 a.Event
	e3.Action, e3.Reason = "bad.five", "r"                              // 5
	type other struct{ Action string }
	o := other{Action: "fine"}
	o.Action = "fine"
}
`
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "p.go", src, 0)
	require.NoError(t, err)
	var lines []int
	for _, p := range literalActions(f) {
		lines = append(lines, fset.Position(p).Line)
	}
	assert.Equal(t, []int{10, 13, 15, 17, 19}, lines)
}

// The conversion checker: run-time conversions fail, constants pass.
func TestConvertedActionsChecker(t *testing.T) {
	src := `package p

import a "github.com/deployedworks/rampart/audit"

const ActionOK a.Action = "ok.ok"

const ActionTwo = a.Action("ok.two")

var byVerb = map[string]a.Action{"ok": ActionOK, "two": ActionTwo}

func f(name string, m map[string]string) {
	_ = a.Event{Action: a.Action("x." + name)}                          // 12
	_ = a.Event{Action: a.Action(m[name])}                              // 13
	act := (a.Action)(name)                                             // 14
	_ = a.Event{Action: byVerb[name]}
	_ = a.Event{Action: a.Action("literal.too")}                        // 16
	_ = act
	const local = a.Action("ok.local")
	_ = a.Event{Action: local}
}
`
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "p.go", src, 0)
	require.NoError(t, err)
	var lines []int
	for _, p := range convertedActions(f) {
		lines = append(lines, fset.Position(p).Line)
	}
	assert.Equal(t, []int{12, 13, 14, 16}, lines)
}
