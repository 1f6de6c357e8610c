package callout

import (
	"context"
	"net"
	"net/netip"
	"time"

	"github.com/mailsift/mailsift/resolver"
)

// Config configures a Verifier.
type Config struct {
	Hostname    string // our EHLO name
	ProbeSender string // MAIL FROM of the probe; "" for the null sender <>
	Port        int    // the servers' SMTP port, 25

	Budget       time.Duration // how long Verify waits: shorter than the MTA's milter timeouts
	ProbeTimeout time.Duration // one whole probe, all servers
	DialTimeout  time.Duration // one connection

	PositiveTTL, NegativeTTL, TempTTL time.Duration
	CacheSize                         int

	MaxPerDomain  int // concurrent probes to one domain
	RatePerMinute int // probes to one domain per minute
	RatePerTarget int // connections to one server address per minute, whatever the domain

	// AllowNetworks lists the networks a probe may reach although they are
	// loopback, private, link-local or our own; empty by default.
	AllowNetworks []netip.Prefix
	// OwnAddrs are this host's addresses: never probed unless allowed.
	OwnAddrs []netip.Addr
	// Refused, if set, is told each server address a probe did not reach
	// because of what it is (why: "loopback address", ...).
	Refused func(domain, mx string, why string)

	// DetectAcceptAll also asks for a random local part; a server that
	// takes it takes anything, and its "yes" means nothing.
	DetectAcceptAll bool

	DNS interface {
		LookupMX(ctx context.Context, domain string) ([]resolver.MX, error)
		LookupIP(ctx context.Context, host string) ([]netip.Addr, error)
	}
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	Now  func() time.Time
	// Observe, if set, is told each probe's outcome.
	Observe func(Status)
	// Shared, if set, is a cache shared with the fleet's other hosts.
	Shared *Shared
}

func (c *Config) defaults() {
	if c.Port == 0 {
		c.Port = 25
	}
	if c.Budget <= 0 {
		c.Budget = 8 * time.Second
	}
	if c.ProbeTimeout <= 0 {
		c.ProbeTimeout = 60 * time.Second
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = 10 * time.Second
	}
	if c.PositiveTTL <= 0 {
		c.PositiveTTL = 31 * 24 * time.Hour
	}
	if c.NegativeTTL <= 0 {
		c.NegativeTTL = 3 * time.Hour
	}
	if c.TempTTL <= 0 {
		c.TempTTL = 5 * time.Minute
	}
	if c.CacheSize <= 0 {
		c.CacheSize = 100000
	}
	if c.MaxPerDomain <= 0 {
		c.MaxPerDomain = 2
	}
	if c.RatePerMinute <= 0 {
		c.RatePerMinute = 10
	}
	if c.RatePerTarget <= 0 {
		c.RatePerTarget = 20
	}
	if c.Refused == nil {
		c.Refused = func(string, string, string) {}
	}
	if c.Dial == nil {
		d := &net.Dialer{}
		c.Dial = d.DialContext
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Observe == nil {
		c.Observe = func(Status) {}
	}
}
