package milter

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	gomilter "github.com/d--j/go-milter"

	"github.com/mailsift/mailsift/checks"
	"github.com/mailsift/mailsift/internal/settings"
)

// An envelope that spoofs a domain with an enforcing DMARC policy fails SPF
// and is left to DMARC at MAIL FROM; what the client hears at the end of
// the message depends on the header From: aligned with the envelope
// domain, DMARC decides; on another domain, DMARC never judges that SPF
// fail, and SPF's own action ([checks.spf.actions] fail) applies, with
// SPF's reply. Over the milter protocol, from 192.0.2.11, which no domain
// of testdata/zones/spfalign.test.zone authorizes.
func TestSPFFailLeftToDMARCThroughMilter(t *testing.T) {
	res, dns := zoneResolver(t)
	dns.ServFail("_dmarc.tempdmarc.test")
	const rejectSPF = "[checks.spf.actions]\nfail = \"reject\"\n"
	for _, tc := range []struct {
		name, toml, mailFrom, from string
		reply                      string // at the end of the message; "" for accepted
		action, spfReason          string // the record's event.action and mailsift.checks.spf.reason
		spfAction                  string // mailsift.checks.spf.action
		authRes                    string // in our Authentication-Results, when accepted
	}{
		{name: "aligned, p=reject", toml: rejectSPF, mailFrom: "anna@bounce.enforced.test", from: "anna@enforced.test",
			reply: "550 5.7.1 Email rejected per DMARC policy for enforced.test", action: "reject",
			spfReason: "spf-fail-dmarc-decides", spfAction: "log"},
		{name: "not aligned, From without DMARC", toml: rejectSPF, mailFrom: "anna@enforced.test", from: "anna@nodmarc.test",
			reply:  "550 5.7.23 SPF validation failed for <anna@enforced.test>: 192.0.2.11 may not send for enforced.test",
			action: "reject", spfReason: "spf-fail", spfAction: "reject"},
		{name: "not aligned, SPF's action the default", toml: "", mailFrom: "anna@enforced.test", from: "anna@nodmarc.test",
			action: "accept", spfReason: "spf-fail", spfAction: "log",
			authRes: "spf=fail smtp.mailfrom=anna@enforced.test"},
		{name: "aligned, DMARC temperror", toml: rejectSPF, mailFrom: "anna@tempdmarc.test", from: "anna@tempdmarc.test",
			reply:  "451 4.7.1 Temporary DNS failure evaluating DMARC for tempdmarc.test, try again later",
			action: "tempfail", spfReason: "spf-fail-dmarc-decides", spfAction: "log"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := settings.Parse("mailsift.toml", []byte(tc.toml))
			if err != nil {
				t.Fatal(err)
			}
			ck := &cfg.Checks
			chain := checks.NewChain(time.Duration(ck.Timeout), time.Now,
				&checks.SPF{DNS: checks.NetResolver{R: res}, Fail: ck.SPF.Reply("spf", "perm"), Temp: ck.SPF.Reply("spf", "temp")},
				&checks.DKIM{DNS: checks.NetResolver{R: res}, Max: ck.DKIM.MaxSignatures},
				&checks.DMARC{DNS: checks.NetResolver{R: res}, Reject: ck.DMARC.Reply("dmarc", "perm"), Temp: ck.DMARC.Reply("dmarc", "temp"),
					FromInvalid: ck.DMARC.Reply("dmarc", "from")})
			f := start(t, &Runtime{Hostname: "mx.mailsift.test", Chain: chain, Policy: cfg.Policy(),
				TrustedNets: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
			s := f.session(t, "192.0.2.11")
			cont(t)(s.Helo("mail.example.test"))
			cont(t)(s.Mail(tc.mailFrom))
			cont(t)(s.Rcpt("bob@mailsift.test")) // SPF does not refuse at RCPT TO: DMARC may decide
			for _, h := range [][2]string{{"From", " <" + tc.from + ">"}, {"To", " <bob@mailsift.test>"}, {"Subject", " hi"}} {
				cont(t)(s.Header(h[0], h[1]))
			}
			mods, act, err := s.End([]byte("hello\r\n"))
			if tc.reply != "" {
				wantReply(t, act, err, tc.reply)
			} else {
				wantAccept(t, act, err)
				var ar string
				for _, m := range mods {
					if m.Type == gomilter.ActionInsertHeader && m.HeaderName == "Authentication-Results" {
						ar = m.HeaderValue
					}
				}
				if !strings.Contains(ar, tc.authRes) || strings.Count(ar, "spf=") != 1 {
					t.Errorf("Authentication-Results %q, want %q in it, once", ar, tc.authRes)
				}
			}
			s.Close()
			rec := f.logs.waitRecords(t, 1)[0]
			if rec["event.action"] != tc.action || rec["mailsift.checks.spf.status"] != "fail" ||
				rec["mailsift.checks.spf.reason"] != tc.spfReason || rec["mailsift.checks.spf.action"] != tc.spfAction {
				t.Errorf("record: event.action %v, spf %v %v action %v; want %s, fail %s action %s", rec["event.action"],
					rec["mailsift.checks.spf.status"], rec["mailsift.checks.spf.reason"], rec["mailsift.checks.spf.action"], tc.action, tc.spfReason, tc.spfAction)
			}
			if tc.reply != "" && rec["mailsift.reply"] != tc.reply {
				t.Errorf("record: mailsift.reply %v, want %q", rec["mailsift.reply"], tc.reply)
			}
		})
	}
}
