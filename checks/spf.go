package checks

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/emersion/go-msgauth/authres"
	"github.com/emersion/go-msgauth/dmarc"

	"github.com/mailsift/mailsift/internal/spf"
)

// SPF evaluates the sender's SPF record (RFC 7208) for the MAIL FROM
// identity, or the HELO identity for the null sender (§2.4), through
// mailsift's resolver with the RFC's lookup and void-lookup limits (see
// internal/spf). Its findings annotate by default; a fail may be refused
// when configured, and then the reply carries the domain's explanation
// (exp=, §6.2), as pyspf-milter and Postfix's policy-spf do. Its outcome
// (Result.SPF) is handed to dmarc and the greylist. A fail is left to
// DMARC when the domain publishes an enforcing DMARC policy, or when that
// policy cannot be looked up now: the dmarc check marks it so (see
// SPFAmender), not this one. DMARC judges that fail only for a header From
// aligned with the failing domain; for any other, this check judges it
// again at the end of the message (CheckData).
type SPF struct {
	DNS        NetResolver
	Fail, Temp Reply
	// Receiver is %{r} in explanations: this host's name; "" is "unknown".
	Receiver string
	// Now is the clock for %{t}; nil is time.Now.
	Now func() time.Time
}

// Name implements Check.
func (*SPF) Name() string { return SPFName }

// CheckMail implements MailChecker.
func (s *SPF) CheckMail(ctx context.Context, env *Envelope) Result {
	if !env.ClientIP.IsValid() {
		return Result{Status: None, Reason: ReasonSPFNoClientAddress, Text: "the MTA gave no client address",
			SPF: &SPFOutcome{Status: None, Identity: "mailfrom", Domain: spfFallbackDomain(env)}}
	}
	res := spf.Check(ctx, s.DNS.R, spf.Args{IP: env.ClientIP, Sender: env.From, Helo: env.Helo, Receiver: s.Receiver, Now: s.Now})
	ident := authres.SPFResult{}
	if res.Identity == "helo" {
		ident.Helo = strings.TrimSuffix(env.Helo, ".")
	} else {
		ident.From = env.From
	}
	r := Result{Text: fmt.Sprintf("%s: %s for %s", res.Status, res.Mechanism, res.Domain),
		Details: map[string]string{"identity": res.Identity, "domain": res.Domain}}
	if res.Mechanism != "" {
		r.Details["mechanism"] = res.Mechanism
	}
	if res.Err != nil {
		r.Text = res.Err.Error()
	}
	vars := map[string]string{"sender": env.From, "domain": res.Domain}
	out := &SPFOutcome{Identity: res.Identity}
	switch res.Status {
	case spf.Pass:
		r.Status, r.Reason = Pass, ReasonSPFPass
		out.Domain, out.Mechanism = strings.ToLower(res.Domain), res.Matched
	case spf.Fail:
		r.Status, r.Reason, r.Reply = Fail, ReasonSPFFail, withExplanation(s.Fail.Expand(vars), res.Explanation)
		if res.Explanation != "" {
			r.Details["explanation"] = res.Explanation
		}
		out.Domain = res.Domain // as looked up: the dmarc check's AmendSPF looks up its policy
		out.Explanation = res.Explanation
	case spf.SoftFail:
		r.Status, r.Reason = SoftFail, ReasonSPFSoftFail
	case spf.Neutral:
		r.Status, r.Reason = Neutral, ReasonSPFNeutral
	case spf.TempError:
		r.Status, r.Reason, r.Reply = TempError, ReasonSPFTempError, s.Temp.Expand(vars)
	case spf.PermError:
		r.Status, r.Reason = PermError, ReasonSPFPermError
	default:
		r.Status, r.Reason = None, ReasonSPFNone
	}
	ident.Value = authres.ResultValue(r.Status)
	r.AuthRes = []authres.Result{&ident}
	out.Status = r.Status
	if out.Domain == "" {
		// The identity's domain, as it stands in Authentication-Results.
		switch {
		case ident.From != "":
			out.Domain = afterAt(ident.From)
		case ident.Helo != "":
			out.Domain = ident.Helo
		default:
			out.Domain = spfFallbackDomain(env)
		}
	}
	r.SPF = out
	return r
}

// CheckData implements DataChecker: an SPF fail left to DMARC at MAIL FROM
// (SPFOutcome.LeftToDMARC) is DMARC's to judge only when the header From
// is on the failing domain's organizational domain (relaxed alignment, RFC
// 7489 §3.1.2): DMARC then evaluates the policy that made SPF stand back.
// For any other From, or none that can be read, DMARC evaluates another
// domain's policy, or none, and never this SPF fail: the fail is judged
// again here, as at MAIL FROM (ReasonSPFFail, the same reply with the
// domain's explanation), so the spf check's own action applies. Else it
// has nothing to say.
func (s *SPF) CheckData(_ context.Context, env *Envelope) Result {
	o := env.SPF
	if o == nil || o.Status != Fail || !o.LeftToDMARC {
		return Result{}
	}
	from, why := fromDomain(env.Headers)
	if why == "" && alignedDomains(o.Domain, from, dmarc.AlignmentRelaxed) {
		return Result{} // DMARC decides
	}
	if why == "" {
		why = "the From domain " + from + " is not aligned with " + o.Domain
	}
	ident := authres.SPFResult{Value: authres.ResultFail}
	if o.Identity == "helo" {
		ident.Helo = strings.TrimSuffix(env.Helo, ".")
	} else {
		ident.From = env.From
	}
	r := Result{Status: Fail, Reason: ReasonSPFFail,
		Text:    fmt.Sprintf("fail for %s, left to DMARC at MAIL FROM; %s, so DMARC does not judge it", o.Domain, why),
		Reply:   withExplanation(s.Fail.Expand(map[string]string{"sender": env.From, "domain": o.Domain}), o.Explanation),
		Details: map[string]string{"identity": o.Identity, "domain": o.Domain, "dmarc": "not-aligned"},
		AuthRes: []authres.Result{&ident}}
	if o.Explanation != "" {
		r.Details["explanation"] = o.Explanation
	}
	return r
}

// spfFallbackDomain is the domain SPF is about when it could not say: the
// MAIL FROM domain, or the HELO name for the null sender.
func spfFallbackDomain(env *Envelope) string {
	if env.From != "" {
		return afterAt(env.From)
	}
	return env.Helo
}

// maxExplanation bounds the explanation quoted in a reply, so that the
// line stays well under the 512 octets of RFC 5321 §4.5.3.1.5.
const maxExplanation = 200

// withExplanation appends the domain's explanation of a fail to the
// reply: printable ASCII only, one line, bounded, and without "%", which
// Sendmail takes as a format (as Sanitize does for client values).
func withExplanation(r Reply, exp string) Reply {
	exp = strings.TrimSpace(exp)
	if exp == "" || r.IsZero() {
		return r
	}
	var b strings.Builder
	for i := 0; i < len(exp); i++ {
		if b.Len() >= maxExplanation {
			b.WriteString("...")
			break
		}
		c := exp[i]
		if c < 0x20 || c > 0x7e || c == '%' {
			c = '?'
		}
		b.WriteByte(c)
	}
	r.Text += ": " + b.String()
	return r
}

// The spf check's name and reasons (its log's mailsift.checks.spf.reason, and keys of its actions).
const (
	SPFName                   = "spf"
	ReasonSPFPass             = "spf-pass"
	ReasonSPFFail             = "spf-fail"
	ReasonSPFFailDMARCDecides = "spf-fail-dmarc-decides"
	ReasonSPFSoftFail         = "spf-softfail"
	ReasonSPFNeutral          = "spf-neutral"
	ReasonSPFNone             = "spf-none"
	ReasonSPFTempError        = "spf-temperror"
	ReasonSPFPermError        = "spf-permerror"
	ReasonSPFNoClientAddress  = "spf-no-client-address"
)

func spfReasons() []string {
	return []string{ReasonSPFPass, ReasonSPFFail, ReasonSPFFailDMARCDecides, ReasonSPFSoftFail, ReasonSPFNeutral, ReasonSPFNone, ReasonSPFTempError, ReasonSPFPermError, ReasonSPFNoClientAddress}
}

// spfRows are the spf check's default replies (keys of [checks.spf.replies]).
func spfRows() []Row {
	return []Row{
		{SPFName, "temp", Reply{451, "4.7.24", "SPF temporary error for <{sender}>, try again later"}},
		{SPFName, "perm", Reply{550, "5.7.23", "SPF validation failed for <{sender}>"}},
	}
}

// SPFConfig is [checks.spf].
type SPFConfig struct {
	Mode CheckMode `toml:"mode"`
	CheckConfig
}

// SPF and DKIM annotate; DMARC decides (RFC 7489 §10.1: SPF alone breaks
// on forwarding, DKIM alone on mailing lists).
func defaultSPFConfig() SPFConfig {
	return SPFConfig{CheckConfig: CheckConfig{Actions: map[string]Action{
		"fail": ActionLog, "temperror": ActionLog, "permerror": ActionLog, ReasonSPFFailDMARCDecides: ActionLog}}}
}

// newSPF builds the spf check from its table.
func newSPF(t *SPFConfig, d Deps) Check {
	return &SPF{DNS: NetResolver{R: d.DNS}, Receiver: d.Hostname, Fail: t.Reply(SPFName, "perm"), Temp: t.Reply(SPFName, "temp")}
}
