package e2e

import (
	"bufio"
	"fmt"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// postfix is a private Postfix instance on loopback: every recipient @example.test is delivered to
// one Maildir, anything else bounces locally, nothing leaves the machine.
type postfix struct {
	base string
	conf string
	addr string // SMTP host:port
}

// The instance settings; the milter settings come from contrib/postfix/main.cf.
const postfixBase = `compatibility_level = 3.6
queue_directory = {BASE}/queue
data_directory  = {BASE}/data
mail_owner = postfix
setgid_group = postdrop
maillog_file = {BASE}/log/maillog
maillog_file_prefixes = {BASE}
inet_interfaces = loopback-only
inet_protocols = ipv4, ipv6
myhostname = mx.pftest.test
mydomain = pftest.test
myorigin = $myhostname
mynetworks = 127.0.0.0/8
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
# Postfix relays to these, so that mailsift's relay and recipient checks are
# what refuses them (nothing leaves: every transport but virtual is an error)
relay_domains = elsewhere.test, localhost
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
virtual_mailbox_domains = example.test
virtual_mailbox_base = {BASE}/mail
virtual_mailbox_maps = static:sink/
virtual_uid_maps = static:65534
virtual_gid_maps = static:65534
default_transport = error:5.7.0 outbound mail disabled in test instance
relay_transport = discard:relayed mail is dropped in the test instance
smtpd_authorized_xclient_hosts = 127.0.0.0/8
biff = no
smtpd_banner = $myhostname ESMTP pftest
smtpd_tls_security_level = none
smtp_tls_security_level = none
queue_run_delay = 10s
minimal_backoff_time = 10s
`

const postfixMaster = `{PORT} inet  n       -      n      -      -       smtpd
pickup          unix  n       -      n      60     1       pickup
cleanup         unix  n       -      n      -      0       cleanup
qmgr            unix  n       -      n      300    1       qmgr
rewrite         unix  -       -      n      -      -       trivial-rewrite
bounce          unix  -       -      n      -      0       bounce
defer           unix  -       -      n      -      0       bounce
trace           unix  -       -      n      -      0       bounce
verify          unix  -       -      n      -      1       verify
flush           unix  n       -      n      1000?  0       flush
proxymap        unix  -       -      n      -      -       proxymap
proxywrite      unix  -       -      n      -      1       proxymap
smtp            unix  -       -      n      -      -       smtp
relay           unix  -       -      n      -      -       smtp
showq           unix  n       -      n      -      -       showq
error           unix  -       -      n      -      -       error
retry           unix  -       -      n      -      -       error
discard         unix  -       -      n      -      -       discard
local           unix  -       n      n      -      -       local
virtual         unix  -       n      n      -      -       virtual
lmtp            unix  -       -      n      -      -       lmtp
anvil           unix  -       -      n      -      1       anvil
scache          unix  -       -      n      -      1       scache
postlog         unix-dgram n  -      n      -      1       postlogd
`

// startPostfix starts an instance whose smtpd_milters points at milterAddr
// (host:port), configured with the contrib snippet users copy.
func startPostfix(t *testing.T, milterAddr string) *postfix {
	t.Helper()
	return startPostfixEdited(t, milterAddr, func(s string) string { return s })
}

// startPostfixEdited is startPostfix with the contrib snippet passed
// through edit first.
func startPostfixEdited(t *testing.T, milterAddr string, edit func(string) string) *postfix {
	t.Helper()
	_, err := exec.LookPath("postfix")
	need(t, err == nil, "postfix is not installed (apt-get install postfix)")
	need(t, os.Geteuid() == 0, "a Postfix instance needs root")

	base := t.TempDir()
	for d := base; d != "/" && d != "."; d = filepath.Dir(d) {
		if fi, err := os.Stat(d); err == nil && fi.Mode()&os.ModeSticky == 0 {
			os.Chmod(d, 0o755) // the postfix user must traverse the path
		}
	}
	for _, d := range []string{"etc", "queue", "data", "mail", "log"} {
		os.MkdirAll(filepath.Join(base, d), 0o755)
	}
	os.Chown(filepath.Join(base, "mail"), 65534, 65534)
	if err := exec.Command("chown", "postfix", filepath.Join(base, "data")).Run(); err != nil {
		t.Fatalf("chown postfix: %v", err)
	}
	snippet, err := os.ReadFile("../contrib/postfix/main.cf")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(snippet), "inet:127.0.0.1:8895") {
		t.Fatal("contrib/postfix/main.cf no longer names inet:127.0.0.1:8895")
	}
	mainCf := strings.ReplaceAll(postfixBase, "{BASE}", base) +
		strings.ReplaceAll(edit(string(snippet)), "inet:127.0.0.1:8895", "inet:"+milterAddr)
	port := freePort(t)
	p := &postfix{base: base, conf: filepath.Join(base, "etc"), addr: fmt.Sprintf("127.0.0.1:%d", port)}
	masterCf := strings.ReplaceAll(postfixMaster, "{PORT}", p.addr)
	for name, text := range map[string]string{"main.cf": mainCf, "master.cf": masterCf} {
		path := filepath.Join(p.conf, name)
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		// Postfix waits ~2 s for a main.cf younger than ~2 s.
		past := time.Now().Add(-time.Minute)
		os.Chtimes(path, past, past)
	}
	p.control(t, "start")
	t.Cleanup(func() {
		p.run("stop", time.Minute)
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(base, "log", "maillog"))
			t.Logf("maillog:\n%s", b)
		}
	})
	return p
}

// control runs "postfix -c CONF verb" (start, stop, reload) and fails the
// test when it fails. On a loaded machine "postfix reload" right after
// "start" has hung for minutes in postfix-script's "master -t" (once in
// dozens of runs): each try has a deadline, after which its whole process
// group is killed and the command tried again.
func (p *postfix) control(t *testing.T, verb string) {
	t.Helper()
	var err error
	var out []byte
	for try := 0; try < 3; try++ {
		if out, err = p.run(verb, time.Minute); err == nil {
			return
		}
	}
	t.Fatalf("postfix %s: %v\n%s", verb, err, out)
}

// run runs "postfix -c CONF verb" in its own process group, killed with
// its children when it takes longer than limit.
func (p *postfix) run(verb string, limit time.Duration) ([]byte, error) {
	// Postfix waits ~2 s for a main.cf younger than ~2 s.
	past := time.Now().Add(-time.Minute)
	os.Chtimes(filepath.Join(p.conf, "main.cf"), past, past)
	cmd := exec.Command("postfix", "-c", p.conf, verb)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return []byte(out.String()), err
	case <-time.After(limit):
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		return []byte(out.String()), fmt.Errorf("no answer in %s", limit)
	}
}

// delivered waits for a delivered message whose Message-Id is msgID and
// returns its header.
func (p *postfix) delivered(t *testing.T, msgID string) textproto.MIMEHeader {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		files, _ := filepath.Glob(filepath.Join(p.base, "mail", "sink", "new", "*"))
		for _, f := range files {
			fh, err := os.Open(f)
			if err != nil {
				continue
			}
			h, err := textproto.NewReader(bufio.NewReader(fh)).ReadMIMEHeader()
			fh.Close()
			if err == nil && h.Get("Message-Id") == "<"+msgID+">" {
				return h
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("message <%s> not delivered within 15s", msgID)
	return nil
}

// xclient opens an SMTP session that plays the client ip/name and greets
// with helo (XCLIENT then EHLO again, as the recipe says).
func (p *postfix) xclient(t *testing.T, ip, name, helo string) *smtpClient {
	t.Helper()
	c := dialSMTP(t, p.addr, "")
	if got := c.expect("250", "EHLO tester.local"); !strings.Contains(got, "250") {
		t.Fatal(got)
	}
	c.expect("220", "XCLIENT ADDR=%s NAME=%s REVERSE_NAME=%s", ip, name, name)
	c.expect("250", "EHLO %s", helo)
	return c
}

func queueID(t *testing.T, reply string) string {
	t.Helper()
	i := strings.LastIndex(reply, "queued as ")
	if i < 0 {
		t.Fatalf("no queue id in %q", reply)
	}
	return strings.TrimSpace(reply[i+len("queued as "):])
}

const postfixMilterConfig = `
[trust]
networks = ["127.0.0.0/8"]
[checks.recipient]
domains = ["example.test"]
`

func TestPostfixCleanMessageDelivered(t *testing.T) {
	m := startMailsift(t, postfixMilterConfig)
	p := startPostfix(t, m.addr)
	c := p.xclient(t, "192.0.2.10", "good.checks.test", "mail.checks.test")
	c.expect("250", "MAIL FROM:<alice@checks.test>")
	c.expect("250", "RCPT TO:<bob@example.test>")
	forged := "Authentication-Results: mx.mailsift.test; dkim=pass header.d=bank.example\nAuthentication-Results: other.example; spf=pass smtp.mailfrom=sender.test"
	reply := c.data(message("alice@checks.test", "bob@example.test", "clean1@checks.test", forged))
	if !strings.HasPrefix(reply, "250 2.0.0 Ok: queued as ") {
		t.Fatalf("DATA: %q", reply)
	}
	// A second message on the same connection is checked and tagged too.
	c.expect("250", "MAIL FROM:<alice2@checks.test>")
	c.expect("250", "RCPT TO:<carol@example.test>")
	reply2 := c.data(message("alice2@checks.test", "carol@example.test", "clean2@checks.test", ""))
	c.expect("221", "QUIT")

	h := p.delivered(t, "clean1@checks.test")
	ar := h.Values("Authentication-Results")
	// Ours is inserted at the top (RFC 8601 §5), above the foreign one.
	if strings.Join(ar, "|") != "mx.mailsift.test; iprev=pass policy.iprev=192.0.2.10; spf=none smtp.mailfrom=alice@checks.test; dkim=none; dmarc=none header.from=checks.test|other.example; spf=pass smtp.mailfrom=sender.test" {
		t.Errorf("Authentication-Results = %q, want ours at the top, the forged one removed and the foreign one kept", ar)
	}
	h2 := p.delivered(t, "clean2@checks.test")
	if got := h2.Get("Authentication-Results"); got != "mx.mailsift.test; iprev=pass policy.iprev=192.0.2.10; spf=none smtp.mailfrom=alice2@checks.test; dkim=none; dmarc=none header.from=checks.test" {
		t.Errorf("second message: Authentication-Results = %q", got)
	}

	r := m.recordFor(t, "alice@checks.test")
	wantFields(t, r, map[string]any{
		"event.action": "accept", "event.outcome": "success", "source.ip": "192.0.2.10",
		"source.domain": "good.checks.test", "email.local_id": queueID(t, reply),
		"email.message_id": "<clean1@checks.test>", "email.to.address": "[bob@example.test]",
		"mailsift.helo": "mail.checks.test", "mailsift.checks.helo.status": "pass",
	})
	r2 := m.recordFor(t, "alice2@checks.test")
	wantFields(t, r2, map[string]any{"email.local_id": queueID(t, reply2), "source.ip": "192.0.2.10", "mailsift.helo": "mail.checks.test"})
}

func TestPostfixBadHeloRefusedAtRcpt(t *testing.T) {
	m := startMailsift(t, postfixMilterConfig)
	p := startPostfix(t, m.addr)
	c := p.xclient(t, "192.0.2.10", "good.checks.test", "bad..helo")
	c.expect("250", "MAIL FROM:<mallory@checks.test>")
	const want = "501 5.5.2 <bad..helo>: Helo command rejected: Invalid name"
	if got := c.cmd("RCPT TO:<bob@example.test>"); got != want {
		t.Fatalf("RCPT: got %q, want %q", got, want)
	}
	if got := c.cmd("RCPT TO:<carol@example.test>"); got != want {
		t.Fatalf("second RCPT: got %q, want %q", got, want)
	}
	c.expect("250", "RSET")
	c.expect("221", "QUIT")
	r := m.recordFor(t, "mallory@checks.test")
	wantFields(t, r, map[string]any{
		"event.action": "reject", "event.outcome": "failure", "source.ip": "192.0.2.10",
		"mailsift.reply": want, "mailsift.helo": "bad..helo", "mailsift.checks.helo.status": "fail",
		"mailsift.checks.helo.reason": "helo-invalid-syntax", "email.to.address": "[bob@example.test carol@example.test]",
	})
}

func TestPostfixMilterDownTempfails(t *testing.T) {
	m := startMailsift(t, postfixMilterConfig)
	p := startPostfix(t, m.addr)
	m.stop(t)
	c := p.xclient(t, "192.0.2.10", "good.checks.test", "mail.checks.test")
	if got := c.cmd("MAIL FROM:<alice@checks.test>"); got != "451 4.7.1 Service unavailable - try again later" {
		t.Fatalf("MAIL with the milter down: got %q, want Postfix's milter_default_action = tempfail reply", got)
	}
}

// Mail submitted with the sendmail command goes through non_smtpd_milters:
// it must be delivered, with our header.
func TestPostfixLocalSubmission(t *testing.T) {
	m := startMailsift(t, postfixMilterConfig)
	p := startPostfix(t, m.addr)
	cmd := exec.Command("/usr/sbin/sendmail", "-C", p.conf, "-f", "local@pftest.test", "bob@example.test")
	cmd.Stdin = strings.NewReader(message("local@pftest.test", "bob@example.test", "local1@pftest.test", ""))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sendmail: %v\n%s", err, out)
	}
	h := p.delivered(t, "local1@pftest.test")
	if got := h.Get("Authentication-Results"); got != "mx.mailsift.test; none" {
		t.Errorf("Authentication-Results = %q", got)
	}
}

// SIGHUP re-reads the config: a valid one applies to new sessions, an
// invalid one is refused and the running one kept.
func TestReloadOnSIGHUP(t *testing.T) {
	m := startMailsift(t, postfixMilterConfig)
	p := startPostfix(t, m.addr)
	full, _ := os.ReadFile(m.config)

	os.WriteFile(m.config, append(full, []byte("mode = \"tag\"\n")...), 0o644) // after a table: an error
	m.cmd.Process.Signal(syscall.SIGHUP)
	bad := m.waitLog(t, "reload failed; keeping the running configuration")
	if e := fmt.Sprint(bad["error"]); !strings.Contains(e, m.config+":") {
		t.Errorf("reload error %q does not name the file and line", e)
	}
	c := p.xclient(t, "192.0.2.10", "good.checks.test", "bad..helo")
	c.expect("250", "MAIL FROM:<a1@checks.test>")
	c.expect("501 5.5.2", "RCPT TO:<bob@example.test>")
	c.expect("221", "QUIT")

	os.WriteFile(m.config, []byte(strings.Replace(string(full), "\n", "\nmode = \"tag\"\n", 1)), 0o644)
	m.cmd.Process.Signal(syscall.SIGHUP)
	m.waitLog(t, "configuration reloaded")
	c = p.xclient(t, "192.0.2.10", "good.checks.test", "bad..helo")
	c.expect("250", "MAIL FROM:<a2@checks.test>")
	c.expect("250", "RCPT TO:<bob@example.test>")
	if reply := c.data(message("a2@checks.test", "bob@example.test", "tagged@checks.test", "")); !strings.HasPrefix(reply, "250") {
		t.Fatalf("DATA: %q", reply)
	}
	c.expect("221", "QUIT")
	h := p.delivered(t, "tagged@checks.test")
	if got := h.Get("X-Mailsift"); got != "helo=fail" {
		t.Errorf("X-Mailsift = %q, want helo=fail in tag mode", got)
	}
	wantFields(t, m.recordFor(t, "a2@checks.test"), map[string]any{"event.action": "tag", "mailsift.checks.helo.action": "tag"})
}
