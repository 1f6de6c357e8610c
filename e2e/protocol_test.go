package e2e

import (
	"bytes"
	"net"
	"net/textproto"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"
)

var macroLine = regexp.MustCompile(`(?m)^(milter_[a-z_]*macros) *=.*$`)

// withoutMacroLines drops the milter_*_macros lines from the contrib
// snippet: mailsift asks Postfix for its macros at negotiation.
func withoutMacroLines(s string) string { return macroLine.ReplaceAllString(s, "") }

// emptyMacroLines sets every milter_*_macros list empty: Postfix sends
// only what mailsift asks for.
func emptyMacroLines(s string) string { return macroLine.ReplaceAllString(s, "$1 =") }

// simpleSigned signs msg (LF line ends) with DKIM simple/simple, keeping
// its header bytes as they are.
func simpleSigned(t *testing.T, msg string) string {
	t.Helper()
	return dkimSign(t, "rsa.pem", &dkim.SignOptions{Domain: "signed.test", Selector: "rsa2048",
		HeaderCanonicalization: dkim.CanonicalizationSimple, BodyCanonicalization: dkim.CanonicalizationSimple,
		HeaderKeys: []string{"From", "To", "Subject", "Message-Id"}}, msg)
}

// deliveredFile returns the raw bytes of the delivered message whose
// Message-Id is msgID.
func (p *postfix) deliveredFile(t *testing.T, msgID string) string {
	t.Helper()
	p.delivered(t, msgID)
	files, _ := filepath.Glob(filepath.Join(p.base, "mail", "sink", "new", "*"))
	for _, f := range files {
		if b, err := os.ReadFile(f); err == nil && bytes.Contains(b, []byte("Message-Id: <"+msgID+">")) {
			return string(b)
		}
	}
	t.Fatalf("message <%s> not found", msgID)
	return ""
}

// Through a real Postfix 3.7 with milter_protocol = 6 and no
// milter_*_macros lines: mailsift's macro request brings the client name,
// the queue id and the SMTP AUTH user into the record; with
// SMFIP_HDR_LEADSPC a DKIM simple signature over "Subject:x" and
// "Subject:<TAB>x" verifies, and the header mailsift adds reads
// "Authentication-Results: ..." with one space.
func TestPostfixProtocol6(t *testing.T) {
	t.Run("no macro lines", func(t *testing.T) { postfixProtocol6(t, withoutMacroLines) })
	t.Run("empty macro lists", func(t *testing.T) { postfixProtocol6(t, emptyMacroLines) })
}

func postfixProtocol6(t *testing.T, edit func(string) string) {
	m := startMailsift(t, postfixMilterConfig)
	p := startPostfixEdited(t, m.addr, edit)
	if b, _ := os.ReadFile(filepath.Join(p.conf, "main.cf")); regexp.MustCompile(`_macros *= *[^ \n]`).Match(b) {
		t.Fatalf("main.cf still sets milter macros:\n%s", b)
	}
	c := p.xclient(t, "192.0.2.10", "good.checks.test", "mail.checks.test")
	var replies []string
	for i, subject := range []string{"Subject:x", "Subject:\tx", "Subject:  x"} {
		id := []string{"ws1@signed.test", "ws2@signed.test", "ws3@signed.test"}[i]
		from := []string{"ws1@checks.test", "ws2@checks.test", "ws3@checks.test"}[i]
		c.expect("250", "MAIL FROM:<%s>", from)
		c.expect("250", "RCPT TO:<bob@example.test>")
		msg := simpleSigned(t, "From: Alice <alice@signed.test>\nTo: <bob@example.test>\n"+subject+"\nMessage-Id: <"+id+">\n\nHello,\nthis is signed.\n")
		reply := c.data(msg)
		if !strings.HasPrefix(reply, "250 ") {
			t.Fatalf("%q: DATA %q", subject, reply)
		}
		replies = append(replies, reply)
	}
	c.expect("221", "QUIT")
	for i, subject := range []string{"Subject:x", "Subject:\tx", "Subject:  x"} {
		id := []string{"ws1@signed.test", "ws2@signed.test", "ws3@signed.test"}[i]
		raw := p.deliveredFile(t, id)
		if !strings.Contains(raw, "\n"+subject+"\n") {
			t.Errorf("%q: Postfix changed the header:\n%s", subject, raw)
		}
		if !strings.Contains(raw, "\nAuthentication-Results: mx.mailsift.test; iprev=pass policy.iprev=192.0.2.10; spf=none smtp.mailfrom=ws") ||
			!strings.Contains(raw, "dkim=pass header.d=signed.test") {
			t.Errorf("%q: delivered without a passing dkim in our Authentication-Results:\n%s", subject, raw)
		}
		from := []string{"ws1@checks.test", "ws2@checks.test", "ws3@checks.test"}[i]
		wantFields(t, m.recordFor(t, from), map[string]any{
			"source.domain": "good.checks.test", "email.local_id": queueID(t, replies[i]),
			"mailsift.checks.dkim.status": "pass", "mailsift.checks.helo.status": "pass",
		})
	}

	// SMTP AUTH (played with XCLIENT LOGIN): {auth_authen} comes at MAIL.
	c = dialSMTP(t, p.addr, "")
	c.expect("250", "EHLO tester.local")
	c.expect("220", "XCLIENT ADDR=192.0.2.10 NAME=good.checks.test LOGIN=carol")
	c.expect("250", "EHLO mail.checks.test")
	c.expect("250", "MAIL FROM:<carol@checks.test>")
	c.expect("250", "RCPT TO:<bob@example.test>")
	c.data(message("carol@checks.test", "bob@example.test", "auth1@checks.test", ""))
	c.expect("221", "QUIT")
	wantFields(t, m.recordFor(t, "carol@checks.test"), map[string]any{"user.name": "carol", "mailsift.trusted": "authenticated"})

	// Postfix found nothing to complain about in the conversation.
	time.Sleep(100 * time.Millisecond)
	log, _ := os.ReadFile(filepath.Join(p.base, "log", "maillog"))
	for _, line := range strings.Split(string(log), "\n") {
		if strings.Contains(line, "milter") && (strings.Contains(line, "warning") || strings.Contains(line, "error")) {
			t.Errorf("maillog: %s", line)
		}
	}
}

// slowMX is an SMTP server on 127.0.1.1 (mx1.callout.test) that greets
// after delay, then refuses every recipient: a slow callout target.
func slowMX(t *testing.T, delay time.Duration) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.1.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(30 * time.Second))
				time.Sleep(delay)
				tp := textproto.NewConn(c)
				tp.PrintfLine("220 mx1.callout.test ESMTP slow")
				for {
					line, err := tp.ReadLine()
					if err != nil {
						return
					}
					switch cmd := strings.ToUpper(line); {
					case strings.HasPrefix(cmd, "RCPT"):
						tp.PrintfLine("550 5.1.1 Recipient address rejected: User unknown")
					case strings.HasPrefix(cmd, "QUIT"):
						tp.PrintfLine("221 2.0.0 Bye")
						return
					default:
						tp.PrintfLine("250 mx1.callout.test")
					}
				}
			}()
		}
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// A sender callout that outlasts Postfix's milter_command_timeout (2 s
// here; the probe's server greets after 3 s): mailsift's progress packets
// keep Postfix waiting, and the client gets the callout's verdict. Without
// them (progress_interval longer than the wait) Postfix gives up and
// answers with its milter_default_action.
func TestPostfixProgressDuringSlowCallout(t *testing.T) {
	for _, tt := range []struct{ interval, want string }{
		{"1s", "550 5.1.7 <nobody@ok.callout.test>: Sender address rejected: undeliverable address (550 5.1.1 Recipient address rejected: User unknown)"},
		{"1m", "451 4.7.1 Service unavailable - try again later"},
	} {
		t.Run("progress_interval "+tt.interval, func(t *testing.T) {
			port := slowMX(t, 3*time.Second)
			m := startMailsift(t, "progress_interval = \""+tt.interval+"\"\n"+postfixMilterConfig+
				"[checks.callout]\nmode = \"enforce\"\nbudget = \"6s\"\nport = "+port+"\nallow_networks = [\"127.0.0.0/8\"]\n")
			p := startPostfixEdited(t, m.addr, func(s string) string {
				return regexp.MustCompile(`(?m)^milter_command_timeout = .*$`).ReplaceAllString(s, "milter_command_timeout = 2s")
			})
			c := p.xclient(t, "192.0.2.10", "good.checks.test", "mail.checks.test")
			c.expect("250", "MAIL FROM:<nobody@ok.callout.test>")
			if got := c.cmd("RCPT TO:<bob@example.test>"); got != tt.want {
				t.Fatalf("RCPT: got %q, want %q", got, tt.want)
			}
		})
	}
}

// Sendmail 8.17 with SMFIP_HDR_LEADSPC: a DKIM simple signature over
// "Subject:x" and "Subject:<TAB>x" verifies through the milter, and the
// header mailsift adds keeps its one space after the colon.
func TestSendmailHeaderLeadingSpace(t *testing.T) {
	m := startMailsift(t, sendmailMilterConfig)
	s := startSendmail(t, m.addr)
	c := dialSMTP(t, s.addr, "127.0.0.2")
	c.expect("250", "EHLO mail.checks.test")
	for i, subject := range []string{"Subject:x", "Subject:\tx"} {
		from := []string{"smws1@checks.test", "smws2@checks.test"}[i]
		c.expect("250", "MAIL FROM:<%s>", from)
		c.expect("250", "RCPT TO:<bob@example.test>")
		id := []string{"smws1@signed.test", "smws2@signed.test"}[i]
		if reply := c.data(simpleSigned(t, "From: Alice <alice@signed.test>\nTo: <bob@example.test>\n"+subject+"\nMessage-Id: <"+id+">\n\nHello,\nthis is signed.\n")); !strings.HasPrefix(reply, "250 ") {
			t.Fatalf("%q: DATA %q", subject, reply)
		}
		wantFields(t, m.recordFor(t, from), map[string]any{"mailsift.checks.dkim.status": "pass", "event.action": "accept"})
	}
	c.expect("221", "QUIT")
	qf := s.queued(t)
	if n := strings.Count(qf, "H??Authentication-Results: mx.mailsift.test; iprev=pass policy.iprev=127.0.0.2; spf=none smtp.mailfrom=smws"); n != 2 {
		t.Errorf("queue files carry our Authentication-Results %d times, want 2:\n%s", n, qf)
	}
	if n := strings.Count(qf, "dkim=pass header.d=signed.test"); n != 2 {
		t.Errorf("dkim=pass in %d queue files, want 2:\n%s", n, qf)
	}
}
