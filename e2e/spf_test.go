package e2e

import "testing"

// An SPF fail refused through a real Postfix carries the domain's
// explanation (exp=, RFC 7208 §6.2) in the RCPT reply, byte for byte.
func TestPostfixSPFFailExplained(t *testing.T) {
	m := startMailsift(t, postfixMilterConfig+"[checks.spf.actions]\nfail = \"reject\"\n")
	p := startPostfix(t, m.addr)
	c := p.xclient(t, "192.0.2.10", "good.checks.test", "mail.checks.test")
	c.expect("250", "MAIL FROM:<anna@refused.spf.test>")
	const want = "550 5.7.23 SPF validation failed for <anna@refused.spf.test>: 192.0.2.10 is not a mail server of refused.spf.test (anna); see https://spf.test/why?s=anna?40refused.spf.test&r=mx.mailsift.test"
	if got := c.cmd("RCPT TO:<bob@example.test>"); got != want {
		t.Fatalf("RCPT: got %q, want %q", got, want)
	}
	c.expect("221", "QUIT")
	wantFields(t, m.recordFor(t, "anna@refused.spf.test"), map[string]any{
		"event.action": "reject", "mailsift.reply": want, "mailsift.checks.spf.status": "fail",
		"mailsift.checks.spf.reason": "spf-fail", "mailsift.checks.spf.mechanism": "-all",
	})
}
