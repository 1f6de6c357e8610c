package checks

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-msgauth/dmarc"
)

// A DMARC record is read as RFC 7489 §6.3–6.4 has it, and as tolerantly
// as the RFC allows, so that a domain's policy is never lost to a
// spelling: tag names and keyword values are case-insensitive (ABNF quoted
// strings are, RFC 5234 §2.3), whitespace may surround "=" and ";",
// unknown tags are ignored, and a bad value of an optional tag falls back
// to the tag's default (§6.3: "syntax errors in the remainder of the
// record SHOULD be discarded in favor of default values"). Only the
// version must come first, and only a missing or invalid p= (or an invalid
// sp=) makes the record unusable: then §6.6.3 applies.

// errNotDMARC: the TXT record is not a DMARC record at all (its first tag
// is not v=DMARC1); such records are discarded before counting (§6.6.3
// step 2).
var errNotDMARC = errors.New("not a DMARC record: the first tag is not v=DMARC1")

// isDMARCRecord reports whether txt starts with the tag v=DMARC1.
func isDMARCRecord(txt string) bool {
	first, _, _ := strings.Cut(txt, ";")
	name, value, ok := strings.Cut(first, "=")
	return ok && strings.EqualFold(strings.TrimSpace(name), "v") && strings.EqualFold(strings.TrimSpace(value), "DMARC1")
}

// ParseDMARCRecord reads a DMARC record. It fails when the record is not a
// DMARC record, or when it has no valid p= (or has an invalid sp=) and no
// valid rua= to fall back on (RFC 7489 §6.6.3: then the domain has no
// usable policy). With a valid rua=, such a record reads as p=none.
func ParseDMARCRecord(txt string) (*dmarc.Record, error) {
	if !isDMARCRecord(txt) {
		return nil, errNotDMARC
	}
	rec := &dmarc.Record{DKIMAlignment: dmarc.AlignmentRelaxed, SPFAlignment: dmarc.AlignmentRelaxed,
		FailureOptions: dmarc.FailureAll, ReportFormat: []dmarc.ReportFormat{dmarc.ReportFormatAFRF},
		ReportInterval: 86400 * time.Second}
	seen := map[string]bool{}
	var badP, badSP string
	hasP := false
	for i, part := range strings.Split(txt, ";") {
		if i == 0 {
			continue // v=DMARC1
		}
		part = strings.TrimSpace(part)
		if part == "" {
			continue // "p=none;" ends with a separator; ";;" is harmless
		}
		name, value, ok := strings.Cut(part, "=")
		if !ok {
			continue // not a tag: discarded (§6.3)
		}
		name, value = strings.ToLower(strings.TrimSpace(name)), strings.TrimSpace(value)
		if seen[name] {
			continue // the first occurrence counts
		}
		seen[name] = true
		switch name {
		case "p":
			hasP = true
			if p, ok := parsePolicy(value); ok {
				rec.Policy = p
			} else {
				badP = value
			}
		case "sp":
			if p, ok := parsePolicy(value); ok {
				rec.SubdomainPolicy = p
			} else {
				badSP = value
			}
		case "adkim":
			if m, ok := parseAlignment(value); ok {
				rec.DKIMAlignment = m
			}
		case "aspf":
			if m, ok := parseAlignment(value); ok {
				rec.SPFAlignment = m
			}
		case "pct":
			if n, err := strconv.Atoi(value); err == nil && n >= 0 && n <= 100 && !strings.HasPrefix(value, "+") {
				rec.Percent = &n
			}
		case "fo":
			if fo, ok := parseFailureOptions(value); ok {
				rec.FailureOptions = fo
			}
		case "rf":
			if rf, ok := parseReportFormats(value); ok {
				rec.ReportFormat = rf
			}
		case "ri":
			if n, err := strconv.ParseUint(value, 10, 32); err == nil {
				rec.ReportInterval = time.Duration(n) * time.Second
			}
		case "rua":
			rec.ReportURIAggregate = parseReportURIs(value)
		case "ruf":
			rec.ReportURIFailure = parseReportURIs(value)
		}
	}
	if rec.Policy == "" || badSP != "" {
		// §6.6.3: "If a retrieved policy record does not contain a valid
		// "p" tag, or contains an "sp" tag that is not valid, then: if a
		// "rua" tag is present and contains at least one syntactically
		// valid reporting URI, the Mail Receiver SHOULD act as if a record
		// containing a valid "v" tag and "p=none" was retrieved".
		var why string
		switch {
		case !hasP:
			why = "no p= tag"
		case badP != "":
			why = fmt.Sprintf("invalid p=%q", badP)
		default:
			why = fmt.Sprintf("invalid sp=%q", badSP)
		}
		if len(rec.ReportURIAggregate) == 0 {
			return nil, fmt.Errorf("DMARC record %q: %s and no valid rua=", txt, why)
		}
		rec.Policy, rec.SubdomainPolicy = dmarc.PolicyNone, ""
	}
	return rec, nil
}

func parsePolicy(v string) (dmarc.Policy, bool) {
	switch strings.ToLower(v) {
	case "none":
		return dmarc.PolicyNone, true
	case "quarantine":
		return dmarc.PolicyQuarantine, true
	case "reject":
		return dmarc.PolicyReject, true
	}
	return "", false
}

func parseAlignment(v string) (dmarc.AlignmentMode, bool) {
	switch strings.ToLower(v) {
	case "r":
		return dmarc.AlignmentRelaxed, true
	case "s":
		return dmarc.AlignmentStrict, true
	}
	return "", false
}

// parseFailureOptions reads fo=: a colon-separated list of 0, 1, d, s.
func parseFailureOptions(v string) (dmarc.FailureOptions, bool) {
	var fo dmarc.FailureOptions
	for _, o := range strings.Split(v, ":") {
		switch strings.ToLower(strings.TrimSpace(o)) {
		case "0":
			fo |= dmarc.FailureAll
		case "1":
			fo |= dmarc.FailureAny
		case "d":
			fo |= dmarc.FailureDKIM
		case "s":
			fo |= dmarc.FailureSPF
		default:
			return 0, false
		}
	}
	return fo, true
}

// parseReportFormats reads rf=: a colon-separated list of format names
// (§6.4 Keyword); only afrf is registered, the others are kept as given.
func parseReportFormats(v string) ([]dmarc.ReportFormat, bool) {
	var rf []dmarc.ReportFormat
	for _, f := range strings.Split(v, ":") {
		f = strings.ToLower(strings.TrimSpace(f))
		if f == "" || !isKeyword(f) {
			return nil, false
		}
		rf = append(rf, dmarc.ReportFormat(f))
	}
	return rf, true
}

// isKeyword: ALPHA *(ALPHA / DIGIT / "_") (RFC 7489 §6.4, from RFC 5321).
func isKeyword(s string) bool {
	for i, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && (c >= '0' && c <= '9' || c == '_')) {
			return false
		}
	}
	return s != ""
}

// parseReportURIs reads rua= or ruf=: comma-separated URIs, each with an
// optional size limit ("!10m"); commas and exclamation points inside a URI
// are %-encoded (§6.4). The URIs that do not parse, or have no scheme, are
// left out.
func parseReportURIs(v string) []string {
	var out []string
	for _, u := range strings.Split(v, ",") {
		u = strings.TrimSpace(u)
		if i := strings.LastIndexByte(u, '!'); i >= 0 {
			u = u[:i]
		}
		p, err := url.Parse(u)
		if err != nil || p.Scheme == "" || (p.Opaque == "" && p.Host == "" && p.Path == "") {
			continue
		}
		out = append(out, u)
	}
	return out
}
