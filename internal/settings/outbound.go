package settings

import (
	"fmt"
	"github.com/mailsift/mailsift/internal/config"
	"net/netip"
	"os"
	"strings"

	"github.com/mailsift/mailsift/checks"
	"github.com/mailsift/mailsift/internal/dkimsign"
	"github.com/mailsift/mailsift/internal/policy"
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

	Preflight checks.OutboundCheck      `toml:"preflight"`
	Login     checks.OutboundLoginCheck `toml:"login"`
	Mailbox   checks.OutboundCheck      `toml:"mailbox"`
	Limit     checks.OutboundCheck      `toml:"limit"`
	Standards checks.OutboundCheck      `toml:"standards"`
	Suppress  checks.OutboundCheck      `toml:"suppress"`
}

// OutboundDKIMConfig is [outbound.dkim].
type OutboundDKIMConfig struct {
	Keys string `toml:"keys"` // folder of DOMAIN.SELECTOR.key files; "" signs nothing
}

func defaultOutbound() OutboundConfig {
	return OutboundConfig{
		DailyLimit: 500,
		// A p=none domain's mail is tagged and logged; the daily limit
		// tempfails, and a store that cannot answer lets mail through.
		Preflight: checks.OutboundCheck{CheckConfig: checks.CheckConfig{Actions: map[string]checks.Action{
			checks.ReasonPreflightReject: policy.Reject, checks.ReasonPreflightQuarantine: policy.Reject, checks.ReasonPreflightNone: policy.Tag,
			"temperror": policy.Tempfail}}},
		Limit: checks.OutboundCheck{CheckConfig: checks.CheckConfig{Actions: map[string]checks.Action{
			"fail": policy.Tempfail, checks.ReasonLimitStoreError: policy.Log}}},
		// Off unless enabled; a store that cannot answer lets mail through.
		Suppress: checks.OutboundCheck{Mode: "off", CheckConfig: checks.CheckConfig{Actions: map[string]checks.Action{
			"fail": policy.Reject, checks.ReasonSuppressStoreError: policy.Log}}},
	}
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

// outboundChecks lists the outbound check tables by name.
func (o *OutboundConfig) checks() []struct {
	name string
	mode checks.CheckMode
	cc   *checks.CheckConfig
} {
	return []struct {
		name string
		mode checks.CheckMode
		cc   *checks.CheckConfig
	}{
		{checks.LoginName, o.Login.Mode, &o.Login.CheckConfig},
		{checks.MailboxName, o.Mailbox.Mode, &o.Mailbox.CheckConfig},
		{checks.LimitName, o.Limit.Mode, &o.Limit.CheckConfig},
		{checks.PreflightName, o.Preflight.Mode, &o.Preflight.CheckConfig},
		{checks.StandardsName, o.Standards.Mode, &o.Standards.CheckConfig},
		{checks.SuppressName, o.Suppress.Mode, &o.Suppress.CheckConfig},
	}
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
	for _, c := range o.checks() {
		if err := c.cc.Validate("outbound."+c.name, c.name, ""); err != nil {
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
