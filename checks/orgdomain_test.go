package checks

import (
	"bufio"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dmarc"

	"github.com/mailsift/mailsift/internal/resolver"
)

// TestPublicSuffixListVectors runs the PSL project's own test cases
// (testdata/dmarc/test_psl.txt, every checkPublicSuffix line) through the
// organizational-domain function DMARC uses. The PSL states its cases in
// Unicode; mailsift works on A-labels, so both sides are compared as
// A-labels.
func TestPublicSuffixListVectors(t *testing.T) {
	f, err := os.Open("../testdata/dmarc/test_psl.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	line := regexp.MustCompile(`^checkPublicSuffix\((null|'[^']*'), (null|'[^']*')\);$`)
	arg := func(s string) string { // null reads as ""
		if s == "null" {
			return ""
		}
		return strings.Trim(s, "'")
	}
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if !strings.HasPrefix(sc.Text(), "checkPublicSuffix") {
			continue
		}
		m := line.FindStringSubmatch(sc.Text())
		if m == nil {
			t.Fatalf("unreadable line %q", sc.Text())
		}
		n++
		in, want := arg(m[1]), arg(m[2])
		if want != "" {
			if want, err = resolver.ToASCII(want); err != nil {
				t.Fatalf("%s: %v", sc.Text(), err)
			}
		}
		if got := organizationalDomain(in); got != want {
			t.Errorf("%s: got %q, want %q", sc.Text(), got, want)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if n != 78 {
		t.Fatalf("%d checkPublicSuffix cases, want 78", n)
	}
}

// TestOpenDMARCTLDVectors: OpenDMARC's organizational-domain vectors.
func TestOpenDMARCTLDVectors(t *testing.T) {
	for _, row := range vectors(t, "opendmarc-tld.tsv", 3) {
		if got := orgDomain(row[0]); got != row[2] {
			t.Errorf("orgDomain(%q) = %q, want %q (OpenDMARC: %q)", row[0], got, row[2], row[1])
		}
	}
}

// TestOpenDMARCAlignmentVectors: OpenDMARC's identifier alignment vectors.
func TestOpenDMARCAlignmentVectors(t *testing.T) {
	for _, row := range vectors(t, "opendmarc-alignment.tsv", 5) {
		mode := map[string]dmarc.AlignmentMode{"strict": dmarc.AlignmentStrict, "relaxed": dmarc.AlignmentRelaxed}[row[2]]
		if (row[3] == "0") != (row[4] == "aligned") {
			t.Errorf("%v: mailsift's expectation differs from OpenDMARC's", row)
		}
		if got := alignedDomains(row[0], row[1], mode); got != (row[4] == "aligned") {
			t.Errorf("alignedDomains(%q, %q, %s) = %v, want %s", row[0], row[1], row[2], got, row[4])
		}
	}
}

// TestAlignmentIDN: a U-label and its A-label are the same domain.
func TestAlignmentIDN(t *testing.T) {
	if !alignedDomains("b\u00fccher.example", "xn--bcher-kva.example", dmarc.AlignmentStrict) {
		t.Fatal("bücher.example and xn--bcher-kva.example do not align")
	}
	if got := orgDomain("mail.\u98df\u72ee.\u516c\u53f8.cn"); got != "xn--85x722f.xn--55qx5d.cn" {
		t.Fatalf("orgDomain(mail.食狮.公司.cn) = %q", got)
	}
}
