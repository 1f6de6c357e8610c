package checks

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/emersion/go-msgauth/authres"

	"github.com/mailsift/mailsift/internal/spf"
)

// SPF evaluates the sender's SPF record (RFC 7208) for the MAIL FROM
// identity, or the HELO identity for the null sender (§2.4), through
// mailsift's resolver with the RFC's lookup and void-lookup limits (see
// internal/spf). Its findings annotate by default; a fail may be refused
// when configured, and then the reply carries the domain's explanation
// (exp=, §6.2), as pyspf-milter and Postfix's policy-spf do. A fail is
// left to DMARC when the domain publishes an enforcing DMARC policy, so
// that forwarded mail with a good DKIM signature is not lost (as maddy
// does), and when its DMARC record cannot be looked up now: DMARC will
// tempfail, and a temporary error never becomes a permanent refusal.
type SPF struct {
	DNS        NetResolver
	DMARC      bool // the dmarc check runs: a fail under an enforcing policy is left to it
	Fail, Temp Reply
	// Receiver is %{r} in explanations: this host's name; "" is "unknown".
	Receiver string
	// Now is the clock for %{t}; nil is time.Now.
	Now func() time.Time
}

// Name implements Check.
func (*SPF) Name() string { return "spf" }

// CheckMail implements MailChecker.
func (s *SPF) CheckMail(ctx context.Context, env *Envelope) Result {
	if !env.ClientIP.IsValid() {
		return Result{Status: None, Reason: "spf-no-client-address", Text: "the MTA gave no client address"}
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
	switch res.Status {
	case spf.Pass:
		r.Status, r.Reason, r.Domain = Pass, "spf-pass", strings.ToLower(res.Domain)
		r.SPFMechanism = res.Matched
	case spf.Fail:
		r.Status, r.Reason, r.Reply = Fail, "spf-fail", withExplanation(s.Fail.Expand(vars), res.Explanation)
		if res.Explanation != "" {
			r.Details["explanation"] = res.Explanation
		}
		if s.DMARC && enforcingDMARC(ctx, s.DNS, res.Domain) {
			r.Reason = "spf-fail-dmarc-decides"
		}
	case spf.SoftFail:
		r.Status, r.Reason = SoftFail, "spf-softfail"
	case spf.Neutral:
		r.Status, r.Reason = Neutral, "spf-neutral"
	case spf.TempError:
		r.Status, r.Reason, r.Reply = TempError, "spf-temperror", s.Temp.Expand(vars)
	case spf.PermError:
		r.Status, r.Reason = PermError, "spf-permerror"
	default:
		r.Status, r.Reason = None, "spf-none"
	}
	ident.Value = authres.ResultValue(r.Status)
	r.AuthRes = []authres.Result{&ident}
	return r
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
