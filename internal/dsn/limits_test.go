package dsn

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// A message of MaxBytes whose text is one long run of words: the rules
// read a bounded prefix of each text (this test ran in 0.2 s; unbounded,
// the regular expressions took seconds per call).
func TestLargeInputBounded(t *testing.T) {
	body := strings.Repeat("user unknown mailbox full relay denied 550 5.1.1 a@b.example ", MaxBytes/64)
	msg := "From: MAILER-DAEMON@example.org\nSubject: Undelivered Mail Returned to Sender\n\n" + body
	rep, err := Parse(strings.NewReader(msg))
	if err != nil {
		t.Fatal(err)
	}
	if !rep.IsBounce() || len(rep.Recipients) != 1 || rep.Recipients[0].Recipient != "a@b.example" {
		t.Errorf("report = %+v", rep)
	}
}

// TestTextShapesBounded: the free-text rules look back a bounded window
// and walk each line once, whatever the shape of the notification: one
// 60 KiB line of "from" remarks, of "(expanded from ...)" remarks, a
// thousand "following recipients:" headings, recipient lines up to the
// 64 KiB of notification read, 5,000 X-Failed-Recipients that the notice
// does not name. Each parse took under 0.3 s.
func TestTextShapesBounded(t *testing.T) {
	head := "From: MAILER-DAEMON@mx.example.org\nTo: sender@example.net\nSubject: Undelivered Mail Returned to Sender\n\n"
	var many, heads strings.Builder
	for i := range 1400 {
		fmt.Fprintf(&many, "user%d@example.com: 550 5.1.1 user unknown\n", i)
	}
	var xfr strings.Builder
	for i := range 5000 {
		fmt.Fprintf(&xfr, "u%d@d%d.example, ", i, i%3)
	}
	for i := range 1000 {
		fmt.Fprintf(&heads, "Delivered to the following recipients:\n  name%d\n", i)
	}
	for _, tc := range []struct {
		name, body string
		want       int // failed recipients
	}{
		{"from remarks", "The mail could not be delivered to bob@example.com." + strings.Repeat(" not accepting mail from a@example.net", 1500) + "\n", 1},
		{"expanded remarks", "The following addresses had permanent fatal errors\nbob@example.com" + strings.Repeat(" (expanded from: a@example.net)", 1800) + "\n", 1},
		{"headings", heads.String(), maxBareNames},
		{"recipient lines", many.String(), 1400},
		{"X-Failed-Recipients", strings.Repeat("Mail could not be delivered: 550 5.1.1 user unknown.\n", 1200), 5000},
	} {
		start := time.Now()
		msg := head + tc.body
		if tc.name == "X-Failed-Recipients" {
			msg = "X-Failed-Recipients: " + xfr.String() + "\n" + msg
		}
		_, got := failedOf(t, msg)
		t.Logf("%s: %d failed recipients in %v", tc.name, len(got), time.Since(start))
		if len(got) != tc.want {
			t.Errorf("%s: %d failed recipients, want %d", tc.name, len(got), tc.want)
		}
	}
}
