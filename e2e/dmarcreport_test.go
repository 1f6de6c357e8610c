package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailsift/mailsift/greylist/redistest"
)

// A real aggregate report (Google's, from parsedmarc's samples) mailed to
// our rua address through Postfix reaches "mailsift dmarc read" by an
// alias-style pipe, is kept in Redis, and shows in "mailsift dmarc
// summary --store".
func TestPostfixDMARCReportToRUA(t *testing.T) {
	rs := redistest.Start(t)
	m := startMailsift(t, postfixMilterConfig)
	p := startPostfix(t, m.addr)

	// pipe(8) runs the command as nobody: the binary and its config go
	// where nobody can read them.
	bin := filepath.Join(p.base, "mailsift")
	data, err := os.ReadFile(binary)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(p.base, "dmarc.toml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("hostname = \"mx.pftest.test\"\n[greylist.redis]\naddrs = [%q]\n[dmarc]\nstore = \"redis\"\nprefix = \"e2e:dmarc:\"\nrua_addresses = [\"dmarc@rua.pftest.test\"]\n", rs.Addr)), 0o644)
	appendFile(t, filepath.Join(p.conf, "main.cf"), "relay_domains = elsewhere.test, localhost, rua.pftest.test\ntransport_maps = inline:{rua.pftest.test=dmarcread:}\n")
	appendFile(t, filepath.Join(p.conf, "master.cf"), fmt.Sprintf("dmarcread unix - n n - - pipe\n  flags=R user=nobody argv=%s dmarc read -c %s\n", bin, cfg))
	p.control(t, "reload")
	time.Sleep(500 * time.Millisecond)

	report, err := os.ReadFile("../testdata/dmarc/aggregate/twilight.eml")
	if err != nil {
		t.Fatal(err)
	}
	c := dialSMTP(t, p.addr, "")
	c.expect("250", "EHLO reporter.test")
	c.expect("250", "MAIL FROM:<noreply-dmarc-support@google.com>")
	c.expect("250", "RCPT TO:<dmarc@rua.pftest.test>")
	if got := c.data(strings.ReplaceAll(string(report), "\r\n", "\n")); !strings.HasPrefix(got, "250 ") {
		t.Fatalf("DATA: %q", got)
	}
	c.expect("221", "QUIT")

	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := exec.Command(binary, "dmarc", "summary", "--store", "-c", cfg).CombinedOutput()
		if err == nil && strings.Contains(string(out), "policy domains: twlnet.com") {
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			if !strings.HasPrefix(lines[0], "1 report(s), ") || len(lines) < 3 || !strings.Contains(string(out), "google.com") {
				t.Fatalf("summary:\n%s", out)
			}
			return
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(p.base, "log", "maillog"))
			t.Fatalf("the report did not reach the store in 30s; summary: %v\n%s\nmaillog:\n%s", err, out, b)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

func appendFile(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
}
