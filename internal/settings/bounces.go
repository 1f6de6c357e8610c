package settings

import (
	"fmt"
	"strings"
	"time"

	"github.com/mailsift/mailsift/internal/config"
)

// BouncesConfig is [bounces]: the bounces that come back are read, logged
// and counted, and the addresses that keep bouncing are suppressed. Off
// unless addresses are set.
type BouncesConfig struct {
	// Addresses are our bounce mailboxes (the return path of mass mail);
	// a VERP address local+tag@domain is local@domain's. Mail to them, and
	// any mail from <> that carries a report, is read at its end.
	Addresses []string        `toml:"addresses"`
	Discard   bool            `toml:"discard"`    // swallow a bounce to the addresses once recorded
	HardLimit int             `toml:"hard_limit"` // hard bounces within window that suppress an address; 0 for never
	SoftLimit int             `toml:"soft_limit"` // soft bounces within window above which it is suppressed; 0 for never
	Window    config.Duration `toml:"window"`
	Export    string          `toml:"export"` // the suppression list as a JSON file; "" for none
	Store     string          `toml:"store"`  // memory | redis (the [greylist.redis] server)
	Prefix    string          `toml:"prefix"` // Redis key prefix
	// VerifySent counts a bounce only when it is about a message we sent
	// to the failed recipient: the outbound path remembers each accepted
	// submission's Message-ID and recipients for window.
	VerifySent bool `toml:"verify_sent"`
}

func defaultBounces() BouncesConfig {
	return BouncesConfig{Addresses: []string{}, HardLimit: 3, SoftLimit: 5, Window: config.Duration(168 * time.Hour),
		Store: "memory", Prefix: "mailsift:bounces:"}
}

// Enabled reports whether bounces are read.
func (b *BouncesConfig) Enabled() bool { return len(b.Addresses) > 0 }

func (b *BouncesConfig) validate(c *Config) error {
	if err := mailboxes("bounces.addresses", "bounces@example.org", b.Addresses); err != nil {
		return err
	}
	if b.HardLimit < 0 {
		return &config.KeyErr{Key: "bounces.hard_limit", Msg: fmt.Sprintf("want 0 (never) or more bounces, got %d", b.HardLimit)}
	}
	if b.SoftLimit < 0 {
		return &config.KeyErr{Key: "bounces.soft_limit", Msg: fmt.Sprintf("want 0 (never) or more bounces, got %d", b.SoftLimit)}
	}
	if b.Window <= 0 {
		return &config.KeyErr{Key: "bounces.window", Msg: fmt.Sprintf("want a positive duration such as \"168h\", got %s", time.Duration(b.Window))}
	}
	if b.Export != "" && !strings.HasPrefix(b.Export, "/") {
		return &config.KeyErr{Key: "bounces.export", Msg: fmt.Sprintf("want an absolute path, or \"\" for none, got %q", b.Export)}
	}
	if b.VerifySent && !c.Outbound.Enabled {
		return &config.KeyErr{Key: "bounces.verify_sent", Msg: "want [outbound] enabled = true: the messages we sent are recorded by the outbound checks of submissions"}
	}
	if b.VerifySent && !b.Enabled() {
		return &config.KeyErr{Key: "bounces.verify_sent", Msg: `want [bounces] addresses set (such as ["bounces@example.org"]): bounces are read only then`}
	}
	return c.checkStore("bounces.store", b.Store)
}
