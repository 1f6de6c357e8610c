package settings

import (
	"fmt"
	"net/netip"
	"os"
	"strings"

	"github.com/mailsift/mailsift/checks"
	"github.com/mailsift/mailsift/internal/config"
	"github.com/mailsift/mailsift/internal/dkimsign"
)

// OutboundConfig is [outbound]: the checks of submissions (mail our own
// users send) and DKIM signing. Off by default.
type OutboundConfig struct {
	Enabled bool `toml:"enabled"`
	// Domains are our sending domains; unset means [checks.recipient] domains.
	Domains []string `toml:"domains"`
	// Addresses are our outbound IPs as receivers see them; unset means
	// the host's global unicast addresses.
	Addresses  []string           `toml:"addresses"`
	Mailboxes  string             `toml:"mailboxes"`
	Logins     string             `toml:"logins"`
	DailyLimit int                `toml:"daily_limit"`
	DKIM       OutboundDKIMConfig `toml:"dkim"`

	// The outbound checks' tables, each the check's own.
	checks.OutboundTables
}

// OutboundDKIMConfig is [outbound.dkim].
type OutboundDKIMConfig struct {
	Keys string `toml:"keys"` // folder of DOMAIN.SELECTOR.key files; "" signs nothing
}

func defaultOutbound() OutboundConfig {
	return OutboundConfig{DailyLimit: 500, OutboundTables: checks.DefaultOutboundTables()}
}

// OutboundDomains are our sending domains: [outbound] domains, or else
// [checks.recipient] domains.
func (c *Config) OutboundDomains() []string {
	if c.Outbound.Domains != nil {
		return c.Outbound.Domains
	}
	return c.Checks.Recipient.Domains
}

// OutboundAddresses are our outbound addresses: [outbound] addresses, or
// else global unicast addresses of the host (loopback, link-local and
// private ones left out), found by ifaceAddrs.
func (c *Config) OutboundAddresses(ifaceAddrs func() ([]netip.Addr, error)) ([]netip.Addr, error) {
	if c.Outbound.Addresses != nil {
		out := make([]netip.Addr, 0, len(c.Outbound.Addresses))
		for _, s := range c.Outbound.Addresses {
			a, _ := netip.ParseAddr(s) // validated
			out = append(out, a.Unmap())
		}
		return out, nil
	}
	all, err := ifaceAddrs()
	if err != nil {
		return nil, fmt.Errorf("outbound.addresses: the host's addresses: %w", err)
	}
	var out []netip.Addr
	for _, a := range all {
		if a = a.Unmap(); a.IsGlobalUnicast() && !a.IsPrivate() {
			out = append(out, a)
		}
	}
	return out, nil
}

func (o *OutboundConfig) validate() error {
	for i, d := range o.Domains {
		if !checks.IsFQDN(d) || strings.HasPrefix(d, "[") {
			return &config.KeyErr{Key: "outbound.domains", Msg: fmt.Sprintf("want domain names such as \"example.org\", got %q", d)}
		}
		o.Domains[i] = strings.ToLower(strings.TrimSuffix(d, "."))
	}
	for _, s := range o.Addresses {
		if _, err := netip.ParseAddr(s); err != nil {
			return &config.KeyErr{Key: "outbound.addresses", Msg: fmt.Sprintf("want IP addresses such as \"192.0.2.1\", got %q", s)}
		}
	}
	if o.DailyLimit < 0 {
		return &config.KeyErr{Key: "outbound.daily_limit", Msg: fmt.Sprintf("want 0 (no limit) or more messages, got %d", o.DailyLimit)}
	}
	if o.DKIM.Keys != "" && !strings.HasPrefix(o.DKIM.Keys, "/") {
		return &config.KeyErr{Key: "outbound.dkim.keys", Msg: fmt.Sprintf("want an absolute path, or \"\" for no signing, got %q", o.DKIM.Keys)}
	}
	for _, e := range o.List() {
		if err := e.Table.Validate(e.Prefix, e.Name, ""); err != nil {
			return err
		}
	}
	return nil
}

// warnings are the outbound settings that are valid but will not do what
// is probably meant.
func (o *OutboundConfig) warnings() []string {
	if !o.Enabled {
		return nil
	}
	var w []string
	if o.DKIM.Keys != "" {
		_, errs, err := dkimsign.LoadDir(o.DKIM.Keys)
		if err != nil {
			errs = append(errs, err)
		}
		for _, e := range errs {
			w = append(w, fmt.Sprintf("outbound.dkim.keys: %v: mail of that domain goes unsigned", e))
		}
	}
	if fi, err := os.Stat(o.DKIM.Keys); o.DKIM.Keys != "" && err == nil && fi.Mode().Perm()&0o004 != 0 {
		w = append(w, fmt.Sprintf("outbound.dkim.keys: %s is readable by everyone; the keys in it should not be", o.DKIM.Keys))
	}
	return w
}
