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
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-msgauth/authres"

	"github.com/mailsift/mailsift/checks"
	"github.com/mailsift/mailsift/internal/resolver"
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
	// Comment says what decided a disposition other than the policy's
	// (another check's refusal, a softening mode); "" for none.
	Comment string
}

// RecordFromResult makes the record of one message from the dmarc,
// spf and dkim checks' results. It looks the policy domain's DMARC record
// up again (a cache hit in the milter's resolver) for the published
// policy and its rua. ok is false when there is nothing to report: no
// DMARC evaluation (no policy, a From that is not one domain, a temporary
// error that tempfailed the message: it comes again), or a policy
// without rua.
//
// The dmarc check's words: status pass or fail, or temperror with reason
// dmarc-temperror-unenforced (accepted: an aligned identifier could not
// be verified now, and the policy was none or not enforced); details
// policy_domain (where the record is), policy and applied (the policy
// after pct sampling); reason dmarc-override when a mailing list or a
// trusted forwarder kept the policy from being enforced; and the
// Authentication-Results dmarc result with header.from.
func RecordFromResult(ctx context.Context, dns TXTResolver, in Input) (Record, bool) {
	dr, ok := in.Results["dmarc"]
	if !ok {
		return Record{}, false
	}
	switch {
	case dr.Status == checks.Pass, dr.Status == checks.Fail:
	case dr.Status == checks.TempError && dr.Reason == "dmarc-temperror-unenforced":
	default:
		return Record{}, false
	}
	from := ""
	for _, a := range dr.AuthRes {
		if g, ok := a.(*authres.GenericResult); ok && g.Method == "dmarc" {
			from = strings.ToLower(strings.TrimSuffix(g.Params["header.from"], "."))
		}
	}
	if from == "" {
		return Record{}, false
	}
	policyDomain := dr.Details["policy_domain"]
	var pub Published
	if policyDomain != "" {
		pub, ok = lookupPublished(ctx, dns, policyDomain)
	} else {
		// A temperror before the record was found: look for it as the
		// check does (RFC 7489 §6.6.3), the From domain, then its
		// organizational domain.
		for _, d := range []string{from, OrgDomain(from)} {
			if pub, ok = lookupPublished(ctx, dns, d); ok {
				policyDomain = d
				break
			}
		}
	}
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
		spf.Result = spfResult(sr.Status)
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
	// What the policy asked for this message: nothing for a pass; for a
	// failure the policy as applied after pct sampling.
	asked := "none"
	switch dr.Status {
	case checks.Fail:
		asked = orDefault(dr.Details["applied"], orDefault(dr.Details["policy"], pub.P))
	case checks.TempError:
		asked = orDefault(dr.Details["policy"], pub.P)
	}
	if asked != "quarantine" && asked != "reject" {
		asked = "none"
	}
	r.Disposition = in.Disposition
	if r.Disposition == "" {
		r.Disposition = asked
		if dr.Reason == "dmarc-override" {
			r.Disposition = "none"
		}
	}
	// RFC 7489 §7.2 (Appendix C PolicyOverrideType): why the disposition
	// is not the published policy's.
	switch {
	case dr.Reason == "dmarc-override" || dr.Status == checks.TempError && strings.Contains(dr.Text, "not enforced: "):
		text := dr.Text
		if _, why, ok := strings.Cut(text, "not enforced: "); ok {
			text = why
		}
		r.Reasons, r.Comment = []string{overrideType(text)}, text
	case r.Disposition != asked && in.Comment != "":
		r.Reasons, r.Comment = []string{"local_policy"}, in.Comment
	case r.Disposition != asked:
		r.Reasons = []string{"local_policy"}
	case dr.Status == checks.Fail && dr.Details["applied"] != "" && dr.Details["applied"] != dr.Details["policy"] && dr.Details["policy"] != "":
		r.Reasons, r.Comment = []string{"sampled_out"}, "policy "+dr.Details["policy"]+" applied as "+dr.Details["applied"]+" (pct="+strconv.Itoa(pub.Pct)+")"
	case dr.Status == checks.TempError:
		r.Reasons, r.Comment = []string{"other"}, "temperror: "+dr.Text
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

// spfResult is a check status in the schema's SPFResultType.
func spfResult(s checks.Status) string {
	switch s {
	case checks.Pass, checks.Fail, checks.SoftFail, checks.Neutral, checks.None, checks.TempError, checks.PermError:
		return string(s)
	}
	return "none"
}

func validDKIMResult(s string) bool {
	switch s {
	case "none", "pass", "fail", "policy", "neutral", "temperror", "permerror":
		return true
	}
	return false
}

// lookupPublished reads the DMARC record at policyDomain, with the dmarc
// check's parser: TXT records whose first tag is not v=DMARC1 are left
// out, and then exactly one must be usable.
func lookupPublished(ctx context.Context, dns TXTResolver, policyDomain string) (Published, bool) {
	txts, err := dns.LookupTXT(ctx, "_dmarc."+policyDomain)
	if err != nil {
		return Published{}, false
	}
	var recs []string
	for _, t := range txts {
		first, _, _ := strings.Cut(t, ";")
		if k, v, ok := strings.Cut(first, "="); ok && strings.EqualFold(strings.TrimSpace(k), "v") && strings.EqualFold(strings.TrimSpace(v), "DMARC1") {
			recs = append(recs, t)
		}
	}
	if len(recs) != 1 {
		return Published{}, false
	}
	rec, err := checks.ParseDMARCRecord(recs[0])
	if err != nil {
		return Published{}, false
	}
	p := Published{ADKIM: string(rec.DKIMAlignment), ASPF: string(rec.SPFAlignment), P: string(rec.Policy),
		SP: string(rec.SubdomainPolicy), Pct: 100}
	if rec.Percent != nil {
		p.Pct = *rec.Percent
	}
	p.Fo = tagValue(recs[0], "fo")
	if len(rec.ReportURIAggregate) > 0 {
		// As published, with their size limits ("!10m"): the parser
		// drops those, and the builder needs them.
		for _, u := range strings.Split(tagValue(recs[0], "rua"), ",") {
			if u = strings.TrimSpace(u); u != "" {
				p.RUA = append(p.RUA, u)
			}
		}
	}
	return p, true
}

// tagValue is a tag's value as published.
func tagValue(txt, tag string) string {
	for _, kv := range strings.Split(txt, ";") {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.EqualFold(strings.TrimSpace(k), tag) {
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
