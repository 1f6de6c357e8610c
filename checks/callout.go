package checks

import (
	"context"

	"github.com/mailsift/mailsift/callout"
)

// Callout verifies the sender address with the sender domain's own mail
// servers (Postfix's reject_unverified_sender). It runs at MAIL FROM and,
// like every refusal, answers at RCPT TO. Trusted and authenticated
// clients never reach it; the null sender and our own domains are never
// probed.
type Callout struct {
	Verifier   *callout.Verifier
	OwnDomains []string // never probed: we know our own users
	// The replies; see Table for the defaults. {remote} in Fail is the
	// remote server's reply.
	Fail, Temp, InProgress Reply
}

// Name implements Check.
func (*Callout) Name() string { return "callout" }

// CheckMail implements MailChecker.
func (c *Callout) CheckMail(ctx context.Context, env *Envelope) Result {
	if env.From == "" {
		return Result{Status: None, Reason: "callout-null-sender", Text: "the null sender is never probed"}
	}
	a, err := ParseAddress(env.From)
	if err != nil || a.Domain == "" || a.Literal.IsValid() {
		return Result{Status: None, Reason: "callout-not-probed", Text: "no domain to ask (the sender check judges the address)"}
	}
	for _, d := range c.OwnDomains {
		if domainMatch(a.Domain, d) {
			return Result{Status: None, Reason: "callout-own-domain", Text: a.Domain + " is ours"}
		}
	}
	o := c.Verifier.Verify(ctx, a.Local, a.Domain)
	vars := map[string]string{"sender": env.From, "remote": o.Reply}
	r := Result{Text: o.Detail, Details: map[string]string{"mx": o.MX, "remote_reply": o.Reply}}
	if o.Cached {
		r.Details["cached"] = "true"
	}
	switch o.Status {
	case callout.Deliverable:
		r.Status, r.Reason = Pass, "callout-deliverable"
	case callout.AcceptAll:
		r.Status, r.Reason = Neutral, "callout-accept-all"
	case callout.Undeliverable:
		r.Status, r.Reason, r.Reply = Fail, "callout-undeliverable", c.Fail.Expand(vars)
	case callout.NoProbe:
		r.Status, r.Reason = None, "callout-not-probed"
	case callout.InProgress:
		r.Status, r.Reason, r.Reply = TempError, "callout-in-progress", c.InProgress.Expand(vars)
	case callout.Unverifiable:
		// No evidence against the sender: temperror, never fail.
		r.Status, r.Reason, r.Reply = TempError, "callout-unverifiable", c.Temp.Expand(vars)
	case callout.Limited:
		r.Status, r.Reason, r.Reply = TempError, "callout-limited", c.Temp.Expand(vars)
	default:
		r.Status, r.Reason, r.Reply = TempError, "callout-temperror", c.Temp.Expand(vars)
	}
	return r
}
