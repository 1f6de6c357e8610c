package settings

import (
	"strings"
	"testing"
	"time"

	"github.com/mailsift/mailsift/internal/config"
)

func TestLimits(t *testing.T) {
	d := Default().Limits
	if d.MaxSessions != 1000 || time.Duration(d.IdleTimeout) != 2*time.Hour || d.MaxHeaderBytes != 1<<20 {
		t.Fatalf("default limits = %+v", d)
	}
	c, err := Parse("c.toml", []byte("hostname = \"mx.example.org\"\n[limits]\nmax_sessions = 50\nidle_timeout = \"30s\"\nmax_header_bytes = 65536\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Limits != (LimitsConfig{50, config.Duration(30 * time.Second), 65536}) {
		t.Fatalf("limits = %+v", c.Limits)
	}
	for in, want := range map[string]string{
		"[limits]\nmax_sessions = 0":      "c.toml:3: limits.max_sessions: want 1 or more, got 0",
		"[limits]\nidle_timeout = \"0s\"": "c.toml:3: limits.idle_timeout: want a positive duration",
		"[limits]\nmax_header_bytes = 10": "c.toml:3: limits.max_header_bytes: want 1024 or more bytes, got 10",
	} {
		_, err := Parse("c.toml", []byte("hostname = \"mx.example.org\"\n"+in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", in, err, want)
		}
	}
}
