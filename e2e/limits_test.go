package e2e

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// deliveredRaw waits for a delivered message whose Message-Id is msgID and
// returns its header fields in order, unfolded.
func deliveredRaw(t *testing.T, p *postfix, msgID string) []string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		files, _ := filepath.Glob(filepath.Join(p.base, "mail", "sink", "new", "*"))
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil || !bytes.Contains(b, []byte("<"+msgID+">")) {
				continue
			}
			head, _, _ := strings.Cut(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n\n")
			var fields []string
			for _, l := range strings.Split(head, "\n") {
				if (strings.HasPrefix(l, " ") || strings.HasPrefix(l, "\t")) && len(fields) > 0 {
					fields[len(fields)-1] += " " + strings.TrimSpace(l)
					continue
				}
				fields = append(fields, l)
			}
			return fields
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("message <%s> not delivered within 15s", msgID)
	return nil
}

// A forged Authentication-Results placed after 1,500 headers, and forged
// ones in the other RFC 8601 forms of our authserv-id, are removed; ours
// is inserted at the top, right below Postfix's Received.
func TestPostfixForgedAuthResultsAfter1500Headers(t *testing.T) {
	m := startMailsift(t, scenarioConfig(t, "enforce"))
	p := startPostfix(t, m.addr)
	c := p.xclient(t, "192.0.2.10", "good.checks.test", "mail.checks.test")
	c.expect("250", "MAIL FROM:<alice@checks.test>")
	c.expect("250", "RCPT TO:<bob@example.test>")
	var extra strings.Builder
	extra.WriteString("Authentication-Results: (trusted) mx.mailsift.test; dkim=pass header.d=checks.test\n")
	for i := range 1500 {
		fmt.Fprintf(&extra, "X-Filler-%d: header %d\n", i, i)
	}
	extra.WriteString("Authentication-Results: mx.mailsift.test; dmarc=pass header.from=checks.test\n")
	extra.WriteString("Authentication-Results: \"mx.mailsift.test\"; spf=pass smtp.mailfrom=checks.test\n")
	extra.WriteString("Authentication-Results: mx.mailsift.test.; dmarc=pass header.from=checks.test\n")
	extra.WriteString("Authentication-Results: other.example; spf=pass smtp.mailfrom=checks.test\n")
	if reply := c.data(message("alice@checks.test", "bob@example.test", "many-headers@checks.test", extra.String())); !strings.HasPrefix(reply, "250 ") {
		t.Fatalf("DATA: %q", reply)
	}
	c.expect("221", "QUIT")
	fields := deliveredRaw(t, p, "many-headers@checks.test")
	var ars []string
	ours := -1
	for i, f := range fields {
		if strings.HasPrefix(strings.ToLower(f), "authentication-results:") {
			ars = append(ars, f)
			if strings.HasPrefix(f, "Authentication-Results: mx.mailsift.test; iprev=") {
				ours = i
			}
		}
	}
	if len(ars) != 2 || ours < 0 || !strings.HasPrefix(ars[1], "Authentication-Results: other.example;") {
		t.Fatalf("Authentication-Results after delivery: %q, want ours and other.example's only", ars)
	}
	if ours == 0 || !strings.HasPrefix(fields[ours-1], "Received: from mail.checks.test") {
		t.Errorf("ours is header %d, after %q: want it right below Postfix's Received", ours, fields[max(ours-1, 0)])
	}
	if strings.Contains(fields[ours], " ;") {
		t.Errorf("ours has a space before ';': %q", fields[ours])
	}
}

// Past [limits] max_header_bytes, Postfix's client gets the 552 line.
func TestPostfixHeaderSizeLimit(t *testing.T) {
	m := startMailsift(t, scenarioConfig(t, "enforce")+"\n[limits]\nmax_header_bytes = 4096\n")
	p := startPostfix(t, m.addr)
	c := p.xclient(t, "192.0.2.10", "good.checks.test", "mail.checks.test")
	c.expect("250", "MAIL FROM:<alice@checks.test>")
	c.expect("250", "RCPT TO:<bob@example.test>")
	extra := strings.Repeat("X-Filler: "+strings.Repeat("x", 60)+"\n", 100)
	if reply := c.data(message("alice@checks.test", "bob@example.test", "too-big@checks.test", extra)); reply != "552 5.3.4 Message header size exceeds limit" {
		t.Fatalf("DATA: %q, want the 552 line", reply)
	}
	c.expect("221", "QUIT")
	wantFields(t, m.recordFor(t, "alice@checks.test"), map[string]any{
		"event.action": "reject", "mailsift.reply": "552 5.3.4 Message header size exceeds limit"})
}
