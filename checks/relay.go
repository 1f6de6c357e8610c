package checks

import (
	"context"
	"slices"
)

// Relay refuses recipients outside our domains, as Postfix's
// reject_unauth_destination does: a stranger may send to us, not through
// us. Trusted networks and authenticated clients never reach it.
type Relay struct {
	Domains []string // our domains, lowercased
	Denied  Reply
}

// Name implements Check.
func (*Relay) Name() string { return "relay" }

// Local implements Local.
func (*Relay) Local() bool { return true }

// CheckRcpt implements RcptChecker.
func (r *Relay) CheckRcpt(_ context.Context, env *Envelope) Result {
	a, err := ParseAddress(env.Rcpt)
	if err != nil {
		return Result{Status: None, Reason: "relay-malformed", Text: "left to the recipient check"}
	}
	if a.Domain == "" || slices.Contains(r.Domains, a.Domain) {
		return Result{Status: Pass, Reason: "relay-local", Text: "one of our domains"}
	}
	return Result{Status: Fail, Reason: "relay-denied", Text: a.Domain + " is not one of our domains",
		Reply: r.Denied.Expand(map[string]string{"rcpt": env.Rcpt})}
}
