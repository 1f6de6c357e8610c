package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A website mails two recipients with PHP's mail() (sendmail -t -i), one
// of them suppressed: Postfix's non_smtpd_milters call mailsift, which
// cannot refuse a local recipient at RCPT TO, so it removes the suppressed
// one at the end of the message. The other is delivered; the suppressed
// one gets nothing, and the record says why.
func TestSuppressLocalSubmissionRemovesRecipient(t *testing.T) {
	dir := t.TempDir()
	export := filepath.Join(dir, "suppressed.json")
	os.WriteFile(export, []byte(`{"generated":"2026-11-20T00:00:00Z","suppressed":[{"address":"dead@example.test","hard":3,"suppressed":true,`+
		`"since":"2026-11-20T00:00:00Z","bounces":3,"last":{"status":"5.1.1","class":"user-unknown","hard":true,"at":"2026-11-20T00:00:00Z"}}]}`), 0o644)
	m := startMailsift(t, websiteConfig+`
[greylist]
enabled = false
snapshot = ""
[bounces]
addresses = ["bounces@example.test"]
export = "`+export+`"
`)
	p := startPostfix(t, m.addr)
	const reply = "550 5.1.1 <dead@example.test>: recipient suppressed after 3 bounces (last: 5.1.1 user unknown, 2026-11-20)"

	send := func(msg string) {
		t.Helper()
		cmd := exec.Command("/usr/sbin/sendmail", "-C", p.conf, "-t", "-i", "-f", "www@site.test")
		cmd.Stdin = strings.NewReader(msg)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("sendmail: %v\n%s", err, out)
		}
	}
	send("From: Shop <www@site.test>\nTo: alive@example.test, dead@example.test\nSubject: your order\nMessage-Id: <order2@site.test>\n\nThanks.\n")

	// The good recipient's copy arrives (virtual(8) names it in
	// Delivered-To); the suppressed one's never does.
	delivered := func(rcpt, id string) bool {
		files, _ := filepath.Glob(filepath.Join(p.base, "mail", "sink", "new", "*"))
		for _, f := range files {
			b, _ := os.ReadFile(f)
			if bytes.Contains(b, []byte("Delivered-To: "+rcpt+"\n")) && bytes.Contains(b, []byte("Message-Id: "+id)) {
				return true
			}
		}
		return false
	}
	deadline := time.Now().Add(15 * time.Second)
	for !delivered("alive@example.test", "<order2@site.test>") {
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(p.base, "log", "maillog"))
			t.Fatalf("alive@example.test got nothing within 15s; maillog:\n%s", log)
		}
		time.Sleep(50 * time.Millisecond)
	}
	r := m.recordFor(t, "www@site.test")
	wantFields(t, r, map[string]any{"event.action": "accept", "mailsift.trusted": "local", "source.ip": "127.0.0.1",
		"mailsift.refused_count": 1, "mailsift.refused_to": "[dead@example.test]"})
	rcpts, _ := r["mailsift.recipients"].([]any)
	var dead map[string]any
	for _, o := range rcpts {
		if o, _ := o.(map[string]any); o != nil && o["address"] == "dead@example.test" {
			dead = o
		}
	}
	wantFields(t, dead, map[string]any{"action": "delete", "check": "suppress", "reason": "suppress-listed", "reply": reply})
	// The delivery log has the good recipient only (wait for the queue
	// manager to finish the message).
	var log []byte
	for deadline = time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		log, _ = os.ReadFile(filepath.Join(p.base, "log", "maillog"))
		if bytes.Contains(log, []byte("removed")) {
			break
		}
	}
	if !bytes.Contains(log, []byte("to=<alive@example.test>")) || bytes.Contains(log, []byte("to=<dead@example.test>")) {
		t.Errorf("maillog: want a delivery to alive@ only:\n%s", log)
	}
	if delivered("dead@example.test", "<order2@site.test>") {
		t.Error("the suppressed recipient got the message")
	}

	// Every recipient suppressed: the message is refused whole at its end,
	// with the suppression's reply, and Postfix bounces it to the sender.
	send("From: Shop <www@site.test>\nTo: dead@example.test\nSubject: again\nMessage-Id: <order3@site.test>\n\nThanks.\n")
	for deadline = time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		log, _ = os.ReadFile(filepath.Join(p.base, "log", "maillog"))
		if bytes.Contains(log, []byte("milter-reject: END-OF-MESSAGE")) {
			break
		}
	}
	if !bytes.Contains(log, []byte("milter-reject: END-OF-MESSAGE from localhost[127.0.0.1]: 5.1.1 <dead@example.test>: recipient suppressed after 3 bounces")) {
		t.Errorf("maillog has no milter-reject with the reply:\n%s", log)
	}
}
