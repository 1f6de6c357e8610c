package checks

import (
	"context"
	"fmt"
	"net/netip"
	"strings"

	"github.com/emersion/go-msgauth/dmarc"

	"github.com/mailsift/mailsift/internal/resolver"
)

// Preflight is the DMARC preflight of outbound mail (RFC 7489): for the
// From header's domain it looks up the DMARC policy (the organizational
// domain's when the domain has none) and decides whether the message can
// pass DMARC at its receivers once it leaves. It can when one of the two
// ways aligns:
//
//   - SPF: the MAIL FROM domain's SPF record authorizes every one of our
//     outbound addresses, and that domain is aligned with the From domain
//     (relaxed or strict, per aspf);
//   - DKIM: we will sign the message for a domain aligned with the From
//     domain (per adkim), with a key that loaded.
//
// A policy of reject or quarantine with no way is a failure whose reply
// names the domain and both ways out; p=none is a failure to tag and log,
// and a temporary DNS error is temperror (451), never a rejection.
type Preflight struct {
	DNS NetResolver
	// SPF evaluates a MAIL FROM for a client address: the spf check's own
	// evaluation, asked about each of our addresses in turn.
	SPF       *SPF
	Addresses []netip.Addr // our outbound addresses as receivers see them
	Hostname  string       // our HELO name, the SPF identity of the null sender
	// Signer says for which domain we would sign mail from a domain ("" for none).
	Signer interface{ SigningDomain(from string) string }
	// The replies; see Table for the defaults.
	Reject, Quarantine, Temp Reply
}

// Name implements Check.
func (*Preflight) Name() string { return PreflightName }

// CheckData implements DataChecker.
func (p *Preflight) CheckData(ctx context.Context, env *Envelope) Result {
	from, why := AuthorDomain(env.Headers)
	if why != "" {
		// The standards check refuses a message without one From.
		return Result{Status: None, Reason: ReasonPreflightNoFrom, Text: why}
	}
	vars := map[string]string{"domain": from}
	signDomain := ""
	if p.Signer != nil {
		signDomain = p.Signer.SigningDomain(from)
	}
	if signDomain == from {
		// Aligned in strict and relaxed mode alike: whatever the policy,
		// it is met, and a DNS failure need not delay the mail.
		return Result{Status: Pass, Reason: ReasonPreflightAligned, Text: "DKIM: we sign for " + from,
			Details: map[string]string{"from_domain": from, "dkim_domain": from}}
	}
	pol, err := lookupPolicy(ctx, p.DNS, from)
	switch {
	case err != nil:
		return Result{Status: TempError, Reason: ReasonPreflightTempError, Text: err.Error(), Reply: p.Temp.Expand(vars)}
	case pol.policy == "":
		return Result{Status: None, Reason: ReasonPreflightNoPolicy, Text: from + " publishes no DMARC policy"}
	}
	details := map[string]string{"policy": pol.policy, "policy_domain": pol.at, "from_domain": from}

	if signDomain != "" {
		details["dkim_domain"] = signDomain
		if alignedWith(signDomain, from, pol.adkimStrict) {
			return Result{Status: Pass, Reason: ReasonPreflightAligned, Text: "DKIM: we sign for " + signDomain, Details: details}
		}
	}
	spfDomain := domainOf(env.From)
	if env.From == "" {
		spfDomain = strings.ToLower(strings.TrimSuffix(p.Hostname, "."))
	}
	details["spf_domain"] = spfDomain
	spfWhy := ""
	switch {
	case !alignedWith(spfDomain, from, pol.aspfStrict):
		spfWhy = fmt.Sprintf("MAIL FROM domain %s is not aligned with %s", spfDomain, from)
	case len(p.Addresses) == 0:
		spfWhy = "no outbound addresses known to check SPF with"
	default:
		for _, a := range p.Addresses {
			r := p.SPF.CheckMail(ctx, &Envelope{ClientIP: a, Helo: p.Hostname, From: env.From})
			if r.Status == TempError {
				return Result{Status: TempError, Reason: ReasonPreflightTempError, Details: details, Reply: p.Temp.Expand(vars),
					Text: fmt.Sprintf("SPF of %s for %s: %s", spfDomain, a, r.Text)}
			}
			if r.Status != Pass {
				spfWhy = fmt.Sprintf("SPF of %s does not authorize %s (%s)", spfDomain, a, r.Status)
				break
			}
		}
	}
	if spfWhy == "" {
		return Result{Status: Pass, Reason: ReasonPreflightAligned, Text: "SPF: " + spfDomain + " authorizes our addresses", Details: details}
	}
	dkimWhy := "no DKIM key for " + from
	if signDomain != "" {
		dkimWhy = "DKIM domain " + signDomain + " is not aligned with " + from
	}
	r := Result{Status: Fail, Reason: "preflight-" + pol.policy, Details: details,
		Text: fmt.Sprintf("%s: policy %s and no aligned way: %s; %s", from, pol.policy, spfWhy, dkimWhy)}
	switch pol.policy {
	case "reject":
		r.Reply = p.Reject.Expand(vars)
	case "quarantine":
		r.Reply = p.Quarantine.Expand(vars)
	}
	return r
}

// dmarcPolicy is what the preflight needs of a DMARC record.
type dmarcPolicy struct {
	policy                  string // "none", "quarantine", "reject"; "" when there is no policy
	at                      string // the domain whose record it is
	aspfStrict, adkimStrict bool
}

// lookupPolicy finds the DMARC policy that applies to mail from domain
// through the dmarc check's own lookup (with its organizational-domain
// fallback); sp= applies to a subdomain's mail.
func lookupPolicy(ctx context.Context, dns NetResolver, domain string) (dmarcPolicy, error) {
	rec, at, sub, err := lookupDMARC(ctx, dns, domain)
	if err != nil {
		return dmarcPolicy{}, fmt.Errorf("DMARC record of %s: %w", domain, err)
	}
	if rec == nil {
		return dmarcPolicy{at: at}, nil
	}
	p := rec.Policy
	if sub && rec.SubdomainPolicy != "" {
		p = rec.SubdomainPolicy
	}
	return dmarcPolicy{policy: string(p), at: at,
		aspfStrict: rec.SPFAlignment == dmarc.AlignmentStrict, adkimStrict: rec.DKIMAlignment == dmarc.AlignmentStrict}, nil
}

// The preflight check's reasons (its log's mailsift.checks.preflight.reason, and keys of its actions).
const (
	ReasonPreflightAligned    = "preflight-aligned"
	ReasonPreflightNoPolicy   = "preflight-no-policy"
	ReasonPreflightNoFrom     = "preflight-no-from"
	ReasonPreflightReject     = "preflight-reject"
	ReasonPreflightQuarantine = "preflight-quarantine"
	ReasonPreflightNone       = "preflight-none"
	ReasonPreflightTempError  = "preflight-temperror"
)

func preflightReasons() []string {
	return []string{ReasonPreflightAligned, ReasonPreflightNoPolicy, ReasonPreflightNoFrom, ReasonPreflightReject, ReasonPreflightQuarantine, ReasonPreflightNone, ReasonPreflightTempError}
}

// A p=none domain's mail is tagged and logged.
func defaultPreflightTable() OutboundCheck {
	return OutboundCheck{CheckConfig: CheckConfig{Actions: map[string]Action{
		ReasonPreflightReject: ActionReject, ReasonPreflightQuarantine: ActionReject, ReasonPreflightNone: ActionTag,
		"temperror": ActionTempfail}}}
}

// NewPreflight builds the preflight check from its table: our outbound
// addresses, our HELO name, and the signer (nil when nothing is signed).
func NewPreflight(t *OutboundCheck, dns *resolver.Resolver, addrs []netip.Addr, hostname string, signer interface{ SigningDomain(from string) string }) *Preflight {
	return &Preflight{DNS: NetResolver{R: dns}, SPF: &SPF{DNS: NetResolver{R: dns}}, Addresses: addrs, Hostname: hostname, Signer: signer,
		Reject: t.Reply(PreflightName, "reject"), Quarantine: t.Reply(PreflightName, "quarantine"), Temp: t.Reply(PreflightName, "temp")}
}
