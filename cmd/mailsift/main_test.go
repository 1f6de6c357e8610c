package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/mailsift/mailsift/internal/metrics"
)

func runCmd(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestConfigCheck(t *testing.T) {
	code, out, _ := runCmd("config", "check", "-c", "../../contrib/mailsift.toml")
	if code != 0 || !strings.HasPrefix(out, "# ../../contrib/mailsift.toml: valid; the effective configuration:\n") ||
		!strings.Contains(out, `listen = "inet:127.0.0.1:8895"`) || !strings.Contains(out, `syntax = "501 5.5.2 <{helo}>: Helo command rejected: Invalid name"`) {
		t.Fatalf("exit %d, output:\n%s", code, out)
	}
	code, out, _ = runCmd("config", "check")
	if code != 0 || !strings.HasPrefix(out, "# built-in default: valid") || !strings.Contains(out, `mode = "enforce"`) {
		t.Fatalf("built-in default: exit %d, output:\n%s", code, out)
	}
	// The effective configuration: every check's actions and replies, the
	// defaults filled in.
	flat := regexp.MustCompile(`(?m)^ +`).ReplaceAllString(out, "")
	for _, want := range []string{
		"[checks.ptr.actions]\nfail = \"reject\"\nneutral = \"log\"\nnone = \"log\"\npass = \"log\"\npermerror = \"reject\"\nsoftfail = \"log\"\ntemperror = \"tempfail\"\n",
		"[checks.ptr.replies]\nperm = \"550 5.7.25 Client host rejected: cannot find your hostname, [{client}]\"\ntemp = \"450 4.7.25 Client host rejected: cannot find your hostname, [{client}]\"\n",
		"[checks.relay.replies]\nperm = \"554 5.7.1 <{rcpt}>: Relay access denied\"\n",
		"[greylist.actions]\nfail = \"tempfail\"\ngreylist-store-error = \"log\"\n",
		"callout-unverifiable = \"log\"",
	} {
		if !strings.Contains(flat, want) {
			t.Errorf("config check lacks %q", want)
		}
	}
	if t.Failed() {
		t.Fatalf("output:\n%s", out)
	}

	bad := filepath.Join(t.TempDir(), "bad.toml")
	os.WriteFile(bad, []byte("# comment\n\nlisten = \"8891\"\n"), 0o644)
	code, out, errs := runCmd("config", "check", "-c", bad)
	want := bad + `:3: listen: want "inet:HOST:PORT" or "unix:PATH" (an absolute path), got "8891"` + "\n"
	if code != 1 || errs != want || out != "" {
		t.Fatalf("exit %d, stderr %q, want 1 and %q", code, errs, want)
	}
}

func TestRunRefusesBadConfig(t *testing.T) {
	code, _, errs := runCmd("run", "-c", filepath.Join(t.TempDir(), "missing.toml"))
	if code != 1 || !strings.Contains(errs, "missing.toml: no such file or directory") {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
}

func TestUsage(t *testing.T) {
	if code, out, _ := runCmd("version"); code != 0 || !strings.HasPrefix(out, "mailsift ") {
		t.Fatalf("version: %d %q", code, out)
	}
	if code, _, errs := runCmd("frobnicate"); code != 2 || !strings.Contains(errs, `unknown command "frobnicate"`) {
		t.Fatalf("unknown command: %d %q", code, errs)
	}
	if code, _, errs := runCmd("config", "check", "extra"); code != 2 || !strings.Contains(errs, `unexpected argument "extra"`) {
		t.Fatalf("extra argument: %d %q", code, errs)
	}
	if code, _, _ := runCmd(); code != 2 {
		t.Fatalf("no command: %d", code)
	}
}

func TestNewRuntimeChecks(t *testing.T) {
	cfg, err := loadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	cfg.DNS.Servers = []string{"127.0.0.1:53"}
	names := func() string {
		rt, err := newRuntime(cfg, &listFiles{}, &deps{callouts: &calloutHolder{}, greylists: &greylistHolder{log: zap.NewNop()}, metrics: metrics.New("test")})
		if err != nil {
			t.Fatal(err)
		}
		var ns []string
		for _, c := range rt.Chain.Checks() {
			ns = append(ns, c.Name())
		}
		return strings.Join(ns, " ")
	}
	cfg.Greylist.Snapshot = ""
	// Without domains the relay check still refuses sender-specified routing.
	if got := names(); got != "ptr helo sender recipient spf dkim dmarc relay greylist" {
		t.Fatalf("default chain = %q", got)
	}
	cfg.Checks.Recipient.Domains = []string{"example.org"}
	if got := names(); got != "ptr helo sender recipient spf dkim dmarc relay greylist" {
		t.Fatalf("with domains = %q", got)
	}
	cfg.Checks.Helo.Mode = "off"
	cfg.Checks.PTR.Mode = "off"
	cfg.Checks.Relay.Mode = "off"
	cfg.Greylist.Enabled = false
	cfg.Checks.SPF.Mode, cfg.Checks.DKIM.Mode, cfg.Checks.DMARC.Mode = "off", "off", "off"
	if got := names(); got != "sender recipient" {
		t.Fatalf("helo, ptr and relay off = %q", got)
	}
}
