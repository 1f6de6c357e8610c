package e2e

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckReproducesPostfix runs every scenario through a real Postfix
// and through mailsift check with the same config, and compares the reply
// lines: the replay decides as the milter does.
func TestCheckReproducesPostfix(t *testing.T) {
	m := startMailsift(t, scenarioConfig(t, "enforce"))
	m.dns.ServFail("temp.checks.test")
	m.dns.ServFail("helo-servfail.checks.test")
	m.dns.ServFail("sender-servfail.checks.test")
	p := startPostfix(t, m.addr)
	eml := filepath.Join(t.TempDir(), "m.eml")
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			c := p.xclient(t, sc.ip, sc.ptr, sc.helo)
			c.expect("250", "MAIL FROM:<%s>", sc.from)
			rcpt := c.cmd("RCPT TO:<%s>", sc.rcpt)
			final := ""
			if strings.HasPrefix(rcpt, "250 ") {
				final = c.data(message(sc.from, sc.rcpt, "check-"+strings.ReplaceAll(sc.name, " ", "-")+"@scenario.test", ""))
			}
			c.expect("221", "QUIT")

			os.WriteFile(eml, []byte(message(sc.from, sc.rcpt, "replay@scenario.test", "")), 0o644)
			args := []string{"check", "-c", m.config, "--json", "--ip", sc.ip, "--helo", sc.helo, "--from", sc.from, "--rcpt", sc.rcpt,
				"--mta-name", "mx.pftest.test"} // Postfix's myhostname
			if !strings.HasPrefix(sc.ptr, "[") {
				args = append(args, "--name", sc.ptr)
			}
			out, err := exec.Command(binary, append(args, eml)...).Output()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			var rep struct {
				Verdict string
				Steps   []struct{ Stage, Arg, Reply string }
			}
			if err := json.Unmarshal(out, &rep); err != nil {
				t.Fatalf("check: exit %d, %v: %s", code, err, out)
			}
			replies := map[string]string{}
			for _, s := range rep.Steps {
				replies[s.Stage] = s.Reply
			}
			want := rcpt
			if strings.HasPrefix(rcpt, "250 ") {
				want = "" // the MTA's own answer
			}
			if replies["rcpt"] != want {
				t.Errorf("RCPT TO: check says %q, Postfix said %q", replies["rcpt"], rcpt)
			}
			wantCode := map[byte]int{'2': 0, '5': 1, '4': 2}[rcpt[0]]
			if final != "" {
				if strings.HasPrefix(final, "250 ") {
					final = ""
				}
				if replies["data"] != final {
					t.Errorf("end of data: check says %q, Postfix said %q", replies["data"], final)
				}
			}
			if code != wantCode {
				t.Errorf("check exit status %d (%s), want %d for Postfix's %q", code, rep.Verdict, wantCode, rcpt)
			}
		})
	}
}
