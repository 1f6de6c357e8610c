package config

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Duration is a time.Duration written as "10s", "5m".
type Duration time.Duration

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil || v < 0 {
		return fmt.Errorf("want a duration such as \"10s\" or \"5m\", got %q", b)
	}
	*d = Duration(v)
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// Listen is where the milter listens: "inet:HOST:PORT" or "unix:PATH".
type Listen struct {
	Network string // "tcp" or "unix"
	Address string
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (l *Listen) UnmarshalText(b []byte) error {
	s := string(b)
	kind, addr, ok := strings.Cut(s, ":")
	switch {
	case ok && (kind == "inet" || kind == "inet6"):
		ap, err := netip.ParseAddrPort(addr)
		if err != nil {
			host, port, found := strings.Cut(addr, ":")
			if !found || host == "" || port == "" {
				return fmt.Errorf("want \"inet:HOST:PORT\" or \"unix:PATH\", got %q", s)
			}
		} else if ap.Port() == 0 && !strings.HasSuffix(addr, ":0") {
			return fmt.Errorf("want \"inet:HOST:PORT\" or \"unix:PATH\", got %q", s)
		}
		*l = Listen{"tcp", addr}
	case ok && (kind == "unix" || kind == "local") && strings.HasPrefix(addr, "/"):
		*l = Listen{"unix", addr}
	default:
		return fmt.Errorf("want \"inet:HOST:PORT\" or \"unix:PATH\" (an absolute path), got %q", s)
	}
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (l Listen) MarshalText() ([]byte, error) { return []byte(l.String()), nil }

func (l Listen) String() string {
	if l.Network == "unix" {
		return "unix:" + l.Address
	}
	return "inet:" + l.Address
}

// Prefix is a network in CIDR notation; a bare address is its own /32 or /128.
type Prefix struct{ netip.Prefix }

// UnmarshalText implements encoding.TextUnmarshaler.
func (p *Prefix) UnmarshalText(b []byte) error {
	s := string(b)
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return fmt.Errorf("want a network such as \"192.0.2.0/24\" or an address, got %q", s)
		}
		p.Prefix = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		return nil
	}
	v, err := netip.ParsePrefix(s)
	if err != nil {
		return fmt.Errorf("want a network such as \"192.0.2.0/24\", got %q", s)
	}
	p.Prefix = v.Masked()
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (p Prefix) MarshalText() ([]byte, error) { return []byte(p.Prefix.String()), nil }

// Level is a log level.
type Level string

// UnmarshalText implements encoding.TextUnmarshaler.
func (l *Level) UnmarshalText(b []byte) error {
	switch s := string(b); s {
	case "debug", "info", "warn", "error":
		*l = Level(s)
		return nil
	}
	return fmt.Errorf("unknown level %q, want debug, info, warn or error", b)
}
