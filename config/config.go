// Package config reads mailsift's TOML configuration: strict (an unknown key
// is an error), defaults in code, and every error names the file and line.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/mailsift/mailsift/checks"
	"github.com/mailsift/mailsift/policy"
)

// Config is the whole configuration. The TOML keys are the interface users
// write; see contrib/mailsift.toml for each one documented.
type Config struct {
	Listen        Listen   `toml:"listen"`
	Hostname      string   `toml:"hostname"`
	Mode          Mode     `toml:"mode"`
	ShutdownGrace Duration `toml:"shutdown_grace"`
	// ProgressInterval: a stage's checks running this long make mailsift
	// tell the MTA it is still at work (SMFIR_PROGRESS), and again after
	// each interval.
	ProgressInterval Duration `toml:"progress_interval"`

	Log      LogConfig      `toml:"log"`
	DNS      DNSConfig      `toml:"dns"`
	Trust    TrustConfig    `toml:"trust"`
	Checks   ChecksConfig   `toml:"checks"`
	Greylist GreylistConfig `toml:"greylist"`
	Admin    AdminConfig    `toml:"admin"`
	DMARC    DMARCReports   `toml:"dmarc"`
	Outbound OutboundConfig `toml:"outbound"`
	Limits   LimitsConfig   `toml:"limits"`
	Bounces  BouncesConfig  `toml:"bounces"`
}

// DMARCReports is [dmarc]: DMARC aggregate reports (RFC 7489 §7.2), sent
// as a receiver and read as a domain owner. Off by default.
type DMARCReports struct {
	Reports      bool     `toml:"reports"`       // record evaluations and send reports to domains that ask
	ReportFrom   string   `toml:"report_from"`   // the reports' sender; "" is dmarc-noreply@HOSTNAME
	OrgName      string   `toml:"org_name"`      // who we are in the reports; "" is the hostname
	Sendmail     string   `toml:"sendmail"`      // the MTA's sendmail command
	Relay        string   `toml:"relay"`         // "HOST:PORT": send by SMTP instead of sendmail
	Interval     Duration `toml:"interval"`      // one report per domain per interval
	RUAAddresses []string `toml:"rua_addresses"` // our own rua mailboxes: reports received there are read
	Store        string   `toml:"store"`         // memory | redis (the [greylist.redis] server)
	Prefix       string   `toml:"prefix"`        // Redis key prefix
}

// AdminConfig is [admin]: the metrics, health and greylist endpoint.
type AdminConfig struct {
	Listen string `toml:"listen"` // "HOST:PORT"; "" turns it off
	// TokenFile holds a bearer token every request but /healthz must
	// carry; "" for none (then keep the endpoint on loopback).
	TokenFile string `toml:"token_file"`
}

// GreylistConfig is [greylist]: the greylist check and its store.
type GreylistConfig struct {
	Enabled          bool            `toml:"enabled"`
	Mode             CheckMode       `toml:"mode"`
	Delay            Duration        `toml:"delay"`
	RetryWindow      Duration        `toml:"retry_window"`
	MaxAge           Duration        `toml:"max_age"`
	AutoWhitelist    int             `toml:"auto_whitelist"`
	IPv4Prefix       int             `toml:"ipv4_prefix"`
	IPv6Prefix       int             `toml:"ipv6_prefix"`
	OrgDomain        bool            `toml:"org_domain"`
	SPFSkip          bool            `toml:"spf_skip"`
	Store            string          `toml:"store"`
	MaxEntries       int             `toml:"max_entries"`
	Snapshot         string          `toml:"snapshot"`
	SnapshotInterval Duration        `toml:"snapshot_interval"`
	Whitelist        WhitelistConfig `toml:"whitelist"`
	Redis            RedisConfig     `toml:"redis"`
	CheckConfig
}

// WhitelistConfig is [greylist.whitelist].
type WhitelistConfig struct {
	Networks   []Prefix `toml:"networks"`
	Hostnames  []string `toml:"hostnames"`
	Senders    []string `toml:"senders"`
	Recipients []string `toml:"recipients"`
	Files      []string `toml:"files"`
}

// RedisConfig is [greylist.redis].
type RedisConfig struct {
	Addrs      []string `toml:"addrs"`
	MasterName string   `toml:"master_name"`
	Username   string   `toml:"username"`
	Password   string   `toml:"password"`
	// PasswordFile holds the password (its first line), so that the secret
	// need not sit in the config file; not with password.
	PasswordFile string   `toml:"password_file"`
	DB           int      `toml:"db"`
	Prefix       string   `toml:"prefix"`
	Timeout      Duration `toml:"timeout"`
}

// LogConfig configures the JSON log on stderr.
type LogConfig struct {
	Level Level `toml:"level"`
}

// DNSConfig configures the resolver.
type DNSConfig struct {
	Servers   []string `toml:"servers"`
	Timeout   Duration `toml:"timeout"`
	Attempts  int      `toml:"attempts"`
	CacheSize int      `toml:"cache_size"`
}

// TrustConfig says which clients skip the inbound checks.
type TrustConfig struct {
	Networks      []Prefix `toml:"networks"`
	Authenticated bool     `toml:"authenticated"`
}

// ChecksConfig holds the settings shared by all checks and one table per
// check.
type ChecksConfig struct {
	Timeout   Duration        `toml:"timeout"`
	PTR       PTRConfig       `toml:"ptr"`
	Helo      HeloConfig      `toml:"helo"`
	Sender    SenderConfig    `toml:"sender"`
	Recipient RecipientConfig `toml:"recipient"`
	Relay     RelayConfig     `toml:"relay"`
	Callout   CalloutConfig   `toml:"callout"`
	SPF       SPFConfig       `toml:"spf"`
	DKIM      DKIMConfig      `toml:"dkim"`
	DMARC     DMARCConfig     `toml:"dmarc"`
}

// SPFConfig is [checks.spf].
type SPFConfig struct {
	Mode CheckMode `toml:"mode"`
	CheckConfig
}

// DKIMConfig is [checks.dkim].
type DKIMConfig struct {
	Mode          CheckMode `toml:"mode"`
	MaxSignatures int       `toml:"max_signatures"`
	CheckConfig
}

// DMARCConfig is [checks.dmarc].
type DMARCConfig struct {
	Mode       CheckMode `toml:"mode"`
	ListHosts  []string  `toml:"list_hosts"`
	Forwarders []string  `toml:"forwarders"`
	CheckConfig
}

// CheckConfig is what every check table has.
type CheckConfig struct {
	Actions map[string]Action `toml:"actions"`
	Replies map[string]Reply  `toml:"replies"`
	Except  ExceptConfig      `toml:"except"`
}

// ExceptConfig lists when a check does not run.
type ExceptConfig struct {
	Networks   []Prefix `toml:"networks"`
	Hostnames  []string `toml:"hostnames"`
	Senders    []string `toml:"senders"`
	Recipients []string `toml:"recipients"`
}

// PTRConfig is [checks.ptr]. Its mode is the check's strength, as in
// Postfix's two restrictions, not a policy mode.
type PTRConfig struct {
	Mode PTRMode `toml:"mode"`
	CheckConfig
}

// HeloConfig is [checks.helo].
type HeloConfig struct {
	Mode    CheckMode `toml:"mode"`
	NonFQDN bool      `toml:"non_fqdn"`
	Unknown bool      `toml:"unknown"`
	CheckConfig
}

// SenderConfig is [checks.sender].
type SenderConfig struct {
	Mode          CheckMode `toml:"mode"`
	NonFQDN       bool      `toml:"non_fqdn"`
	UnknownDomain bool      `toml:"unknown_domain"`
	CheckConfig
}

// RecipientConfig is [checks.recipient]; its domains are "ours" for the
// relay check too.
type RecipientConfig struct {
	Mode      CheckMode `toml:"mode"`
	Domains   []string  `toml:"domains"`
	List      string    `toml:"list"`
	Delimiter string    `toml:"delimiter"`
	NonFQDN   bool      `toml:"non_fqdn"`
	CheckConfig
}

// CalloutConfig is [checks.callout]: sender verification with the sender
// domain's own servers. Off by default.
type CalloutConfig struct {
	Mode          CheckMode `toml:"mode"`
	Port          int       `toml:"port"`
	ProbeSender   string    `toml:"probe_sender"`
	Budget        Duration  `toml:"budget"`
	ProbeTimeout  Duration  `toml:"probe_timeout"`
	PositiveTTL   Duration  `toml:"positive_ttl"`
	NegativeTTL   Duration  `toml:"negative_ttl"`
	TempTTL       Duration  `toml:"temp_ttl"`
	CacheSize     int       `toml:"cache_size"`
	MaxPerDomain  int       `toml:"max_per_domain"`
	RatePerMinute int       `toml:"rate_per_minute"`
	AcceptAll     bool      `toml:"detect_accept_all"`
	Shared        bool      `toml:"shared"`
	// RatePerTarget limits probes to one server address, whatever the
	// domain; AllowNetworks lists the loopback, private or own networks a
	// probe may reach (none by default).
	RatePerTarget int      `toml:"rate_per_target"`
	AllowNetworks []Prefix `toml:"allow_networks"`
	CheckConfig
}

// RelayConfig is [checks.relay].
type RelayConfig struct {
	Mode CheckMode `toml:"mode"`
	CheckConfig
}

// Default returns the configuration used when no file is given.
func Default() *Config {
	host, _ := os.Hostname()
	return &Config{
		Listen:           Listen{"tcp", "127.0.0.1:8895"},
		Hostname:         host,
		Mode:             Mode{policy.Enforce},
		ShutdownGrace:    Duration(10 * time.Second),
		ProgressInterval: Duration(5 * time.Second),
		Limits:           DefaultLimits(),
		Log:              LogConfig{Level: "info"},
		DNS:              DNSConfig{Timeout: Duration(2 * time.Second), Attempts: 2, CacheSize: 10000},
		Trust: TrustConfig{
			Networks:      []Prefix{mustPrefix("127.0.0.0/8"), mustPrefix("::1/128")},
			Authenticated: true,
		},
		Admin: AdminConfig{Listen: "127.0.0.1:9895"},
		DMARC: DMARCReports{Sendmail: "/usr/sbin/sendmail", Interval: Duration(24 * time.Hour), RUAAddresses: []string{},
			Store: "memory", Prefix: "mailsift:dmarc:"},
		Greylist: GreylistConfig{
			Enabled: true, Delay: Duration(5 * time.Minute), RetryWindow: Duration(48 * time.Hour), MaxAge: Duration(35 * 24 * time.Hour),
			AutoWhitelist: 5, IPv4Prefix: 24, IPv6Prefix: 64, OrgDomain: true, Store: "memory", MaxEntries: 1000000,
			Snapshot: "/var/lib/mailsift/greylist.snapshot", SnapshotInterval: Duration(5 * time.Minute),
			Whitelist: WhitelistConfig{Recipients: []string{"postmaster@", "abuse@"}},
			Redis:     RedisConfig{Prefix: "mailsift:greylist:", Timeout: Duration(time.Second)},
			// A greylisted triplet tempfails; a store that cannot answer
			// lets mail through (fail open), and says so in the log.
			CheckConfig: CheckConfig{Actions: map[string]Action{"fail": {policy.Tempfail}, "greylist-store-error": {policy.Log}}},
		},
		Checks: ChecksConfig{
			Timeout:   Duration(10 * time.Second),
			PTR:       PTRConfig{Mode: "fcrdns"},
			Helo:      HeloConfig{NonFQDN: true, Unknown: true},
			Sender:    SenderConfig{NonFQDN: true, UnknownDomain: true},
			Recipient: RecipientConfig{NonFQDN: true, Delimiter: "+", Domains: []string{}},
			Callout: CalloutConfig{Mode: "off", Port: 25, Budget: Duration(8 * time.Second), ProbeTimeout: Duration(time.Minute),
				PositiveTTL: Duration(31 * 24 * time.Hour), NegativeTTL: Duration(3 * time.Hour), TempTTL: Duration(5 * time.Minute),
				CacheSize: 100000, MaxPerDomain: 2, RatePerMinute: 10, RatePerTarget: 20, AllowNetworks: []Prefix{},
				// A domain that refuses <> or a limit reached is no evidence
				// against the sender: accept, and log it.
				CheckConfig: CheckConfig{Actions: map[string]Action{
					"callout-unverifiable": {policy.Log}, "callout-limited": {policy.Log},
				}}},
			// SPF and DKIM annotate; DMARC decides (RFC 7489 §10.1: SPF
			// alone breaks on forwarding, DKIM alone on mailing lists).
			SPF: SPFConfig{CheckConfig: CheckConfig{Actions: map[string]Action{
				"fail": {policy.Log}, "temperror": {policy.Log}, "permerror": {policy.Log}, "spf-fail-dmarc-decides": {policy.Log}}}},
			DKIM: DKIMConfig{MaxSignatures: 5, CheckConfig: CheckConfig{Actions: map[string]Action{
				"fail": {policy.Log}, "temperror": {policy.Log}, "permerror": {policy.Log}}}},
			DMARC: DMARCConfig{ListHosts: []string{}, Forwarders: []string{}, CheckConfig: CheckConfig{Actions: map[string]Action{
				"dmarc-fail-reject": {policy.Reject}, "dmarc-fail-quarantine": {policy.Tag}, "fail": {policy.Log},
				"temperror": {policy.Tempfail}, "dmarc-temperror-unenforced": {policy.Log}, "permerror": {policy.Reject}}}},
		},
		Outbound: defaultOutbound(),
		Bounces:  defaultBounces(),
	}
}

func mustPrefix(s string) Prefix {
	var p Prefix
	if err := p.UnmarshalText([]byte(s)); err != nil {
		panic(err)
	}
	return p
}

// Error is a configuration error at a place in a file.
type Error struct {
	File string
	Line int // 0 when the line is not known
	Msg  string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// Load reads the file at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(path, data)
}

var (
	lineRE    = regexp.MustCompile(`^line (\d+)`)
	lastKeyRE = regexp.MustCompile(`^\(last key "([^"]*)"\): `)
)

// Parse reads a configuration from data; name is the file name for errors.
func Parse(name string, data []byte) (*Config, error) {
	c := Default()
	if !utf8Valid(data) {
		return nil, &Error{File: name, Msg: "not UTF-8 text; want a TOML file"}
	}
	md, err := toml.NewDecoder(bytes.NewReader(data)).Decode(c)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			msg := pe.Message
			if pe.LastKey != "" && !strings.HasPrefix(msg, pe.LastKey+":") {
				msg = pe.LastKey + ": " + msg
			}
			return nil, &Error{File: name, Line: pe.Position.Line, Msg: msg}
		}
		e := &Error{File: name, Msg: strings.TrimPrefix(err.Error(), "toml: ")}
		if m := lineRE.FindStringSubmatch(e.Msg); m != nil {
			e.Line, _ = strconv.Atoi(m[1])
			e.Msg = strings.TrimSpace(lineRE.ReplaceAllString(e.Msg, ""))
		}
		if m := lastKeyRE.FindStringSubmatch(e.Msg); m != nil {
			e.Msg = m[1] + ": " + e.Msg[len(m[0]):]
		}
		return nil, e
	}
	lines := keyLines(data)
	at := func(key string) int { return lines[key] }
	if und := md.Undecoded(); len(und) > 0 {
		k := und[0].String()
		return nil, &Error{File: name, Line: at(k), Msg: fmt.Sprintf("unknown key %q; see contrib/mailsift.toml for the keys there are", k)}
	}
	if err := c.validate(); err != nil {
		var ke *keyError
		if errors.As(err, &ke) {
			return nil, &Error{File: name, Line: at(ke.key), Msg: ke.key + ": " + ke.msg}
		}
		return nil, &Error{File: name, Msg: err.Error()}
	}
	return c, nil
}

func utf8Valid(b []byte) bool { return strings.ToValidUTF8(string(b), "\uFFFD") == string(b) }

type keyError struct{ key, msg string }

func (e *keyError) Error() string { return e.key + ": " + e.msg }

// validate checks what the types alone cannot.
func (c *Config) validate() error {
	if c.Hostname == "" || checks.HostnameSyntaxError(c.Hostname) != "" {
		return &keyError{"hostname", fmt.Sprintf("want a hostname such as \"mx.example.org\", got %q", c.Hostname)}
	}
	if c.DNS.Attempts < 1 || c.DNS.Attempts > 10 {
		return &keyError{"dns.attempts", fmt.Sprintf("want 1 to 10, got %d", c.DNS.Attempts)}
	}
	if c.DNS.CacheSize < 0 {
		return &keyError{"dns.cache_size", fmt.Sprintf("want 0 (no cache) or more entries, got %d", c.DNS.CacheSize)}
	}
	if c.DNS.Timeout <= 0 {
		return &keyError{"dns.timeout", "want a positive duration"}
	}
	if c.ProgressInterval <= 0 {
		return &keyError{"progress_interval", "want a positive duration"}
	}
	for i, s := range c.DNS.Servers {
		if !validHostPort(s) {
			return &keyError{"dns.servers", fmt.Sprintf("server %d: want \"HOST:PORT\" such as \"127.0.0.1:53\", got %q", i+1, s)}
		}
	}
	if _, port, err := net.SplitHostPort(c.Admin.Listen); c.Admin.Listen != "" && (err != nil || !validPort(port)) {
		return &keyError{"admin.listen", fmt.Sprintf("want \"HOST:PORT\" such as \"127.0.0.1:9895\", or \"\" for none, got %q", c.Admin.Listen)}
	}
	if c.Admin.TokenFile != "" {
		if _, err := ReadSecret(c.Admin.TokenFile); err != nil {
			return &keyError{"admin.token_file", err.Error()}
		}
	}
	if err := c.Limits.validate(); err != nil {
		return err
	}
	if c.Checks.Timeout <= 0 {
		return &keyError{"checks.timeout", "want a positive duration"}
	}
	ck := &c.Checks
	for i, d := range ck.Recipient.Domains {
		if !checks.IsFQDN(d) || strings.HasPrefix(d, "[") {
			return &keyError{"checks.recipient.domains", fmt.Sprintf("want domain names such as \"example.org\", got %q", d)}
		}
		ck.Recipient.Domains[i] = strings.ToLower(strings.TrimSuffix(d, "."))
	}
	if ck.Recipient.List != "" {
		if len(ck.Recipient.Domains) == 0 {
			return &keyError{"checks.recipient.list", "a recipient list needs checks.recipient.domains: the domains it lists"}
		}
		if _, err := checks.LoadRecipientList(ck.Recipient.List, ck.Recipient.Delimiter, time.Now); err != nil {
			return &keyError{"checks.recipient.list", err.Error()}
		}
	}
	if strings.ContainsAny(ck.Recipient.Delimiter, "@\" \t") || len(ck.Recipient.Delimiter) > 1 {
		return &keyError{"checks.recipient.delimiter", fmt.Sprintf("want one character such as \"+\" or \"\" for none, got %q", ck.Recipient.Delimiter)}
	}
	if err := c.Greylist.validate(); err != nil {
		return err
	}
	if err := c.DMARC.validate(c); err != nil {
		return err
	}
	if err := c.Outbound.validate(); err != nil {
		return err
	}
	if err := c.Bounces.validate(c); err != nil {
		return err
	}
	if ck.DKIM.MaxSignatures < 1 || ck.DKIM.MaxSignatures > 50 {
		return &keyError{"checks.dkim.max_signatures", fmt.Sprintf("want 1 to 50, got %d", ck.DKIM.MaxSignatures)}
	}
	for i, h := range ck.DMARC.ListHosts {
		h = strings.ToLower(strings.Trim(h, "."))
		if checks.HostnameSyntaxError(h) != "" {
			return &keyError{"checks.dmarc.list_hosts", fmt.Sprintf("want list host domains such as \"lists.example.org\", got %q", ck.DMARC.ListHosts[i])}
		}
		ck.DMARC.ListHosts[i] = h
	}
	for _, f := range ck.DMARC.Forwarders {
		if _, _, ok := ParseForwarder(f); !ok {
			return &keyError{"checks.dmarc.forwarders", fmt.Sprintf("want a network (192.0.2.0/24) or a hostname suffix (forwarder.example.net), got %q", f)}
		}
	}
	co := &ck.Callout
	if co.Port < 1 || co.Port > 65535 {
		return &keyError{"checks.callout.port", fmt.Sprintf("want a port from 1 to 65535, got %d", co.Port)}
	}
	if co.ProbeSender != "" {
		if a, err := checks.ParseAddress(co.ProbeSender); err != nil || a.Domain == "" {
			return &keyError{"checks.callout.probe_sender", fmt.Sprintf("want an address such as \"verify@example.org\", or \"\" for the null sender, got %q", co.ProbeSender)}
		}
	}
	for _, d := range []struct {
		key string
		v   Duration
	}{{"budget", co.Budget}, {"probe_timeout", co.ProbeTimeout}, {"positive_ttl", co.PositiveTTL}, {"negative_ttl", co.NegativeTTL}, {"temp_ttl", co.TempTTL}} {
		if d.v <= 0 {
			return &keyError{"checks.callout." + d.key, "want a positive duration"}
		}
	}
	if co.Shared && c.Greylist.Store != "redis" {
		return &keyError{"checks.callout.shared", `the shared cache uses the greylist's Redis: set [greylist] store = "redis" and [greylist.redis] addrs`}
	}
	if co.Budget > co.ProbeTimeout {
		return &keyError{"checks.callout.budget", "want at most probe_timeout: the budget is how long a session waits for a probe"}
	}
	for _, n := range []struct {
		key string
		v   int
	}{{"cache_size", co.CacheSize}, {"max_per_domain", co.MaxPerDomain}, {"rate_per_minute", co.RatePerMinute}, {"rate_per_target", co.RatePerTarget}} {
		if n.v < 1 {
			return &keyError{"checks.callout." + n.key, fmt.Sprintf("want 1 or more, got %d", n.v)}
		}
	}
	for _, t := range []struct {
		name    string
		cc      *CheckConfig
		atStage string // "" when senders and recipients are known when it runs
	}{
		{"ptr", &ck.PTR.CheckConfig, "connect"},
		{"helo", &ck.Helo.CheckConfig, "HELO"},
		{"sender", &ck.Sender.CheckConfig, ""},
		{"recipient", &ck.Recipient.CheckConfig, ""},
		{"relay", &ck.Relay.CheckConfig, ""},
		{"callout", &ck.Callout.CheckConfig, ""},
		{"greylist", &c.Greylist.CheckConfig, ""},
		{"spf", &ck.SPF.CheckConfig, ""},
		{"dkim", &ck.DKIM.CheckConfig, ""},
		{"dmarc", &ck.DMARC.CheckConfig, ""},
	} {
		if err := t.cc.validate(t.name, t.atStage); err != nil {
			return err
		}
	}
	return nil
}

func validPort(p string) bool {
	n, err := strconv.Atoi(p)
	return err == nil && n >= 0 && n < 65536
}

func validHostPort(s string) bool {
	i := strings.LastIndexByte(s, ':')
	if i <= 0 {
		return false
	}
	p, err := strconv.Atoi(s[i+1:])
	return err == nil && p > 0 && p < 65536
}

func (cc *CheckConfig) validate(check, atStage string) error {
	prefix := "checks." + check
	if check == "greylist" {
		prefix = "greylist"
	}
	if checks.IsOutbound(check) {
		prefix = "outbound." + check
	}
	for _, k := range sortedKeys(cc.Actions) {
		if _, err := checks.ParseStatus(k); err != nil && !slices.Contains(checks.Reasons(check), k) {
			return &keyError{prefix + ".actions." + k, fmt.Sprintf("want a status (pass, fail, softfail, neutral, none, temperror, permerror) or one of %s's reasons (%s), got %q",
				check, strings.Join(checks.Reasons(check), ", "), k)}
		}
	}
	x := &cc.Except
	if atStage != "" && len(x.Senders)+len(x.Recipients) > 0 {
		return &keyError{prefix + ".except", fmt.Sprintf("%s runs at %s, before the sender and recipients are known: use networks or hostnames", check, atStage)}
	}
	for i, h := range x.Hostnames {
		h = strings.ToLower(strings.TrimPrefix(strings.TrimSuffix(h, "."), "."))
		if checks.HostnameSyntaxError(h) != "" {
			return &keyError{prefix + ".except.hostnames", fmt.Sprintf("want hostname suffixes such as \"outbound.example.net\", got %q", x.Hostnames[i])}
		}
		x.Hostnames[i] = h
	}
	for i, d := range x.Senders {
		d = strings.ToLower(strings.TrimSuffix(d, "."))
		if checks.HostnameSyntaxError(d) != "" {
			return &keyError{prefix + ".except.senders", fmt.Sprintf("want sender domains such as \"example.com\", got %q", x.Senders[i])}
		}
		x.Senders[i] = d
	}
	for i, r := range x.Recipients {
		a, err := checks.ParseAddress(r)
		if err != nil || a.Domain == "" {
			return &keyError{prefix + ".except.recipients", fmt.Sprintf("want addresses such as \"postmaster@example.org\", got %q", r)}
		}
		x.Recipients[i] = a.String()
	}
	var keys []string
	for _, row := range checks.Table() {
		if row.Check == check {
			keys = append(keys, row.Key)
		}
	}
	for _, k := range sortedKeys(cc.Replies) {
		if !slices.Contains(keys, k) {
			return &keyError{prefix + ".replies." + k, fmt.Sprintf("unknown reply, want one of %s", strings.Join(keys, ", "))}
		}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// Rule returns the policy rule of a check table.
func (cc *CheckConfig) Rule(mode CheckMode) policy.Rule {
	r := policy.Rule{Actions: map[string]policy.Action{}}
	if mode != "off" {
		r.Mode = policy.Mode(mode)
	}
	for k, a := range cc.Actions {
		r.Actions[k] = a.Action
	}
	return r
}

// Exceptions returns the check's exceptions, or nil when it has none.
func (cc *CheckConfig) Exceptions() *checks.Exceptions {
	x := cc.Except
	if len(x.Networks)+len(x.Hostnames)+len(x.Senders)+len(x.Recipients) == 0 {
		return nil
	}
	e := &checks.Exceptions{Hostnames: x.Hostnames, Senders: x.Senders, Recipients: x.Recipients}
	for _, p := range x.Networks {
		e.Networks = append(e.Networks, p.Prefix)
	}
	return e
}

// Reply returns the reply for key: the configured one, or the table's.
func (cc *CheckConfig) Reply(check, key string) checks.Reply {
	if r, ok := cc.Replies[key]; ok {
		return r.Reply
	}
	r, _ := checks.DefaultReply(check, key)
	return r
}

// Policy returns the policy the configuration describes.
func (c *Config) Policy() *policy.Policy {
	ck := &c.Checks
	p := &policy.Policy{Mode: c.Mode.Mode, Rules: map[string]policy.Rule{
		"ptr":       ck.PTR.Rule(""),
		"helo":      ck.Helo.Rule(ck.Helo.Mode),
		"sender":    ck.Sender.Rule(ck.Sender.Mode),
		"recipient": ck.Recipient.Rule(ck.Recipient.Mode),
		"relay":     ck.Relay.Rule(ck.Relay.Mode),
		"callout":   ck.Callout.Rule(ck.Callout.Mode),
		"greylist":  c.Greylist.Rule(c.Greylist.Mode),
		"spf":       ck.SPF.Rule(ck.SPF.Mode),
		"dkim":      ck.DKIM.Rule(ck.DKIM.Mode),
		"dmarc":     ck.DMARC.Rule(ck.DMARC.Mode),
	}}
	c.Outbound.rules(p.Rules)
	return p
}

// Warnings lists what is valid but probably not meant: a configuration
// under which mailsift lets strangers relay.
func (c *Config) Warnings() []string {
	var w []string
	if len(c.Checks.Recipient.Domains) == 0 {
		w = append(w, "checks.recipient.domains is empty: mailsift refuses only sender-specified routing (%, !, quoted @, source routes), not relaying for strangers (keep Postfix's reject_unauth_destination)")
	} else if c.Checks.Relay.Mode == "off" {
		w = append(w, "checks.relay.mode is off: mailsift does not refuse relaying for strangers (keep Postfix's reject_unauth_destination)")
	} else if a, ok := c.Checks.Relay.Actions["fail"]; ok && !a.Action.Refuses() {
		w = append(w, fmt.Sprintf("checks.relay.actions.fail is %q: mailsift does not refuse relaying for strangers", a.Action))
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

// RedisPassword returns the password: password, or the first line of
// password_file (read now, so that a reload picks up a new one).
func (r *RedisConfig) RedisPassword() (string, error) {
	if r.PasswordFile == "" {
		return r.Password, nil
	}
	return ReadSecret(r.PasswordFile)
}

// ReadSecret reads a secret (a token, a password) from a file: its first
// line, without surrounding white space, from the first 4 KiB (a path such
// as /dev/zero cannot hang it). The error names the file, never the secret.
func ReadSecret(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 4096))
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	s := strings.TrimSpace(line)
	if s == "" {
		return "", fmt.Errorf("%s: empty; want the secret on its first line", path)
	}
	return s, nil
}

// Encode writes the effective configuration as TOML.
func (c *Config) Encode() ([]byte, error) {
	var b bytes.Buffer
	err := toml.NewEncoder(&b).Encode(c)
	return b.Bytes(), err
}

func (g *GreylistConfig) validate() error {
	for _, d := range []struct {
		key string
		v   Duration
	}{{"retry_window", g.RetryWindow}, {"max_age", g.MaxAge}, {"snapshot_interval", g.SnapshotInterval}} {
		if d.v <= 0 {
			return &keyError{"greylist." + d.key, "want a positive duration"}
		}
	}
	if g.Delay >= g.RetryWindow {
		return &keyError{"greylist.delay", fmt.Sprintf("want less than retry_window (%s): a retry must be able to pass", time.Duration(g.RetryWindow))}
	}
	if g.AutoWhitelist < 0 || g.AutoWhitelist > 65535 {
		return &keyError{"greylist.auto_whitelist", fmt.Sprintf("want 0 (off) to 65535 passes, got %d", g.AutoWhitelist)}
	}
	if g.IPv4Prefix < 8 || g.IPv4Prefix > 32 {
		return &keyError{"greylist.ipv4_prefix", fmt.Sprintf("want 8 to 32, got %d", g.IPv4Prefix)}
	}
	if g.IPv6Prefix < 16 || g.IPv6Prefix > 128 {
		return &keyError{"greylist.ipv6_prefix", fmt.Sprintf("want 16 to 128, got %d", g.IPv6Prefix)}
	}
	switch g.Store {
	case "memory":
		if g.MaxEntries < 1000 {
			return &keyError{"greylist.max_entries", fmt.Sprintf("want 1000 or more, got %d", g.MaxEntries)}
		}
		if g.Snapshot != "" && !strings.HasPrefix(g.Snapshot, "/") {
			return &keyError{"greylist.snapshot", fmt.Sprintf("want an absolute path, or \"\" for no snapshot, got %q", g.Snapshot)}
		}
	case "redis":
		if len(g.Redis.Addrs) == 0 {
			return &keyError{"greylist.store", "\"redis\" needs the server(s) in [greylist.redis] addrs = [\"HOST:PORT\", ...]"}
		}
		for _, a := range g.Redis.Addrs {
			if !validHostPort(a) {
				return &keyError{"greylist.redis.addrs", fmt.Sprintf("want \"HOST:PORT\", got %q", a)}
			}
		}
		if g.Redis.Timeout <= 0 {
			return &keyError{"greylist.redis.timeout", "want a positive duration"}
		}
		if f := g.Redis.PasswordFile; f != "" {
			if g.Redis.Password != "" {
				return &keyError{"greylist.redis.password_file", "set password or password_file, not both"}
			}
			if _, err := ReadSecret(f); err != nil {
				return &keyError{"greylist.redis.password_file", err.Error()}
			}
		}
	default:
		return &keyError{"greylist.store", fmt.Sprintf("want \"memory\" or \"redis\", got %q", g.Store)}
	}
	w := &g.Whitelist
	for i, h := range w.Hostnames {
		h = strings.ToLower(strings.Trim(h, "."))
		if checks.HostnameSyntaxError(h) != "" {
			return &keyError{"greylist.whitelist.hostnames", fmt.Sprintf("want hostname suffixes, got %q", w.Hostnames[i])}
		}
		w.Hostnames[i] = h
	}
	for i, d := range w.Senders {
		d = strings.ToLower(strings.TrimSuffix(d, "."))
		if checks.HostnameSyntaxError(d) != "" {
			return &keyError{"greylist.whitelist.senders", fmt.Sprintf("want sender domains, got %q", w.Senders[i])}
		}
		w.Senders[i] = d
	}
	for _, r := range w.Recipients {
		if !strings.Contains(r, "@") || checks.ParseWhitelistEntry(r) != nil {
			return &keyError{"greylist.whitelist.recipients", fmt.Sprintf("want \"postmaster@\" (any domain) or an address, got %q", r)}
		}
	}
	for _, f := range w.Files {
		if _, err := checks.LoadLineFile(f, checks.ParseWhitelistEntry, time.Now); err != nil {
			return &keyError{"greylist.whitelist.files", err.Error()}
		}
	}
	return nil
}

func (d *DMARCReports) validate(c *Config) error {
	if d.ReportFrom != "" {
		if a, err := checks.ParseAddress(d.ReportFrom); err != nil || a.Domain == "" || a.Literal.IsValid() {
			return &keyError{"dmarc.report_from", fmt.Sprintf("want an address such as \"dmarc-noreply@example.org\", or \"\" for dmarc-noreply@HOSTNAME, got %q", d.ReportFrom)}
		}
	}
	if d.Sendmail != "" && !strings.HasPrefix(d.Sendmail, "/") {
		return &keyError{"dmarc.sendmail", fmt.Sprintf("want an absolute path such as \"/usr/sbin/sendmail\", got %q", d.Sendmail)}
	}
	if d.Relay != "" && !validHostPort(d.Relay) {
		return &keyError{"dmarc.relay", fmt.Sprintf("want \"HOST:PORT\" such as \"127.0.0.1:25\", or \"\" to use sendmail, got %q", d.Relay)}
	}
	if d.Reports && d.Sendmail == "" && d.Relay == "" {
		return &keyError{"dmarc.sendmail", "reports are on: set sendmail or relay, the way reports leave"}
	}
	if time.Duration(d.Interval) < time.Hour || time.Duration(d.Interval) > 7*24*time.Hour || time.Duration(d.Interval)%time.Hour != 0 {
		return &keyError{"dmarc.interval", fmt.Sprintf("want whole hours from \"1h\" to \"168h\" (RFC 7489 §7.2: daily, or more often), got %s", time.Duration(d.Interval))}
	}
	for i, r := range d.RUAAddresses {
		a, err := checks.ParseAddress(r)
		if err != nil || a.Domain == "" || a.Literal.IsValid() {
			return &keyError{"dmarc.rua_addresses", fmt.Sprintf("want addresses such as \"dmarc@example.org\", got %q", r)}
		}
		d.RUAAddresses[i] = a.String()
	}
	switch d.Store {
	case "memory":
	case "redis":
		if len(c.Greylist.Redis.Addrs) == 0 {
			return &keyError{"dmarc.store", `"redis" uses the greylist's Redis: set [greylist.redis] addrs = ["HOST:PORT", ...]`}
		}
	default:
		return &keyError{"dmarc.store", fmt.Sprintf("want \"memory\" or \"redis\", got %q", d.Store)}
	}
	return nil
}

// ParseForwarder reads a trusted forwarder: a network or an address, or a
// hostname suffix.
func ParseForwarder(s string) (netip.Prefix, string, bool) {
	var p Prefix
	if err := p.UnmarshalText([]byte(s)); err == nil {
		return p.Prefix, "", true
	}
	h := strings.ToLower(strings.Trim(s, "."))
	if checks.HostnameSyntaxError(h) == "" {
		return netip.Prefix{}, h, true
	}
	return netip.Prefix{}, "", false
}
