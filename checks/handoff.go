package checks

import (
	"context"
	"strings"
)

// The typed hand-offs between checks. A check never reads another check's
// Result by name: the check that finds something later checks need puts it
// in a typed field of its Result (ClientName, SPF, DKIM), the session hands
// it on with Envelope.Take, and the later check reads the Envelope's field.
// docs/flow.md draws who feeds whom.

// SPFOutcome is what the spf check found, as DMARC (RFC 7489 §4.2: the SPF
// result and the identity it is for) and the greylist need it.
type SPFOutcome struct {
	Status Status
	// Identity is "mailfrom", or "helo" for the null sender (RFC 7208 §2.4).
	Identity string
	// Domain is the domain checked: the MAIL FROM domain, or the HELO name.
	Domain string
	// Mechanism is, on a pass, the mechanism that matched the client (RFC
	// 7208 §5: "ip4", "ip6", "a", "mx", "ptr", "exists", "all"), the
	// innermost one through include and redirect; "" when not known.
	Mechanism string
	// Explanation is, on a fail, the domain's explanation (exp=, RFC 7208
	// §6.2), for the reply; "" when it gave none.
	Explanation string
	// LeftToDMARC is set on a fail by an SPFAmender (the dmarc check):
	// the domain's DMARC policy enforces, or cannot be known now, so SPF
	// did not refuse at MAIL FROM. DMARC judges this result only for a
	// header From aligned with Domain; for any other, the spf check
	// judges again at the end of the message (SPF.CheckData).
	LeftToDMARC bool
}

// MatchedIP reports whether an SPF pass names the client's address
// itself: the mechanism that matched was ip4, ip6, a or mx. A pass by all,
// exists or ptr holds for any address the domain's owner likes, so it says
// nothing about which client this is.
func (o *SPFOutcome) MatchedIP() bool {
	if o == nil || o.Status != Pass {
		return false
	}
	switch o.Mechanism {
	case "ip4", "ip6", "a", "mx":
		return true
	}
	return false
}

// DKIMOutcome is what the dkim check found, as DMARC needs it.
type DKIMOutcome struct {
	Status     Status // the best signature's (pass > temperror > fail > permerror)
	Text       string // why, when no signature was verified
	Signatures []DKIMSignature
}

// DKIMSignature is one signature's verdict.
type DKIMSignature struct {
	Status Status
	Domain string // d=, "" when the signature could not be read
}

// SPFAmender is a check that completes an SPF result of the same stage
// before the policy sees it, from the SPF outcome alone. The dmarc check is
// one: an SPF fail for a domain whose DMARC policy enforces, or cannot be
// known now, is left to DMARC (ReasonSPFFailDMARCDecides, and
// SPFOutcome.LeftToDMARC), so that forwarded mail with a good DKIM
// signature is not lost. The header From is not known yet at MAIL FROM:
// when it turns out not to align with the failing domain, DMARC does not
// judge that SPF result, and the spf check's own verdict comes back at the
// end of the message (SPF.CheckData).
type SPFAmender interface {
	Check
	AmendSPF(ctx context.Context, r *Result)
}

// Take hands on r's typed findings to the checks that run after it: a
// forward-confirmed client name, the SPF and DKIM outcomes. The session
// calls it for each result, in order.
func (env *Envelope) Take(r Result) {
	if r.Status == Pass && r.ClientName != "" {
		env.PTRName = r.ClientName
	}
	if r.RefutesClientName {
		env.PTRRefuted = true
	}
	if r.SPF != nil {
		env.SPF = r.SPF
	}
	if r.DKIM != nil {
		env.DKIM = r.DKIM
	}
}

// ForgetMessage drops the hand-offs of the current message, at its end.
func (env *Envelope) ForgetMessage() {
	env.SPF, env.DKIM = nil, nil
}

// VerifiedName is the client's verified hostname: the one the ptr check
// forward-confirmed; else, unless the ptr check found that the client's
// reverse DNS does not hold, the one the MTA verified ({client_name});
// else "". Exceptions, the greylist key and the log know the client by it.
func (env *Envelope) VerifiedName() string {
	switch {
	case env.PTRName != "":
		return env.PTRName
	case env.PTRRefuted:
		return ""
	}
	return env.ClientName
}

// afterAt is the part of an address after its last "@" (all of it when
// there is none).
func afterAt(addr string) string {
	return addr[strings.LastIndexByte(addr, '@')+1:]
}
