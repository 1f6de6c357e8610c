// Package dmarcreport handles DMARC aggregate reports (RFC 7489 §7.2)
// both ways. As a receiver, it records each message's DMARC evaluation
// (RecordFromResult), and once a day builds, for each domain that asks
// for them with rua=, the XML report, gzips it and mails it through the
// local MTA (Builder). As a domain owner, it reads the reports others send
// (ParseMessage, ParseReport) into rows for the log and for "mailsift
// dmarc summary".
package dmarcreport

import (
	"context"
	"net/mail"
	"net/netip"
	"strings"
	"time"

	"github.com/emersion/go-msgauth/authres"
	"github.com/emersion/go-msgauth/dmarc"

	"github.com/mailsift/mailsift/checks"
	"github.com/mailsift/mailsift/resolver"
)

// Record is one message's DMARC evaluation, as a receiver keeps it for the
// report.
type Record struct {
	Time         time.Time  `json:"time"`
	SourceIP     netip.Addr `json:"source_ip"`
	HeaderFrom   string     `json:"header_from"`              // RFC5322.From domain
	EnvelopeFrom string     `json:"envelope_from"`            // RFC5321.MailFrom domain (the HELO name for <>)
	EnvelopeTo   string     `json:"envelope_to,omitempty"`    // the first recipient's domain
	PolicyDomain string     `json:"policy_domain"`            // where the DMARC record was found
	Policy       Published  `json:"policy"`                   // that record
	SPF          []SPFAuth  `json:"spf"`                      // raw SPF results
	DKIM         []DKIMAuth `json:"dkim,omitempty"`           // raw DKIM results
	SPFAligned   bool       `json:"spf_aligned"`              // SPF passed for an aligned domain
	DKIMAligned  bool       `json:"dkim_aligned"`             // DKIM passed for an aligned domain
	Disposition  string     `json:"disposition"`              // none, quarantine, reject: what was done
	Reasons      []string   `json:"reasons,omitempty"`        // override types (forwarded, mailing_list, local_policy, ...)
	Comment      string     `json:"reason_comment,omitempty"` // the override's detail
}

// Published is the DMARC record in effect for a message.
type Published struct {
	ADKIM string   `json:"adkim"`
	ASPF  string   `json:"aspf"`
	P     string   `json:"p"`
	SP    string   `json:"sp,omitempty"`
	Pct   int      `json:"pct"`
	Fo    string   `json:"fo,omitempty"`
	RUA   []string `json:"rua"`
}

// Input is what the milter knows at the end of a message.
type Input struct {
	Time     time.Time
	ClientIP netip.Addr
	Helo     string
	MailFrom string                   // the envelope sender, "" for <>
	Rcpts    []string                 // the envelope recipients
	Results  map[string]checks.Result // the checks' results: "spf", "dkim", "dmarc"
	// Disposition is what was done with the message: "none",
	// "quarantine" or "reject". "" takes the dmarc check's policy as
	// applied (details "applied"), none for a pass.
	Disposition string
}

// RecordFromResult makes the record of one message from the dmarc,
// spf and dkim checks' results. It looks the policy domain's DMARC record
// up again (a cache hit in the milter's resolver) for the published
// policy and its rua. ok is false when there is nothing to report: no
// DMARC result, no policy, or a policy without rua.
func RecordFromResult(ctx context.Context, dns TXTResolver, in Input) (Record, bool) {
	dr, ok := in.Results["dmarc"]
	if !ok || (dr.Status != checks.Pass && dr.Status != checks.Fail) {
		return Record{}, false
	}
	from := ""
	for _, a := range dr.AuthRes {
		if g, ok := a.(*authres.GenericResult); ok {
			from = g.Params["header.from"]
		}
	}
	policyDomain := dr.Details["policy_domain"]
	if from == "" {
		return Record{}, false
	}
	if policyDomain == "" {
		policyDomain = from
	}
	pub, ok := lookupPublished(ctx, dns, policyDomain)
	if !ok || len(pub.RUA) == 0 {
		return Record{}, false
	}
	r := Record{Time: in.Time.UTC(), SourceIP: in.ClientIP, HeaderFrom: from, PolicyDomain: policyDomain, Policy: pub}
	helo := strings.ToLower(strings.TrimSuffix(in.Helo, "."))
	spf := SPFAuth{Scope: "mfrom", Result: "none"}
	if in.MailFrom == "" {
		spf.Domain, spf.Scope = helo, "helo"
	} else {
		spf.Domain = domainOf(in.MailFrom)
	}
	r.EnvelopeFrom = spf.Domain
	if len(in.Rcpts) > 0 {
		r.EnvelopeTo = domainOf(in.Rcpts[0])
	}
	if sr, ok := in.Results["spf"]; ok && sr.Status != "" {
		spf.Result = string(sr.Status)
		r.SPFAligned = sr.Status == checks.Pass && aligned(spf.Domain, from, pub.ASPF)
	}
	r.SPF = []SPFAuth{spf}
	if kr, ok := in.Results["dkim"]; ok {
		for _, a := range kr.AuthRes {
			k, ok := a.(*authres.DKIMResult)
			if !ok || k.Domain == "" {
				continue
			}
			res := string(k.Value)
			if !validDKIMResult(res) {
				res = "neutral"
			}
			r.DKIM = append(r.DKIM, DKIMAuth{Domain: strings.ToLower(k.Domain), Result: res, HumanResult: k.Reason})
			if k.Value == authres.ResultPass && aligned(k.Domain, from, pub.ADKIM) {
				r.DKIMAligned = true
			}
		}
	}
	r.Disposition = in.Disposition
	if r.Disposition == "" {
		r.Disposition = "none"
		if dr.Status == checks.Fail {
			if a := dr.Details["applied"]; a == "quarantine" || a == "reject" {
				r.Disposition = a
			}
		}
	}
	if dr.Reason == "dmarc-override" {
		r.Disposition = "none"
		r.Reasons, r.Comment = []string{overrideType(dr.Text)}, dr.Text
	}
	return r, true
}

func overrideType(text string) string {
	switch {
	case strings.Contains(text, "mailing list"):
		return "mailing_list"
	case strings.Contains(text, "trusted forwarder"):
		return "trusted_forwarder"
	}
	return "local_policy"
}

func validDKIMResult(s string) bool {
	switch s {
	case "none", "pass", "fail", "policy", "neutral", "temperror", "permerror":
		return true
	}
	return false
}

// lookupPublished reads the DMARC record at policyDomain.
func lookupPublished(ctx context.Context, dns TXTResolver, policyDomain string) (Published, bool) {
	txts, err := dns.LookupTXT(ctx, "_dmarc."+policyDomain)
	if err != nil {
		return Published{}, false
	}
	var recs []string
	for _, t := range txts {
		if strings.HasPrefix(strings.TrimSpace(t), "v=DMARC1") {
			recs = append(recs, t)
		}
	}
	if len(recs) != 1 {
		return Published{}, false
	}
	rec, err := dmarc.Parse(recs[0])
	if err != nil {
		return Published{}, false
	}
	p := Published{ADKIM: string(rec.DKIMAlignment), ASPF: string(rec.SPFAlignment), P: string(rec.Policy),
		SP: string(rec.SubdomainPolicy), Pct: 100, RUA: rec.ReportURIAggregate}
	if rec.Percent != nil {
		p.Pct = *rec.Percent
	}
	if rec.FailureOptions != 0 {
		p.Fo = foString(recs[0])
	}
	return p, true
}

// foString is the fo= tag as published.
func foString(txt string) string {
	for _, kv := range strings.Split(txt, ";") {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.TrimSpace(k) == "fo" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func aligned(a, b, mode string) bool {
	a, b = strings.ToLower(strings.TrimSuffix(a, ".")), strings.ToLower(strings.TrimSuffix(b, "."))
	if mode == "s" {
		return a == b
	}
	return OrgDomain(a) == OrgDomain(b)
}

func domainOf(addr string) string {
	if a, err := mail.ParseAddress("<" + strings.Trim(addr, "<>") + ">"); err == nil {
		addr = a.Address
	}
	return strings.ToLower(strings.TrimSuffix(addr[strings.LastIndexByte(addr, '@')+1:], "."))
}

var _ TXTResolver = (*resolver.Resolver)(nil)
