package dmarcreport

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"mime"
	"net/mail"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
)

// Builder makes and sends the aggregate reports of a period.
type Builder struct {
	Store      Store
	DNS        TXTResolver // for the verification of external destinations (RFC 7489 §7.1)
	OrgName    string      // report_metadata org_name: who we are
	ReportFrom string      // the reports' From and envelope sender, and report_metadata email
	Receiver   string      // our domain in the file name and subject; "" is ReportFrom's domain
	Send       Sender      // nil: Report builds but does not send
	Now        func() time.Time
	Log        *zap.Logger
}

// Report is one aggregate report, ready to send.
type Report struct {
	PolicyDomain string
	ID           string
	Filename     string   // receiver!policy-domain!begin!end.xml.gz (RFC 7489 §7.2.1.1)
	XML          []byte   // the report
	Gzip         []byte   // the attachment
	To           []string // the verified destinations
	Refused      []string // destinations left out, each with why
	Message      []byte   // the email, for To
}

func (b *Builder) now() time.Time {
	if b.Now != nil {
		return b.Now()
	}
	return time.Now()
}

func (b *Builder) log() *zap.Logger {
	if b.Log != nil {
		return b.Log
	}
	return zap.NewNop()
}

func (b *Builder) receiver() string {
	if b.Receiver != "" {
		return b.Receiver
	}
	return domainOf(b.ReportFrom)
}

// Build makes the reports for the records with begin <= time < end: one
// per policy domain with a rua, its destinations verified first. A
// domain whose destinations are all refused gets no report.
func (b *Builder) Build(ctx context.Context, begin, end time.Time) ([]*Report, error) {
	return b.buildAll(ctx, begin, end, b.logRefused)
}

func (b *Builder) buildAll(ctx context.Context, begin, end time.Time, refused func(*Report)) ([]*Report, error) {
	recs, err := b.Store.Records(ctx, begin, end)
	if err != nil {
		return nil, err
	}
	byDomain := map[string][]Record{}
	for _, r := range recs {
		byDomain[r.PolicyDomain] = append(byDomain[r.PolicyDomain], r)
	}
	domains := make([]string, 0, len(byDomain))
	for d := range byDomain {
		domains = append(domains, d)
	}
	sort.Strings(domains)
	var out []*Report
	for _, d := range domains {
		rs := byDomain[d]
		rep := &Report{PolicyDomain: d}
		var dests []Destination
		last := rs[len(rs)-1].Policy // the record as most lately published
		for _, u := range last.RUA {
			dest, err := ParseURI(u)
			if err != nil {
				rep.Refused = append(rep.Refused, err.Error())
				continue
			}
			ok, err := Authorized(ctx, b.DNS, d, dest)
			switch {
			case err != nil:
				rep.Refused = append(rep.Refused, dest.Address+": "+err.Error())
				continue
			case !ok:
				rep.Refused = append(rep.Refused, fmt.Sprintf("%s: external destination not authorized (no v=DMARC1 at %s)", dest.Address, VerificationName(d, dest)))
				continue
			}
			dests = append(dests, dest)
		}
		if len(dests) == 0 {
			refused(rep)
			continue
		}
		rep.Filename = fmt.Sprintf("%s!%s!%d!%d.xml.gz", b.receiver(), d, begin.Unix(), end.Unix()-1)
		rep.ID = reportID(b.receiver(), d, begin, end)
		rep.XML, err = b.xml(d, rep.ID, last, rs, begin, end)
		if err != nil {
			return nil, err
		}
		rep.Gzip, err = gzipped(strings.TrimSuffix(rep.Filename, ".gz"), rep.XML, end)
		if err != nil {
			return nil, err
		}
		for _, dest := range dests {
			rep.To = append(rep.To, dest.Address)
		}
		rep.Message = b.message(rep)
		// A destination's size limit (RFC 7489 §6.2 "!10m") leaves it out.
		rep.To = nil
		for _, dest := range dests {
			if dest.MaxSize > 0 && int64(len(rep.Message)) > dest.MaxSize {
				rep.Refused = append(rep.Refused, fmt.Sprintf("%s: the report (%d bytes) is over its size limit %d", dest.Address, len(rep.Message), dest.MaxSize))
				continue
			}
			rep.To = append(rep.To, dest.Address)
		}
		refused(rep)
		if len(rep.To) == 0 {
			continue
		}
		if len(rep.To) < len(dests) {
			rep.Message = b.message(rep)
		}
		out = append(out, rep)
	}
	return out, nil
}

func (b *Builder) logRefused(rep *Report) {
	for _, why := range rep.Refused {
		b.log().Warn("dmarc report destination refused", zap.String("mailsift.dmarc.policy_domain", rep.PolicyDomain), zap.String("mailsift.dmarc.why", why))
	}
}

func reportID(receiver, domain string, begin, end time.Time) string {
	h := sha256.Sum256([]byte(fmt.Sprintf("%s|%s|%d|%d", receiver, domain, begin.Unix(), end.Unix())))
	return domain + "." + strconv.FormatInt(begin.Unix(), 10) + "." + hex.EncodeToString(h[:6]) + "@" + receiver
}

// xml writes the report of one policy domain (RFC 7489 Appendix C).
func (b *Builder) xml(domain, id string, pub Published, rs []Record, begin, end time.Time) ([]byte, error) {
	p, sp := pub.P, pub.SP
	if sp == "" {
		sp = p
	}
	fo := pub.Fo
	if fo == "" {
		fo = "0"
	}
	f := Feedback{
		Version: "1.0",
		Metadata: ReportMetadata{OrgName: b.OrgName, Email: b.ReportFrom, ReportID: id,
			DateRange: DateRange{Begin: begin.Unix(), End: end.Unix() - 1}},
		Policy: PolicyPublished{Domain: domain, ADKIM: orDefault(pub.ADKIM, "r"), ASPF: orDefault(pub.ASPF, "r"), P: p, SP: sp, Pct: pub.Pct, Fo: fo},
	}
	// One row per set of messages alike in everything the report shows.
	idx := map[string]int{}
	for _, r := range rs {
		x := XMLRecord{
			Row: XMLRow{SourceIP: ipForSchema(r.SourceIP), Count: 1, PolicyEvaluated: PolicyEvaluated{
				Disposition: r.Disposition, DKIM: passFail(r.DKIMAligned), SPF: passFail(r.SPFAligned)}},
			Identifiers: XMLIdentifiers{EnvelopeTo: r.EnvelopeTo, EnvelopeFrom: r.EnvelopeFrom, HeaderFrom: r.HeaderFrom},
			AuthResults: XMLAuthResults{DKIM: r.DKIM, SPF: r.SPF},
		}
		for _, t := range r.Reasons {
			x.Row.PolicyEvaluated.Reasons = append(x.Row.PolicyEvaluated.Reasons, OverrideReason{Type: t, Comment: r.Comment})
		}
		if len(x.AuthResults.SPF) == 0 { // the schema wants at least one
			x.AuthResults.SPF = []SPFAuth{{Domain: r.EnvelopeFrom, Scope: "mfrom", Result: "none"}}
		}
		k, _ := xml.Marshal(struct {
			XMLName xml.Name `xml:"k"`
			XMLRecord
		}{XMLRecord: x})
		if i, ok := idx[string(k)]; ok {
			f.Records[i].Row.Count++
			continue
		}
		idx[string(k)] = len(f.Records)
		f.Records = append(f.Records, x)
	}
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	enc := xml.NewEncoder(&buf)
	enc.Indent("", "  ")
	if err := enc.Encode(f); err != nil {
		return nil, fmt.Errorf("dmarc report %s: %w", domain, err)
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func passFail(ok bool) string {
	if ok {
		return "pass"
	}
	return "fail"
}

// ipForSchema writes an IPv6 address in full: the schema's pattern knows
// no "::".
func ipForSchema(a netip.Addr) string {
	if a.Is6() && !a.Is4In6() {
		return a.StringExpanded()
	}
	return a.String()
}

func gzipped(name string, data []byte, mod time.Time) ([]byte, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Name, zw.ModTime = name, mod
	if _, err := zw.Write(data); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// message is the report's email (RFC 7489 §7.2.1.1): a subject that names
// the domain, the submitter and the report, a short text, and the gzipped
// report as an attachment.
func (b *Builder) message(rep *Report) []byte {
	var m bytes.Buffer
	boundary := "mailsift-" + hex.EncodeToString([]byte(rep.ID))[:24]
	hdr := func(k, v string) { fmt.Fprintf(&m, "%s: %s\r\n", k, v) }
	from := (&mail.Address{Name: b.OrgName, Address: b.ReportFrom}).String()
	hdr("From", from)
	hdr("To", strings.Join(rep.To, ", "))
	hdr("Subject", mime.QEncoding.Encode("utf-8", fmt.Sprintf("Report Domain: %s Submitter: %s Report-ID: <%s>", rep.PolicyDomain, b.receiver(), rep.ID)))
	hdr("Date", b.now().UTC().Format(time.RFC1123Z))
	hdr("Message-ID", "<"+rep.ID+">")
	hdr("MIME-Version", "1.0")
	hdr("Content-Type", `multipart/mixed; boundary="`+boundary+`"`)
	m.WriteString("\r\n")
	fmt.Fprintf(&m, "--%s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n", boundary)
	fmt.Fprintf(&m, "This is a DMARC aggregate report (RFC 7489) from %s about mail using %s.\r\n\r\n", b.receiver(), rep.PolicyDomain)
	fmt.Fprintf(&m, "--%s\r\nContent-Type: application/gzip; name=\"%s\"\r\nContent-Disposition: attachment; filename=\"%s\"\r\nContent-Transfer-Encoding: base64\r\n\r\n",
		boundary, rep.Filename, rep.Filename)
	enc := base64.StdEncoding.EncodeToString(rep.Gzip)
	for len(enc) > 76 {
		m.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	m.WriteString(enc + "\r\n")
	fmt.Fprintf(&m, "--%s--\r\n", boundary)
	return m.Bytes()
}

// SendReports mails each report to its destinations.
func (b *Builder) SendReports(ctx context.Context, reps []*Report) error {
	var firstErr error
	for _, rep := range reps {
		to := rep.To
		if err := b.Send.Send(ctx, b.ReportFrom, to, rep.Message); err != nil {
			b.log().Error("dmarc report not sent", zap.String("mailsift.dmarc.policy_domain", rep.PolicyDomain), zap.Strings("email.to.address", to), zap.Error(err))
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		b.log().Info("dmarc report sent", zap.String("mailsift.dmarc.policy_domain", rep.PolicyDomain), zap.String("mailsift.dmarc.report_id", rep.ID),
			zap.Strings("email.to.address", to), zap.Int("mailsift.dmarc.bytes", len(rep.Message)))
	}
	return firstErr
}

// Run builds the reports of [begin, end), sends them, and forgets the
// records reported. Records stay when a report could not be sent.
func (b *Builder) Run(ctx context.Context, begin, end time.Time) error {
	reps, err := b.Build(ctx, begin, end)
	if err != nil {
		return err
	}
	if b.Send != nil {
		if err := b.SendReports(ctx, reps); err != nil {
			return err
		}
	}
	return b.Store.Prune(ctx, end)
}

// Period is the reporting period that ended last before now: whole
// intervals counted from the Unix epoch, so a day is a UTC day.
func Period(now time.Time, interval time.Duration) (begin, end time.Time) {
	end = now.UTC().Truncate(interval)
	return end.Add(-interval), end
}

// Loop reports each period when it ends, until ctx is done.
func (b *Builder) Loop(ctx context.Context, interval time.Duration) {
	for {
		_, end := Period(b.now(), interval)
		next := end.Add(interval)
		t := time.NewTimer(next.Sub(b.now()))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		begin, end := Period(b.now(), interval)
		if err := b.Run(ctx, begin, end); err != nil {
			b.log().Error("dmarc reports", zap.Time("mailsift.dmarc.begin", begin), zap.Time("mailsift.dmarc.end", end), zap.Error(err))
		}
	}
}

// WriteDir writes each report's gzipped file and its email into dir,
// for "mailsift dmarc report --dry-run".
func WriteDir(dir string, reps []*Report) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var files []string
	for _, rep := range reps {
		for _, f := range []struct {
			name string
			data []byte
		}{{rep.Filename, rep.Gzip}, {strings.TrimSuffix(rep.Filename, ".xml.gz") + ".eml", rep.Message}} {
			p := filepath.Join(dir, f.name)
			tmp := p + ".tmp"
			if err := os.WriteFile(tmp, f.data, 0o644); err != nil {
				return files, err
			}
			if err := os.Rename(tmp, p); err != nil {
				return files, err
			}
			files = append(files, p)
		}
	}
	return files, nil
}
