package settings

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailsift/mailsift/checks"
	"github.com/mailsift/mailsift/internal/dkimsign"
)

func TestOutboundErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "logins")
	os.WriteFile(bad, []byte("www\n"), 0o644)
	for _, c := range []struct{ in, want string }{
		{"[outbound]\ndomains = [\"nodot\"]", `c.toml:2: outbound.domains: want domain names such as "example.org", got "nodot"`},
		{"[outbound]\naddresses = [\"192.0.2.0/24\"]", `c.toml:2: outbound.addresses: want IP addresses such as "192.0.2.1", got "192.0.2.0/24"`},
		{"[outbound]\ndaily_limit = -1", `c.toml:2: outbound.daily_limit: want 0 (no limit) or more messages, got -1`},
		{"[outbound.dkim]\nkeys = \"dkim\"", `c.toml:2: outbound.dkim.keys: want an absolute path, or "" for no signing, got "dkim"`},
		{"[outbound.preflight.actions]\npreflight-nope = \"log\"", `c.toml:2: outbound.preflight.actions.preflight-nope: want a status`},
		{"[outbound.limit.replies]\nperm = \"550 5.7.1 no\"", `c.toml:2: outbound.limit.replies.perm: unknown reply, want one of temp, store`},
		{"[outbound.login]\nfrom_headers = true", `c.toml:2: unknown key "outbound.login.from_headers"`},
	} {
		_, err := Parse("c.toml", []byte(c.in))
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%q: %v, want %s", c.in, err, c.want)
		}
	}
}

func TestOutboundDefaults(t *testing.T) {
	c, err := Parse("c.toml", []byte("[checks.recipient]\ndomains = [\"Example.ORG\"]\n[outbound]\nenabled = true\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.OutboundDomains(); len(got) != 1 || got[0] != "example.org" {
		t.Fatalf("domains default = %v, want [checks.recipient] domains", got)
	}
	host := func() ([]netip.Addr, error) {
		return []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("10.1.2.3"), netip.MustParseAddr("fe80::1"),
			netip.MustParseAddr("192.0.2.7"), netip.MustParseAddr("2001:db8::7"), netip.MustParseAddr("::ffff:198.51.100.1")}, nil
	}
	got, err := c.OutboundAddresses(host)
	if err != nil || len(got) != 3 || got[0].String() != "192.0.2.7" || got[1].String() != "2001:db8::7" || got[2].String() != "198.51.100.1" {
		t.Fatalf("addresses default = %v %v, want the global ones", got, err)
	}
	c, err = Parse("c.toml", []byte("[outbound]\ndomains = [\"site.test\"]\naddresses = [\"192.0.2.1\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := c.OutboundAddresses(host); len(got) != 1 || got[0].String() != "192.0.2.1" {
		t.Fatalf("configured addresses = %v", got)
	}
	if got := c.OutboundDomains(); len(got) != 1 || got[0] != "site.test" {
		t.Fatalf("configured domains = %v", got)
	}
	// The policy has the outbound checks' rules and their defaults.
	p := c.Policy()
	for _, tt := range []struct {
		check, reason string
		status        checks.Status
		want          string
	}{
		{"preflight", "preflight-reject", checks.Fail, "reject"},
		{"preflight", "preflight-quarantine", checks.Fail, "reject"},
		{"preflight", "preflight-none", checks.Fail, "tag"},
		{"preflight", "preflight-temperror", checks.TempError, "tempfail"},
		{"login", "login-mismatch", checks.Fail, "reject"},
		{"mailbox", "mailbox-unknown", checks.Fail, "reject"},
		{"limit", "limit-reached", checks.Fail, "tempfail"},
		{"limit", "limit-store-error", checks.TempError, "log"},
		{"standards", "standards-violation", checks.Fail, "reject"},
	} {
		if d := p.Decide(checks.Result{Check: tt.check, Status: tt.status, Reason: tt.reason}); string(d.Action) != tt.want {
			t.Errorf("%s %s: %s, want %s", tt.check, tt.reason, d.Action, tt.want)
		}
	}
}

func TestOutboundWarnings(t *testing.T) {
	dir := t.TempDir()
	os.Chmod(dir, 0o700)
	if _, err := dkimsign.WriteKey(dir, "site.test", "a", "ed25519"); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "broken.test.a.key"), []byte("x"), 0o600)
	c, err := Parse("c.toml", []byte("[outbound]\nenabled = true\n[outbound.dkim]\nkeys = \""+dir+"\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	w := strings.Join(c.Warnings(), "\n")
	if !strings.Contains(w, "outbound.dkim.keys: "+filepath.Join(dir, "broken.test.a.key")+": no PEM block") || strings.Contains(w, "site.test") {
		t.Fatalf("warnings:\n%s", w)
	}
}
