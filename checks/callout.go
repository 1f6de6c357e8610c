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
func (*Callout) Name() string { return CalloutName }

// CheckMail implements MailChecker.
func (c *Callout) CheckMail(ctx context.Context, env *Envelope) Result {
	if env.From == "" {
		return Result{Status: None, Reason: ReasonCalloutNullSender, Text: "the null sender is never probed"}
	}
	a, err := ParseAddress(env.From)
	if err != nil || a.Domain == "" || a.Literal.IsValid() {
		return Result{Status: None, Reason: ReasonCalloutNotProbed, Text: "no domain to ask (the sender check judges the address)"}
	}
	for _, d := range c.OwnDomains {
		if domainMatch(a.Domain, d) {
			return Result{Status: None, Reason: ReasonCalloutOwnDomain, Text: a.Domain + " is ours"}
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
		r.Status, r.Reason = Pass, ReasonCalloutDeliverable
	case callout.AcceptAll:
		r.Status, r.Reason = Neutral, ReasonCalloutAcceptAll
	case callout.Undeliverable:
		r.Status, r.Reason, r.Reply = Fail, ReasonCalloutUndeliverable, c.Fail.Expand(vars)
	case callout.NoProbe:
		r.Status, r.Reason = None, ReasonCalloutNotProbed
	case callout.InProgress:
		r.Status, r.Reason, r.Reply = TempError, ReasonCalloutInProgress, c.InProgress.Expand(vars)
	case callout.Unverifiable:
		// No evidence against the sender: temperror, never fail.
		r.Status, r.Reason, r.Reply = TempError, ReasonCalloutUnverifiable, c.Temp.Expand(vars)
	case callout.Limited:
		r.Status, r.Reason, r.Reply = TempError, ReasonCalloutLimited, c.Temp.Expand(vars)
	default:
		r.Status, r.Reason, r.Reply = TempError, ReasonCalloutTempError, c.Temp.Expand(vars)
	}
	return r
}

// The callout check's name and reasons (its log's mailsift.checks.callout.reason, and keys of its actions).
const (
	CalloutName                = "callout"
	ReasonCalloutDeliverable   = "callout-deliverable"
	ReasonCalloutAcceptAll     = "callout-accept-all"
	ReasonCalloutUndeliverable = "callout-undeliverable"
	ReasonCalloutNotProbed     = "callout-not-probed"
	ReasonCalloutNullSender    = "callout-null-sender"
	ReasonCalloutOwnDomain     = "callout-own-domain"
	ReasonCalloutInProgress    = "callout-in-progress"
	ReasonCalloutUnverifiable  = "callout-unverifiable"
	ReasonCalloutLimited       = "callout-limited"
	ReasonCalloutTempError     = "callout-temperror"
)

func calloutReasons() []string {
	return []string{ReasonCalloutDeliverable, ReasonCalloutAcceptAll, ReasonCalloutUndeliverable, ReasonCalloutNotProbed, ReasonCalloutNullSender, ReasonCalloutOwnDomain, ReasonCalloutInProgress, ReasonCalloutUnverifiable, ReasonCalloutLimited, ReasonCalloutTempError}
}

// calloutRows are the callout check's default replies (keys of [checks.callout.replies]).
func calloutRows() []Row {
	return []Row{
		{CalloutName, "temp", Reply{450, "4.1.7", "<{sender}>: Sender address rejected: unverified address"}},
		{CalloutName, "in_progress", Reply{450, "4.1.7", "<{sender}>: Sender address rejected: address verification in progress"}},
		{CalloutName, "perm", Reply{550, "5.1.7", "<{sender}>: Sender address rejected: undeliverable address ({remote})"}},
	}
}
