package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// waitMaillog waits until Postfix's log (written asynchronously by
// postlogd) holds every one of want.
func (p *postfix) waitMaillog(t *testing.T, want ...string) string {
	t.Helper()
	path := filepath.Join(p.base, "log", "maillog")
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, _ := os.ReadFile(path)
		ok := true
		for _, w := range want {
			if !strings.Contains(string(b), w) {
				ok = false
			}
		}
		if ok {
			return string(b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("maillog lacks %q after 20s:\n%s", want, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestTraceOnPostfixLog sends a message that is delivered, one that
// bounces and one that mailsift refuses at RCPT through a real Postfix,
// then runs mailsift trace on the log that Postfix wrote, joined with
// mailsift's own records.
func TestTraceOnPostfixLog(t *testing.T) {
	m := startMailsift(t, postfixMilterConfig)
	p := startPostfix(t, m.addr)

	c := p.xclient(t, "192.0.2.10", "good.checks.test", "mail.checks.test")
	c.expect("250", "MAIL FROM:<alice@checks.test>")
	c.expect("250", "RCPT TO:<bob@example.test>")
	okID := queueID(t, c.data(message("alice@checks.test", "bob@example.test", "trace-ok@checks.test", "")))
	c.expect("221", "QUIT")

	// Submitted with the sendmail command: queued, then the error transport
	// (anything not @example.test) bounces it.
	cmd := exec.Command("/usr/sbin/sendmail", "-C", p.conf, "-f", "dave@checks.test", "carol@nowhere.test")
	cmd.Stdin = strings.NewReader(message("dave@checks.test", "carol@nowhere.test", "trace-bounce@checks.test", ""))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sendmail: %v\n%s", err, out)
	}

	c = p.xclient(t, "192.0.2.10", "good.checks.test", "bad..helo")
	c.expect("250", "MAIL FROM:<mallory@checks.test>")
	const refusal = "501 5.5.2 <bad..helo>: Helo command rejected: Invalid name"
	c.expect(refusal, "RCPT TO:<bob@example.test>")
	c.expect("221", "QUIT")

	maillog := p.waitMaillog(t, okID+": to=<bob@example.test>", "to=<carol@nowhere.test>", "status=bounced", "NOQUEUE: milter-reject")
	mid := regexp.MustCompile(`([0-9A-F]+): message-id=<trace-bounce@checks.test>`).FindStringSubmatch(maillog)
	if mid == nil {
		t.Fatalf("no queue id for the bounced message in:\n%s", maillog)
	}
	bounceID := mid[1]
	m.recordFor(t, "mallory@checks.test")
	records := filepath.Join(t.TempDir(), "mailsift.json")
	if err := os.WriteFile(records, []byte(m.stderr.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(p.base, "log", "maillog")
	if testing.Verbose() {
		t.Logf("maillog:\n%s", maillog)
	}

	trace := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(binary, append(append([]string{"trace", "--mailsift", records}, args...), logPath)...).CombinedOutput()
		if err != nil {
			t.Fatalf("mailsift trace %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	wantAll := func(out string, want ...string) {
		t.Helper()
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("trace output lacks %q:\n%s", w, out)
			}
		}
	}

	out := trace("--id", okID)
	wantAll(out, "message "+okID+" <trace-ok@checks.test>",
		"received  ", "from good.checks.test[192.0.2.10]",
		"sender    <alice@checks.test>",
		"mailsift  accept",
		"outcome   delivered: delivered to all 1 recipients.",
		"<bob@example.test>: delivered into the local mailbox by virtual",
		okID+": to=<bob@example.test>, relay=virtual")

	out = trace("--message-id", "<trace-bounce@checks.test>")
	wantAll(out, "message "+bounceID+" <trace-bounce@checks.test>",
		"mailsift  accept",
		"dsn=5.7.0 status=bounced (outbound mail disabled in test instance)",
		"outcome   bounced: bounced for 1 of 1 recipients; the non-delivery notification went back to the sender as ",
		`<carol@nowhere.test>: bounced at `, `"outbound mail disabled in test instance"`)

	out = trace("--from", "mallory@checks.test")
	wantAll(out, "message NOQUEUE",
		"refused   "+refusal,
		"outcome   refused: refused while receiving with \""+refusal+"\": it never entered the queue here. mailsift decided it (reject, reply "+refusal+", helo=fail helo-invalid-syntax).",
		"NOQUEUE: milter-reject: RCPT from good.checks.test[192.0.2.10]: "+refusal)

	out = trace("--to", "nobody@example.test")
	wantAll(out, "no message matches (recipient nobody@example.test): never received here")
}
