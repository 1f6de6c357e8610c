package checks

import (
	"context"
	"net/netip"
	"testing"
	"time"
)

// The ptr check's forward-confirmed name is handed on as PTRName; the
// MTA's own name stays in ClientName, and exceptions match the verified
// one: the ptr check's, else the MTA's.
func TestTakeClientName(t *testing.T) {
	env := &Envelope{ClientName: "mta-verified.example.net"}
	x := &Exceptions{Hostnames: []string{"outbound.example.net"}}
	if why := x.Match(env); why != "" {
		t.Fatalf("before ptr: exception %q", why)
	}
	env.Take(Result{Check: PTRName, Status: Fail, ClientName: "ignored.outbound.example.net"})
	if env.PTRName != "" {
		t.Fatalf("a failing result set PTRName %q", env.PTRName)
	}
	env.Take(Result{Check: PTRName, Status: Pass, ClientName: "mail-1.outbound.example.net"})
	if env.ClientName != "mta-verified.example.net" || env.VerifiedName() != "mail-1.outbound.example.net" {
		t.Fatalf("ClientName %q, VerifiedName %q", env.ClientName, env.VerifiedName())
	}
	if why := x.Match(env); why != "client hostname mail-1.outbound.example.net under outbound.example.net" {
		t.Fatalf("exception %q", why)
	}
	env.ForgetMessage()
	if env.VerifiedName() != "mail-1.outbound.example.net" {
		t.Fatal("the client's name is the connection's, not the message's")
	}
}

// The SPF and DKIM outcomes are handed on by type, and forgotten with the
// message.
func TestTakeOutcomes(t *testing.T) {
	env := &Envelope{}
	env.Take(Result{Check: SPFName, Status: Pass, SPF: &SPFOutcome{Status: Pass, Domain: "example.com", Mechanism: "ip4"}})
	env.Take(Result{Check: DKIMName, Status: None, DKIM: &DKIMOutcome{Status: None}})
	env.Take(Result{Check: "other", Status: Fail})
	if !env.SPF.MatchedIP() || env.SPF.Domain != "example.com" || env.DKIM == nil || env.DKIM.Status != None {
		t.Fatalf("SPF %+v DKIM %+v", env.SPF, env.DKIM)
	}
	for _, m := range []string{"all", "exists", "ptr", ""} {
		if (&SPFOutcome{Status: Pass, Mechanism: m}).MatchedIP() {
			t.Errorf("a pass by %q names the client's address", m)
		}
	}
	if (&SPFOutcome{Status: Fail, Mechanism: "ip4"}).MatchedIP() || (*SPFOutcome)(nil).MatchedIP() {
		t.Error("MatchedIP without a pass")
	}
	env.ForgetMessage()
	if env.SPF != nil || env.DKIM != nil {
		t.Fatal("outcomes kept past the message")
	}
}

// The chain lets the dmarc check amend an SPF fail, and only a fail: the
// reason changes, the reply stays.
func TestChainAmendsSPF(t *testing.T) {
	r, srv := testDNS(t)
	srv.ServFail("_dmarc.dmarctemp.test")
	spf := stubCheck{name: SPFName}
	c := NewChain(time.Second, time.Now, &spf, &DMARC{DNS: NetResolver{R: r}})
	for _, tt := range []struct {
		status Status
		domain string
		want   string
	}{
		{Fail, "reject.test", ReasonSPFFailDMARCDecides},
		{Fail, "dmarctemp.test", ReasonSPFFailDMARCDecides},
		{Fail, "none.test", ReasonSPFFail},
		{SoftFail, "reject.test", ReasonSPFSoftFail},
	} {
		spf.result = Result{Status: tt.status, Reason: map[Status]string{Fail: ReasonSPFFail, SoftFail: ReasonSPFSoftFail}[tt.status],
			Reply: Reply{550, "5.7.23", "x"}, SPF: &SPFOutcome{Status: tt.status, Domain: tt.domain}}
		rs := c.Run(context.Background(), StageMail, &Envelope{ClientIP: netip.MustParseAddr("192.0.2.1")})
		if len(rs) != 1 || rs[0].Reason != tt.want || rs[0].Reply.Code != 550 {
			t.Errorf("%s for %s: %+v, want reason %s", tt.status, tt.domain, rs, tt.want)
		}
	}
}

type stubCheck struct {
	name   string
	result Result
}

func (s *stubCheck) Name() string                                { return s.name }
func (s *stubCheck) CheckMail(context.Context, *Envelope) Result { return s.result }
