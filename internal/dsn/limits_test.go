package dsn

import (
	"strings"
	"testing"
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
