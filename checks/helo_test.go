package checks

import (
	"context"
	"net/netip"
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
		{"[192.0.2.1]", Pass, "helo-literal"},
		{"[IPv6:2001:db8::1]", Pass, "helo-literal"},
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

func TestHeloFull(t *testing.T) {
	r, srv := testDNS(t)
	srv.ServFail("helo-servfail.checks.test")
	srv.Silent("slow.checks.test")
	h := &Helo{RequireFQDN: true, RequireDNS: true, OurNames: []string{"mx.ours.test"}, DNS: r,
		Syntax: reply(t, "helo", "syntax"), NonFQDN: reply(t, "helo", "non_fqdn"), Literal: reply(t, "helo", "literal"),
		Ours: reply(t, "helo", "ours"), Unknown: reply(t, "helo", "unknown"), Temp: reply(t, "helo", "temp")}
	client := netip.MustParseAddr("192.0.2.10")
	daemon := netip.MustParseAddr("192.0.2.1")
	tests := []struct {
		helo, client  string
		status        Status
		reason, reply string
	}{
		{"mail.checks.test", "", Pass, "helo-valid", ""},
		{"MAIL.checks.test.", "", Pass, "helo-valid", ""},
		{"mxonly.checks.test", "", Pass, "helo-valid", ""},
		{"cname.checks.test", "", Pass, "helo-valid", ""},
		{"[192.0.2.10]", "", Pass, "helo-literal", ""},
		{"[IPv6:2001:db8::25]", "2001:db8::25", Pass, "helo-literal", ""},
		{"[192.0.2.77]", "", Fail, "helo-literal-mismatch", "550 5.7.1 <[192.0.2.77]>: Helo command rejected: not your address"},
		{"[192.0.2.1]", "", Fail, "helo-ours", "550 5.7.1 <[192.0.2.1]>: Helo command rejected: You are not me"},
		{"mx.mta.test", "", Fail, "helo-ours", "550 5.7.1 <mx.mta.test>: Helo command rejected: You are not me"},
		{"MX.ours.test", "", Fail, "helo-ours", "550 5.7.1 <MX.ours.test>: Helo command rejected: You are not me"},
		{"localhost", "", Fail, "helo-not-fqdn", "504 5.5.2 <localhost>: Helo command rejected: need fully-qualified hostname"},
		{"nothing.checks.test", "", Fail, "helo-unknown", "550 5.7.1 <nothing.checks.test>: Helo command rejected: Host not found"},
		{"txtonly.checks.test", "", Fail, "helo-unknown", "550 5.7.1 <txtonly.checks.test>: Helo command rejected: Host not found"},
		{"helo-servfail.checks.test", "", TempError, "helo-temperror", "450 4.7.1 <helo-servfail.checks.test>: Helo command rejected: Host not found"},
		{"slow.checks.test", "", TempError, "helo-temperror", "450 4.7.1 <slow.checks.test>: Helo command rejected: Host not found"},
		{"bad..helo", "", Fail, "helo-invalid-syntax", "501 5.5.2 <bad..helo>: Helo command rejected: Invalid name"},
		{"192.0.2.10", "", Fail, "helo-invalid-syntax", "501 5.5.2 <192.0.2.10>: Helo command rejected: Invalid name"},
	}
	for _, tt := range tests {
		t.Run(tt.helo, func(t *testing.T) {
			env := &Envelope{Helo: tt.helo, ClientIP: client, DaemonAddr: daemon, MTAName: "mx.mta.test"}
			if tt.client != "" {
				env.ClientIP = netip.MustParseAddr(tt.client)
			}
			res := h.CheckHelo(context.Background(), env)
			if res.Status != tt.status || res.Reason != tt.reason || replyString(res.Reply) != tt.reply {
				t.Fatalf("= %s/%s %q (%s), want %s/%s %q", res.Status, res.Reason, replyString(res.Reply), res.Text, tt.status, tt.reason, tt.reply)
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
