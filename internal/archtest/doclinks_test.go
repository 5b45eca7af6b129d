package archtest

import (
	"go/ast"
	"go/doc"
	"go/doc/comment"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// bracketed is text that looks like a doc link, [Name] or [pkg.Name.Method],
// left as plain text because go/doc could not resolve it.
var bracketed = regexp.MustCompile(`\[\*?[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*){0,2}\]`)

// TestDocLinks checks that every doc link in the module's godoc resolves:
// a [Name] that go/doc cannot resolve stays plain text, and a
// [pkg.Name] to one of our packages must name a symbol that exists there.
func TestDocLinks(t *testing.T) {
	root, err := filepath.Abs("../..")
	require.NoError(t, err)
	type docLink struct{ where, imp, sym string }
	var links []docLink
	syms := map[string]map[string]bool{} // import path → symbols
	packages := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		if n := d.Name(); n == "testdata" || (strings.HasPrefix(n, ".") && path != root) || n == "node_modules" {
			return filepath.SkipDir
		}
		fset := token.NewFileSet()
		entries, err := os.ReadDir(path)
		if err != nil {
			return err
		}
		pkgs := map[string][]*ast.File{} // package name → files
		for _, e := range entries {
			n := e.Name()
			if e.IsDir() || !strings.HasSuffix(n, ".go") || strings.HasSuffix(n, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(fset, filepath.Join(path, n), nil, parser.ParseComments)
			if err != nil {
				continue
			}
			pkgs[f.Name.Name] = append(pkgs[f.Name.Name], f)
		}
		if len(pkgs) == 0 {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		imp := module
		if rel != "." {
			imp += "/" + filepath.ToSlash(rel)
		}
		for _, files := range pkgs {
			packages++
			p, err := doc.NewFromFiles(fset, files, imp)
			require.NoError(t, err)
			syms[imp] = symbols(p)
			pr := p.Parser()
			check := func(where, text string) {
				var walk func(ts []comment.Text)
				walk = func(ts []comment.Text) {
					for _, x := range ts {
						switch x := x.(type) {
						case comment.Plain:
							for _, m := range bracketed.FindAllString(string(x), -1) {
								if strings.ToUpper(m) == m { // [REDACTED] and the like
									continue
								}
								t.Errorf("%s: %s: %s is not a doc link go/doc can resolve", rel, where, m)
							}
						case *comment.Link:
							walk(x.Text)
						case *comment.DocLink:
							sym := x.Name
							if x.Recv != "" {
								sym = x.Recv + "." + x.Name
							}
							links = append(links, docLink{rel + ": " + where, x.ImportPath, sym})
						}
					}
				}
				for _, b := range pr.Parse(text).Content {
					switch b := b.(type) {
					case *comment.Paragraph:
						walk(b.Text)
					case *comment.List:
						for _, it := range b.Items {
							for _, c := range it.Content {
								if pp, ok := c.(*comment.Paragraph); ok {
									walk(pp.Text)
								}
							}
						}
					}
				}
			}
			check("package doc", p.Doc)
			for _, ty := range p.Types {
				check(ty.Name, ty.Doc)
				for _, f := range append(ty.Funcs, ty.Methods...) {
					check(ty.Name+"."+f.Name, f.Doc)
				}
				for _, v := range append(ty.Consts, ty.Vars...) {
					check(strings.Join(v.Names, ", "), v.Doc)
				}
			}
			for _, f := range p.Funcs {
				check(f.Name, f.Doc)
			}
			for _, v := range append(p.Consts, p.Vars...) {
				check(strings.Join(v.Names, ", "), v.Doc)
			}
		}
		return nil
	})
	require.NoError(t, err)
	assert.Greater(t, packages, 10)
	for _, l := range links {
		m, ok := syms[l.imp]
		if !ok || l.sym == "" {
			continue // another module's package, or a link to a package
		}
		assert.True(t, m[l.sym], "%s: [%s.%s] names nothing in that package", l.where, l.imp, l.sym)
	}
}

// symbols lists the exported names of p: types, functions, methods
// (Type.Method), struct fields (Type.Field), constants and variables.
func symbols(p *doc.Package) map[string]bool {
	m := map[string]bool{}
	addValues := func(vs []*doc.Value) {
		for _, v := range vs {
			for _, n := range v.Names {
				m[n] = true
			}
		}
	}
	for _, ty := range p.Types {
		m[ty.Name] = true
		for _, f := range ty.Funcs {
			m[f.Name] = true
		}
		for _, f := range ty.Methods {
			m[ty.Name+"."+f.Name] = true
		}
		addValues(ty.Consts)
		addValues(ty.Vars)
		for _, spec := range ty.Decl.Specs {
			ts, ok := spec.(*ast.TypeSpec)
			if !ok {
				continue
			}
			switch st := ts.Type.(type) {
			case *ast.StructType:
				for _, f := range st.Fields.List {
					for _, n := range f.Names {
						m[ty.Name+"."+n.Name] = true
					}
				}
			case *ast.InterfaceType:
				for _, f := range st.Methods.List {
					for _, n := range f.Names {
						m[ty.Name+"."+n.Name] = true
					}
				}
			}
		}
	}
	for _, f := range p.Funcs {
		m[f.Name] = true
	}
	addValues(p.Consts)
	addValues(p.Vars)
	return m
}
