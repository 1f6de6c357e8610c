// Package config reads mailsift's TOML configuration: strict (an unknown key
// is an error), defaults in code, and every error names the file and line.
package config

import (
	"bytes"
	"errors"
	"fmt"
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

	Log    LogConfig    `toml:"log"`
	DNS    DNSConfig    `toml:"dns"`
	Trust  TrustConfig  `toml:"trust"`
	Checks ChecksConfig `toml:"checks"`
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
	Timeout Duration    `toml:"timeout"`
	Helo    CheckConfig `toml:"helo"`
}

// CheckConfig is what every check table has.
type CheckConfig struct {
	Mode    CheckMode         `toml:"mode"`
	Actions map[string]Action `toml:"actions"`
	Replies map[string]Reply  `toml:"replies"`
}

// Default returns the configuration used when no file is given.
func Default() *Config {
	host, _ := os.Hostname()
	return &Config{
		Listen:        Listen{"tcp", "127.0.0.1:8895"},
		Hostname:      host,
		Mode:          Mode{policy.Enforce},
		ShutdownGrace: Duration(10 * time.Second),
		Log:           LogConfig{Level: "info"},
		DNS:           DNSConfig{Timeout: Duration(2 * time.Second), Attempts: 2, CacheSize: 10000},
		Trust: TrustConfig{
			Networks:      []Prefix{mustPrefix("127.0.0.0/8"), mustPrefix("::1/128")},
			Authenticated: true,
		},
		Checks: ChecksConfig{Timeout: Duration(10 * time.Second)},
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
	for i, s := range c.DNS.Servers {
		if !validHostPort(s) {
			return &keyError{"dns.servers", fmt.Sprintf("server %d: want \"HOST:PORT\" such as \"127.0.0.1:53\", got %q", i+1, s)}
		}
	}
	if c.Checks.Timeout <= 0 {
		return &keyError{"checks.timeout", "want a positive duration"}
	}
	return c.Checks.Helo.validate("helo")
}

func validHostPort(s string) bool {
	i := strings.LastIndexByte(s, ':')
	if i <= 0 {
		return false
	}
	p, err := strconv.Atoi(s[i+1:])
	return err == nil && p > 0 && p < 65536
}

func (cc *CheckConfig) validate(check string) error {
	prefix := "checks." + check
	for _, k := range sortedKeys(cc.Actions) {
		if _, err := checks.ParseStatus(k); err != nil {
			return &keyError{prefix + ".actions." + k, err.Error()}
		}
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
func (cc *CheckConfig) Rule() policy.Rule {
	r := policy.Rule{Actions: map[checks.Status]policy.Action{}}
	if cc.Mode != "off" {
		r.Mode = policy.Mode(cc.Mode)
	}
	for k, a := range cc.Actions {
		r.Actions[checks.Status(k)] = a.Action
	}
	return r
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
	return &policy.Policy{Mode: c.Mode.Mode, Rules: map[string]policy.Rule{"helo": c.Checks.Helo.Rule()}}
}

// Encode writes the effective configuration as TOML.
func (c *Config) Encode() ([]byte, error) {
	var b bytes.Buffer
	err := toml.NewEncoder(&b).Encode(c)
	return b.Bytes(), err
}
