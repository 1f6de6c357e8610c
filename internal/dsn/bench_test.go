package dsn

import (
	"bytes"
	"fmt"
	"testing"
)

// manyRecipients is a delivery-status report failing n recipients, each
// also named in the human-readable part (a forged report's shape).
func manyRecipients(n int) []byte {
	var b bytes.Buffer
	b.WriteString("From: MAILER-DAEMON@mx.example.net\r\nSubject: Undelivered Mail Returned to Sender\r\nMIME-Version: 1.0\r\n")
	b.WriteString("Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n")
	b.WriteString("--b\r\nContent-Type: text/plain\r\n\r\nThe mail system\r\n\r\n")
	for i := range n {
		fmt.Fprintf(&b, "<User%d@Example.NET>: host mx.example.net said: 550 5.1.1 user unknown\r\n\r\n", i)
	}
	b.WriteString("--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.net\r\n")
	for i := range n {
		fmt.Fprintf(&b, "\r\nFinal-Recipient: rfc822; user%d@example.net\r\nAction: failed\r\nStatus: 5.1.1\r\n", i)
	}
	b.WriteString("\r\n--b--\r\n")
	return b.Bytes()
}

// BenchmarkParseManyRecipients: the time per report grows with its
// recipients, not with their square (16,000 took 5 s).
func BenchmarkParseManyRecipients(b *testing.B) {
	for _, n := range []int{1000, 16000} {
		msg := manyRecipients(n)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			for b.Loop() {
				if _, err := Parse(bytes.NewReader(msg)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestParseManyRecipients: every recipient of a large report is read,
// with its own region's diagnostic.
func TestParseManyRecipients(t *testing.T) {
	rep, err := Parse(bytes.NewReader(manyRecipients(2000)))
	if err != nil {
		t.Fatal(err)
	}
	failed := rep.Failed()
	if len(failed) != 2000 {
		t.Fatalf("%d failed recipients, want 2000", len(failed))
	}
	if r := failed[1999]; r.Recipient != "user1999@example.net" || r.Status != "5.1.1" || r.Class != UserUnknown {
		t.Fatalf("last recipient %+v", r)
	}
}
