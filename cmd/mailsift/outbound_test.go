package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/mailsift/mailsift/internal/dkimsign"
	"github.com/mailsift/mailsift/internal/metrics"
	"github.com/mailsift/mailsift/internal/settings"
)

func TestNewRuntimeOutbound(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "logins"), []byte("www www@site.test\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "mailboxes"), []byte("www@site.test\n"), 0o644)
	keys := filepath.Join(dir, "dkim")
	os.Mkdir(keys, 0o700)
	if _, err := dkimsign.WriteKey(keys, "site.test", "a", "ed25519"); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(keys, "bad.test.a.key"), []byte("junk"), 0o600)
	cfg, err := settings.Parse("c.toml", []byte(`
[dns]
servers = ["127.0.0.1:53"]
[greylist]
snapshot = ""
[outbound]
enabled = true
addresses = ["192.0.2.1"]
logins = "`+filepath.Join(dir, "logins")+`"
mailboxes = "`+filepath.Join(dir, "mailboxes")+`"
[outbound.dkim]
keys = "`+keys+`"
[outbound.standards]
mode = "off"
`))
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zap.InfoLevel)
	d := &deps{callouts: &calloutHolder{}, greylists: &greylistHolder{log: zap.New(core)}, metrics: metrics.New("test")}
	defer d.greylists.close()
	files, err := loadFiles("c.toml", cfg)
	if err != nil {
		t.Fatal(err)
	}
	rt, err := newRuntime(cfg, files, d)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range rt.Outbound.Chain.Checks() {
		names = append(names, c.Name())
	}
	if got := strings.Join(names, " "); got != "login mailbox limit preflight" {
		t.Fatalf("outbound chain = %q", got)
	}
	if got := strings.Join(rt.Outbound.Keys.Domains(), " "); got != "site.test" {
		t.Fatalf("signing domains = %q", got)
	}
	bad := logs.FilterMessage("DKIM key not loaded: mail of its domain goes unsigned").All()
	if len(bad) != 1 || !strings.Contains(bad[0].ContextMap()["error"].(string), "bad.test.a.key: no PEM block") {
		t.Fatalf("bad key log = %v", bad)
	}
	// A reload builds it again, metrics and all.
	if _, err := newRuntime(cfg, files, d); err != nil {
		t.Fatal(err)
	}
	cfg.Outbound.Enabled = false
	if rt, err := newRuntime(cfg, files, d); err != nil || rt.Outbound != nil {
		t.Fatalf("disabled: %v %v", rt.Outbound, err)
	}
}
