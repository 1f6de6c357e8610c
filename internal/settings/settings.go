// Package settings is mailsift's configuration as a whole: the sections of
// the file put together, their defaults, and what spans them (the policy,
// the warnings, the effective configuration). The file format is package
// config's; each check's table (keys, defaults, validation) is the
// check's own, in package checks.
package settings

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/mailsift/mailsift/checks"
	"github.com/mailsift/mailsift/internal/config"
	"github.com/mailsift/mailsift/internal/policy"
)

// Config is the whole configuration. The TOML keys are the interface users
// write; see contrib/mailsift.toml for each one documented.
type Config struct {
	Listen        config.Listen   `toml:"listen"`
	Hostname      string          `toml:"hostname"`
	Mode          checks.Mode     `toml:"mode"`
	ShutdownGrace config.Duration `toml:"shutdown_grace"`
	// ProgressInterval: a stage's checks running this long make mailsift
	// tell the MTA it is still at work (SMFIR_PROGRESS), and again after
	// each interval.
	ProgressInterval config.Duration `toml:"progress_interval"`

	Log      LogConfig             `toml:"log"`
	DNS      DNSConfig             `toml:"dns"`
	Trust    TrustConfig           `toml:"trust"`
	Checks   checks.Config         `toml:"checks"`
	Greylist checks.GreylistConfig `toml:"greylist"`
	Admin    AdminConfig           `toml:"admin"`
	DMARC    DMARCReports          `toml:"dmarc"`
	Outbound OutboundConfig        `toml:"outbound"`
	Limits   LimitsConfig          `toml:"limits"`
	Bounces  BouncesConfig         `toml:"bounces"`
}

// DMARCReports is [dmarc]: DMARC aggregate reports (RFC 7489 §7.2), sent
// as a receiver and read as a domain owner. Off by default.
type DMARCReports struct {
	Reports      bool            `toml:"reports"`       // record evaluations and send reports to domains that ask
	ReportFrom   string          `toml:"report_from"`   // the reports' sender; "" is dmarc-noreply@HOSTNAME
	OrgName      string          `toml:"org_name"`      // who we are in the reports; "" is the hostname
	Sendmail     string          `toml:"sendmail"`      // the MTA's sendmail command
	Relay        string          `toml:"relay"`         // "HOST:PORT": send by SMTP instead of sendmail
	Interval     config.Duration `toml:"interval"`      // one report per domain per interval
	RUAAddresses []string        `toml:"rua_addresses"` // our own rua mailboxes: reports received there are read
	Store        string          `toml:"store"`         // memory | redis (the [greylist.redis] server)
	Prefix       string          `toml:"prefix"`        // Redis key prefix
}

// AdminConfig is [admin]: the metrics, health and greylist endpoint.
type AdminConfig struct {
	Listen string `toml:"listen"` // "HOST:PORT"; "" turns it off
	// TokenFile holds a bearer token every request but /healthz must
	// carry; "" for none (then keep the endpoint on loopback).
	TokenFile string `toml:"token_file"`
}

// LogConfig configures the JSON log on stderr.
type LogConfig struct {
	Level config.Level `toml:"level"`
}

// DNSConfig configures the resolver.
type DNSConfig struct {
	Servers   []string        `toml:"servers"`
	Timeout   config.Duration `toml:"timeout"`
	Attempts  int             `toml:"attempts"`
	CacheSize int             `toml:"cache_size"`
}

// TrustConfig says which clients skip the inbound checks.
type TrustConfig struct {
	Networks      []config.Prefix `toml:"networks"`
	Authenticated bool            `toml:"authenticated"`
}

// Default returns the configuration used when no file is given.
func Default() *Config {
	host, _ := os.Hostname()
	return &Config{
		Listen:           config.Listen{Network: "tcp", Address: "127.0.0.1:8895"},
		Hostname:         host,
		Mode:             policy.Enforce,
		ShutdownGrace:    config.Duration(10 * time.Second),
		ProgressInterval: config.Duration(5 * time.Second),
		Log:              LogConfig{Level: "info"},
		DNS:              DNSConfig{Timeout: config.Duration(2 * time.Second), Attempts: 2, CacheSize: 10000},
		Trust: TrustConfig{
			Networks:      []config.Prefix{config.MustPrefix("127.0.0.0/8"), config.MustPrefix("::1/128")},
			Authenticated: true,
		},
		Admin: AdminConfig{Listen: "127.0.0.1:9895"},
		DMARC: DMARCReports{Sendmail: "/usr/sbin/sendmail", Interval: config.Duration(24 * time.Hour), RUAAddresses: []string{},
			Store: "memory", Prefix: "mailsift:dmarc:"},
		Greylist: checks.DefaultGreylistConfig(),
		Checks:   checks.DefaultConfig(),
		Outbound: defaultOutbound(),
		Limits:   DefaultLimits(),
		Bounces:  defaultBounces(),
	}
}

// Load reads the file at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(path, data)
}

// Parse reads a configuration from data; name is the file name for errors.
func Parse(name string, data []byte) (*Config, error) {
	c := Default()
	if err := config.Decode(name, data, c); err != nil {
		return nil, err
	}
	return c, nil
}

// Validate implements config.Validator: it checks what the types alone
// cannot, each check's table by the check's own rules.
func (c *Config) Validate() error {
	if c.Hostname == "" || checks.HostnameSyntaxError(c.Hostname) != "" {
		return config.Errorf("hostname", "want a hostname such as \"mx.example.org\", got %q", c.Hostname)
	}
	if c.DNS.Attempts < 1 || c.DNS.Attempts > 10 {
		return config.Errorf("dns.attempts", "want 1 to 10, got %d", c.DNS.Attempts)
	}
	if c.DNS.CacheSize < 0 {
		return config.Errorf("dns.cache_size", "want 0 (no cache) or more entries, got %d", c.DNS.CacheSize)
	}
	if c.DNS.Timeout <= 0 {
		return config.Errorf("dns.timeout", "want a positive duration")
	}
	if c.ProgressInterval <= 0 {
		return config.Errorf("progress_interval", "want a positive duration")
	}
	for i, s := range c.DNS.Servers {
		if !config.ValidHostPort(s) {
			return config.Errorf("dns.servers", "server %d: want \"HOST:PORT\" such as \"127.0.0.1:53\", got %q", i+1, s)
		}
	}
	if _, port, err := net.SplitHostPort(c.Admin.Listen); c.Admin.Listen != "" && (err != nil || !config.ValidPort(port)) {
		return config.Errorf("admin.listen", "want \"HOST:PORT\" such as \"127.0.0.1:9895\", or \"\" for none, got %q", c.Admin.Listen)
	}
	if c.Admin.TokenFile != "" {
		if _, err := config.ReadSecret(c.Admin.TokenFile); err != nil {
			return config.Errorf("admin.token_file", "%s", err)
		}
	}
	if err := c.Limits.validate(); err != nil {
		return err
	}
	if err := c.Checks.Validate(&c.Greylist); err != nil {
		return err
	}
	if err := c.DMARC.validate(c); err != nil {
		return err
	}
	if err := c.Outbound.validate(); err != nil {
		return err
	}
	return c.Bounces.validate(c)
}

// Policy returns the policy the configuration describes: each check's
// table gives its rule.
func (c *Config) Policy() *policy.Policy {
	p := &policy.Policy{Mode: c.Mode, Rules: map[string]policy.Rule{}}
	for _, e := range checks.Inbound(&c.Checks, &c.Greylist) {
		p.Rules[e.Name] = rule(e.Mode, e.Table)
	}
	for _, e := range c.Outbound.List() {
		p.Rules[e.Name] = rule(e.Mode, e.Table)
	}
	return p
}

// rule returns the policy rule of a check table.
func rule(mode checks.CheckMode, cc *checks.CheckConfig) policy.Rule {
	r := policy.Rule{Actions: map[string]policy.Action{}}
	if mode != "off" {
		r.Mode = policy.Mode(mode)
	}
	for k, a := range cc.Actions {
		r.Actions[k] = a
	}
	return r
}

// Warnings lists what is valid but probably not meant: a configuration
// under which mailsift lets strangers relay.
func (c *Config) Warnings() []string {
	var w []string
	if len(c.Checks.Recipient.Domains) == 0 {
		w = append(w, "checks.recipient.domains is empty: mailsift refuses only sender-specified routing (%, !, quoted @, source routes), not relaying for strangers (keep Postfix's reject_unauth_destination)")
	} else if c.Checks.Relay.Mode == "off" {
		w = append(w, "checks.relay.mode is off: mailsift does not refuse relaying for strangers (keep Postfix's reject_unauth_destination)")
	} else if a, ok := c.Checks.Relay.Actions["fail"]; ok && !a.Refuses() {
		w = append(w, fmt.Sprintf("checks.relay.actions.fail is %q: mailsift does not refuse relaying for strangers", a))
	}
	if c.Admin.Listen != "" && c.Admin.TokenFile == "" && !loopbackHost(c.Admin.Listen) {
		w = append(w, fmt.Sprintf("admin.listen %q is not on loopback and admin.token_file is not set: whoever reaches it can whitelist greylisted mail; set a token or listen on 127.0.0.1", c.Admin.Listen))
	}
	w = append(w, c.Outbound.warnings()...)
	for _, p := range c.Trust.Networks {
		if p.Bits() < 8 {
			w = append(w, fmt.Sprintf("trust.networks: %s is trusted: most of the internet skips every check and may relay through you", p))
		}
	}
	return w
}

// loopbackHost reports whether a "HOST:PORT" listens on loopback only.
func loopbackHost(hostport string) bool {
	h, _, _ := net.SplitHostPort(hostport)
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(h)
	return err == nil && ip.IsLoopback()
}

// Encode writes the configuration as TOML.
func (c *Config) Encode() ([]byte, error) { return config.Encode(c) }

func (d *DMARCReports) validate(c *Config) error {
	if d.ReportFrom != "" {
		if a, err := checks.ParseAddress(d.ReportFrom); err != nil || a.Domain == "" || a.Literal.IsValid() {
			return &config.KeyErr{Key: "dmarc.report_from", Msg: fmt.Sprintf("want an address such as \"dmarc-noreply@example.org\", or \"\" for dmarc-noreply@HOSTNAME, got %q", d.ReportFrom)}
		}
	}
	if d.Sendmail != "" && !strings.HasPrefix(d.Sendmail, "/") {
		return &config.KeyErr{Key: "dmarc.sendmail", Msg: fmt.Sprintf("want an absolute path such as \"/usr/sbin/sendmail\", got %q", d.Sendmail)}
	}
	if d.Relay != "" && !config.ValidHostPort(d.Relay) {
		return &config.KeyErr{Key: "dmarc.relay", Msg: fmt.Sprintf("want \"HOST:PORT\" such as \"127.0.0.1:25\", or \"\" to use sendmail, got %q", d.Relay)}
	}
	if d.Reports && d.Sendmail == "" && d.Relay == "" {
		return &config.KeyErr{Key: "dmarc.sendmail", Msg: "reports are on: set sendmail or relay, the way reports leave"}
	}
	if time.Duration(d.Interval) < time.Hour || time.Duration(d.Interval) > 7*24*time.Hour || time.Duration(d.Interval)%time.Hour != 0 {
		return &config.KeyErr{Key: "dmarc.interval", Msg: fmt.Sprintf("want whole hours from \"1h\" to \"168h\" (RFC 7489 §7.2: daily, or more often), got %s", time.Duration(d.Interval))}
	}
	if err := mailboxes("dmarc.rua_addresses", "dmarc@example.org", d.RUAAddresses); err != nil {
		return err
	}
	return c.checkStore("dmarc.store", d.Store)
}

// mailboxes checks the addresses of a key such as "bounces.addresses"
// (each local@domain, no address literal) and writes them back as
// checks.Address.String gives them.
func mailboxes(key, example string, addrs []string) error {
	for i, s := range addrs {
		a, err := checks.ParseAddress(s)
		if err != nil || a.Domain == "" || a.Literal.IsValid() {
			return &config.KeyErr{Key: key, Msg: fmt.Sprintf("want addresses such as %q, got %q", example, s)}
		}
		addrs[i] = a.String()
	}
	return nil
}

// checkStore checks a section's store key: "memory", or "redis", which
// uses the greylist's Redis server.
func (c *Config) checkStore(key, store string) error {
	switch store {
	case "memory":
	case "redis":
		if len(c.Greylist.Redis.Addrs) == 0 {
			return &config.KeyErr{Key: key, Msg: `"redis" uses the greylist's Redis: set [greylist.redis] addrs = ["HOST:PORT", ...]`}
		}
	default:
		return &config.KeyErr{Key: key, Msg: fmt.Sprintf("want \"memory\" or \"redis\", got %q", store)}
	}
	return nil
}
