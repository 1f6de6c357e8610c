package e2e

import (
	"strings"
	"testing"
)

// Sender-specified routing through a real Sendmail that relays for anyone
// (promiscuous_relay): the recipient's domain is ours, or no domains are
// configured at all, but the local part or a source route asks to go
// elsewhere (Postfix's allow_untrusted_routing = no). mailsift refuses it.
// (A Postfix with reject_unauth_destination refuses these itself before
// the milter is asked.)
func TestSendmailRelayRouting(t *testing.T) {
	for _, cfg := range []struct{ name, config string }{
		{"domains", "[checks.recipient]\ndomains = [\"example.test\"]\n"},
		{"no domains", ""},
	} {
		t.Run(cfg.name, func(t *testing.T) {
			m := startMailsift(t, sendmailMilterConfig+cfg.config)
			s := startSendmail(t, m.addr)
			for i, rcpt := range []string{`"victim@elsewhere.test"@example.test`, "victim%elsewhere.test@example.test", "elsewhere.test!victim@example.test"} {
				c := dialSMTP(t, s.addr, "127.0.0.2")
				c.expect("250", "EHLO mail.checks.test")
				from := "routing" + string(rune('a'+i)) + "@checks.test"
				c.expect("250", "MAIL FROM:<%s>", from)
				got := c.cmd("RCPT TO:<%s>", rcpt)
				if !strings.HasPrefix(got, "554 5.7.1 ") || !strings.HasSuffix(got, "Relay access denied") {
					t.Errorf("RCPT TO:<%s>: got %q, want 554 5.7.1 ... Relay access denied", rcpt, got)
				}
				c.expect("221", "QUIT")
				wantFields(t, m.recordFor(t, from), map[string]any{
					"event.action": "reject", "mailsift.checks.relay.status": "fail", "mailsift.checks.relay.reason": "relay-routing",
				})
			}
			// A plain recipient elsewhere: refused with domains, the MTA's
			// business without.
			c := dialSMTP(t, s.addr, "127.0.0.2")
			c.expect("250", "EHLO mail.checks.test")
			c.expect("250", "MAIL FROM:<plain@checks.test>")
			got := c.cmd("RCPT TO:<victim@elsewhere.test>")
			if want := cfg.name == "domains"; strings.HasPrefix(got, "554 5.7.1 ") != want {
				t.Errorf("RCPT TO:<victim@elsewhere.test>: %q (refusal wanted: %v)", got, want)
			}
			c.expect("221", "QUIT")
		})
	}
}
