// Package doctor runs the good-sender checklist against a domain: MX
// records, forward-confirmed reverse DNS of its servers, the HELO name,
// SPF, DKIM keys, DMARC and its report destinations, the return address,
// and (as information) MTA-STS and TLS-RPT. Each finding is a row with a
// status and a one-line fix.
package doctor

import (
	"context"
	"net/netip"
	"strings"

	"github.com/mailsift/mailsift/internal/callout"
	"github.com/mailsift/mailsift/internal/resolver"
)

// Status is a row's verdict.
type Status string

// The statuses.
const (
	Pass Status = "pass"
	Warn Status = "warn"
	Fail Status = "fail"
)

// Row is one finding.
type Row struct {
	Name   string `json:"name"`   // "mx", "ptr:192.0.2.1", "spf-lookups", "dkim:sel1", ...
	Status Status `json:"status"` // pass, warn or fail
	Detail string `json:"detail"` // what was found
	Fix    string `json:"fix"`    // one line: what to change; "" when nothing
}

// Report is the whole checklist for one domain.
type Report struct {
	Domain string `json:"domain"`
	Checks []Row  `json:"checks"`
}

// Exit is the command's exit status: 0 when every row passes, 1 with
// warnings, 2 with failures.
func (r *Report) Exit() int {
	code := 0
	for _, c := range r.Checks {
		switch c.Status {
		case Fail:
			return 2
		case Warn:
			code = 1
		}
	}
	return code
}

// Row returns the first row named name, or nil.
func (r *Report) Row(name string) *Row {
	for i := range r.Checks {
		if r.Checks[i].Name == name {
			return &r.Checks[i]
		}
	}
	return nil
}

// Options says what to check.
type Options struct {
	Domain    string       // the domain that sends
	IPs       []netip.Addr // its sending servers' addresses (--ip)
	Helo      string       // the name its servers greet with (--helo)
	Selectors []string     // its DKIM selectors (--selector)
	From      string       // a return address to verify (--from)

	DNS *resolver.Resolver
	// Verify runs a callout for the return address; a *callout.Verifier's
	// Verify, with its safety rules. nil skips the return-address row.
	Verify func(ctx context.Context, local, domain string) callout.Outcome
}

// Run runs every check and returns the rows in checklist order.
func Run(ctx context.Context, o Options) *Report {
	d := &doctor{Options: o}
	d.Domain = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(o.Domain), "."))
	d.rep = &Report{Domain: d.Domain, Checks: []Row{}}
	d.mx(ctx)
	d.ptrs(ctx)
	d.helo(ctx)
	d.spf(ctx)
	d.dkim(ctx)
	d.dmarc(ctx)
	d.returnAddress(ctx)
	d.mtaSTS(ctx)
	d.tlsRPT(ctx)
	return d.rep
}

type doctor struct {
	Options
	rep     *Report
	mxAddrs []hostAddr // the MX hosts' addresses, for the PTR rows
}

type hostAddr struct {
	host string
	ip   netip.Addr
}

func (d *doctor) add(name string, s Status, detail, fix string) {
	d.rep.Checks = append(d.rep.Checks, Row{Name: name, Status: s, Detail: detail, Fix: fix})
}

// temp adds a warning for a lookup that did not finish: nothing is known.
func (d *doctor) temp(name string, err error) {
	d.add(name, Warn, "could not check: "+err.Error(), "run again; if it persists, check the domain's name servers (or --dns)")
}
