package gatehouse_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/gatehouse-dev/gatehouse"

// pkg is one directory's non-test Go code.
type pkg struct {
	dir     string // relative, "." for the root
	imports map[string]bool
	docs    int // files with a package doc comment
}

// loadPackages parses every non-test Go file in the module (imports and doc comments only).
func loadPackages(t *testing.T) map[string]*pkg {
	t.Helper()
	pkgs := map[string]*pkg{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			if path != "." && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules" || name == "gatehouse-data") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly|parser.ParseComments)
		if err != nil {
			return err
		}
		dir := filepath.Dir(path)
		p := pkgs[dir]
		if p == nil {
			p = &pkg{dir: dir, imports: map[string]bool{}}
			pkgs[dir] = p
		}
		if f.Doc != nil && strings.HasPrefix(strings.TrimSpace(f.Doc.Text()), "Package "+f.Name.Name) || f.Doc != nil && f.Name.Name == "main" {
			p.docs++
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			p.imports[path] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return pkgs
}

func isStdlib(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".")
}

// TestImportRules keeps the layering of STYLE.md: the domain at the root depends on
// nothing; the data plane and the stores never reach up into the admin plane or the CLI.
func TestImportRules(t *testing.T) {
	pkgs := loadPackages(t)
	if len(pkgs) < 5 {
		t.Fatalf("found only %d packages; is the test running at the module root?", len(pkgs))
	}
	rules := []struct {
		dirPrefix string   // packages this rule applies to
		forbidden []string // import prefixes (module-relative when starting with internal/)
		allowed   []string // exceptions to forbidden: whole import paths (module-relative)
	}{
		{"internal/store", []string{"internal/admin", "internal/gateway", "internal/cli", "internal/app", "internal/portal", "internal/client"}, nil},
		{"internal/gateway", []string{"internal/admin", "internal/cli", "internal/app", "internal/portal", "internal/store", "internal/client"}, nil},
		{"internal/policy", []string{"internal/admin", "internal/gateway", "internal/cli", "internal/app", "internal/store"}, nil},
		{"internal/admin", []string{"internal/gateway", "internal/cli", "internal/app", "internal/store", "internal/client"}, nil},
		{"internal/portal", []string{"internal/admin", "internal/gateway", "internal/cli", "internal/app", "internal/store", "internal/dashboard"}, nil},
		{"internal/dashboard", []string{"internal/admin", "internal/gateway", "internal/cli", "internal/app", "internal/store", "internal/portal"}, nil},
		{"internal/webui", []string{"internal/"}, nil},
		{"internal/client", []string{"internal/admin", "internal/gateway", "internal/app", "internal/store", "internal/cli"}, nil},
		{"internal/config", []string{"internal/"}, []string{"internal/yamlpos"}},
		{"internal/declarative", []string{"internal/"}, []string{"internal/yamlpos"}},
		{"internal/yamlpos", []string{"internal/"}, nil},
		{"internal/problem", []string{"internal/"}, nil},
		{"internal/notify", []string{"internal/"}, nil},
	}
	for dir, p := range pkgs {
		for imp := range p.imports {
			if dir == "." && !isStdlib(imp) {
				t.Errorf("the root package imports %q: the domain may import only the standard library", imp)
			}
			rel, ok := strings.CutPrefix(imp, module+"/")
			if !ok {
				continue
			}
			if rel == "internal/cli" && dir != filepath.Join("cmd", "gatehouse") {
				t.Errorf("%s imports internal/cli: only cmd/gatehouse may", dir)
			}
			if rel == "internal/app" && !strings.HasPrefix(dir, "internal/cli") {
				t.Errorf("%s imports internal/app: only the CLI's serve command may", dir)
			}
			for _, r := range rules {
				if dir != r.dirPrefix && !strings.HasPrefix(dir, r.dirPrefix+"/") {
					continue
				}
				if slices.Contains(r.allowed, rel) {
					continue
				}
				for _, f := range r.forbidden {
					if strings.HasPrefix(rel, f) && !strings.HasPrefix(rel, r.dirPrefix) {
						t.Errorf("%s imports %s, which its layer must not (rule for %s)", dir, rel, r.dirPrefix)
					}
				}
			}
		}
	}
}

// TestPackageDocs: every package says what it is for, in one doc comment.
func TestPackageDocs(t *testing.T) {
	for dir, p := range loadPackages(t) {
		if p.docs == 0 {
			t.Errorf("package %s has no package doc comment (\"// Package x ...\")", dir)
		}
		if p.docs > 1 {
			t.Errorf("package %s has %d package doc comments; keep one (in doc.go or the main file)", dir, p.docs)
		}
	}
}

// TestFileSize keeps files readable (STYLE.md: no files past ~1,500 lines).
func TestFileSize(t *testing.T) {
	_ = filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err == nil && strings.Count(string(b), "\n") > 1500 {
			t.Errorf("%s has more than 1500 lines; split it", path)
		}
		return nil
	})
}
