package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// smRoot is where make test extracts Sendmail from its Debian packages:
// installing sendmail-bin would remove Postfix.
const smRoot = "/opt/sm"

const sendmailMC = `divert(-1)
define(` + "`_CF_DIR_', `{CF}/'" + `)
divert(0)dnl
include(` + "`{CF}/m4/cf.m4'" + `)dnl
VERSIONID(` + "`mailsift-e2e'" + `)dnl
OSTYPE(` + "`linux'" + `)dnl
define(` + "`confDOMAIN_NAME', `mx.smtest.test'" + `)dnl
define(` + "`confDONT_PROBE_INTERFACES', `True'" + `)dnl
define(` + "`QUEUE_DIR', `{BASE}/queue'" + `)dnl
define(` + "`confPID_FILE', `{BASE}/sendmail.pid'" + `)dnl
define(` + "`STATUS_FILE', `{BASE}/sendmail.st'" + `)dnl
define(` + "`ALIAS_FILE', `{BASE}/aliases'" + `)dnl
define(` + "`confHOSTS_FILE', `{BASE}/hosts'" + `)dnl
define(` + "`confSERVICE_SWITCH_FILE', `{BASE}/service.switch'" + `)dnl
define(` + "`confDEAD_LETTER_DROP', `{BASE}/dead.letter'" + `)dnl
define(` + "`confDELIVERY_MODE', `d'" + `)dnl
define(` + "`confTO_IDENT', `0s'" + `)dnl
define(` + "`confDEF_USER_ID', `nobody:nogroup'" + `)dnl
define(` + "`LOCAL_MAILER_PATH', `{SM}/usr/libexec/sendmail/mail.local'" + `)dnl
FEATURE(` + "`no_default_msa'" + `)dnl
FEATURE(` + "`nocanonify'" + `)dnl
FEATURE(` + "`accept_unresolvable_domains'" + `)dnl
FEATURE(` + "`promiscuous_relay'" + `)dnl
DAEMON_OPTIONS(` + "`Port={PORT}, Addr=127.0.0.1, Name=MTA'" + `)dnl
{MAILSIFT}
MAILER(` + "`local'" + `)dnl
MAILER(` + "`smtp'" + `)dnl
`

type sendmail struct {
	base string
	addr string
}

// startSendmail runs an extracted Sendmail in its own UTS and mount
// namespace (it needs an FQDN hostname), with the milter settings of
// contrib/sendmail/mailsift.mc pointed at milterAddr (host:port). Mail is
// queued (deferred delivery), never sent.
func startSendmail(t *testing.T, milterAddr string) *sendmail {
	t.Helper()
	bin := filepath.Join(smRoot, "usr/libexec/sendmail/sendmail")
	_, err := os.Stat(bin)
	need(t, err == nil, "sendmail is not extracted to "+smRoot+" (make test does it)")
	_, err = exec.LookPath("m4")
	need(t, err == nil, "m4 is not installed")
	need(t, os.Geteuid() == 0, "sendmail in a namespace needs root")

	base := t.TempDir()
	os.Chmod(base, 0o755)
	os.MkdirAll(filepath.Join(base, "queue"), 0o700)
	port := freePort(t)
	s := &sendmail{base: base, addr: fmt.Sprintf("127.0.0.1:%d", port)}
	os.WriteFile(filepath.Join(base, "hosts"), []byte("127.0.0.1 mx.smtest.test localhost\n127.0.0.2 smclient.checks.test\n"), 0o644)
	os.WriteFile(filepath.Join(base, "service.switch"), []byte("hosts files\naliases files\n"), 0o644)
	os.WriteFile(filepath.Join(base, "aliases"), nil, 0o644)

	snippet, err := os.ReadFile("../contrib/sendmail/mailsift.mc")
	if err != nil {
		t.Fatal(err)
	}
	host, mport, _ := strings.Cut(milterAddr, ":")
	if !strings.Contains(string(snippet), "S=inet:8895@127.0.0.1") {
		t.Fatal("contrib/sendmail/mailsift.mc no longer names S=inet:8895@127.0.0.1")
	}
	ms := strings.ReplaceAll(string(snippet), "S=inet:8895@127.0.0.1", "S=inet:"+mport+"@"+host)
	mc := strings.NewReplacer("{CF}", filepath.Join(smRoot, "usr/share/sendmail/cf"), "{BASE}", base,
		"{SM}", smRoot, "{PORT}", fmt.Sprint(port), "{MAILSIFT}", ms).Replace(sendmailMC)
	mcPath := filepath.Join(base, "sendmail.mc")
	os.WriteFile(mcPath, []byte(mc), 0o644)
	cf, err := exec.Command("m4", mcPath).Output() // m4 warns about the open relay on stderr: expected
	if err != nil {
		t.Fatalf("m4: %v", err)
	}
	cfPath := filepath.Join(base, "sendmail.cf")
	os.WriteFile(cfPath, cf, 0o644)

	cmd := exec.Command("unshare", "--uts", "--mount", "--propagation", "private", "sh", "-c",
		fmt.Sprintf("hostname mx.smtest.test && mount --bind %s/hosts /etc/hosts && exec %s -bD -C %s -X %s/traffic.log",
			base, bin, cfPath, base))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(base, "traffic.log"))
			t.Logf("sendmail traffic:\n%s", b)
		}
	})
	// Wait for the port. The probe connection shows up in mailsift as a
	// session without a message, which leaves no record.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := (&netDialer{}).dial(s.addr)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sendmail not listening on %s: %v", s.addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return s
}

// queued returns the queue files (qf*) of the instance, joined.
func (s *sendmail) queued(t *testing.T) string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(s.base, "queue", "qf*"))
	var b strings.Builder
	for _, f := range files {
		data, _ := os.ReadFile(f)
		b.Write(data)
	}
	return b.String()
}

const sendmailMilterConfig = `
[trust]
networks = []
`

func TestSendmailBadHeloRefusedAtRcpt(t *testing.T) {
	for _, tt := range []struct {
		name, config, want, logged string
	}{
		// Sendmail 8.17 passes the default 501 reply as it is...
		{"default", "", "501 5.5.2 <bad..helo>: Helo command rejected: Invalid name", "501 5.5.2 <bad..helo>: Helo command rejected: Invalid name"},
		// ...but inserts "<rcpt>... " into a 550 reply.
		{"550", "[checks.helo.replies]\nsyntax = \"550 5.7.1 Helo command rejected: Invalid name\"\n",
			"550 5.7.1 <bob@example.test>... Helo command rejected: Invalid name", "550 5.7.1 Helo command rejected: Invalid name"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := startMailsift(t, sendmailMilterConfig+tt.config)
			s := startSendmail(t, m.addr)
			c := dialSMTP(t, s.addr, "127.0.0.2")
			c.expect("250", "EHLO bad..helo")
			c.expect("250", "MAIL FROM:<mallory@checks.test>")
			if got := c.cmd("RCPT TO:<bob@example.test>"); got != tt.want {
				t.Fatalf("RCPT: got %q, want %q", got, tt.want)
			}
			c.expect("221", "QUIT")
			r := m.recordFor(t, "mallory@checks.test")
			wantFields(t, r, map[string]any{
				"event.action": "reject", "source.ip": "127.0.0.2", "source.domain": "smclient.checks.test",
				"mailsift.reply": tt.logged, "mailsift.checks.helo.status": "fail",
			})
		})
	}
}

func TestSendmailCleanMessageQueuedWithHeader(t *testing.T) {
	m := startMailsift(t, sendmailMilterConfig)
	s := startSendmail(t, m.addr)
	c := dialSMTP(t, s.addr, "127.0.0.2")
	c.expect("250", "EHLO mail.checks.test")
	c.expect("250", "MAIL FROM:<alice@checks.test>")
	c.expect("250", "RCPT TO:<bob@example.test>")
	reply := c.data(message("alice@checks.test", "bob@example.test", "sm1@checks.test", "Authentication-Results: mx.mailsift.test; spf=pass smtp.mailfrom=forged.example"))
	if !strings.HasPrefix(reply, "250 2.0.0 ") {
		t.Fatalf("DATA: %q", reply)
	}
	// Sendmail sends no abort between messages: the second one must not
	// inherit the first one's state.
	c.expect("250", "MAIL FROM:<alice2@checks.test>")
	c.expect("250", "RCPT TO:<carol@example.test>")
	if reply := c.data(message("alice2@checks.test", "carol@example.test", "sm2@checks.test", "")); !strings.HasPrefix(reply, "250 2.0.0 ") {
		t.Fatalf("second DATA: %q", reply)
	}
	c.expect("221", "QUIT")
	qf := s.queued(t)
	if n := strings.Count(qf, "H??Authentication-Results: mx.mailsift.test; iprev=pass policy.iprev=127.0.0.2; spf=none smtp.mailfrom="); n != 2 {
		t.Errorf("queue files carry our Authentication-Results %d times, want 2:\n%s", n, qf)
	}
	if strings.Contains(qf, "forged.example") {
		t.Errorf("the forged Authentication-Results is still in the queue file:\n%s", qf)
	}
	r := m.recordFor(t, "alice@checks.test")
	qid := strings.Fields(strings.TrimPrefix(reply, "250 2.0.0 "))[0]
	wantFields(t, r, map[string]any{
		"event.action": "accept", "source.ip": "127.0.0.2", "email.local_id": qid,
		"email.message_id": "<sm1@checks.test>", "mailsift.helo": "mail.checks.test",
	})
	r2 := m.recordFor(t, "alice2@checks.test")
	wantFields(t, r2, map[string]any{"email.message_id": "<sm2@checks.test>", "email.to.address": "[carol@example.test]", "source.ip": "127.0.0.2"})
	if r2["email.local_id"] == qid {
		t.Errorf("second message logged with the first one's queue id %v", qid)
	}
}
