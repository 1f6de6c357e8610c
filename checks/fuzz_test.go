package checks

import (
	"context"
	"strings"
	"testing"
)

// FuzzHelo: any HELO argument gives a verdict and, on failure, a reply line
// that is valid and on one line.
func FuzzHelo(f *testing.F) {
	for _, s := range []string{"mail.example.org", "[IPv6:::1]", "bad..helo", "[1.2.3.4", "%s\r\n", strings.Repeat("a.", 200)} {
		f.Add(s)
	}
	syntax, _ := DefaultReply("helo", "syntax")
	h := &Helo{Syntax: syntax}
	f.Fuzz(func(t *testing.T, name string) {
		r := h.CheckHelo(context.Background(), &Envelope{Helo: name})
		if r.Status != Pass && r.Status != Fail {
			t.Fatalf("status %q", r.Status)
		}
		if r.Status == Fail {
			if err := r.Reply.Validate(); err != nil {
				t.Fatalf("reply for %q: %v", name, err)
			}
			if len(r.Reply.String()) > 512 {
				t.Fatalf("reply longer than 512 octets")
			}
		}
	})
}

// FuzzParseReply: a reply from the config either parses into a valid reply
// that prints back the same, or is an error.
func FuzzParseReply(f *testing.F) {
	for _, s := range []string{"550 5.7.1 Go away", "451 Later", "550 4.7.1 x", "5", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseReply(s)
		if err != nil {
			return
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("ParseReply(%q) accepted an invalid reply: %v", s, err)
		}
		r2, err := ParseReply(r.String())
		if err != nil || r2 != r {
			t.Fatalf("round trip of %q: %v, %v", s, r2, err)
		}
	})
}
