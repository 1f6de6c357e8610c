package checks

import (
	"bufio"
	"os"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dmarc"
)

// policyOf names what ParseDMARCRecord made of a record, in the words of
// the vector files: "p=<policy>" or "no-policy".
func policyOf(txt string) string {
	rec, err := ParseDMARCRecord(txt)
	if err != nil {
		return "no-policy"
	}
	return "p=" + string(rec.Policy)
}

// TestDMARCRecordSpellings: every spelling RFC 7489 §6.3–6.4 allows is
// read, and what it does not allow is no policy (§6.6.3).
func TestDMARCRecordSpellings(t *testing.T) {
	for _, tt := range []struct{ txt, want string }{
		{"v=DMARC1; p=reject", "p=reject"},
		{"v=DMARC1; p=Reject", "p=reject"},
		{"v = DMARC1 ; p = reject", "p=reject"},
		{"V=DMARC1; p=reject", "p=reject"},
		{"v=DMARC1;p=reject;", "p=reject"},
		{"v=DMARC1;\tp=QUARANTINE ;", "p=quarantine"},
		{"v=DMARC1; P=none; SP=Reject", "p=none"},
		{"v=DMARC1; p=reject; future=1; x-y=z", "p=reject"},
		{"v=DMARC1; p=reject; p=none", "p=reject"}, // the first occurrence counts
		{"v=DMARC1; pct=50; p=reject", "p=reject"},
		{"v=DMARC1;; p=reject", "p=reject"},
		{"v=DMARC1; p=n", "no-policy"},
		{"v=DMARC1; p=n; rua=mailto:d@example.org", "p=none"},
		{"v=DMARC1; p=reject; sp=bad; rua=mailto:d@example.org", "p=none"},
		{"v=DMARC1; p=reject; sp=bad", "no-policy"},
		{"v=DMARC1; rua=mailto:d@example.org", "p=none"},
		{"v=DMARC1; rua=not a uri", "no-policy"},
		{"v=DMARC1", "no-policy"},
		{"p=reject; v=DMARC1", "no-policy"},
		{"v=DMARC2; p=reject", "no-policy"},
		{"v=spf1 -all", "no-policy"},
		{"", "no-policy"},
	} {
		if got := policyOf(tt.txt); got != tt.want {
			t.Errorf("ParseDMARCRecord(%q) = %s, want %s", tt.txt, got, tt.want)
		}
	}
}

// TestDMARCRecordTags: the optional tags, and their defaults when a value
// is bad (RFC 7489 §6.3).
func TestDMARCRecordTags(t *testing.T) {
	rec, err := ParseDMARCRecord("v=DMARC1; p=quarantine; sp=Reject; adkim=S; aspf=s; pct=20; fo=0:d:S; rf=afrf; ri=3600; " +
		"rua=mailto:a@example.org!10m, https://r.example/x; ruf=mailto:f@example.org")
	if err != nil {
		t.Fatal(err)
	}
	if rec.Policy != dmarc.PolicyQuarantine || rec.SubdomainPolicy != dmarc.PolicyReject || rec.DKIMAlignment != dmarc.AlignmentStrict ||
		rec.SPFAlignment != dmarc.AlignmentStrict || rec.Percent == nil || *rec.Percent != 20 ||
		rec.FailureOptions != dmarc.FailureAll|dmarc.FailureDKIM|dmarc.FailureSPF || rec.ReportInterval.Seconds() != 3600 ||
		strings.Join(rec.ReportURIAggregate, " ") != "mailto:a@example.org https://r.example/x" ||
		strings.Join(rec.ReportURIFailure, " ") != "mailto:f@example.org" {
		t.Fatalf("record = %+v", rec)
	}
	rec, err = ParseDMARCRecord("v=DMARC1; p=reject; adkim=x; aspf=; pct=500; fo=9; ri=-1")
	if err != nil {
		t.Fatal(err)
	}
	if rec.DKIMAlignment != dmarc.AlignmentRelaxed || rec.SPFAlignment != dmarc.AlignmentRelaxed || rec.Percent != nil ||
		rec.FailureOptions != dmarc.FailureAll || rec.ReportInterval.Seconds() != 86400 {
		t.Fatalf("bad values did not fall back to the defaults: %+v", rec)
	}
}

// vectors reads a tab-separated vector file of testdata/dmarc, each row
// with n fields; lines starting with "#" are comments.
func vectors(t *testing.T, name string, n int) [][]string {
	t.Helper()
	f, err := os.Open("../testdata/dmarc/" + name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows [][]string
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		if strings.HasPrefix(sc.Text(), "#") {
			continue
		}
		row := strings.Split(sc.Text(), "\t")
		if len(row) != n {
			t.Fatalf("%s:%d: %d fields, want %d", name, line, len(row), n)
		}
		rows = append(rows, row)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(rows) == 0 {
		t.Fatalf("%s: no vectors", name)
	}
	return rows
}

// TestOpenDMARCParseVectors: OpenDMARC's record parse vectors; mailsift's
// expected outcome is in the file's last column (README.md there says why
// it differs where it does).
func TestOpenDMARCParseVectors(t *testing.T) {
	rows := vectors(t, "opendmarc-parse.tsv", 3)
	for i, row := range rows {
		want := row[2]
		if ok := row[1] == "DMARC_PARSE_OKAY"; ok != (want != "no-policy") && !documentedParseDifference(row[0]) {
			t.Errorf("vector %d %q: OpenDMARC %s, mailsift %s, and the difference is not documented", i+1, row[0], row[1], want)
		}
		if got := policyOf(row[0]); got != want {
			t.Errorf("vector %d %q: got %s, want %s (OpenDMARC: %s)", i+1, row[0], got, want, row[1])
		}
	}
	if len(rows) != 19 {
		t.Errorf("%d parse vectors, want OpenDMARC's 19", len(rows))
	}
}

// documentedParseDifference lists the records where mailsift and
// OpenDMARC disagree on purpose (testdata/dmarc/README.md).
func documentedParseDifference(txt string) bool {
	for _, tag := range []string{"p=n;", "adkim=bob", "aspf=bob", "rf=bob", "ri=bob", "pct=500", "rf=000"} {
		if strings.Contains(txt, tag) {
			return true
		}
	}
	return false
}

// FuzzDMARCRecord: any TXT record either parses into a policy mailsift can
// apply or is no policy; evaluation never panics.
func FuzzDMARCRecord(f *testing.F) {
	for _, s := range []string{"v=DMARC1; p=reject", "v=DMARC1; p=quarantine; sp=none; pct=0; adkim=s; aspf=r", "v=DMARC1", "v=DMARC1; pct=200; p=x",
		"", "V = dmarc1 ; P = Reject ;", "v=DMARC1; p=n; rua=mailto:x@y,ftp://z!10k", "v=DMARC1; fo=0:1:d:s; rf=afrf:iodef; ri=99999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, txt string) {
		rec, err := ParseDMARCRecord(txt)
		if err != nil {
			return
		}
		if !isDMARCRecord(txt) {
			t.Fatalf("ParseDMARCRecord(%q) read a record that is not v=DMARC1", txt)
		}
		// What CheckData relies on: a known policy, a known sub-policy
		// or none, a percentage in range and alignment modes it knows.
		switch rec.Policy {
		case dmarc.PolicyNone, dmarc.PolicyQuarantine, dmarc.PolicyReject:
		default:
			t.Fatalf("ParseDMARCRecord(%q) gave policy %q", txt, rec.Policy)
		}
		switch rec.SubdomainPolicy {
		case "", dmarc.PolicyNone, dmarc.PolicyQuarantine, dmarc.PolicyReject:
		default:
			t.Fatalf("ParseDMARCRecord(%q) gave sp %q", txt, rec.SubdomainPolicy)
		}
		if p := percent(rec); p < 0 || p > 100 {
			t.Fatalf("ParseDMARCRecord(%q) gave pct %d", txt, p)
		}
		for _, m := range []dmarc.AlignmentMode{rec.DKIMAlignment, rec.SPFAlignment} {
			if m != dmarc.AlignmentRelaxed && m != dmarc.AlignmentStrict {
				t.Fatalf("ParseDMARCRecord(%q) gave alignment %q", txt, m)
			}
		}
		_ = alignedDomains("a.example", "b.example", rec.DKIMAlignment)
	})
}
