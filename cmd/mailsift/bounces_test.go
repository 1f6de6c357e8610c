package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/mailsift/mailsift/internal/metrics"
	"github.com/mailsift/mailsift/internal/settings"
	"github.com/mailsift/mailsift/internal/suppress"
)

func TestNewRuntimeBounces(t *testing.T) {
	ctx := context.Background()
	export := filepath.Join(t.TempDir(), "suppressed.json")
	// The list a previous run exported is read back by the memory store.
	os.WriteFile(export, []byte(`{"suppressed":[{"address":"old@example.com","suppressed":true,"bounces":3,"last":{"status":"5.1.1","class":"user-unknown","hard":true}}]}`), 0o644)
	parse := func(extra string) *settings.Config {
		cfg, err := settings.Parse("c.toml", []byte(`
[dns]
servers = ["127.0.0.1:53"]
[greylist]
snapshot = ""
[outbound]
enabled = true
addresses = ["192.0.2.1"]
[outbound.suppress]
mode = "enforce"
`+extra))
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	cfg := parse("[bounces]\naddresses = [\"bounces@site.test\"]\nexport = \"" + export + "\"\n")
	core, logs := observer.New(zap.InfoLevel)
	d := &deps{callouts: &calloutHolder{}, greylists: &greylistHolder{log: zap.New(core)}, metrics: metrics.New("test")}
	defer d.greylists.close()
	defer d.bounces.close()
	rt, err := newRuntime(cfg, &listFiles{}, d)
	if err != nil {
		t.Fatal(err)
	}
	if rt.Bounces == nil || rt.Bounces.Addresses[0] != "bounces@site.test" {
		t.Fatalf("bounces = %+v", rt.Bounces)
	}
	var names []string
	for _, c := range rt.Outbound.Chain.Checks() {
		names = append(names, c.Name())
	}
	if got := strings.Join(names, " "); got != "limit suppress preflight standards" {
		t.Fatalf("outbound chain = %q", got)
	}
	if _, ok, _ := rt.Bounces.List.Suppressed(ctx, "old@example.com"); !ok {
		t.Fatal("the exported list was not read back")
	}
	// A reload keeps the store: what the old runtime recorded, the new one knows.
	rt.Bounces.List.Record(ctx, "new@example.com", suppress.Bounce{Class: "mailbox-full"})
	rt2, err := newRuntime(cfg, &listFiles{}, d)
	if err != nil {
		t.Fatal(err)
	}
	if e, ok, _ := rt2.Bounces.List.Lookup(ctx, "new@example.com"); !ok || e.Soft != 1 {
		t.Fatalf("after reload: %+v %v", e, ok)
	}
	if b, _ := os.ReadFile(export); !strings.Contains(string(b), `"address": "old@example.com"`) {
		t.Fatalf("export not written at start:\n%s", b)
	}

	// Without bounce addresses: nothing read, nothing refused, and a warning.
	off := parse("")
	d2 := &deps{callouts: &calloutHolder{}, greylists: &greylistHolder{log: zap.New(core)}, metrics: metrics.New("test")}
	defer d2.greylists.close()
	rt, err = newRuntime(off, &listFiles{}, d2)
	if err != nil {
		t.Fatal(err)
	}
	if rt.Bounces != nil {
		t.Fatal("bounces read without [bounces] addresses")
	}
	for _, c := range rt.Outbound.Chain.Checks() {
		if c.Name() == "suppress" {
			t.Fatal("suppress check without [bounces]")
		}
	}
	if logs.FilterMessageSnippet("outbound.suppress is on but [bounces] addresses is empty").Len() != 1 {
		t.Fatal("no warning")
	}
}

// TestNewBouncesVerifySent: [bounces] verify_sent hands the milter the
// store of the messages we sent (beside the memory store); without it,
// none, and every bounce counts as before.
func TestNewBouncesVerifySent(t *testing.T) {
	for _, verify := range []bool{false, true} {
		cfg := settings.Default()
		cfg.Outbound.Enabled = true
		cfg.Bounces.Addresses = []string{"bounces@example.org"}
		cfg.Bounces.VerifySent = verify
		d := &deps{}
		b := newBounces(cfg, d)
		if b == nil {
			t.Fatal("bounces off")
		}
		if _, ok := b.Sent.(*suppress.SentMemory); ok != verify {
			t.Errorf("verify_sent %v: Sent = %T", verify, b.Sent)
		}
		d.bounces.close()
	}
}
