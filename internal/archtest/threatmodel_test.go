package archtest

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// threatModel is the document TestThreatModelIsTraceable keeps true.
const threatModel = "docs/THREAT_MODEL.md"

var (
	// A cited Go file, a cited test (TestX or TestX/Sub/…) or a table
	// cell boundary, in the order they appear on a line.
	citeRE = regexp.MustCompile(`([A-Za-z0-9_./-]+\.go)\b|\b(Test[A-Z0-9_][A-Za-z0-9_]*(?:/[A-Za-z0-9_]+)*)|(\|)`)
	// A row of an ASVS table: "| 6.2.1 | …".
	asvsRowRE  = regexp.MustCompile(`^\| \d+\.\d+\.\d+`)
	testFuncRE = regexp.MustCompile(`(?m)^func (Test[A-Za-z0-9_]*)\(`)
	testNameRE = regexp.MustCompile(`\bTest[A-Z0-9_]`)
	subtestRE  = regexp.MustCompile(`\.Run\("([^"]+)"`)
)

// TestThreatModelIsTraceable fails when docs/THREAT_MODEL.md cites what
// does not exist, so that the document cannot rot silently:
//
//   - every cited Go file (a path from the repository root) exists;
//   - a test named after a cited _test.go file, in the same table cell, is
//     a top-level test function of that file; a test named with no file
//     before it exists in some _test.go file of the repository;
//   - in TestX/Sub, Sub is the name of a t.Run somewhere in the repository
//     (conformance suites run their subtests from non-test files);
//   - every row of the ASVS tables cites a test, marks work on another
//     branch (PENDING-…), or says n/a with its reason;
//   - every audit action (an audit.Action constant in an actions.go file
//     of any module in the repository) is listed in the logging inventory.
//
// PENDING-… markers name work on other branches: they cite nothing and are
// not checked, until the lead replaces them.
func TestThreatModelIsTraceable(t *testing.T) {
	root := moduleRoot(t)
	doc, err := os.ReadFile(filepath.Join(root, threatModel))
	require.NoError(t, err)

	testsIn := map[string]map[string]bool{} // test file → its test functions
	anyTest := map[string]bool{}
	subtests := map[string]bool{}
	var actions []string
	fset := token.NewFileSet()
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			if path != root && (name == "testdata" || name == "vendor" || name == "node_modules" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel := filepath.ToSlash(must(filepath.Rel(root, path)))
		for _, m := range subtestRE.FindAllSubmatch(src, -1) {
			subtests[string(m[1])] = true
		}
		if strings.HasSuffix(path, "_test.go") {
			names := map[string]bool{}
			for _, m := range testFuncRE.FindAllSubmatch(src, -1) {
				names[string(m[1])] = true
				anyTest[string(m[1])] = true
			}
			testsIn[rel] = names
		}
		if d.Name() == "actions.go" {
			f, err := parser.ParseFile(fset, path, src, parser.SkipObjectResolution)
			if err != nil {
				return err
			}
			actions = append(actions, actionValues(f)...)
		}
		return nil
	})
	require.NoError(t, err)
	require.NotEmpty(t, anyTest, "no tests found under %s", root)
	require.NotEmpty(t, actions, "no audit actions found under %s", root)

	cited := 0
	for i, line := range strings.Split(string(doc), "\n") {
		where := func(format string, args ...any) {
			t.Errorf("%s:%d: "+format, append([]any{threatModel, i + 1}, args...)...)
		}
		file := "" // the _test.go file cited last in this cell
		for _, m := range citeRE.FindAllStringSubmatch(line, -1) {
			switch path, test := m[1], m[2]; {
			case m[3] != "":
				file = ""
			case path != "":
				if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(path))); err != nil {
					where("cites %s, which does not exist (give paths from the repository root)", path)
				}
				file = ""
				if strings.HasSuffix(path, "_test.go") {
					file = path
				}
			default:
				cited++
				top, sub, _ := strings.Cut(test, "/")
				switch {
				case file != "" && !testsIn[file][top]:
					where("cites %s in %s, which has no such test function", top, file)
				case file == "" && !anyTest[top]:
					where("cites %s, which no _test.go file defines", top)
				}
				for s := range strings.SplitSeq(sub, "/") {
					if s != "" && !subtests[s] {
						where("cites subtest %s of %s: no t.Run(%q, …) in the repository", test, top, s)
					}
				}
			}
		}
		if asvsRowRE.MatchString(line) {
			cells := strings.Split(strings.Trim(line, "| "), "|")
			status, tests := strings.TrimSpace(cells[2]), cells[len(cells)-1]
			if !strings.HasPrefix(status, "n/a") && !strings.Contains(tests, "PENDING-") && !testNameRE.MatchString(tests) {
				where("an ASVS row with neither a test, nor PENDING-…, nor n/a and its reason")
			}
		}
	}
	require.NotZero(t, cited, "the threat model cites no test")

	for _, a := range actions {
		if !strings.Contains(string(doc), "`"+a+"`") {
			t.Errorf("audit action %q is missing from the logging inventory of %s", a, threatModel)
		}
	}
}

// actionValues returns the values of the string constants of type
// audit.Action (or Action, in package audit itself) declared in f.
func actionValues(f *ast.File) []string {
	var out []string
	for _, decl := range f.Decls {
		gd, ok := decl.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			if !isActionType(vs.Type, f.Name.Name) {
				continue
			}
			for _, v := range vs.Values {
				if lit, ok := v.(*ast.BasicLit); ok && lit.Kind == token.STRING {
					if s, err := strconv.Unquote(lit.Value); err == nil {
						out = append(out, s)
					}
				}
			}
		}
	}
	return out
}

func isActionType(e ast.Expr, pkg string) bool {
	switch x := e.(type) {
	case *ast.Ident:
		return pkg == "audit" && x.Name == "Action"
	case *ast.SelectorExpr:
		id, ok := x.X.(*ast.Ident)
		return ok && id.Name == "audit" && x.Sel.Name == "Action"
	}
	return false
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
