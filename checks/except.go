package checks

import (
	"net/netip"
	"strings"
)

// Exceptions say when a check does not run for a client or a message. A
// match is logged as status "skipped" with what matched, never silently.
type Exceptions struct {
	Networks   []netip.Prefix // client addresses
	Hostnames  []string       // verified client hostname suffixes, lowercased
	Senders    []string       // sender domains (and their subdomains), lowercased
	Recipients []string       // recipient addresses, domain lowercased
}

// Match returns what matched env, or "". Only what is known at the stage
// can match: a HELO check never sees the sender.
func (x *Exceptions) Match(env *Envelope) string { return x.match(env, env.Rcpt) }

// match returns what matched the client, the sender or rcpt, or "". A
// recipient entry "postmaster@" matches that local part in every domain.
func (x *Exceptions) match(env *Envelope, rcpt string) string {
	for _, p := range x.Networks {
		if env.ClientIP.IsValid() && p.Contains(env.ClientIP) {
			return "client " + env.ClientIP.String() + " in " + p.String()
		}
	}
	// An unverified PTR is chosen by whoever controls the client's reverse
	// zone: only a forward-confirmed name may match.
	for _, h := range x.Hostnames {
		if name := env.VerifiedName(); name != "" && domainMatch(name, h) {
			return "client hostname " + name + " under " + h
		}
	}
	if env.From != "" && len(x.Senders) > 0 {
		if a, err := ParseAddress(env.From); err == nil && a.Domain != "" {
			for _, d := range x.Senders {
				if domainMatch(a.Domain, d) {
					return "sender domain " + a.Domain + " under " + d
				}
			}
		}
	}
	if rcpt != "" && len(x.Recipients) > 0 {
		if a, err := ParseAddress(rcpt); err == nil {
			for _, r := range x.Recipients {
				if a.String() == r {
					return "recipient " + r
				}
				if local, ok := strings.CutSuffix(r, "@"); ok && strings.EqualFold(a.Local, local) {
					return "recipient " + a.String() + " matches " + r
				}
			}
		}
	}
	return ""
}

// domainMatch reports whether name is domain or below it.
func domainMatch(name, domain string) bool {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	return name == domain || strings.HasSuffix(name, "."+domain)
}
