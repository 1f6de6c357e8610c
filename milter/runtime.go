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
	"github.com/mailsift/mailsift/policy"
)

// Runtime is what a session runs with. A reload builds a new one; sessions
// keep the one they started with.
type Runtime struct {
	Hostname     string // authserv-id in Authentication-Results
	Chain        *checks.Chain
	Policy       *policy.Policy
	Outbound     *Outbound
	TrustedNets  []netip.Prefix
	TrustAuthed  bool          // SMTP-authenticated clients skip checks
	StageTimeout time.Duration // bound on one stage's checks, 0 for none
	// ProgressInterval is how long a stage's checks run before mailsift
	// tells the MTA that it is still at work, and how often it repeats
	// that (SMFIR_PROGRESS); 0 means DefaultProgressInterval.
	ProgressInterval time.Duration

	keys logKeys // the log record's per-check keys, built once (record.go)
}

func (rt *Runtime) trustedIP(ip netip.Addr) bool {
	for _, p := range rt.TrustedNets {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
