package dsn

import (
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// The expected class of a sample is reasonClass (reason.go) of the reason
// sisimai publishes for it (testdata/dsn/SOURCE), the map the reason
// engine uses. "" means not a bounce: the report's Kind must then be the
// one in sisimaiKind.
var sisimaiKind = map[string]Kind{"delivered": KindDelivered, "feedback": KindFeedback, "vacation": KindAutoReply}

type expectation struct {
	file, status, reason string
	index                int
	hard                 bool
	// class is the expected class: reasonClass[reason], or what the
	// remap table of testdata/dsn/README says.
	class string
}

// remap is the one table of testdata/dsn/README: where issue 15's
// definitions deliberately differ from sisimai's label, the expected class
// and hard flag of a sample follow the issue. Each row is a rule over
// sisimai's reason and the message's own text; there are no per-sample
// edits. msg is the message lowercased, up to the copy of the original.
func remap(e *expectation, msg string, userUnknown sisimaiPhrases) {
	switch {
	case e.reason == "filtered" && userUnknown.match(msg):
		// sisimai: a "user unknown" reply after DATA, or with a 5.2.x
		// status, is "filtered" (soft). The reply says the mailbox does
		// not exist: the address is dead whatever the SMTP stage.
		e.class, e.hard = UserUnknown, true
	case e.reason == "notaccept":
		// sisimai: soft when the reply was 4xx. A domain that accepts
		// no mail (null MX) is dead whatever the first digit.
		e.class, e.hard = HostUnknown, true
	case e.reason == "networkerror" && strings.Contains(msg, "nxdomain"):
		// sisimai: networkerror when the sending MTA reported the DNS
		// answer as temporary. NXDOMAIN says the domain does not exist.
		e.class, e.hard = HostUnknown, true
	}
}

// sisimaiPhrases is sisimai's phrase list for one reason
// (testdata/dsn/sisimai-userunknown.txt): plain phrases, and ordered pairs
// that must stand on one line.
type sisimaiPhrases struct {
	phrases []string
	pairs   [][2]string
}

func loadPhrases(t *testing.T, name string) sisimaiPhrases {
	t.Helper()
	raw, err := os.ReadFile(dsnPath(name))
	if err != nil {
		t.Fatal(err)
	}
	var p sisimaiPhrases
	for _, line := range strings.Split(string(raw), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if a, b, ok := strings.Cut(line, "\t"); ok {
			p.pairs = append(p.pairs, [2]string{a, b})
			continue
		}
		p.phrases = append(p.phrases, line)
	}
	return p
}

func (p sisimaiPhrases) match(msg string) bool {
	flat := strings.Join(strings.Fields(msg), " ")
	for _, ph := range p.phrases {
		if strings.Contains(flat, ph) {
			return true
		}
	}
	for _, line := range strings.Split(msg, "\n") {
		for _, pr := range p.pairs {
			if i := strings.Index(line, pr[0]); i >= 0 && strings.Contains(line[i+len(pr[0]):], pr[1]) {
				return true
			}
		}
	}
	return false
}

// reOriginalCopy is where the copy of the original message starts.
var reOriginalCopy = regexp.MustCompile(`(?i)content-type:\s*(message/rfc822|text/rfc822-headers|message/rfc822-headers)`)

// notificationText is the message lowercased, up to the copy of the
// original message.
func notificationText(raw string) string {
	if loc := reOriginalCopy.FindStringIndex(raw); loc != nil {
		raw = raw[:loc[0]]
	}
	return strings.ToLower(raw)
}

func loadExpectations(t *testing.T, name string) map[string][]expectation {
	t.Helper()
	out := map[string][]expectation{}
	for _, c := range readTSV(t, name, 6) {
		var e expectation
		e.file, e.status, e.reason, e.hard = c[0], c[2], c[4], c[5] == "1"
		fmt.Sscan(c[1], &e.index)
		class, ok := reasonClass[e.reason]
		if !ok {
			t.Fatalf("%s: reason %q has no class", name, e.reason)
		}
		e.class = class
		out[e.file] = append(out[e.file], e)
	}
	uu := loadPhrases(t, "sisimai-userunknown.txt")
	for file, exps := range out {
		msg := notificationText(string(readSample(t, "sisimai", file)))
		for i := range exps {
			remap(&exps[i], msg, uu)
		}
	}
	return out
}

// score is how well Parse did on a set.
type score struct {
	recipients, recipientClass, hardSoft int // right
	total                                int // expected recipients
	mismatches                           []string
}

func (s score) pct(n int) float64 { return 100 * float64(n) / float64(max(s.total, 1)) }

// measure parses every file of a set and compares with the published
// expectations: the report's kind, the number of recipients (sisimai
// publishes one row per recipient), each recipient's address (present in
// the message, an address) and class, and hard/soft.
func measure(t *testing.T, set map[string][]expectation) score {
	t.Helper()
	var s score
	files := make([]string, 0, len(set))
	for f := range set {
		files = append(files, f)
	}
	sort.Strings(files)
	for _, file := range files {
		exps := set[file]
		raw := readSample(t, "sisimai", file)
		rep, err := Parse(strings.NewReader(string(raw)))
		s.total += len(exps)
		if err != nil {
			s.mismatches = append(s.mismatches, fmt.Sprintf("%s: %v", file, err))
			continue
		}
		if k, ok := sisimaiKind[exps[0].reason]; ok {
			// Not a bounce: right when the kind is.
			if rep.Kind == k {
				s.recipients += len(exps)
				s.recipientClass += len(exps)
				s.hardSoft += len(exps)
			} else {
				s.mismatches = append(s.mismatches, fmt.Sprintf("%s: kind %s, want %s", file, rep.Kind, k))
			}
			continue
		}
		got := undelivered(rep)
		if len(got) != len(exps) {
			s.mismatches = append(s.mismatches, fmt.Sprintf("%s: kind %s, %d recipients %v, want %d (%s)", file, rep.Kind, len(got), addrsOf(got), len(exps), exps[0].reason))
		}
		for i, e := range exps {
			if i >= len(got) {
				break
			}
			r := got[i]
			want := e.class
			addrOK := strings.Contains(r.Recipient, "@") && strings.Contains(strings.ToLower(string(raw)), strings.ToLower(r.Recipient))
			if addrOK && len(got) == len(exps) {
				s.recipients++
				if r.Class == want {
					s.recipientClass++
				}
			}
			if r.Hard == e.hard {
				s.hardSoft++
			}
			if r.Class != want || r.Hard != e.hard {
				s.mismatches = append(s.mismatches, fmt.Sprintf("%s[%d]: %s %s/%v, want %s/%v (%s %s) diag=%q", file, i, r.Recipient, r.Class, r.Hard, want, e.hard, e.reason, e.status, trunc(r.Diagnostic, 160)))
			}
		}
	}
	return s
}

func addrsOf(rs []Recipient) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Recipient)
	}
	return out
}

func report(t *testing.T, name string, s score) {
	t.Logf("%s: %d recipients; recipient right %.1f%%, recipient+class right %.1f%%, hard/soft right %.1f%%",
		name, s.total, s.pct(s.recipients), s.pct(s.recipientClass), s.pct(s.hardSoft))
	if testing.Verbose() || os.Getenv("DSN_MISMATCHES") != "" {
		for _, m := range s.mismatches {
			t.Log(m)
		}
	}
}

// The targets of issue 15, and the floors the tests assert: the figures
// measured when the rules were last changed, less a margin. Below a floor is
// a regression. Held-out figures with the reason engine (reason.go, lhost.go,
// rhost.go: sisimai's published tables) and the recipient rules of
// flufl.bounce: recipient+class 90.2% (target 90%), hard/soft 95.1%
// (target 95%), explain 86.4% (target 85%). The held-out half was not read while writing our rules
// (only these summary figures were), but sisimai's authors wrote their
// tables over the whole corpus: testdata/dsn/SOURCE. testdata/dsn/README
// has the one remap of sisimai's labels.
const (
	classTarget, hardTarget, explainTarget = 90.0, 95.0, 85.0

	trainClassFloor, trainHardFloor = 95.0, 99.0
	classFloor, hardFloor           = 89.0, 94.0
	explainFloor                    = 85.0
)

// TestSisimaiTraining is the set the rules were written against.
func TestSisimaiTraining(t *testing.T) {
	s := measure(t, loadExpectations(t, "sisimai-train.tsv"))
	report(t, "training set", s)
	if s.pct(s.recipientClass) < trainClassFloor || s.pct(s.hardSoft) < trainHardFloor {
		for _, m := range s.mismatches {
			t.Log(m)
		}
		t.Errorf("training set: recipient+class %.1f%% (floor %.0f%%), hard/soft %.1f%% (floor %.0f%%)",
			s.pct(s.recipientClass), trainClassFloor, s.pct(s.hardSoft), trainHardFloor)
	}
}

// TestSisimaiHeldOut is the held-out set: never looked at while writing
// the rules. Targets (issue 15): recipient and class right for >= 90% of
// recipients, hard/soft for >= 95%.
func TestSisimaiHeldOut(t *testing.T) {
	heldOut(t, "sisimai-heldout.tsv", "held-out", "heldout", classFloor, hardFloor)
}

// heldOut measures a held-out set of sisimai samples (testdata/dsn/<file>)
// and logs its figures under name, against the targets of issue 15. Its
// mismatches are logged only when DSN_MISMATCHES is env: reading them
// would make the set a training set. Below a floor the test fails.
func heldOut(t *testing.T, file, name, env string, classFloor, hardFloor float64) {
	t.Helper()
	s := measure(t, loadExpectations(t, file))
	t.Logf("%s: %d recipients; recipient right %.1f%%, recipient+class right %.1f%% (target %.0f%%), hard/soft right %.1f%% (target %.0f%%)",
		name, s.total, s.pct(s.recipients), s.pct(s.recipientClass), classTarget, s.pct(s.hardSoft), hardTarget)
	if os.Getenv("DSN_MISMATCHES") == env {
		for _, m := range s.mismatches {
			t.Log(m)
		}
	}
	checkFloors(t, name,
		floor{"recipient+class right", s.pct(s.recipientClass), classFloor},
		floor{"hard/soft right", s.pct(s.hardSoft), hardFloor})
}
