package dsn

import (
	"strings"
	"testing"
)

// TestReasonTable: the embedded tables parse, name only reasons that have a
// class, and carry every reason of sisimai's engine.
func TestReasonTable(t *testing.T) {
	if len(reasons.phrases) < 30 || len(reasons.status) < 60 {
		t.Fatalf("%d phrase sets, %d status codes: the embedded table did not parse", len(reasons.phrases), len(reasons.status))
	}
	for r, p := range reasons.phrases {
		if _, ok := reasonClass[r]; !ok {
			t.Errorf("reason %q has no class", r)
		}
		for _, pair := range p.pairs {
			if len(pair) < 2 {
				t.Errorf("%s: pair %q has one element", r, pair)
			}
		}
	}
	for code, r := range reasons.status {
		if _, ok := reasonClass[r]; !ok {
			t.Errorf("status %s: reason %q has no class", code, r)
		}
	}
	for _, r := range append(append([]string{}, probeOrder...), phraseOrder...) {
		if _, ok := reasons.phrases[r]; !ok && r != "expired" {
			t.Errorf("reason %q of the engine's order has no phrases", r)
		}
	}
	if got := reasons.statusName("5.1.1"); got != "userunknown" {
		t.Errorf("status 5.1.1 names %q, want userunknown", got)
	}
}

func TestAligned(t *testing.T) {
	for _, tc := range []struct {
		s     string
		parts []string
		want  bool
	}{
		{"user neko does not exist here", []string{"user ", " does not exist"}, true},
		{"does not exist: user neko", []string{"user ", " does not exist"}, false},
		{"said: 550 5.1.1 <a@b> user unknown ", []string{"said: 550 5.1.1 ", " user unknown "}, true},
		{"abc", []string{"abc", "abc"}, false},
		{"abcabc", []string{"abc", "abc"}, true},
		{"", []string{"a"}, false},
	} {
		if got := aligned(tc.s, tc.parts); got != tc.want {
			t.Errorf("aligned(%q, %q) = %v, want %v", tc.s, tc.parts, got, tc.want)
		}
	}
}

func TestFindCommand(t *testing.T) {
	for text, want := range map[string]string{
		"host mx.example.org said: 550 5.1.1 <a@b>: User unknown (in reply to RCPT TO command)": "RCPT",
		"SMTP error from remote mail server after end of data: 550 spam":                        "",
		"(in reply to end of DATA command)":                                                     "DATA",
		">>> MAIL From:<a@b> <<< 553 5.1.8 Domain of sender address does not exist":             "MAIL",
		"550 5.1.1 <DATABASE@EXAMPLE.JP>: Recipient address rejected":                           "",
		"(in reply to MAIL FROM command) then (in reply to RCPT TO command)":                    "RCPT",
		"while talking to mx: >>> HELO mx.example.org":                                          "HELO",
		"": "",
	} {
		if got := findCommand(text); got != want {
			t.Errorf("findCommand(%q) = %q, want %q", text, got, want)
		}
	}
}

// TestDecide: the engine and the reader's rules together, on reply lines
// and on the context a notice gives them.
func TestDecide(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   input
		want string
	}{
		{"user unknown at RCPT", input{action: "failed", status: "5.1.1",
			detail: "host mx.example.org said: 550 5.1.1 <neko@example.org>: Recipient address rejected: User unknown in local recipient table (in reply to RCPT TO command)"}, UserUnknown},
		// sisimai calls a user unknown given after DATA "filtered"; the
		// address is still dead (issue 15).
		{"user unknown after DATA", input{action: "failed", status: "5.0.0",
			detail: "host mx.example.org said: 550 user unknown (in reply to end of DATA command)"}, UserUnknown},
		{"blocklist under a 5.1.x status", input{action: "failed", status: "5.1.3",
			detail: "553 5.1.3 http://www.spamhaus.org/query/bl?ip=192.0.2.1"}, SpamBlocked},
		{"null MX", input{action: "failed", status: "5.1.10",
			detail: "556 5.1.10 Recipient address has null MX"}, HostUnknown},
		// Exchange Online says RecipientNotFound with 5.1.10.
		{"Exchange 5.1.10", input{action: "failed", status: "5.1.10",
			detail: "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup"}, UserUnknown},
		{"NXDOMAIN called temporary", input{action: "failed", status: "4.4.3",
			detail: "DNS Error: DNS type 'mx' lookup of example.invalid responded with code NXDOMAIN Domain name not found: example.invalid"}, HostUnknown},
		{"mailbox full", input{action: "failed", status: "5.2.2",
			detail: "552 5.2.2 <neko@example.org>: Mailbox full"}, MailboxFull},
		{"helo refused is the sender's identity", input{status: "5.5.2",
			detail: "504 5.5.2 <localhost>: Helo command rejected: need fully-qualified hostname"}, PolicyAuth},
		{"sending quota", input{status: "5.4.5", detail: "550 5.4.5 Daily user sending quota exceeded."}, RateLimited},
		{"connection timed out, one reply", input{detail: "connect to mx.example.org[192.0.2.7]:25: Connection timed out"}, Network},
		{"connection timed out, MTA gave up", input{action: "failed", status: "4.4.1",
			detail: "connect to mx.example.org[192.0.2.7]:25: Connection timed out"}, Expired},
		{"dmarc", input{action: "failed", detail: "550 5.7.26 Unauthenticated email from example.org is not accepted due to domain's DMARC policy"}, PolicyAuth},
		{"relay", input{action: "failed", detail: "554 5.7.1 <neko@example.net>: Relay access denied (in reply to RCPT TO command)"}, RelayDenied},
		{"too large", input{action: "failed", status: "5.3.4", detail: "552 5.3.4 Message size exceeds fixed limit"}, TooLarge},
		{"suspended", input{action: "failed", detail: "550 5.2.1 The email account that you tried to reach is disabled."}, Suspended},
		// x.7.x alone is a broad guess (sisimai: securityerror); the
		// words say content.
		{"content under 5.7.1", input{detail: "550 5.7.1 Message rejected due to content restrictions"}, SpamBlocked},
		{"no text, a status", input{action: "failed", status: "5.1.1"}, UserUnknown},
		{"nothing at all", input{action: "failed"}, Other},
	} {
		if got := decide(tc.in); got != tc.want {
			t.Errorf("%s: decide = %s, want %s", tc.name, got, tc.want)
		}
	}
}

// TestDecideBounded: a huge reply is cut to maxClassify before the phrase
// lists read it.
func TestDecideBounded(t *testing.T) {
	long := strings.Repeat("x", 1<<20) + " user unknown"
	if got := decide(input{action: "failed", detail: long, context: long}); got == UserUnknown {
		t.Errorf("decide read past maxClassify")
	}
}
