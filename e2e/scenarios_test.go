package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// scenario is one SMTP transaction through Postfix with XCLIENT playing
// the client, and what the client and the log must show.
type scenario struct {
	name                  string
	ip, ptr, helo         string // the client: XCLIENT ADDR and NAME, and the EHLO after it
	from, rcpt            string
	reply                 string            // the exact RCPT TO reply in enforce mode; "" for 250
	check, status, reason string            // the check that decides, and its log fields
	fields                map[string]string // more log fields to assert, in every mode
}

var scenarios = []scenario{
	{name: "clean", ip: "192.0.2.10", ptr: "good.checks.test", helo: "mail.checks.test", from: "alice@checks.test", rcpt: "bob@example.test",
		check: "ptr", status: "pass", reason: "ptr-fcrdns",
		fields: map[string]string{"source.domain": "good.checks.test", "mailsift.checks.helo.reason": "helo-valid",
			"mailsift.checks.sender.reason": "sender-domain-mx", "mailsift.checks.recipient.reason": "rcpt-listed", "mailsift.checks.relay.reason": "relay-local"}},
	{name: "ptr through a CNAME chain", ip: "192.0.2.15", ptr: "cname.checks.test", helo: "mail.checks.test", from: "alice@checks.test", rcpt: "bob@example.test",
		check: "ptr", status: "pass", reason: "ptr-fcrdns", fields: map[string]string{"source.domain": "cname.checks.test"}},
	{name: "ptr IPv6", ip: "IPV6:2001:db8::25", ptr: "v6.checks.test", helo: "mail.checks.test", from: "alice@checks.test", rcpt: "bob@example.test",
		check: "ptr", status: "pass", reason: "ptr-fcrdns", fields: map[string]string{"source.ip": "2001:db8::25", "source.domain": "v6.checks.test"}},
	{name: "ptr missing", ip: "192.0.2.13", ptr: "[UNAVAILABLE]", helo: "mail.checks.test", from: "alice@checks.test", rcpt: "bob@example.test",
		reply: "550 5.7.25 Client host rejected: cannot find your hostname, [192.0.2.13]", check: "ptr", status: "fail", reason: "ptr-missing"},
	{name: "ptr missing IPv6", ip: "IPV6:2001:db8::26", ptr: "[UNAVAILABLE]", helo: "mail.checks.test", from: "alice@checks.test", rcpt: "bob@example.test",
		reply: "550 5.7.25 Client host rejected: cannot find your hostname, [2001:db8::26]", check: "ptr", status: "fail", reason: "ptr-missing"},
	{name: "ptr unresolvable", ip: "192.0.2.12", ptr: "[UNAVAILABLE]", helo: "mail.checks.test", from: "alice@checks.test", rcpt: "bob@example.test",
		reply: "550 5.7.25 Client host rejected: cannot find your hostname, [192.0.2.12]", check: "ptr", status: "fail", reason: "ptr-unresolvable"},
	{name: "ptr mismatch", ip: "192.0.2.11", ptr: "[UNAVAILABLE]", helo: "mail.checks.test", from: "alice@checks.test", rcpt: "bob@example.test",
		reply: "550 5.7.25 Client host rejected: cannot find your hostname, [192.0.2.11]", check: "ptr", status: "fail", reason: "ptr-mismatch"},
	{name: "ptr temporary failure", ip: "192.0.2.14", ptr: "[TEMPUNAVAIL]", helo: "mail.checks.test", from: "alice@checks.test", rcpt: "bob@example.test",
		reply: "450 4.7.25 Client host rejected: cannot find your hostname, [192.0.2.14]", check: "ptr", status: "temperror", reason: "ptr-temperror"},
	{name: "ptr exception", ip: "192.0.2.18", ptr: "[UNAVAILABLE]", helo: "mail.checks.test", from: "alice@checks.test", rcpt: "bob@example.test",
		check: "ptr", status: "skipped", reason: "exception"},
	{name: "helo syntax", ip: "192.0.2.10", ptr: "good.checks.test", helo: "bad..helo", from: "alice@checks.test", rcpt: "bob@example.test",
		reply: "501 5.5.2 <bad..helo>: Helo command rejected: Invalid name", check: "helo", status: "fail", reason: "helo-invalid-syntax"},
	{name: "helo not fqdn", ip: "192.0.2.10", ptr: "good.checks.test", helo: "mailhost", from: "alice@checks.test", rcpt: "bob@example.test",
		reply: "504 5.5.2 <mailhost>: Helo command rejected: need fully-qualified hostname", check: "helo", status: "fail", reason: "helo-not-fqdn"},
	{name: "helo unknown", ip: "192.0.2.10", ptr: "good.checks.test", helo: "nothing.checks.test", from: "alice@checks.test", rcpt: "bob@example.test",
		reply: "550 5.7.1 <nothing.checks.test>: Helo command rejected: Host not found", check: "helo", status: "fail", reason: "helo-unknown"},
	{name: "helo temporary failure", ip: "192.0.2.10", ptr: "good.checks.test", helo: "helo-servfail.checks.test", from: "alice@checks.test", rcpt: "bob@example.test",
		reply: "450 4.7.1 <helo-servfail.checks.test>: Helo command rejected: Host not found", check: "helo", status: "temperror", reason: "helo-temperror"},
	{name: "helo own literal", ip: "192.0.2.10", ptr: "good.checks.test", helo: "[192.0.2.10]", from: "alice@checks.test", rcpt: "bob@example.test",
		check: "helo", status: "pass", reason: "helo-literal"},
	{name: "helo literal not the client", ip: "192.0.2.10", ptr: "good.checks.test", helo: "[192.0.2.77]", from: "alice@checks.test", rcpt: "bob@example.test",
		reply: "550 5.7.1 <[192.0.2.77]>: Helo command rejected: not your address", check: "helo", status: "fail", reason: "helo-literal-mismatch"},
	{name: "helo our name", ip: "192.0.2.10", ptr: "good.checks.test", helo: "mx.pftest.test", from: "alice@checks.test", rcpt: "bob@example.test",
		reply: "550 5.7.1 <mx.pftest.test>: Helo command rejected: You are not me", check: "helo", status: "fail", reason: "helo-ours"},
	{name: "sender null", ip: "192.0.2.10", ptr: "good.checks.test", helo: "mail.checks.test", from: "", rcpt: "bob@example.test",
		check: "sender", status: "pass", reason: "sender-null"},
	{name: "sender address record only", ip: "192.0.2.10", ptr: "good.checks.test", helo: "mail.checks.test", from: "bob@aonly.checks.test", rcpt: "bob@example.test",
		check: "sender", status: "pass", reason: "sender-domain-address"},
	{name: "sender not fqdn", ip: "192.0.2.10", ptr: "good.checks.test", helo: "mail.checks.test", from: "alice@localhost", rcpt: "bob@example.test",
		reply: "504 5.5.2 <alice@localhost>: Sender address rejected: need fully-qualified address", check: "sender", status: "fail", reason: "sender-not-fqdn"},
	{name: "sender malformed", ip: "192.0.2.10", ptr: "good.checks.test", helo: "mail.checks.test", from: "alice..b@checks.test", rcpt: "bob@example.test",
		reply: "553 5.1.7 <alice..b@checks.test>: Sender address rejected: malformed address", check: "sender", status: "fail", reason: "sender-malformed"},
	{name: "sender domain unknown", ip: "192.0.2.10", ptr: "good.checks.test", helo: "mail.checks.test", from: "x@nowhere.checks.test", rcpt: "bob@example.test",
		reply: "550 5.1.8 <x@nowhere.checks.test>: Sender address rejected: Domain not found", check: "sender", status: "fail", reason: "sender-domain-unknown"},
	{name: "sender null MX", ip: "192.0.2.10", ptr: "good.checks.test", helo: "mail.checks.test", from: "x@nullmx.checks.test", rcpt: "bob@example.test",
		reply: "550 5.7.27 <x@nullmx.checks.test>: Sender address rejected: Domain does not accept mail", check: "sender", status: "fail", reason: "sender-null-mx"},
	{name: "sender temporary failure", ip: "192.0.2.10", ptr: "good.checks.test", helo: "mail.checks.test", from: "x@sender-servfail.checks.test", rcpt: "bob@example.test",
		reply: "450 4.1.8 <x@sender-servfail.checks.test>: Sender address rejected: Domain not found", check: "sender", status: "temperror", reason: "sender-temperror"},
	{name: "recipient unlisted", ip: "192.0.2.10", ptr: "good.checks.test", helo: "mail.checks.test", from: "alice@checks.test", rcpt: "dave@example.test",
		reply: "550 5.1.1 <dave@example.test>: Recipient address rejected: User unknown", check: "recipient", status: "fail", reason: "rcpt-unlisted"},
	{name: "recipient extension", ip: "192.0.2.10", ptr: "good.checks.test", helo: "mail.checks.test", from: "alice@checks.test", rcpt: "bob+lists@example.test",
		check: "recipient", status: "pass", reason: "rcpt-listed"},
	{name: "recipient not fqdn", ip: "192.0.2.10", ptr: "good.checks.test", helo: "mail.checks.test", from: "alice@checks.test", rcpt: "bob@localhost",
		reply: "504 5.5.2 <bob@localhost>: Recipient address rejected: need fully-qualified address", check: "recipient", status: "fail", reason: "rcpt-not-fqdn"},
	{name: "relay denied", ip: "192.0.2.10", ptr: "good.checks.test", helo: "mail.checks.test", from: "alice@checks.test", rcpt: "victim@elsewhere.test",
		reply: "554 5.7.1 <victim@elsewhere.test>: Relay access denied", check: "relay", status: "fail", reason: "relay-denied"},
}

// scenarioConfig is the mailsift config of the scenarios, with mode set.
func scenarioConfig(t *testing.T, mode string) string {
	list := filepath.Join(t.TempDir(), "recipients")
	os.WriteFile(list, []byte("# the test domain's users\nbob@example.test\ncarol@example.test\n"), 0o644)
	return fmt.Sprintf(`mode = %q
[trust]
networks = ["127.0.0.0/8"]
[checks.ptr.except]
networks = ["192.0.2.18"]
[checks.recipient]
domains = ["example.test"]
list = %q
`, mode, list)
}

// TestPostfixScenarios runs every scenario through a real Postfix in each
// mode: enforce gives the exact reply; tag and observe accept, and the log
// (and in tag mode the X-Mailsift header) says what would have happened.
func TestPostfixScenarios(t *testing.T) {
	for _, mode := range []string{"enforce", "tag", "observe"} {
		t.Run(mode, func(t *testing.T) {
			m := startMailsift(t, scenarioConfig(t, mode))
			m.dns.ServFail("temp.checks.test")
			m.dns.ServFail("helo-servfail.checks.test")
			m.dns.ServFail("sender-servfail.checks.test")
			p := startPostfix(t, m.addr)
			for i, sc := range scenarios {
				t.Run(sc.name, func(t *testing.T) {
					runScenario(t, m, p, mode, i, sc)
				})
			}
		})
	}
}

func runScenario(t *testing.T, m *mailsiftProc, p *postfix, mode string, i int, sc scenario) {
	c := p.xclient(t, sc.ip, sc.ptr, sc.helo)
	c.expect("250", "MAIL FROM:<%s>", sc.from)
	got := c.cmd("RCPT TO:<%s>", sc.rcpt)
	msgID := fmt.Sprintf("%s-%d@scenario.test", mode, i)
	refused := sc.reply != "" && mode == "enforce"
	switch {
	case refused:
		if got != sc.reply {
			t.Fatalf("RCPT TO: got %q, want %q", got, sc.reply)
		}
		c.expect("250", "RSET")
	case !strings.HasPrefix(got, "250 "):
		t.Fatalf("RCPT TO: got %q, want 250 in %s mode", got, mode)
	default:
		if reply := c.data(message(sc.from, sc.rcpt, msgID, "")); !strings.HasPrefix(reply, "250 ") {
			t.Fatalf("DATA: %q", reply)
		}
	}
	c.expect("221", "QUIT")

	r := m.waitLogN(t, "message", i+1)
	want := map[string]any{
		"mailsift.checks." + sc.check + ".status": sc.status,
		"mailsift.checks." + sc.check + ".reason": sc.reason,
		"email.from.address":                      sc.from,
		"mailsift.helo":                           sc.helo,
	}
	for k, v := range sc.fields {
		want[k] = v
	}
	action := map[string]string{"enforce": "accept", "tag": "accept", "observe": "accept"}[mode]
	if sc.reply != "" {
		want["mailsift.checks."+sc.check+".action"] = map[string]string{"enforce": refusal(sc.reply), "tag": "tag", "observe": "log"}[mode]
		action = map[string]string{"enforce": refusal(sc.reply), "tag": "tag", "observe": "accept"}[mode]
		if mode == "enforce" {
			want["mailsift.reply"] = sc.reply
		}
	}
	want["event.action"] = action
	wantFields(t, r, want)

	if !refused && strings.HasSuffix(sc.rcpt, "@example.test") {
		h := p.delivered(t, msgID)
		tag := h.Get("X-Mailsift")
		switch {
		case mode == "tag" && sc.reply != "" && !strings.Contains(tag, sc.check+"="+sc.status):
			t.Errorf("X-Mailsift = %q, want it to name %s=%s", tag, sc.check, sc.status)
		case (mode != "tag" || sc.reply == "") && tag != "":
			t.Errorf("X-Mailsift = %q on a message with nothing to tag", tag)
		}
		if got := h.Values("Authentication-Results"); len(got) != 1 || !strings.HasPrefix(got[0], "mx.mailsift.test; ") || !strings.Contains(got[0], "dmarc=") {
			t.Errorf("Authentication-Results = %q, want one of ours with the checks' results", got)
		}
	}
}

func refusal(reply string) string {
	if reply[0] == '4' {
		return "tempfail"
	}
	return "reject"
}

// Only the refused recipient is refused: the message goes to the others.
func TestPostfixOnlyTheUnlistedRecipientIsRefused(t *testing.T) {
	m := startMailsift(t, scenarioConfig(t, "enforce"))
	p := startPostfix(t, m.addr)
	c := p.xclient(t, "192.0.2.10", "good.checks.test", "mail.checks.test")
	c.expect("250", "MAIL FROM:<alice@checks.test>")
	c.expect("250", "RCPT TO:<bob@example.test>")
	if got := c.cmd("RCPT TO:<dave@example.test>"); got != "550 5.1.1 <dave@example.test>: Recipient address rejected: User unknown" {
		t.Fatalf("RCPT dave: %q", got)
	}
	if got := c.cmd("RCPT TO:<victim@elsewhere.test>"); got != "554 5.7.1 <victim@elsewhere.test>: Relay access denied" {
		t.Fatalf("RCPT victim: %q", got)
	}
	c.expect("250", "RCPT TO:<carol@example.test>")
	if reply := c.data(message("alice@checks.test", "bob@example.test", "multi@checks.test", "")); !strings.HasPrefix(reply, "250 ") {
		t.Fatalf("DATA: %q", reply)
	}
	c.expect("221", "QUIT")
	p.delivered(t, "multi@checks.test")
	wantFields(t, m.recordFor(t, "alice@checks.test"), map[string]any{
		"event.action":        "accept",
		"email.to.address":    "[bob@example.test dave@example.test victim@elsewhere.test carol@example.test]",
		"mailsift.refused_to": "[dave@example.test victim@elsewhere.test]",
	})
}
