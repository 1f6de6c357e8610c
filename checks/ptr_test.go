package checks

import (
	"context"
	"net/netip"
	"testing"
)

func TestPTR(t *testing.T) {
	r, srv := testDNS(t)
	srv.ServFail("temp.checks.test") // 192.0.2.14s only name
	srv.Silent("slow.checks.test")
	srv.ServFail("99.2.0.192.in-addr.arpa")
	tests := []struct {
		mode           PTRMode
		ip             string
		status         Status
		reason, domain string
		reply          string
	}{
		{PTRFCrDNS, "192.0.2.10", Pass, "ptr-fcrdns", "good.checks.test", ""},
		{PTRFCrDNS, "192.0.2.15", Pass, "ptr-fcrdns", "cname.checks.test", ""},
		{PTRFCrDNS, "192.0.2.17", Pass, "ptr-fcrdns", "second.checks.test", ""},
		{PTRFCrDNS, "2001:db8::25", Pass, "ptr-fcrdns", "v6.checks.test", ""},
		{PTRFCrDNS, "192.0.2.11", Fail, "ptr-mismatch", "", "550 5.7.25 Client host rejected: cannot find your hostname, [192.0.2.11]"},
		{PTRFCrDNS, "192.0.2.12", Fail, "ptr-unresolvable", "", "550 5.7.25 Client host rejected: cannot find your hostname, [192.0.2.12]"},
		{PTRFCrDNS, "192.0.2.13", Fail, "ptr-missing", "", "550 5.7.25 Client host rejected: cannot find your hostname, [192.0.2.13]"},
		{PTRFCrDNS, "2001:db8::26", Fail, "ptr-missing", "", "550 5.7.25 Client host rejected: cannot find your hostname, [2001:db8::26]"},
		{PTRFCrDNS, "192.0.2.14", TempError, "ptr-temperror", "", "450 4.7.25 Client host rejected: cannot find your hostname, [192.0.2.14]"},
		{PTRFCrDNS, "192.0.2.16", TempError, "ptr-temperror", "", "450 4.7.25 Client host rejected: cannot find your hostname, [192.0.2.16]"},
		{PTRFCrDNS, "192.0.2.99", TempError, "ptr-temperror", "", "450 4.7.25 Client host rejected: cannot find your hostname, [192.0.2.99]"},
		{PTRExists, "192.0.2.11", Pass, "ptr-exists", "", ""},
		{PTRExists, "192.0.2.12", Pass, "ptr-exists", "", ""},
		{PTRExists, "192.0.2.13", Fail, "ptr-missing", "", "550 5.7.25 Client host rejected: cannot find your hostname, [192.0.2.13]"},
	}
	for _, tt := range tests {
		t.Run(string(tt.mode)+"/"+tt.ip, func(t *testing.T) {
			p := &PTR{Mode: tt.mode, DNS: r, Temp: reply(t, "ptr", "temp"), Perm: reply(t, "ptr", "perm")}
			res := p.CheckConnect(context.Background(), &Envelope{ClientIP: netip.MustParseAddr(tt.ip)})
			if res.Status != tt.status || res.Reason != tt.reason || res.ClientName != tt.domain {
				t.Fatalf("= %s/%s/%q (%s), want %s/%s/%q", res.Status, res.Reason, res.ClientName, res.Text, tt.status, tt.reason, tt.domain)
			}
			if got := replyString(res.Reply); got != tt.reply {
				t.Fatalf("reply = %q, want %q", got, tt.reply)
			}
		})
	}
	p := &PTR{Mode: PTRFCrDNS, DNS: r}
	if res := p.CheckConnect(context.Background(), &Envelope{}); res.Status != None {
		t.Errorf("no client address: %+v", res)
	}
}

func replyString(r Reply) string {
	if r.IsZero() {
		return ""
	}
	return r.String()
}
