package e2e

import (
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/mailsift/mailsift/internal/callout/callouttest"
)

// Sender verification through a real Postfix: the sender domain's test MX
// (127.0.1.1, see testdata/zones/callout.test.zone) knows alice only.
func TestPostfixCallout(t *testing.T) {
	mx := callouttest.Start(t, "127.0.1.1", 0, callouttest.Accept, "alice")
	_, port, _ := net.SplitHostPort(mx.Addr)
	m := startMailsift(t, postfixMilterConfig+fmt.Sprintf("[checks.callout]\nmode = \"enforce\"\nport = %s\nallow_networks = [\"127.0.0.0/8\"]\n", port))
	p := startPostfix(t, m.addr)

	c := p.xclient(t, "192.0.2.10", "good.checks.test", "mail.checks.test")
	c.expect("250", "MAIL FROM:<nobody@ok.callout.test>")
	const want = "550 5.1.7 <nobody@ok.callout.test>: Sender address rejected: undeliverable address (550 5.1.1 <nobody@ok.callout.test>: Recipient address rejected: User unknown)"
	if got := c.cmd("RCPT TO:<bob@example.test>"); got != want {
		t.Fatalf("RCPT: got %q, want %q", got, want)
	}
	c.expect("250", "RSET")
	c.expect("250", "MAIL FROM:<alice@ok.callout.test>")
	c.expect("250", "RCPT TO:<bob@example.test>")
	if reply := c.data(message("alice@ok.callout.test", "bob@example.test", "verified@ok.callout.test", "")); !strings.HasPrefix(reply, "250 ") {
		t.Fatalf("DATA: %q", reply)
	}
	// The same sender again: answered from the cache, no second probe.
	c.expect("250", "MAIL FROM:<alice@ok.callout.test>")
	c.expect("250", "RCPT TO:<carol@example.test>")
	c.expect("250", "RSET")
	c.expect("221", "QUIT")
	p.delivered(t, "verified@ok.callout.test")

	wantFields(t, m.recordFor(t, "nobody@ok.callout.test"), map[string]any{
		"event.action": "reject", "mailsift.reply": want,
		"mailsift.checks.callout.status": "fail", "mailsift.checks.callout.reason": "callout-undeliverable",
		"mailsift.checks.callout.mx":           "mx1.callout.test [127.0.1.1]",
		"mailsift.checks.callout.remote_reply": "550 5.1.1 <nobody@ok.callout.test>: Recipient address rejected: User unknown",
	})
	wantFields(t, m.recordFor(t, "alice@ok.callout.test"), map[string]any{
		"event.action": "accept", "mailsift.checks.callout.status": "pass", "mailsift.checks.callout.reason": "callout-deliverable",
	})
	if n := mx.Conns.Load(); n != 2 {
		t.Errorf("the test MX got %d probes, want 2 (nobody, alice; the second alice from the cache)", n)
	}
	m.waitLogN(t, "message", 3)
	if rs := m.records(t, "message"); rs[2]["mailsift.checks.callout.cached"] != "true" {
		t.Errorf("third transaction: callout not from the cache: %v", rs[2])
	}
}

// With the default configuration a sender domain whose MX is on loopback
// is not probed: the internal server is never asked, its reply never
// reaches the client, the message is accepted (callout-unverifiable is
// logged), and the log says which target was refused.
func TestPostfixCalloutRefusesLoopbackMX(t *testing.T) {
	mx := callouttest.Start(t, "127.0.1.1", 0, callouttest.Accept, "alice")
	_, port, _ := net.SplitHostPort(mx.Addr)
	m := startMailsift(t, postfixMilterConfig+fmt.Sprintf("[checks.callout]\nmode = \"enforce\"\nport = %s\n", port))
	p := startPostfix(t, m.addr)

	c := p.xclient(t, "192.0.2.10", "good.checks.test", "mail.checks.test")
	c.expect("250", "MAIL FROM:<nobody@ok.callout.test>")
	c.expect("250", "RCPT TO:<bob@example.test>")
	c.expect("250", "RSET")
	c.expect("221", "QUIT")
	wantFields(t, m.recordFor(t, "nobody@ok.callout.test"), map[string]any{
		"mailsift.checks.callout.status": "temperror", "mailsift.checks.callout.reason": "callout-unverifiable",
		"mailsift.checks.callout.mx": "mx1.callout.test [127.0.1.1]", "mailsift.checks.callout.action": "log",
	})
	wantFields(t, m.waitLog(t, "callout target refused; the sender domain is unverifiable"), map[string]any{
		"mailsift.callout.domain": "ok.callout.test", "mailsift.callout.refused": "loopback address",
	})
	if n := mx.Conns.Load(); n != 0 {
		t.Errorf("the loopback MX got %d probes, want none", n)
	}
}
