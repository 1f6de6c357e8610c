package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailsift/mailsift/internal/resolver/dnstest"
)

// checkConfig writes a config whose DNS is the test server on
// testdata/zones, with the e2e scenarios' recipient domain and list.
func checkConfig(t *testing.T, extra string) (string, *dnstest.Server) {
	t.Helper()
	dns := dnstest.Start(t)
	if err := dns.LoadDir("../../testdata/zones"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	list := filepath.Join(dir, "recipients")
	os.WriteFile(list, []byte("bob@example.test\ncarol@example.test\n"), 0o644)
	path := filepath.Join(dir, "mailsift.toml")
	cfg := fmt.Sprintf(`hostname = "mx.mailsift.test"
%s
[dns]
servers = [%q]
timeout = "300ms"
attempts = 1
[checks.recipient]
domains = ["example.test"]
list = %q
[greylist]
enabled = false
`, extra, dns.Addr, list)
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, dns
}

func writeMessage(t *testing.T, msg string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "m.eml")
	os.WriteFile(p, []byte(msg), 0o644)
	return p
}

const checkMsg = "From: <alice@checks.test>\nTo: <bob@example.test>\nSubject: check\nMessage-Id: <c1@checks.test>\n" +
	"Authentication-Results: (trusted) mx.mailsift.test; dmarc=pass header.from=checks.test\n\nHello.\n"

func TestCheckAccepted(t *testing.T) {
	cfg, _ := checkConfig(t, "")
	code, out, errs := runCmd("check", "-c", cfg, "--ip", "192.0.2.10", "--name", "good.checks.test", "--helo", "mail.checks.test",
		"--from", "alice@checks.test", "--rcpt", "bob@example.test", "--rcpt", "dave@example.test", writeMessage(t, checkMsg))
	if code != 0 {
		t.Fatalf("exit %d, stderr %s\n%s", code, errs, out)
	}
	for _, want := range []string{
		"RCPT TO    <bob@example.test>               continue (the MTA answers)\n",
		"RCPT TO    <dave@example.test>              550 5.1.1 <dave@example.test>: Recipient address rejected: User unknown\n",
		"DATA       (end of message)                 accept (the MTA answers 250)\n",
		"  ptr        pass       ptr-fcrdns ",
		"  recipient  pass       rcpt-listed ",
		"  <dave@example.test> reject by recipient (rcpt-unlisted)\n",
		"  - Authentication-Results: (trusted) mx.mailsift.test; dmarc=pass header.from=checks.test   (the 1. of that name)\n",
		"  + Authentication-Results: mx.mailsift.test; iprev=pass",
		"verdict: accepted\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestCheckRefusedAndTemporary(t *testing.T) {
	cfg, dns := checkConfig(t, "")
	dns.ServFail("temp.checks.test")
	msg := writeMessage(t, checkMsg)
	code, out, _ := runCmd("check", "-c", cfg, "--ip", "192.0.2.10", "--name", "good.checks.test", "--helo", "bad..helo",
		"--from", "alice@checks.test", "--rcpt", "bob@example.test", msg)
	if code != 1 || !strings.Contains(out, "RCPT TO    <bob@example.test>               501 5.5.2 <bad..helo>: Helo command rejected: Invalid name\n") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	code, out, _ = runCmd("check", "-c", cfg, "--json", "--ip", "192.0.2.14", "--helo", "mail.checks.test",
		"--from", "alice@checks.test", "--rcpt", "bob@example.test", msg)
	var rep checkReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("--json: %v\n%s", err, out)
	}
	if code != 2 || rep.Verdict != "temporary" || rep.Steps[3].Reply != "450 4.7.25 Client host rejected: cannot find your hostname, [192.0.2.14]" {
		t.Fatalf("exit %d, report %+v", code, rep)
	}
	// An authenticated client skips the checks.
	code, out, _ = runCmd("check", "-c", cfg, "--ip", "192.0.2.14", "--helo", "bad..helo", "--auth", "alice",
		"--from", "alice@checks.test", "--rcpt", "someone@elsewhere.test", msg)
	if code != 0 || !strings.Contains(out, "none run: the client is trusted (authenticated)") {
		t.Fatalf("authenticated: exit %d:\n%s", code, out)
	}
}

func TestCheckUsage(t *testing.T) {
	if code, _, errs := runCmd("check", "--ip", "192.0.2.1"); code != 3 || !strings.Contains(errs, "want --ip, --helo") {
		t.Fatalf("exit %d, %q", code, errs)
	}
	if code, _, errs := runCmd("check", "--ip", "nope", "--helo", "h.test", "--rcpt", "a@b.test", "x.eml"); code != 3 || !strings.Contains(errs, `--ip: want an IPv4 or IPv6 address, got "nope"`) {
		t.Fatalf("exit %d, %q", code, errs)
	}
}
