package checks

import (
	"context"
	"slices"
	"strings"
)

// Relay refuses recipients outside our domains, as Postfix's
// reject_unauth_destination does: a stranger may send to us, not through
// us. Trusted networks and authenticated clients never reach it.
//
// Sender-specified routing is a relay attempt whatever the domain, as with
// Postfix's allow_untrusted_routing = no: a local part holding '%' (the
// percent hack, user%elsewhere@ours), '!' (a UUCP bang path) or a quoted
// '@' ("user@elsewhere"@ours), and an RFC 5321 source route
// (@ours:user@elsewhere, which §4.1.2 says a receiver may ignore but many
// MTAs still follow). A server that routes on any of these relays for
// strangers.
type Relay struct {
	// Domains are our domains, lowercased. When it is empty only
	// sender-specified routing is refused; other recipients are left to
	// the MTA (Postfix's reject_unauth_destination).
	Domains []string
	Denied  Reply
}

// Name implements Check.
func (*Relay) Name() string { return RelayName }

// Local implements Local.
func (*Relay) Local() bool { return true }

// CheckRcpt implements RcptChecker.
func (r *Relay) CheckRcpt(_ context.Context, env *Envelope) Result {
	deny := func(reason, text string) Result {
		return Result{Status: Fail, Reason: reason, Text: text, Reply: r.Denied.Expand(map[string]string{"rcpt": env.Rcpt})}
	}
	if why := routing(env.Rcpt); why != "" {
		return deny(ReasonRelayRouting, why)
	}
	a, err := ParseAddress(env.Rcpt)
	if err != nil {
		return Result{Status: None, Reason: ReasonRelayMalformed, Text: "left to the recipient check"}
	}
	if why := routingLocal(a.Local); why != "" {
		return deny(ReasonRelayRouting, why)
	}
	if len(r.Domains) == 0 {
		return Result{Status: None, Reason: ReasonRelayMTADecides, Text: "checks.recipient.domains is empty: the MTA decides"}
	}
	if a.Domain == "" || slices.Contains(r.Domains, a.Domain) {
		return Result{Status: Pass, Reason: ReasonRelayLocal, Text: "one of our domains"}
	}
	return deny(ReasonRelayDenied, a.Domain+" is not one of our domains")
}

// routing says why a raw recipient carries a source route, or "".
func routing(rcpt string) string {
	s := strings.TrimSpace(rcpt)
	s = strings.TrimPrefix(s, "<")
	if strings.HasPrefix(s, "@") {
		return "a source route in the recipient (sender-specified routing)"
	}
	return ""
}

// routingLocal says why a local part asks for sender-specified routing, or
// "". The local part is as given, quotes and escapes kept.
func routingLocal(local string) string {
	switch {
	case strings.Contains(local, "@"):
		return "a quoted '@' in the local part (sender-specified routing)"
	case strings.Contains(local, "%"):
		return "'%' in the local part (sender-specified routing)"
	case strings.Contains(local, "!"):
		return "'!' in the local part (sender-specified routing)"
	}
	return ""
}

// The relay check's name and reasons (its log's mailsift.checks.relay.reason, and keys of its actions).
const (
	RelayName             = "relay"
	ReasonRelayLocal      = "relay-local"
	ReasonRelayDenied     = "relay-denied"
	ReasonRelayRouting    = "relay-routing"
	ReasonRelayMTADecides = "relay-mta-decides"
	ReasonRelayMalformed  = "relay-malformed"
)

func relayReasons() []string {
	return []string{ReasonRelayLocal, ReasonRelayDenied, ReasonRelayRouting, ReasonRelayMTADecides, ReasonRelayMalformed}
}

// relayRows are the relay check's default replies (keys of [checks.relay.replies]).
func relayRows() []Row {
	return []Row{
		{RelayName, "perm", Reply{554, "5.7.1", "<{rcpt}>: Relay access denied"}},
	}
}

// RelayConfig is [checks.relay]. Its domains are [checks.recipient]'s.
type RelayConfig struct {
	Mode CheckMode `toml:"mode"`
	CheckConfig
}

// newRelay builds the relay check; without domains it refuses
// sender-specified routing only.
func newRelay(t *RelayConfig, domains []string) Check {
	return &Relay{Domains: domains, Denied: t.Reply(RelayName, "perm")}
}
