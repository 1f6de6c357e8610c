package callout

import (
	"context"
	"net"
	"net/netip"
	"time"

	"github.com/mailsift/mailsift/internal/resolver"
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

// Defaults is the one place the callout's defaults are written: the
// Verifier fills what a Config leaves zero from it, and the config file's
// [checks.callout] defaults are these.
func Defaults() Config {
	return Config{
		Port:          25,
		Budget:        8 * time.Second,
		ProbeTimeout:  60 * time.Second,
		DialTimeout:   10 * time.Second,
		PositiveTTL:   31 * 24 * time.Hour,
		NegativeTTL:   3 * time.Hour,
		TempTTL:       5 * time.Minute,
		CacheSize:     100000,
		MaxPerDomain:  2,
		RatePerMinute: 10,
		RatePerTarget: 20,
	}
}

func (c *Config) defaults() {
	d := Defaults()
	setDefault(&c.Port, d.Port)
	setDefault(&c.Budget, d.Budget)
	setDefault(&c.ProbeTimeout, d.ProbeTimeout)
	setDefault(&c.DialTimeout, d.DialTimeout)
	setDefault(&c.PositiveTTL, d.PositiveTTL)
	setDefault(&c.NegativeTTL, d.NegativeTTL)
	setDefault(&c.TempTTL, d.TempTTL)
	setDefault(&c.CacheSize, d.CacheSize)
	setDefault(&c.MaxPerDomain, d.MaxPerDomain)
	setDefault(&c.RatePerMinute, d.RatePerMinute)
	setDefault(&c.RatePerTarget, d.RatePerTarget)
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

// setDefault sets *v to d when *v is not positive.
func setDefault[T int | time.Duration](v *T, d T) {
	if *v <= 0 {
		*v = d
	}
}
