package dmarcreport

import "encoding/xml"

// Feedback is an aggregate report, the XML of RFC 7489 Appendix C. The
// same types write mailsift's reports and read others'; reading accepts
// any namespace (RFC 9990's too) and missing elements.
type Feedback struct {
	XMLName  xml.Name        `xml:"feedback"`
	Version  string          `xml:"version"`
	Metadata ReportMetadata  `xml:"report_metadata"`
	Policy   PolicyPublished `xml:"policy_published"`
	Records  []XMLRecord     `xml:"record"`
}

// ReportMetadata is who reports, and for when.
type ReportMetadata struct {
	OrgName          string    `xml:"org_name"`
	Email            string    `xml:"email"`
	ExtraContactInfo string    `xml:"extra_contact_info,omitempty"`
	ReportID         string    `xml:"report_id"`
	DateRange        DateRange `xml:"date_range"`
	Errors           []string  `xml:"error,omitempty"`
}

// DateRange is in seconds since the epoch, UTC.
type DateRange struct {
	Begin int64 `xml:"begin"`
	End   int64 `xml:"end"`
}

// PolicyPublished is the DMARC record the report is about. The schema
// requires sp, pct and fo: mailsift writes their defaults when the record
// has none.
type PolicyPublished struct {
	Domain string `xml:"domain"`
	ADKIM  string `xml:"adkim,omitempty"`
	ASPF   string `xml:"aspf,omitempty"`
	P      string `xml:"p"`
	SP     string `xml:"sp"`
	Pct    int    `xml:"pct"`
	Fo     string `xml:"fo"`
}

// XMLRecord is one row of the report: messages alike in all the fields.
type XMLRecord struct {
	Row         XMLRow         `xml:"row"`
	Identifiers XMLIdentifiers `xml:"identifiers"`
	AuthResults XMLAuthResults `xml:"auth_results"`
}

// XMLRow is the source, the count and what DMARC made of them.
type XMLRow struct {
	SourceIP        string          `xml:"source_ip"`
	Count           int64           `xml:"count"`
	PolicyEvaluated PolicyEvaluated `xml:"policy_evaluated"`
}

// PolicyEvaluated is the disposition and the DMARC-aligned results.
type PolicyEvaluated struct {
	Disposition string           `xml:"disposition"`
	DKIM        string           `xml:"dkim"`
	SPF         string           `xml:"spf"`
	Reasons     []OverrideReason `xml:"reason,omitempty"`
}

// OverrideReason says why the policy was not applied as published.
type OverrideReason struct {
	Type    string `xml:"type"`
	Comment string `xml:"comment,omitempty"`
}

// XMLIdentifiers are the message's domains.
type XMLIdentifiers struct {
	EnvelopeTo   string `xml:"envelope_to,omitempty"`
	EnvelopeFrom string `xml:"envelope_from"`
	HeaderFrom   string `xml:"header_from"`
}

// XMLAuthResults are the raw SPF and DKIM results.
type XMLAuthResults struct {
	DKIM []DKIMAuth `xml:"dkim,omitempty"`
	SPF  []SPFAuth  `xml:"spf"`
}

// DKIMAuth is one signature's result.
type DKIMAuth struct {
	Domain      string `xml:"domain" json:"domain"`
	Selector    string `xml:"selector,omitempty" json:"selector,omitempty"`
	Result      string `xml:"result" json:"result"`
	HumanResult string `xml:"human_result,omitempty" json:"human_result,omitempty"`
}

// SPFAuth is one SPF result.
type SPFAuth struct {
	Domain string `xml:"domain" json:"domain"`
	Scope  string `xml:"scope,omitempty" json:"scope,omitempty"`
	Result string `xml:"result" json:"result"`
}
