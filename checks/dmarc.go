package checks

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"

	"github.com/emersion/go-msgauth/authres"
	"github.com/emersion/go-msgauth/dmarc"
	"golang.org/x/net/publicsuffix"

	"github.com/mailsift/mailsift/internal/config"
	"github.com/mailsift/mailsift/internal/resolver"
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
	// The List-Id counts only when the list host is authenticated as the
	// one that handed us the message (listAuthenticated): the sender
	// writes that header.
	ListHosts []string
	// Forwarders: clients (networks, or suffixes of a forward-confirmed
	// hostname) that forward mail to us, and break SPF doing so.
	ForwarderNets  []netip.Prefix
	ForwarderNames []string
	// The replies; see Table for the defaults.
	Reject, Temp, FromInvalid Reply
}

// Name implements Check.
func (*DMARC) Name() string { return DMARCName }

// Follows implements Follower: DMARC judges from the spf and dkim checks'
// outcomes (Envelope.SPF, Envelope.DKIM), the dkim one of its own stage.
func (*DMARC) Follows() {}

// CheckData implements DataChecker.
func (d *DMARC) CheckData(ctx context.Context, env *Envelope) Result {
	from, why := fromDomain(env.Headers)
	if why != "" {
		// RFC 7489 §6.6.1: without exactly one author domain there is
		// nothing to align with.
		return Result{Status: PermError, Reason: ReasonDMARCFromInvalid, Text: why, Reply: d.FromInvalid,
			AuthRes: []authres.Result{&authres.DMARCResult{Value: authres.ResultPermError, Reason: why}}}
	}
	rec, policyDomain, sub, err := lookupDMARC(ctx, d.DNS, from)
	ar := &authres.GenericResult{Method: "dmarc", Params: map[string]string{"header.from": from}}
	vars := map[string]string{"domain": from}
	switch {
	case err != nil:
		// The policy is not known now (RFC 7489 §6.6.2: temperror). An
		// identifier that passed for the From domain itself aligns in
		// any mode, so whatever the record says, the message cannot be
		// refused for DMARC: say temperror, enforce nothing.
		ar.Value = authres.ResultTempError
		r := Result{Status: TempError, Reason: ReasonDMARCTempError, Text: err.Error(), Reply: d.Temp.Expand(vars), AuthRes: []authres.Result{ar}}
		if al := d.aligned(env, from, &dmarc.Record{SPFAlignment: dmarc.AlignmentStrict, DKIMAlignment: dmarc.AlignmentStrict}); al.spf || al.dkim {
			r.Reason, r.Text = ReasonDMARCTempErrorUnenforced, r.Text+"; an identifier passed for "+from+" itself"
		} else if why, list := d.override(env); why != "" {
			r.Reason, r.Text = ReasonDMARCTempErrorUnenforced, r.Text+"; not enforced: "+why
		} else if list != "" {
			r.Text += "; " + list
		}
		return r
	case rec == nil:
		ar.Value = authres.ResultNone
		return Result{Status: None, Reason: ReasonDMARCNone, Text: from + " publishes no DMARC policy", AuthRes: []authres.Result{ar}}
	}
	policy := rec.Policy
	if sub && rec.SubdomainPolicy != "" {
		policy = rec.SubdomainPolicy
	}
	ar.Params["policy.dmarc"] = string(policy)
	details := map[string]string{"policy": string(policy), "policy_domain": policyDomain}

	al := d.aligned(env, from, rec)
	if al.spf || al.dkim {
		ar.Value = authres.ResultPass
		how := "spf"
		if al.dkim {
			how = "dkim"
		}
		return Result{Status: Pass, Reason: ReasonDMARCPass, Text: "aligned " + how, Details: details, AuthRes: []authres.Result{ar}}
	}
	override, list := d.override(env)
	if al.temp != "" {
		// RFC 7489 §6.6.2: an aligned identifier that could not be
		// verified now might pass later; the result is temperror, and a
		// transient fault never becomes a refusal for good.
		ar.Value = authres.ResultTempError
		r := Result{Status: TempError, Reason: ReasonDMARCTempError, Details: details, AuthRes: []authres.Result{ar},
			Text: fmt.Sprintf("%s: no aligned pass; %s", from, al.temp), Reply: d.Temp.Expand(vars)}
		switch {
		case policy == dmarc.PolicyNone:
			r.Reason, r.Text = ReasonDMARCTempErrorUnenforced, r.Text+"; policy none"
		case override != "":
			r.Reason, r.Text = ReasonDMARCTempErrorUnenforced, r.Text+"; not enforced: "+override
		case list != "":
			r.Text += "; " + list
		}
		return r
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
	if override != "" {
		r.Reason, r.Text = ReasonDMARCOverride, r.Text+"; not enforced: "+override
	} else if list != "" {
		r.Text += "; " + list
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

// alignment is what the spf and dkim results say for the From domain.
type alignment struct {
	spf, dkim bool   // an aligned identifier passed
	temp      string // why an aligned identifier could not be verified now, or ""
}

// aligned reports whether a passing SPF or DKIM identity aligns with the
// From domain (RFC 7489 §3.1), and whether an aligned one (or one whose
// domain is not known) had a temporary error.
func (d *DMARC) aligned(env *Envelope, from string, rec *dmarc.Record) alignment {
	var al alignment
	if o := env.SPF; o != nil {
		switch o.Status {
		case Pass:
			al.spf = o.Domain != "" && alignedDomains(o.Domain, from, rec.SPFAlignment)
		case TempError:
			if o.Domain == "" || alignedDomains(o.Domain, from, rec.SPFAlignment) {
				al.temp = "SPF temperror for " + o.Domain
			}
		}
	}
	if k := env.DKIM; k != nil {
		for _, sig := range k.Signatures {
			switch {
			case sig.Status == Pass && alignedDomains(sig.Domain, from, rec.DKIMAlignment):
				al.dkim = true
			case sig.Status == TempError && (sig.Domain == "" || alignedDomains(sig.Domain, from, rec.DKIMAlignment)):
				if al.temp == "" {
					al.temp = "DKIM temperror for d=" + sig.Domain
				}
			}
		}
		if len(k.Signatures) == 0 && k.Status == TempError && al.temp == "" {
			// The verifier did not finish: any signature might have passed.
			al.temp = "DKIM temperror: " + k.Text
		}
	}
	return al
}

// alignedDomains reports whether a and b align in mode (RFC 7489 §3.1):
// the same name (strict), or the same organizational domain (relaxed).
// Names compare as lowercase A-labels without leading or trailing dots.
func alignedDomains(a, b string, mode dmarc.AlignmentMode) bool {
	a, b = normDomain(a), normDomain(b)
	if a == "" || b == "" {
		return false
	}
	if mode == dmarc.AlignmentStrict {
		return a == b
	}
	return orgDomain(a) == orgDomain(b)
}

func normDomain(d string) string {
	d = strings.Trim(d, ".")
	if a, err := resolver.ToASCII(d); err == nil {
		d = a
	}
	return strings.ToLower(d)
}

// orgDomain is d's organizational domain, or d itself when it has none
// (d is a public suffix).
func orgDomain(d string) string {
	if org := organizationalDomain(d); org != "" {
		return org
	}
	return d
}

// organizationalDomain is the organizational domain of d (RFC 7489 §3.2):
// its public suffix by the Public Suffix List plus one label, looked up on
// A-labels and returned as lowercase A-labels; "" when d is not a domain
// name or is itself a public suffix.
func organizationalDomain(d string) string {
	a, err := resolver.ToASCII(strings.TrimSuffix(d, "."))
	if err != nil {
		return ""
	}
	org, err := publicsuffix.EffectiveTLDPlusOne(strings.ToLower(a))
	if err != nil {
		return ""
	}
	return org
}

// override says why the policy is not enforced for this message, or "".
// When it is "" and a List-Id names one of ListHosts that nothing
// authenticates, unauthenticatedList says so, for the result's text.
func (d *DMARC) override(env *Envelope) (why, unauthenticatedList string) {
	for _, h := range env.Headers {
		if !strings.EqualFold(h.Name, "List-Id") {
			continue
		}
		id := h.Value
		if i, j := strings.LastIndexByte(id, '<'), strings.LastIndexByte(id, '>'); i >= 0 && j > i {
			id = id[i+1 : j]
		}
		for _, host := range d.ListHosts {
			if !domainMatch(strings.TrimSpace(id), host) {
				continue
			}
			// Anyone can write a List-Id: it counts only when the list
			// host handed us the message.
			if by := listAuthenticated(env, host); by != "" {
				return "mailing list " + host + " (" + by + ")", ""
			}
			if unauthenticatedList == "" {
				unauthenticatedList = "List-Id names " + host + " but neither SPF, DKIM nor the client's name authenticate it"
			}
		}
	}
	for _, p := range d.ForwarderNets {
		if env.ClientIP.IsValid() && p.Contains(env.ClientIP) {
			return "trusted forwarder " + p.String(), ""
		}
	}
	for _, n := range d.ForwarderNames {
		if name := env.VerifiedName(); name != "" && domainMatch(name, n) {
			return "trusted forwarder " + n, ""
		}
	}
	return "", unauthenticatedList
}

// listAuthenticated says which identifier shows that the list host handed
// us the message, or "": an SPF pass, a passing DKIM signature, or the
// client's verified name, for a domain whose organizational domain is the
// list host's. Lists send with their own bounce address
// (list-bounces@lists.example.org) and often sign (d=googlegroups.com).
func listAuthenticated(env *Envelope, host string) string {
	org := orgDomain(normDomain(host))
	ours := func(domain string) bool {
		domain = normDomain(domain)
		return domain != "" && orgDomain(domain) == org
	}
	if o := env.SPF; o != nil && o.Status == Pass && ours(o.Domain) {
		return "SPF pass for " + normDomain(o.Domain)
	}
	if k := env.DKIM; k != nil {
		for _, sig := range k.Signatures {
			if sig.Status == Pass && ours(sig.Domain) {
				return "DKIM pass for d=" + normDomain(sig.Domain)
			}
		}
	}
	if name := env.VerifiedName(); ours(name) {
		return "client " + normDomain(name)
	}
	return ""
}

// lookupDMARC finds the policy for domain (RFC 7489 §6.6.3): its own
// record, or else its organizational domain's (sub reports that). TXT
// records that are not DMARC records are discarded first; then more than
// one record, or one without a usable policy, is no policy. A lookup that
// fails for now is an error: the policy is not known.
func lookupDMARC(ctx context.Context, dns NetResolver, domain string) (rec *dmarc.Record, at string, sub bool, err error) {
	org := orgDomain(domain)
	for _, d := range []string{domain, org} {
		sub = d != domain
		txts, err := dns.R.LookupTXT(ctx, "_dmarc."+d)
		if resolver.IsTemporary(err) {
			return nil, d, sub, err
		}
		var recs []string
		for _, t := range txts {
			if isDMARCRecord(t) {
				recs = append(recs, t)
			}
		}
		switch len(recs) {
		case 0:
			if d == org {
				return nil, d, sub, nil
			}
			continue
		case 1:
			r, err := ParseDMARCRecord(recs[0])
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

// AmendSPF implements SPFAmender: an SPF fail for a domain whose DMARC
// policy is quarantine or reject, or cannot be known now (a temporary DNS
// error; this check then answers temperror for the message, so SPF must not
// refuse it for good), is left to DMARC: ReasonSPFFailDMARCDecides, and
// the outcome says so (LeftToDMARC) for the end of the message, where the
// spf check judges again when the header From does not align with domain.
func (d *DMARC) AmendSPF(ctx context.Context, r *Result) {
	if r.SPF == nil || r.SPF.Status != Fail || r.Reason != ReasonSPFFail {
		return
	}
	if enforcingDMARC(ctx, d.DNS, r.SPF.Domain) {
		r.Reason = ReasonSPFFailDMARCDecides
		r.SPF.LeftToDMARC = true
	}
}

// enforcingDMARC reports whether DMARC, not SPF alone, decides about
// domain's mail: its policy is quarantine or reject, or cannot be known now
// (a temporary DNS error; the dmarc check then answers temperror for the
// message, so SPF must not refuse it for good).
func enforcingDMARC(ctx context.Context, dns NetResolver, domain string) bool {
	a, err := resolver.ToASCII(strings.TrimSuffix(domain, "."))
	if err != nil {
		return false
	}
	rec, _, sub, err := lookupDMARC(ctx, dns, strings.ToLower(a))
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

// The dmarc check's name and reasons (its log's mailsift.checks.dmarc.reason, and keys of its actions).
const (
	DMARCName                      = "dmarc"
	ReasonDMARCPass                = "dmarc-pass"
	ReasonDMARCNone                = "dmarc-none"
	ReasonDMARCFailReject          = "dmarc-fail-reject"
	ReasonDMARCFailQuarantine      = "dmarc-fail-quarantine"
	ReasonDMARCFailNone            = "dmarc-fail-none"
	ReasonDMARCOverride            = "dmarc-override"
	ReasonDMARCTempError           = "dmarc-temperror"
	ReasonDMARCTempErrorUnenforced = "dmarc-temperror-unenforced"
	ReasonDMARCFromInvalid         = "dmarc-from-invalid"
)

func dmarcReasons() []string {
	return []string{ReasonDMARCPass, ReasonDMARCNone, ReasonDMARCFailReject, ReasonDMARCFailQuarantine, ReasonDMARCFailNone, ReasonDMARCOverride, ReasonDMARCTempError, ReasonDMARCTempErrorUnenforced, ReasonDMARCFromInvalid}
}

// dmarcRows are the dmarc check's default replies (keys of [checks.dmarc.replies]).
func dmarcRows() []Row {
	return []Row{
		{DMARCName, "temp", Reply{451, "4.7.1", "Temporary DNS failure evaluating DMARC for {domain}, try again later"}},
		{DMARCName, "perm", Reply{550, "5.7.1", "Email rejected per DMARC policy for {domain}"}},
		{DMARCName, "from", Reply{550, "5.7.1", "Message must have exactly one From address"}},
	}
}

// DMARCConfig is [checks.dmarc].
type DMARCConfig struct {
	Mode       CheckMode `toml:"mode"`
	ListHosts  []string  `toml:"list_hosts"`
	Forwarders []string  `toml:"forwarders"`
	CheckConfig
}

func defaultDMARCConfig() DMARCConfig {
	return DMARCConfig{ListHosts: []string{}, Forwarders: []string{}, CheckConfig: CheckConfig{Actions: map[string]Action{
		ReasonDMARCFailReject: ActionReject, ReasonDMARCFailQuarantine: ActionTag, "fail": ActionLog,
		"temperror": ActionTempfail, ReasonDMARCTempErrorUnenforced: ActionLog, "permerror": ActionReject}}}
}

// Validate checks the table and lowercases its list hosts.
func (t *DMARCConfig) Validate() error {
	if err := normalizeNames(t.ListHosts, hostSuffix, "checks.dmarc.list_hosts", `list host domains such as "lists.example.org"`); err != nil {
		return err
	}
	for _, f := range t.Forwarders {
		if _, _, ok := ParseForwarder(f); !ok {
			return config.Errorf("checks.dmarc.forwarders", "want a network (192.0.2.0/24) or a hostname suffix (forwarder.example.net), got %q", f)
		}
	}
	return nil
}

// ParseForwarder reads a trusted forwarder: a network or an address, or a
// hostname suffix.
func ParseForwarder(s string) (netip.Prefix, string, bool) {
	var p config.Prefix
	if err := p.UnmarshalText([]byte(s)); err == nil {
		return p.Prefix, "", true
	}
	if h, ok := hostSuffix(s); ok {
		return netip.Prefix{}, h, true
	}
	return netip.Prefix{}, "", false
}

// newDMARC builds the dmarc check from its table.
func newDMARC(t *DMARCConfig, d Deps) Check {
	r := func(key string) Reply { return t.Reply(DMARCName, key) }
	c := &DMARC{DNS: NetResolver{R: d.DNS}, ListHosts: t.ListHosts, Reject: r("perm"), Temp: r("temp"), FromInvalid: r("from")}
	for _, f := range t.Forwarders {
		p, name, _ := ParseForwarder(f)
		if name != "" {
			c.ForwarderNames = append(c.ForwarderNames, name)
		} else {
			c.ForwarderNets = append(c.ForwarderNets, p)
		}
	}
	return c
}
