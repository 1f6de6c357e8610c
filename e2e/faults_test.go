package e2e

import (
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/mailsift/mailsift/internal/authrestest"
)

// faultSigned signs msg for domain with the ed25519 key whose public half
// is in testdata/zones/faults/fault.zone.
func faultSigned(t *testing.T, domain, msg string) string {
	t.Helper()
	return dkimSign(t, "ed25519.pem", &dkim.SignOptions{Domain: domain, Selector: "ed25519",
		HeaderCanonicalization: dkim.CanonicalizationRelaxed, BodyCanonicalization: dkim.CanonicalizationRelaxed}, msg)
}

// A transient DNS fault never makes Postfix refuse for good: a p=reject
// domain whose DKIM key lookup fails (its SPF does not align), and one
// whose SPF include fails (its mail is not signed), each get 451 at the end
// of DATA; with DNS healthy again the same messages are delivered, with an
// Authentication-Results that an independent parser reads.
func TestPostfixTransientDNSFaultTempfails(t *testing.T) {
	m := startMailsift(t, postfixMilterConfig)
	if err := m.dns.LoadDir("../testdata/zones/faults"); err != nil {
		t.Fatal(err)
	}
	p := startPostfix(t, m.addr)
	var ars []string
	for _, tt := range []struct {
		name, ip, domain, mailFrom, fault string
		signed                            bool
	}{
		{"DKIM key SERVFAIL", "198.18.7.4", "dkim-reject.test", "bounce@other-dkim-reject.test", "ed25519._domainkey.news.dkim-reject.test", true},
		{"SPF include SERVFAIL", "198.18.7.1", "spf-reject.test", "bounce@news.spf-reject.test", "inc.spf.spf-reject.test", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			from := "news." + tt.domain
			msg := func(id string) string {
				s := "From: News <news@" + from + ">\nTo: <bob@example.test>\nSubject: faults\nMessage-Id: <" + id + "@" + from + ">\n\nHello.\n"
				if tt.signed {
					s = faultSigned(t, from, s)
				}
				return s
			}
			c := p.xclient(t, tt.ip, "mail."+tt.domain, "mail."+tt.domain)
			m.dns.ServFail(tt.fault)
			c.expect("250", "MAIL FROM:<%s>", tt.mailFrom)
			c.expect("250", "RCPT TO:<bob@example.test>")
			want := "451 4.7.1 Temporary DNS failure evaluating DMARC for " + from + ", try again later"
			if got := c.data(msg("fault1")); got != want {
				t.Fatalf("with %s failing: %q, want %q", tt.fault, got, want)
			}
			wantFields(t, m.recordFor(t, tt.mailFrom), map[string]any{
				"event.action": "tempfail", "mailsift.reply": want,
				"mailsift.checks.dmarc.status": "temperror", "mailsift.checks.dmarc.reason": "dmarc-temperror",
			})

			m.dns.Clear(tt.fault)
			c.expect("250", "MAIL FROM:<%s>", tt.mailFrom)
			c.expect("250", "RCPT TO:<bob@example.test>")
			if got := c.data(msg("retry1")); !strings.HasPrefix(got, "250 ") {
				t.Fatalf("retry with DNS healthy: %q", got)
			}
			c.expect("221", "QUIT")
			h := p.delivered(t, "retry1@"+from)
			ar := h.Values("Authentication-Results")
			if len(ar) != 1 || !strings.Contains(ar[0], "; dmarc=pass header.from="+from+" policy.dmarc=reject") {
				t.Fatalf("Authentication-Results = %q, want ours with dmarc=pass", ar)
			}
			ars = append(ars, ar[0])
		})
	}
	for i, h := range authrestest.Parse(t, ars...) {
		if h.Err != "" || h.AuthServID != "mx.mailsift.test" || len(h.Results) != 4 || h.Results[3].Method != "dmarc" || h.Results[3].Result != "pass" {
			t.Errorf("python3-authres read %q as %+v", ars[i], h)
		}
	}
}
