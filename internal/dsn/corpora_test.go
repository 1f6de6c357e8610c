package dsn

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The harness shared by the corpus measurements (corpus_test.go,
// sisimai2025_test.go, flufl_test.go, bounceparser_test.go, bmh_test.go,
// crisp_test.go, bounceclassifier_test.go, zonemta_test.go,
// classify_test.go): reading the expectations and samples under
// testdata/dsn, picking the recipient a row names, counting the
// non-bounces, logging the mismatches and checking the floors.

// dsnPath is the path of a file under testdata/dsn.
func dsnPath(elem ...string) string {
	return filepath.Join(append([]string{"..", "..", "testdata", "dsn"}, elem...)...)
}

// readTSV reads testdata/dsn/<name>: a row a line, its columns split on
// tabs; a line beginning with '#' is a comment. A row with other than cols
// columns fails the test, naming the file and the line.
func readTSV(t *testing.T, name string, cols int) [][]string {
	t.Helper()
	f, err := os.Open(dsnPath(name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows [][]string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20) // crisp.tsv carries whole reply texts
	for n := 1; sc.Scan(); n++ {
		if strings.HasPrefix(sc.Text(), "#") {
			continue
		}
		c := strings.Split(sc.Text(), "\t")
		if len(c) != cols {
			t.Fatalf("%s: line %d: want %d tab-separated columns, got %d: %q", name, n, cols, len(c), sc.Text())
		}
		rows = append(rows, c)
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return rows
}

// readSample reads the sample file of a corpus, testdata/dsn/<dir>/<file>.
func readSample(t *testing.T, dir, file string) []byte {
	t.Helper()
	raw, err := os.ReadFile(dsnPath(dir, file))
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// undelivered is the report's recipients whose action is failed or
// delayed: those a bounce or a delay notice is about.
func undelivered(rep *Report) []Recipient {
	var out []Recipient
	for _, r := range rep.Recipients {
		if r.Action == "failed" || r.Action == "delayed" {
			out = append(out, r)
		}
	}
	return out
}

// findRecipient is the recipient of rs whose address is addr (ignoring
// case), and true; when none is, the first of rs (the zero Recipient if rs
// is empty), and false. An empty addr matches no recipient.
func findRecipient(rs []Recipient, addr string) (Recipient, bool) {
	for _, r := range rs {
		if addr != "" && strings.EqualFold(r.Recipient, addr) {
			return r, true
		}
	}
	if len(rs) > 0 {
		return rs[0], false
	}
	return Recipient{}, false
}

// nonBounces counts a corpus's messages that are not bounces (total), and
// those of them the reader did not take for a bounce (right).
type nonBounces struct{ total, right int }

// add counts one message that is not a bounce, as Parse read it: right
// when read without error and of a kind other than KindBounce. It returns
// misses, with a line for file appended when the reader got it wrong.
func (n *nonBounces) add(misses []string, file string, rep *Report, err error) []string {
	n.total++
	if err != nil || rep.Kind == KindBounce {
		return append(misses, file+": a bounce, want none")
	}
	n.right++
	return misses
}

// share is n as a percentage of of (0 when of is 0).
func share(n, of int) float64 { return 100 * float64(n) / float64(max(of, 1)) }

// floor is one figure a corpus test asserts: what it measures (as the
// error names it), the percentage measured and the floor under it.
type floor struct {
	what     string
	got, min float64
}

// checkFloors fails the test, once for each, for the figures of a corpus
// below their floors.
func checkFloors(t *testing.T, corpus string, fs ...floor) {
	t.Helper()
	for _, f := range fs {
		if f.got < f.min {
			t.Errorf("%s: %s for %.1f%%, below the floor %.0f%%", corpus, f.what, f.got, f.min)
		}
	}
}

// logMisses logs a corpus's mismatches in a verbose run whose
// DSN_MISMATCHES names the corpus (DSN_MISMATCHES=bmh go test -v -run BMH).
func logMisses(t *testing.T, corpus string, misses []string) {
	t.Helper()
	if testing.Verbose() && os.Getenv("DSN_MISMATCHES") == corpus {
		for _, m := range misses {
			t.Log(m)
		}
	}
}

// trunc is s cut to n bytes at most.
func trunc(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
