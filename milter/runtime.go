// Package milter is mailsift's glue to the milter protocol: one Session per
// MTA connection keeps what the MTA said stage by stage, runs the checks,
// turns the policy's decisions into milter replies and header edits, and
// writes one log record per message. It is the only package that imports
// github.com/d--j/go-milter.
package milter

import (
	"net/netip"
	"time"

	"github.com/mailsift/mailsift/checks"
	"github.com/mailsift/mailsift/internal/policy"
)

// Runtime is what a session runs with. A reload builds a new one; sessions
// keep the one they started with.
type Runtime struct {
	Hostname    string // authserv-id in Authentication-Results
	Chain       *checks.Chain
	Policy      *policy.Policy
	Outbound    *Outbound
	Bounces     *Bounces // nil: bounces are not read
	TrustedNets []netip.Prefix
	TrustAuthed bool // SMTP-authenticated clients skip checks
	// ProgressInterval is how long a stage's checks run before mailsift
	// tells the MTA that it is still at work, and how often it repeats
	// that (SMFIR_PROGRESS); 0 means DefaultProgressInterval.
	ProgressInterval time.Duration
	// DMARC records evaluations for aggregate reports and reads reports
	// mailed to our rua addresses; nil: off.
	DMARC *DMARCReports

	keys logKeys // the log record's per-check keys, built once (record.go)

	// Limits bound what one MTA connection may hold; zero values are
	// the Default* constants.
	Limits Limits
}

// Limits are [limits]: see contrib/mailsift.toml.
type Limits struct {
	MaxSessions    int           // MTA connections served at once
	IdleTimeout    time.Duration // a connection silent this long is closed
	MaxHeaderBytes int           // a longer header block is refused with 552 5.3.4
}

// The limits of a Runtime that sets none.
const (
	DefaultMaxSessions    = 1000
	DefaultIdleTimeout    = 2 * time.Hour
	DefaultMaxHeaderBytes = 1 << 20
)

// limits returns rt's limits with defaults for those left zero.
func (rt *Runtime) limits() Limits {
	l := rt.Limits
	if l.MaxSessions <= 0 {
		l.MaxSessions = DefaultMaxSessions
	}
	if l.IdleTimeout <= 0 {
		l.IdleTimeout = DefaultIdleTimeout
	}
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	return l
}

func (rt *Runtime) trustedIP(ip netip.Addr) bool {
	for _, p := range rt.TrustedNets {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
