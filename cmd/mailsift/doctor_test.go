package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailsift/mailsift/internal/callout/callouttest"
	"github.com/mailsift/mailsift/internal/resolver/dnstest"
)

func TestDoctorCommand(t *testing.T) {
	srv := dnstest.Start(t)
	if err := srv.LoadDir("../../testdata/zones"); err != nil {
		t.Fatal(err)
	}
	mx := callouttest.Start(t, "127.0.1.21", 0, callouttest.Accept, "bounces")
	_, port, _ := net.SplitHostPort(mx.Addr)
	cfg := filepath.Join(t.TempDir(), "mailsift.toml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("hostname = \"doctor.mailsift.test\"\n[checks.callout]\nport = %s\nprobe_timeout = \"5s\"\nbudget = \"5s\"\nallow_networks = [\"127.0.0.0/8\"]\n", port)), 0o644)

	code, out, errs := runCmd("doctor", "good.doctor.test", "--ip", "127.0.1.21", "--helo", "mx.good.doctor.test",
		"--selector", "sel1", "--selector", "sel2", "--from", "bounces@good.doctor.test", "--dns", srv.Addr, "-c", cfg, "--json")
	var rep struct {
		Domain string `json:"domain"`
		Checks []struct {
			Name, Status, Detail, Fix string
		} `json:"checks"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 0 || errs != "" {
		t.Fatalf("exit %d, %v, stdout:\n%s\nstderr: %s", code, err, out, errs)
	}
	if rep.Domain != "good.doctor.test" || len(rep.Checks) != 18 {
		t.Fatalf("domain %q, %d rows", rep.Domain, len(rep.Checks))
	}
	for _, k := range []string{`"name": "return-address"`, `"status": "pass"`, `"detail": "bounces@good.doctor.test is accepted (mx.good.doctor.test [127.0.1.21])"`, `"fix": ""`} {
		if !strings.Contains(out, k) {
			t.Errorf("JSON lacks %s:\n%s", k, out)
		}
	}

	// Flags before the domain; text output; a failure exits 2 with its fix.
	code, out, _ = runCmd("doctor", "--dns", srv.Addr, "--ip", "127.0.1.21", "--selector", "sel1", "spf-all.doctor.test")
	if code != 2 || !strings.Contains(out, "fail  spf-all                      ends in +all: anyone may send as spf-all.doctor.test\n") ||
		!strings.Contains(out, "fix: end the record with -all (or ~all while testing)\n") || !strings.HasSuffix(out, "13 pass, 0 warn, 1 fail\n") {
		t.Fatalf("exit %d, output:\n%s", code, out)
	}
	// Warnings only: exit 1.
	if code, out, _ = runCmd("doctor", "dmarc-pct.doctor.test", "--dns", srv.Addr, "--selector", "sel1"); code != 1 {
		t.Fatalf("dmarc-pct: exit %d, output:\n%s", code, out)
	}
	if code, _, errs = runCmd("doctor", "--ip", "nope", "x.test"); code != 2 || errs != "mailsift doctor: --ip: want an IP address, got \"nope\"\n" {
		t.Fatalf("bad --ip: exit %d, %q", code, errs)
	}
	if code, _, errs = runCmd("doctor"); code != 2 || !strings.HasPrefix(errs, "usage: mailsift doctor DOMAIN") {
		t.Fatalf("no domain: exit %d, %q", code, errs)
	}
}
