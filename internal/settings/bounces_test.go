package settings

import (
	"strings"
	"testing"
)

func TestBouncesConfig(t *testing.T) {
	c, err := Parse("c.toml", []byte("[bounces]\naddresses = [\"Bounces@Example.ORG\"]\nwindow = \"24h\"\n"))
	if err != nil || !c.Bounces.Enabled() || c.Bounces.Addresses[0] != "Bounces@example.org" || c.Bounces.HardLimit != 3 {
		t.Fatalf("%+v %v", c.Bounces, err)
	}
	if d := Default(); d.Bounces.Enabled() || d.Outbound.Suppress.Mode != "off" {
		t.Fatal("bounces or suppression on by default")
	}
	for _, tc := range []struct{ in, err string }{
		{"[bounces]\naddresses = [\"nobody\"]", `bounces.addresses: want addresses such as "bounces@example.org", got "nobody"`},
		{"[bounces]\nhard_limit = -1", "bounces.hard_limit: want 0 (never) or more bounces, got -1"},
		{"[bounces]\nwindow = \"0s\"", `bounces.window: want a positive duration such as "168h", got 0s`},
		{"[bounces]\nexport = \"list.json\"", `bounces.export: want an absolute path, or "" for none, got "list.json"`},
		{"[bounces]\nstore = \"redis\"", `bounces.store: "redis" uses the greylist's Redis`},
		{"[bounces]\nstore = \"disk\"", `bounces.store: want "memory" or "redis", got "disk"`},
		{"[bounces]\naddresses = [\"bounces@example.org\"]\nverify_sent = true",
			`c.toml:3: bounces.verify_sent: want [outbound] enabled = true: the messages we sent are recorded by the outbound checks of submissions`},
		{"[outbound]\nenabled = true\n[bounces]\nverify_sent = true",
			`c.toml:4: bounces.verify_sent: want [bounces] addresses set (such as ["bounces@example.org"]): bounces are read only then`},
	} {
		if _, err := Parse("c.toml", []byte(tc.in)); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%q: got %v, want %s", tc.in, err, tc.err)
		}
	}
}

func TestBouncesVerifySent(t *testing.T) {
	if Default().Bounces.VerifySent {
		t.Fatal("verify_sent on by default")
	}
	c, err := Parse("c.toml", []byte("[outbound]\nenabled = true\n[bounces]\naddresses = [\"bounces@example.org\"]\nverify_sent = true\n"))
	if err != nil || !c.Bounces.VerifySent {
		t.Fatalf("%+v %v", c.Bounces, err)
	}
}
