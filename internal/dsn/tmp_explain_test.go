package dsn

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTmpExplainTraining(t *testing.T) {
	var right, total int
	set := loadExpectations(t, "sisimai-train.tsv")
	for file, exps := range set {
		if exps[0].class == "" {
			continue
		}
		raw, _ := os.ReadFile(filepath.Join("..", "..", "testdata", "dsn", "sisimai", file))
		rep, err := Parse(strings.NewReader(string(raw)))
		if err != nil {
			continue
		}
		fs := rep.Failed()
		for i, e := range exps {
			if i >= len(fs) || fs[i].Diagnostic == "" {
				continue
			}
			total++
			if c := Explain("", fs[i].Diagnostic).Class; c == e.class {
				right++
			} else if fs[i].Class == e.class {
				t.Logf("%s: explain %s, parse %s want %s (%s) %.200q", file, c, fs[i].Class, e.class, e.reason, fs[i].Diagnostic)
			}
		}
	}
	t.Logf("training explain %d/%d %.1f%%", right, total, 100*float64(right)/float64(total))
}
