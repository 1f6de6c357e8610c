package checks

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/mail"
	"net/netip"
	"strings"

	"github.com/emersion/go-msgauth/authres"
	"github.com/emersion/go-msgauth/dmarc"
	"golang.org/x/net/publicsuffix"

	"github.com/mailsift/mailsift/resolver"
)

// DMARC evaluates the RFC5322.From domain's DMARC policy (RFC 7489) from
// the spf and dkim checks' results, and says what the domain owner asks
// for a message that fails: reject, quarantine or nothing. It runs at the
// end of the message, after DKIM.
type DMARC struct {
	DNS NetResolver
	// Rand returns a number in [0, n), for pct= sampling; nil is math/rand.
	Rand func(n int) int
	// ListHosts: mail with a List-Id under these is only annotated: lists
	// change messages and break DKIM, and their subscribers asked for it.
	ListHosts []string
	// Forwarders: clients (networks, or suffixes of a forward-confirmed
	// hostname) that forward mail to us, and break SPF doing so.
	ForwarderNets  []netip.Prefix
	ForwarderNames []string
	// The replies; see Table for the defaults.
	Reject, Temp, FromInvalid Reply
}

// Name implements Check.
func (*DMARC) Name() string { return "dmarc" }

// Late implements Late: DMARC reads the dkim check's result.
func (*DMARC) Late() {}

// CheckData implements DataChecker.
func (d *DMARC) CheckData(ctx context.Context, env *Envelope) Result {
	from, why := fromDomain(env.Headers)
	if why != "" {
		// RFC 7489 §6.6.1: without exactly one author domain there is
		// nothing to align with.
		return Result{Status: PermError, Reason: "dmarc-from-invalid", Text: why, Reply: d.FromInvalid,
			AuthRes: []authres.Result{&authres.DMARCResult{Value: authres.ResultPermError, Reason: why}}}
	}
	rec, policyDomain, sub, err := lookupDMARC(ctx, d.DNS, from)
	ar := &authres.GenericResult{Method: "dmarc", Params: map[string]string{"header.from": from}}
	vars := map[string]string{"domain": from}
	switch {
	case err != nil:
		ar.Value = authres.ResultTempError
		return Result{Status: TempError, Reason: "dmarc-temperror", Text: err.Error(), Reply: d.Temp.Expand(vars), AuthRes: []authres.Result{ar}}
	case rec == nil:
		ar.Value = authres.ResultNone
		return Result{Status: None, Reason: "dmarc-none", Text: from + " publishes no DMARC policy", AuthRes: []authres.Result{ar}}
	}
	policy := rec.Policy
	if sub && rec.SubdomainPolicy != "" {
		policy = rec.SubdomainPolicy
	}
	ar.Params["policy.dmarc"] = string(policy)
	details := map[string]string{"policy": string(policy), "policy_domain": policyDomain}

	spfOK, dkimOK := d.aligned(env, from, rec)
	if spfOK || dkimOK {
		ar.Value = authres.ResultPass
		how := "spf"
		if dkimOK {
			how = "dkim"
		}
		return Result{Status: Pass, Reason: "dmarc-pass", Text: "aligned " + how, Details: details, AuthRes: []authres.Result{ar}}
	}
	ar.Value = authres.ResultFail
	applied := policy
	if pct := percent(rec); pct < 100 && d.rand(100) >= pct {
		// RFC 7489 §6.6.4: outside the sample, the next weaker policy.
		applied = map[dmarc.Policy]dmarc.Policy{dmarc.PolicyReject: dmarc.PolicyQuarantine, dmarc.PolicyQuarantine: dmarc.PolicyNone}[policy]
		if applied == "" {
			applied = dmarc.PolicyNone
		}
	}
	details["applied"] = string(applied)
	r := Result{Status: Fail, Reason: "dmarc-fail-" + string(applied), Details: details, AuthRes: []authres.Result{ar},
		Text: fmt.Sprintf("%s: neither SPF nor DKIM aligned; policy %s", from, applied)}
	if applied == dmarc.PolicyReject {
		r.Reply = d.Reject.Expand(vars)
	}
	if why := d.override(env); why != "" {
		r.Reason, r.Text = "dmarc-override", r.Text+"; not enforced: "+why
	}
	return r
}

func (d *DMARC) rand(n int) int {
	if d.Rand != nil {
		return d.Rand(n)
	}
	return rand.IntN(n)
}

func percent(rec *dmarc.Record) int {
	if rec.Percent == nil {
		return 100
	}
	return *rec.Percent
}

// aligned reports whether a passing SPF or DKIM identity aligns with the
// From domain (RFC 7489 §3.1).
func (d *DMARC) aligned(env *Envelope, from string, rec *dmarc.Record) (spfOK, dkimOK bool) {
	if r, ok := env.Results["spf"]; ok && r.Status == Pass && r.Domain != "" {
		spfOK = alignedDomains(r.Domain, from, rec.SPFAlignment)
	}
	if r, ok := env.Results["dkim"]; ok {
		for _, a := range r.AuthRes {
			if k, ok := a.(*authres.DKIMResult); ok && k.Value == authres.ResultPass && alignedDomains(k.Domain, from, rec.DKIMAlignment) {
				dkimOK = true
			}
		}
	}
	return spfOK, dkimOK
}

func alignedDomains(a, b string, mode dmarc.AlignmentMode) bool {
	a, b = strings.ToLower(strings.TrimSuffix(a, ".")), strings.ToLower(strings.TrimSuffix(b, "."))
	if mode == dmarc.AlignmentStrict {
		return a == b
	}
	return orgDomain(a) == orgDomain(b)
}

func orgDomain(d string) string {
	if org, err := publicsuffix.EffectiveTLDPlusOne(d); err == nil {
		return org
	}
	return d
}

// override says why the policy is not enforced for this message, or "".
func (d *DMARC) override(env *Envelope) string {
	for _, h := range env.Headers {
		if strings.EqualFold(h.Name, "List-Id") {
			id := h.Value
			if i, j := strings.LastIndexByte(id, '<'), strings.LastIndexByte(id, '>'); i >= 0 && j > i {
				id = id[i+1 : j]
			}
			for _, host := range d.ListHosts {
				if domainMatch(strings.TrimSpace(id), host) {
					return "mailing list " + host
				}
			}
		}
	}
	for _, p := range d.ForwarderNets {
		if env.ClientIP.IsValid() && p.Contains(env.ClientIP) {
			return "trusted forwarder " + p.String()
		}
	}
	for _, n := range d.ForwarderNames {
		if env.ClientName != "" && domainMatch(env.ClientName, n) {
			return "trusted forwarder " + n
		}
	}
	return ""
}

// fromDomain returns the domain of the message's one From address, or why
// there is none.
func fromDomain(hs []Header) (string, string) {
	var values []string
	for _, h := range hs {
		if strings.EqualFold(h.Name, "From") {
			values = append(values, h.Value)
		}
	}
	switch len(values) {
	case 0:
		return "", "no From header"
	case 1:
	default:
		return "", fmt.Sprintf("%d From headers", len(values))
	}
	addrs, err := mail.ParseAddressList(values[0])
	if err != nil {
		return "", "From header does not parse: " + err.Error()
	}
	if len(addrs) != 1 {
		return "", fmt.Sprintf("From header has %d addresses", len(addrs))
	}
	at := strings.LastIndexByte(addrs[0].Address, '@')
	domain := strings.ToLower(strings.TrimSuffix(addrs[0].Address[at+1:], "."))
	if at < 0 || HostnameSyntaxError(domain) != "" {
		return "", "From address has no valid domain"
	}
	return domain, ""
}

// lookupDMARC finds the policy for domain: its own record, or else its
// organizational domain's (sub reports that). More than one record, or a
// malformed one, is no policy (RFC 7489 §6.6.3).
func lookupDMARC(ctx context.Context, dns NetResolver, domain string) (rec *dmarc.Record, at string, sub bool, err error) {
	for _, d := range []string{domain, orgDomain(domain)} {
		if sub = d != domain; sub && d == domain {
			break
		}
		txts, err := dns.R.LookupTXT(ctx, "_dmarc."+d)
		if resolver.IsTemporary(err) {
			return nil, d, sub, err
		}
		var recs []string
		for _, t := range txts {
			if strings.HasPrefix(t, "v=DMARC1") {
				recs = append(recs, t)
			}
		}
		switch len(recs) {
		case 0:
			if d == orgDomain(domain) {
				return nil, d, sub, nil
			}
			continue
		case 1:
			r, err := dmarc.Parse(recs[0])
			if err != nil {
				return nil, d, sub, nil
			}
			return r, d, sub, nil
		default:
			return nil, d, sub, nil
		}
	}
	return nil, domain, false, nil
}

// enforcingDMARC reports whether domain's DMARC policy is quarantine or
// reject, or cannot be looked up now: then DMARC, not SPF alone, decides
// about its mail (and tempfails for a temporary error, which SPF must not
// turn into a permanent refusal).
func enforcingDMARC(ctx context.Context, dns NetResolver, domain string) bool {
	rec, _, sub, err := lookupDMARC(ctx, dns, strings.ToLower(domain))
	if err != nil {
		return true
	}
	if rec == nil {
		return false
	}
	p := rec.Policy
	if sub && rec.SubdomainPolicy != "" {
		p = rec.SubdomainPolicy
	}
	return p == dmarc.PolicyReject || p == dmarc.PolicyQuarantine
}
