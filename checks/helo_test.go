package checks

import (
	"context"
	"strings"
	"testing"
)

func TestHeloSyntax(t *testing.T) {
	h := &Helo{Syntax: Reply{501, "5.5.2", "<{helo}>: Helo command rejected: Invalid name"}}
	tests := []struct {
		helo   string
		status Status
		reason string
	}{
		{"mail.example.org", Pass, "helo-valid"},
		{"mail.example.org.", Pass, "helo-valid"},
		{"localhost", Pass, "helo-valid"}, // valid syntax; FQDN is another check
		{"xn--bcher-kva.example", Pass, "helo-valid"},
		{"a-b.c-d.example", Pass, "helo-valid"},
		{"[192.0.2.1]", Pass, "helo-valid"},
		{"[IPv6:2001:db8::1]", Pass, "helo-valid"},
		{"", Fail, "helo-missing"},
		{"bad..helo", Fail, "helo-invalid-syntax"},
		{"-lead.example", Fail, "helo-invalid-syntax"},
		{"trail-.example", Fail, "helo-invalid-syntax"},
		{"under_score.example", Fail, "helo-invalid-syntax"},
		{"192.0.2.1", Fail, "helo-invalid-syntax"},
		{"[192.0.2.1", Fail, "helo-invalid-syntax"},
		{"[300.0.2.1]", Fail, "helo-invalid-syntax"},
		{"[IPv6:192.0.2.1]", Fail, "helo-invalid-syntax"},
		{"[2001:db8::1]", Fail, "helo-invalid-syntax"},
		{"sp ace.example", Fail, "helo-invalid-syntax"},
		{".", Fail, "helo-invalid-syntax"},
		{strings.Repeat("a", 64) + ".example", Fail, "helo-invalid-syntax"},
		{strings.Repeat("abcdefghi.", 26) + "example", Fail, "helo-invalid-syntax"},
	}
	for _, tt := range tests {
		t.Run(tt.helo, func(t *testing.T) {
			r := h.CheckHelo(context.Background(), &Envelope{Helo: tt.helo})
			if r.Status != tt.status || r.Reason != tt.reason {
				t.Fatalf("CheckHelo(%q) = %s/%s (%s), want %s/%s", tt.helo, r.Status, r.Reason, r.Text, tt.status, tt.reason)
			}
			if r.Status == Fail {
				want := "501 5.5.2 <" + Sanitize(tt.helo) + ">: Helo command rejected: Invalid name"
				if got := r.Reply.String(); got != want {
					t.Errorf("reply = %q, want %q", got, want)
				}
			}
		})
	}
}

func TestHeloReplyIsSanitized(t *testing.T) {
	h := &Helo{Syntax: Reply{501, "5.5.2", "<{helo}>: Invalid name"}}
	r := h.CheckHelo(context.Background(), &Envelope{Helo: "evil\r\n250 ok%s"})
	if got, want := r.Reply.String(), "501 5.5.2 <evil??250 ok?s>: Invalid name"; got != want {
		t.Fatalf("reply = %q, want %q", got, want)
	}
	if err := r.Reply.Validate(); err != nil {
		t.Fatal(err)
	}
}
