package checks_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/mailsift/mailsift/checks"
	"github.com/mailsift/mailsift/internal/policy"
	"github.com/mailsift/mailsift/internal/resolver"
	"github.com/mailsift/mailsift/internal/resolver/dnstest"
	"github.com/mailsift/mailsift/internal/settings"
)

// With [checks.spf.actions] fail = "reject", an SPF fail is refused only
// when the domain's DMARC policy is known not to enforce; when that
// policy enforces, or cannot be looked up now, DMARC decides, and for a
// lookup that failed it tempfails: a temporary error never becomes a 550.
func TestSPFFailLeftToDMARC(t *testing.T) {
	srv := dnstest.Start(t)
	if err := srv.LoadDir("../testdata/zones"); err != nil {
		t.Fatal(err)
	}
	r, err := resolver.New(resolver.Config{Servers: []string{srv.Addr}, Timeout: 100 * time.Millisecond, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := settings.Parse("mailsift.toml", []byte("[checks.spf.actions]\nfail = \"reject\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	ck, pol := &cfg.Checks, cfg.Policy()
	spf := &checks.SPF{DNS: checks.NetResolver{R: r}, Fail: ck.SPF.Reply("spf", "perm"), Temp: ck.SPF.Reply("spf", "temp")}
	dmarc := &checks.DMARC{DNS: checks.NetResolver{R: r}, Rand: func(int) int { return 0 },
		Reject: ck.DMARC.Reply("dmarc", "perm"), Temp: ck.DMARC.Reply("dmarc", "temp"), FromInvalid: ck.DMARC.Reply("dmarc", "from")}
	srv.ServFail("_dmarc.dmarctemp.spf.test")

	for _, tc := range []struct {
		domain          string
		spfReason       string
		spfAction       policy.Action
		spfReply        string
		dmarcAction     policy.Action
		dmarcReplyClass int
		dmarcStatus     checks.Status
	}{
		// The DMARC record cannot be looked up: SPF leaves it to DMARC,
		// which tempfails.
		{domain: "dmarctemp.spf.test", spfReason: "spf-fail-dmarc-decides", spfAction: policy.Log,
			dmarcAction: policy.Tempfail, dmarcReplyClass: 4, dmarcStatus: checks.TempError},
		// p=reject: DMARC decides, and rejects.
		{domain: "dmarcreject.spf.test", spfReason: "spf-fail-dmarc-decides", spfAction: policy.Log,
			dmarcAction: policy.Reject, dmarcReplyClass: 5, dmarcStatus: checks.Fail},
		// p=none: SPF's own action applies.
		{domain: "dmarcnone.spf.test", spfReason: "spf-fail", spfAction: policy.Reject,
			spfReply: "550 5.7.23 SPF validation failed for <anna@dmarcnone.spf.test>"},
	} {
		env := &checks.Envelope{ClientIP: netip.MustParseAddr("192.0.2.11"), Helo: "mail.example.test", From: "anna@" + tc.domain,
			Headers: []checks.Header{{Name: "From", Value: "Anna <anna@" + tc.domain + ">"}}}
		// The chain runs SPF and lets DMARC amend its fail, as the session does.
		rs := checks.NewChain(time.Second, time.Now, spf, dmarc).Run(context.Background(), checks.StageMail, env)
		if len(rs) != 1 {
			t.Fatalf("%s: %d results at MAIL, want spf's alone", tc.domain, len(rs))
		}
		res := rs[0]
		d := pol.Decide(res)
		if res.Status != checks.Fail || res.Reason != tc.spfReason || d.Action != tc.spfAction {
			t.Errorf("%s: spf %s %s, action %s; want fail %s, action %s", tc.domain, res.Status, res.Reason, d.Action, tc.spfReason, tc.spfAction)
		}
		if tc.spfReply != "" && d.Reply.String() != tc.spfReply {
			t.Errorf("%s: spf reply %q, want %q", tc.domain, d.Reply, tc.spfReply)
		}
		if tc.dmarcAction == "" {
			continue
		}
		env.Take(res)
		dr := dmarc.CheckData(context.Background(), env)
		dr.Check = "dmarc"
		dd := pol.Decide(dr)
		if dr.Status != tc.dmarcStatus || dd.Action != tc.dmarcAction || dd.Reply.Code/100 != tc.dmarcReplyClass {
			t.Errorf("%s: dmarc %s (%s), action %s, reply %q; want %s, action %s, a %dxx reply",
				tc.domain, dr.Status, dr.Text, dd.Action, dd.Reply, tc.dmarcStatus, tc.dmarcAction, tc.dmarcReplyClass)
		}
	}
}
