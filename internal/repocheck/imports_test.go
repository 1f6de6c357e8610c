package repocheck

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// internal/config is the file format alone: it imports no other mailsift
// package, so that no check's knowledge lives in it (each check owns its
// table, in checks/).
func TestConfigImportsNoMailsiftPackage(t *testing.T) {
	dir := filepath.Join(root, "internal/config")
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(dir, e.Name()), nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		n++
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if strings.HasPrefix(p, "github.com/mailsift/mailsift/") {
				t.Errorf("%s imports %s", e.Name(), p)
			}
		}
	}
	if n == 0 {
		t.Fatal("no Go files in internal/config")
	}
}

// The top level shows the design: the packages the design card names,
// the docs, benchmarks and end-to-end tests; support packages are under
// internal/.
func TestTopLevel(t *testing.T) {
	allowed := map[string]bool{"milter": true, "checks": true, "greylist": true, "cmd": true, "contrib": true, "testdata": true,
		"docs": true, "bench": true, "e2e": true, "internal": true}
	ents, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") && e.Name() != "bin" && !allowed[e.Name()] {
			t.Errorf("folder %s/ at the top level: support packages go under internal/", e.Name())
		}
	}
}
