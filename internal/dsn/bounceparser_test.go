package dsn

import (
	"bufio"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// bounceParserClasses maps the std_reason of Mail::DeliveryStatus::
// BounceParser (testdata/dsn/SOURCE) to the classes it allows. Its
// domain_error covers both a domain that does not exist and a server that
// refuses to relay for the domain (its tests file "Relaying denied" and
// "not in rcpthosts" there), so either class is right.
var bounceParserClasses = map[string][]string{
	"user_unknown":      {UserUnknown},
	"user_disabled":     {Suspended},
	"over_quota":        {MailboxFull},
	"spam":              {SpamBlocked},
	"message_too_large": {TooLarge},
	"domain_error":      {HostUnknown, RelayDenied},
}

// bounceParserFloor is the share of BounceParser's bounces whose class the
// reader gets right: a third source, independent of sisimai, added after
// the sisimai held-out figures were final and measured, not read (no rule
// was written against it). Measured: 84.5% of 97 bounces; hard/soft 88.8%
// of the 89 whose hardness the label decides; with the reason engine
// (sisimai's tables, reason.go) 92.8% and 95.5%.
const bounceParserFloor = 91.0

func TestBounceParserCorpus(t *testing.T) {
	f, err := os.Open(filepath.Join("..", "..", "testdata", "dsn", "bounceparser.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var bounces, classRight, recipientRight, withAddr, notBounce, notBounceRight, hardKnown, hardRight int
	var misses []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "#") {
			continue
		}
		c := strings.Split(sc.Text(), "\t")
		if len(c) != 3 {
			t.Fatalf("bounceparser.tsv: bad line %q", sc.Text())
		}
		file, reason, addr := c[0], c[1], strings.ToLower(c[2])
		raw, err := os.ReadFile(filepath.Join("..", "..", "testdata", "dsn", "bounceparser", file))
		if err != nil {
			t.Fatal(err)
		}
		rep, err := Parse(strings.NewReader(string(raw)))
		if reason == "not_bounce" {
			notBounce++
			if err == nil && rep.Kind != KindBounce {
				notBounceRight++
			} else {
				misses = append(misses, file+": a bounce, want none")
			}
			continue
		}
		want, ok := bounceParserClasses[reason]
		if !ok {
			t.Fatalf("bounceparser.tsv: reason %q has no class", reason)
		}
		bounces++
		if addr != "" {
			withAddr++
		}
		if err != nil {
			misses = append(misses, file+": "+err.Error())
			continue
		}
		fs := rep.Failed()
		var got Recipient
		if len(fs) > 0 {
			got = fs[0]
		}
		for _, r := range fs {
			if addr != "" && strings.EqualFold(r.Recipient, addr) {
				got = r
				recipientRight++
				break
			}
		}
		if len(want) == 1 {
			// Hard or soft follows from the class; domain_error's two
			// classes differ in hardness, so it is left out.
			hardKnown++
			if got.Hard == IsHard(want[0]) && got.Recipient != "" {
				hardRight++
			}
		}
		if slices.Contains(want, got.Class) {
			classRight++
		} else {
			misses = append(misses, file+": "+got.Recipient+" "+got.Class+", want "+reason+" diag="+trunc(got.Diagnostic, 120))
		}
	}
	pct := 100 * float64(classRight) / float64(max(bounces, 1))
	t.Logf("BounceParser: %d bounces, class right %.1f%%, hard/soft right %.1f%% (of %d); published recipient found for %d of %d; %d of %d non-bounces not taken for bounces",
		bounces, pct, 100*float64(hardRight)/float64(max(hardKnown, 1)), hardKnown, recipientRight, withAddr, notBounceRight, notBounce)
	if testing.Verbose() && os.Getenv("DSN_MISMATCHES") == "bounceparser" {
		for _, m := range misses {
			t.Log(m)
		}
	}
	if pct < bounceParserFloor {
		t.Errorf("BounceParser: class right for %.1f%%, below the floor %.0f%%", pct, bounceParserFloor)
	}
}
