package checks

import (
	"context"
	"strings"

	"blitiri.com.ar/go/spf"
	"github.com/emersion/go-msgauth/authres"
)

// SPF evaluates the sender's SPF record (RFC 7208) for the MAIL FROM
// identity, or the HELO identity for the null sender (§2.4), through
// mailsift's resolver with the RFC's lookup and void-lookup limits. Its
// findings annotate by default; a fail may be refused when configured,
// except when the domain publishes an enforcing DMARC policy: then DMARC
// judges the message, so that forwarded mail with a good DKIM signature is
// not lost (as maddy does).
type SPF struct {
	DNS        NetResolver
	DMARC      bool // the dmarc check runs: a fail under an enforcing policy is left to it
	Fail, Temp Reply
}

// Name implements Check.
func (*SPF) Name() string { return "spf" }

// CheckMail implements MailChecker.
func (s *SPF) CheckMail(ctx context.Context, env *Envelope) Result {
	if !env.ClientIP.IsValid() {
		return Result{Status: None, Reason: "spf-no-client-address", Text: "the MTA gave no client address"}
	}
	sender, helo := env.From, strings.TrimSuffix(env.Helo, ".")
	ident := authres.SPFResult{}
	if sender == "" {
		sender = "postmaster@" + helo
		ident.Helo = helo
	} else {
		ident.From = sender
	}
	res, err := spf.CheckHostWithSender(env.ClientIP.AsSlice(), helo, sender,
		spf.WithContext(ctx), spf.WithResolver(s.DNS))
	r := Result{Text: string(res)}
	if err != nil {
		r.Text = err.Error()
	}
	domain := sender[strings.LastIndexByte(sender, '@')+1:]
	vars := map[string]string{"sender": env.From, "domain": domain}
	switch res {
	case spf.Pass:
		r.Status, r.Reason, r.Domain = Pass, "spf-pass", strings.ToLower(domain)
	case spf.Fail:
		r.Status, r.Reason, r.Reply = Fail, "spf-fail", s.Fail.Expand(vars)
		if s.DMARC && enforcingDMARC(ctx, s.DNS, domain) {
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
