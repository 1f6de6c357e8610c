package checks

import (
	"context"
	"testing"
)

func TestSender(t *testing.T) {
	r, srv := testDNS(t)
	srv.ServFail("sender-servfail.checks.test")
	srv.Silent("slow.checks.test")
	s := &Sender{RequireFQDN: true, RequireDomain: true, DNS: r,
		Syntax: reply(t, "sender", "syntax"), NonFQDN: reply(t, "sender", "non_fqdn"), UnknownDomain: reply(t, "sender", "unknown_domain"),
		NullMX: reply(t, "sender", "null_mx"), Temp: reply(t, "sender", "temp")}
	tests := []struct {
		from          string
		status        Status
		reason, reply string
	}{
		{"", Pass, "sender-null", ""},
		{"alice@checks.test", Pass, "sender-domain-mx", ""},
		{"Alice@CHECKS.test", Pass, "sender-domain-mx", ""},
		{"bob@aonly.checks.test", Pass, "sender-domain-address", ""},
		{"carol@cname.checks.test", Pass, "sender-domain-address", ""},
		{"dave@[192.0.2.10]", Pass, "sender-valid", ""},
		{`"john doe"@checks.test`, Pass, "sender-domain-mx", ""},
		{"x@nullmx.checks.test", Fail, "sender-null-mx", "550 5.7.27 <x@nullmx.checks.test>: Sender address rejected: Domain does not accept mail"},
		{"x@nowhere.checks.test", Fail, "sender-domain-unknown", "550 5.1.8 <x@nowhere.checks.test>: Sender address rejected: Domain not found"},
		{"x@txtonly.checks.test", Fail, "sender-domain-unknown", "550 5.1.8 <x@txtonly.checks.test>: Sender address rejected: Domain not found"},
		{"x@sender-servfail.checks.test", TempError, "sender-temperror", "450 4.1.8 <x@sender-servfail.checks.test>: Sender address rejected: Domain not found"},
		{"x@slow.checks.test", TempError, "sender-temperror", "450 4.1.8 <x@slow.checks.test>: Sender address rejected: Domain not found"},
		{"x@localhost", Fail, "sender-not-fqdn", "504 5.5.2 <x@localhost>: Sender address rejected: need fully-qualified address"},
		{"unqualified", Fail, "sender-not-fqdn", "504 5.5.2 <unqualified>: Sender address rejected: need fully-qualified address"},
		{"x..y@checks.test", Fail, "sender-malformed", "553 5.1.7 <x..y@checks.test>: Sender address rejected: malformed address"},
	}
	for _, tt := range tests {
		t.Run(tt.from, func(t *testing.T) {
			res := s.CheckMail(context.Background(), &Envelope{From: tt.from})
			if res.Status != tt.status || res.Reason != tt.reason || replyString(res.Reply) != tt.reply {
				t.Fatalf("= %s/%s %q (%s), want %s/%s %q", res.Status, res.Reason, replyString(res.Reply), res.Text, tt.status, tt.reason, tt.reply)
			}
		})
	}
}
