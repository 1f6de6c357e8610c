package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// outbound is mailsift with [outbound] on, in front of a Postfix whose
// sink also takes mail for example.org, so that the bounces of local
// submissions from www@example.org can be read.
type outbound struct {
	m    *mailsiftProc
	p    *postfix
	keys string
}

// keygen runs "mailsift dkim keygen" and returns the TXT record it prints.
func keygen(t *testing.T, dir, domain, selector, typ string) dns.RR {
	t.Helper()
	out, err := exec.Command(binary, "dkim", "keygen", "--domain", domain, "--selector", selector, "--type", typ, "--dir", dir).Output()
	if err != nil {
		t.Fatalf("dkim keygen: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	rr, err := dns.NewRR(lines[len(lines)-1])
	if err != nil {
		t.Fatalf("the printed record is no zone file line: %v\n%s", err, out)
	}
	return rr
}

func startOutbound(t *testing.T) *outbound {
	t.Helper()
	dir := t.TempDir()
	keys := filepath.Join(dir, "dkim")
	os.Mkdir(keys, 0o700)
	rsa := keygen(t, keys, "site.test", "rsa2026", "rsa")
	ed := keygen(t, keys, "ed.site.test", "ed2026", "ed25519")
	logins := filepath.Join(dir, "logins")
	os.WriteFile(logins, []byte("www www@site.test\nalice alice@ed.site.test\n"), 0o644)
	mailboxes := filepath.Join(dir, "mailboxes")
	os.WriteFile(mailboxes, []byte("www@site.test\nwww@example.org\n"), 0o644)
	m := startMailsift(t, `
[trust]
networks = ["127.0.0.0/8"]
[checks.recipient]
domains = ["example.test"]
[greylist]
enabled = false
snapshot = ""
[outbound]
enabled = true
domains = ["site.test", "example.org"]
addresses = ["192.0.2.1"]
logins = "`+logins+`"
mailboxes = "`+mailboxes+`"
daily_limit = 2
[outbound.dkim]
keys = "`+keys+`"
`)
	m.dns.AddRR(rsa)
	m.dns.AddRR(ed)
	p := startPostfix(t, m.addr)
	// The bounces to example.org go to the sink too.
	if out, err := exec.Command("postconf", "-c", p.conf, "-e", "virtual_mailbox_domains = example.test, example.org").CombinedOutput(); err != nil {
		t.Fatalf("postconf: %v\n%s", err, out)
	}
	p.run("stop", time.Minute)
	p.control(t, "start")
	return &outbound{m: m, p: p, keys: keys}
}

// sendmail submits msg with Postfix's sendmail command, as PHP's mail()
// does: sendmail -t -i -f FROM.
func (o *outbound) sendmail(t *testing.T, from, msg string) {
	t.Helper()
	cmd := exec.Command("/usr/sbin/sendmail", "-C", o.p.conf, "-t", "-i", "-f", from)
	cmd.Stdin = strings.NewReader(msg)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sendmail: %v\n%s", err, out)
	}
}

// sinkFile waits for a delivered message that contains want and returns
// its path.
func (o *outbound) sinkFile(t *testing.T, want string) string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		files, _ := filepath.Glob(filepath.Join(o.p.base, "mail", "sink", "new", "*"))
		for _, f := range files {
			if b, err := os.ReadFile(f); err == nil && bytes.Contains(b, []byte(want)) {
				return f
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no delivered message contains %q within 15s", want)
	return ""
}

// login opens an SMTP session of an authenticated user (XCLIENT LOGIN=
// fills Postfix's {auth_authen}) from an address that is not trusted.
func (o *outbound) login(t *testing.T, user string) *smtpClient {
	t.Helper()
	c := dialSMTP(t, o.p.addr, "")
	c.expect("250", "EHLO tester.local")
	c.expect("220", "XCLIENT ADDR=198.51.100.40 NAME=laptop.site.test LOGIN=%s", user)
	c.expect("250", "EHLO laptop.site.test")
	return c
}

// dkimverify checks a delivered message with dkimpy.
func (o *outbound) dkimverify(t *testing.T, path string) string {
	t.Helper()
	_, err := exec.Command("/usr/bin/python3", "-c", "import dkim, dns.resolver").CombinedOutput()
	need(t, err == nil, "python3-dkim is not installed (apt-get install python3-dkim)")
	out, err := exec.Command("/usr/bin/python3", "testdata/dkimverify.py", o.m.dns.Addr, path).CombinedOutput()
	if err != nil {
		b, _ := os.ReadFile(path)
		t.Fatalf("dkimverify: %v\n%s\nmessage:\n%s", err, out, b)
	}
	return strings.TrimSpace(string(out))
}

const foreignReject = "550 5.7.1 strict.test publishes a DMARC policy of reject and this server is not allowed to send as strict.test: " +
	"send from an address at your own domain, or through strict.test's own mail server with SMTP authentication"

// A website sends as a foreign p=reject domain with PHP's mail(): the
// sendmail command hands the message to Postfix, whose non_smtpd_milters
// call mailsift at pickup; the refusal comes back to the sender as a
// bounce that names the domain, the policy and both ways out.
func TestOutboundSendmailForeignDMARC(t *testing.T) {
	o := startOutbound(t)
	o.sendmail(t, "www@example.org", "From: Website <noreply@strict.test>\nTo: bob@example.test\nSubject: your order\nMessage-Id: <order1@example.org>\n\nThanks.\n")
	text := strings.TrimPrefix(foreignReject, "550 5.7.1 ")
	ndr := o.sinkFile(t, "Status: 5.7.1")
	b, _ := os.ReadFile(ndr)
	unfolded := strings.Join(strings.Fields(string(b)), " ")
	if !strings.Contains(unfolded, "To: www@example.org") || !strings.Contains(unfolded, text) {
		t.Fatalf("the bounce to www@example.org does not give the reason %q:\n%s", text, b)
	}
	r := o.m.recordFor(t, "www@example.org")
	wantFields(t, r, map[string]any{
		"event.action": "reject", "mailsift.reply": foreignReject, "mailsift.trusted": "local", "source.ip": "127.0.0.1",
		"mailsift.checks.preflight.status": "fail", "mailsift.checks.preflight.reason": "preflight-reject",
		"mailsift.checks.preflight.policy": "reject", "mailsift.checks.mailbox.reason": "mailbox-listed",
	})
	log, _ := os.ReadFile(filepath.Join(o.p.base, "log", "maillog"))
	if !strings.Contains(string(log), "milter-reject: END-OF-MESSAGE from localhost[127.0.0.1]: 5.7.1 "+text) {
		t.Errorf("maillog has no milter-reject with the reply:\n%s", log)
	}
	files, _ := filepath.Glob(filepath.Join(o.p.base, "mail", "sink", "new", "*"))
	for _, f := range files {
		if b, _ := os.ReadFile(f); bytes.Contains(b, []byte("Message-Id: <order1@example.org>")) && !bytes.Contains(b, []byte("Status: 5.7.1")) {
			t.Errorf("the refused message was delivered: %s", f)
		}
	}
}

// Submissions from a login: a MAIL FROM the login does not own is refused
// at RCPT TO; the daily limit counts accepted messages, shows the count
// in the log and the metrics, and refuses the one over it.
func TestOutboundLoginAndDailyLimit(t *testing.T) {
	o := startOutbound(t)
	c := o.login(t, "www")
	c.expect("250", "MAIL FROM:<alice@ed.site.test>")
	const mismatch = "553 5.7.1 <alice@ed.site.test>: Sender address rejected: not owned by user www"
	if got := c.cmd("RCPT TO:<bob@example.test>"); got != mismatch {
		t.Fatalf("RCPT: %q, want %q", got, mismatch)
	}
	c.expect("250", "RSET")
	for i, id := range []string{"lim1@site.test", "lim2@site.test"} {
		c.expect("250", "MAIL FROM:<www@site.test>")
		c.expect("250", "RCPT TO:<bob@example.test>")
		if reply := c.data(message("www@site.test", "bob@example.test", id, "")); !strings.HasPrefix(reply, "250 ") {
			t.Fatalf("message %d: %q", i+1, reply)
		}
	}
	c.expect("250", "MAIL FROM:<www@site.test>")
	const limit = "450 4.7.1 www: daily limit of 2 messages reached, try again later"
	if got := c.cmd("RCPT TO:<bob@example.test>"); got != limit {
		t.Fatalf("third message: %q, want %q", got, limit)
	}
	c.expect("250", "RSET")
	c.expect("221", "QUIT")
	wantFields(t, o.m.recordFor(t, "alice@ed.site.test"), map[string]any{
		"event.action": "reject", "mailsift.reply": mismatch, "mailsift.trusted": "authenticated", "user.name": "www",
		"mailsift.checks.login.reason": "login-mismatch",
	})
	var counts []string
	for deadline := time.Now().Add(10 * time.Second); len(counts) < 3 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		counts = nil
		for _, r := range o.m.records(t, "message") {
			if r["email.from.address"] == "www@site.test" {
				counts = append(counts, r["event.action"].(string)+":"+r["mailsift.checks.limit.count"].(string))
			}
		}
	}
	if strings.Join(counts, " ") != "accept:1 accept:2 tempfail:2" {
		t.Errorf("limit log fields (action:count) = %v", counts)
	}
	base := "http://" + o.m.waitLog(t, "admin endpoint listening")["mailsift.admin.listen"].(string)
	_, body := get(t, base+"/metrics")
	if v := metricValue(body, `mailsift_outbound_daily_messages{who="login:www"}`); v != "2" {
		t.Errorf("mailsift_outbound_daily_messages{who=\"login:www\"} = %q, want 2", v)
	}
	// Both accepted messages went out signed, and dkimpy agrees.
	if got := o.dkimverify(t, o.sinkFile(t, "<lim1@site.test>")); got != "pass d=site.test s=rsa2026 a=rsa-sha256" {
		t.Errorf("dkimverify: %q", got)
	}
}

// DKIM signatures made by mailsift verify with dkimpy, for an RSA key
// (a login's submission over SMTP) and an Ed25519 key (the sendmail
// command); the From is oversigned.
func TestOutboundSignatureVerifies(t *testing.T) {
	o := startOutbound(t)
	c := o.login(t, "www")
	c.expect("250", "MAIL FROM:<www@site.test>")
	c.expect("250", "RCPT TO:<bob@example.test>")
	msg := "From: Web <www@site.test>\nTo: <bob@example.test>\nSubject: signed  with\n  RSA\nDate: Sun, 29 Nov 2026 00:00:00 +0000\n" +
		"Message-Id: <rsa1@site.test>\nMIME-Version: 1.0\nContent-Type: text/plain\n\nHello,  \nsigned.\n\n\n"
	if reply := c.data(msg); !strings.HasPrefix(reply, "250 ") {
		t.Fatalf("DATA: %q", reply)
	}
	c.expect("221", "QUIT")
	f := o.sinkFile(t, "<rsa1@site.test>")
	if got := o.dkimverify(t, f); got != "pass d=site.test s=rsa2026 a=rsa-sha256" {
		t.Errorf("RSA: dkimverify: %q", got)
	}
	b, _ := os.ReadFile(f)
	sig := strings.Join(strings.Fields(string(b[bytes.Index(b, []byte("DKIM-Signature:")):])), "")
	if !strings.Contains(sig, "c=relaxed/relaxed;") || !strings.Contains(sig, "h=From:From:") {
		t.Errorf("signature not relaxed/relaxed with From oversigned:\n%s", b)
	}
	wantFields(t, o.m.recordFor(t, "www@site.test"), map[string]any{
		"event.action": "accept", "mailsift.checks.sign.domain": "site.test", "mailsift.checks.sign.algorithm": "rsa",
		"mailsift.checks.preflight.reason": "preflight-aligned",
	})

	o.sendmail(t, "alice@ed.site.test", "From: Alice <alice@ed.site.test>\nTo: bob@example.test\nSubject: signed with Ed25519\nMessage-Id: <ed1@ed.site.test>\n\nHello.\n")
	ed := o.sinkFile(t, "<ed1@ed.site.test>")
	if got := o.dkimverify(t, ed); got != "pass d=ed.site.test s=ed2026 a=ed25519-sha256" {
		t.Errorf("Ed25519: dkimverify: %q", got)
	}
	// The verifier does fail a message changed after signing.
	b, _ = os.ReadFile(ed)
	changed := filepath.Join(t.TempDir(), "changed.eml")
	os.WriteFile(changed, bytes.Replace(b, []byte("Hello."), []byte("Hello!"), 1), 0o644)
	out, err := exec.Command("/usr/bin/python3", "testdata/dkimverify.py", o.m.dns.Addr, changed).CombinedOutput()
	if err == nil || !strings.HasPrefix(string(out), "fail d=ed.site.test s=ed2026 a=ed25519-sha256 (body hash mismatch") {
		t.Errorf("a changed message: %v %s", err, out)
	}
	wantFields(t, o.m.recordFor(t, "alice@ed.site.test"), map[string]any{
		"event.action": "accept", "mailsift.trusted": "local", "mailsift.checks.sign.algorithm": "ed25519",
	})
}
