package checks

import (
	"context"
	"fmt"
	"net/netip"
	"slices"

	"github.com/emersion/go-msgauth/authres"

	"github.com/mailsift/mailsift/internal/resolver"
)

// PTRMode is how strictly the client's reverse DNS is checked.
type PTRMode string

// The PTR check's strengths, after Postfix's two restrictions.
const (
	// PTRExists: the client address has a PTR record
	// (reject_unknown_reverse_client_hostname).
	PTRExists PTRMode = "exists"
	// PTRFCrDNS: a PTR name resolves back to the client address
	// (reject_unknown_client_hostname; RFC 8601 §3 "iprev").
	PTRFCrDNS PTRMode = "fcrdns"
)

// maxPTRNames caps the PTR names tried, so a client cannot make us do
// unbounded lookups with a reverse zone full of names.
const maxPTRNames = 10

// PTR checks the connecting client's reverse DNS.
type PTR struct {
	Mode PTRMode
	DNS  interface {
		LookupAddr(ctx context.Context, ip netip.Addr) ([]string, error)
		LookupIP(ctx context.Context, host string) ([]netip.Addr, error)
	}
	Temp, Perm Reply // see Table for the defaults
}

// Name implements Check.
func (*PTR) Name() string { return PTRName }

// CheckConnect implements ConnectChecker.
func (p *PTR) CheckConnect(ctx context.Context, env *Envelope) Result {
	r := p.check(ctx, env)
	if r.Status != None && p.Mode == PTRFCrDNS {
		// RFC 8601 §2.7.3: iprev is the forward-confirmed check.
		r.AuthRes = []authres.Result{&authres.IPRevResult{Value: authres.ResultValue(r.Status), IP: env.ClientIP.String()}}
	}
	return r
}

func (p *PTR) check(ctx context.Context, env *Envelope) Result {
	ip := env.ClientIP
	if !ip.IsValid() {
		return Result{Status: None, Reason: ReasonPTRNoClientAddress, Text: "the MTA gave no client address"}
	}
	vars := map[string]string{"client": ip.String()}
	temp := func(text string) Result {
		return Result{Status: TempError, Reason: ReasonPTRTempError, Text: text, Reply: p.Temp.Expand(vars), RefutesClientName: true}
	}
	fail := func(reason, text string) Result {
		return Result{Status: Fail, Reason: reason, Text: text, Reply: p.Perm.Expand(vars), RefutesClientName: true}
	}
	names, err := p.DNS.LookupAddr(ctx, ip)
	switch {
	case resolver.IsTemporary(err):
		return temp(err.Error())
	case err != nil:
		return fail(ReasonPTRMissing, "no PTR record for "+ip.String())
	}
	if p.Mode == PTRExists {
		return Result{Status: Pass, Reason: ReasonPTRExists, Text: "PTR " + names[0]}
	}
	var tempErr error
	resolved := false
	for _, name := range names[:min(len(names), maxPTRNames)] {
		addrs, err := p.DNS.LookupIP(ctx, name)
		if resolver.IsTemporary(err) {
			tempErr = err
			continue
		}
		if err != nil {
			continue
		}
		resolved = true
		if slices.Contains(addrs, ip) {
			return Result{Status: Pass, Reason: ReasonPTRFCrDNS, Text: "PTR " + name + " resolves back to " + ip.String(), ClientName: name}
		}
	}
	switch {
	case tempErr != nil:
		return temp(tempErr.Error())
	case !resolved:
		return fail(ReasonPTRUnresolvable, "no PTR name of "+ip.String()+" resolves: "+names[0])
	}
	return fail(ReasonPTRMismatch, "PTR names of "+ip.String()+" resolve to other addresses: "+names[0])
}

// The ptr check's name and reasons (its log's mailsift.checks.ptr.reason, and keys of its actions).
const (
	PTRName                  = "ptr"
	ReasonPTRFCrDNS          = "ptr-fcrdns"
	ReasonPTRExists          = "ptr-exists"
	ReasonPTRMissing         = "ptr-missing"
	ReasonPTRUnresolvable    = "ptr-unresolvable"
	ReasonPTRMismatch        = "ptr-mismatch"
	ReasonPTRTempError       = "ptr-temperror"
	ReasonPTRNoClientAddress = "ptr-no-client-address"
)

func ptrReasons() []string {
	return []string{ReasonPTRFCrDNS, ReasonPTRExists, ReasonPTRMissing, ReasonPTRUnresolvable, ReasonPTRMismatch, ReasonPTRTempError, ReasonPTRNoClientAddress}
}

// ptrRows are the ptr check's default replies (keys of [checks.ptr.replies]).
func ptrRows() []Row {
	return []Row{
		{PTRName, "temp", Reply{450, "4.7.25", "Client host rejected: cannot find your hostname, [{client}]"}},
		{PTRName, "perm", Reply{550, "5.7.25", "Client host rejected: cannot find your hostname, [{client}]"}},
	}
}

// PTRConfig is [checks.ptr]. Its mode is the check's strength, as in
// Postfix's two restrictions ("off", "exists", "fcrdns"), not a policy mode.
type PTRConfig struct {
	Mode PTRMode `toml:"mode"`
	CheckConfig
}

func defaultPTRConfig() PTRConfig { return PTRConfig{Mode: PTRFCrDNS} }

// UnmarshalText implements encoding.TextUnmarshaler: off, exists or fcrdns.
func (m *PTRMode) UnmarshalText(b []byte) error {
	switch s := PTRMode(b); s {
	case "off", PTRExists, PTRFCrDNS:
		*m = s
		return nil
	}
	return fmt.Errorf("unknown mode %q, want off, exists (a PTR record) or fcrdns (forward-confirmed)", b)
}

// newPTR builds the ptr check from its table.
func newPTR(t *PTRConfig, d Deps) Check {
	return &PTR{Mode: t.Mode, DNS: d.DNS, Temp: t.Reply(PTRName, "temp"), Perm: t.Reply(PTRName, "perm")}
}
