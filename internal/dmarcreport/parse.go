package dmarcreport

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"

	"go.uber.org/zap"
)

// Limits on what one report may cost to read.
const (
	maxReportBytes  = 64 << 20 // one report, uncompressed
	maxMessageBytes = 32 << 20 // one email carrying reports
	maxParts        = 50       // MIME parts looked at in one email
)

// Row is one row of a received aggregate report, as a domain owner reads
// it: who reported, which source sent how many messages as our domain,
// and how they fared.
type Row struct {
	Reporter     string     `json:"reporter"` // org_name
	ReportID     string     `json:"report_id"`
	Begin        time.Time  `json:"begin"`
	End          time.Time  `json:"end"`
	PolicyDomain string     `json:"policy_domain"`
	SourceIP     string     `json:"source_ip"`
	Count        int64      `json:"count"`
	Disposition  string     `json:"disposition"`
	DKIM         string     `json:"dkim"` // the DMARC-aligned DKIM result: pass or fail
	SPF          string     `json:"spf"`  // the DMARC-aligned SPF result: pass or fail
	Reasons      []string   `json:"reasons,omitempty"`
	HeaderFrom   string     `json:"header_from"`
	EnvelopeFrom string     `json:"envelope_from,omitempty"`
	DKIMResults  []DKIMAuth `json:"dkim_results,omitempty"`
	SPFResults   []SPFAuth  `json:"spf_results,omitempty"`
}

// Fails reports whether the row's messages failed DMARC: neither an
// aligned DKIM nor an aligned SPF pass.
func (r Row) Fails() bool {
	return !strings.EqualFold(r.DKIM, "pass") && !strings.EqualFold(r.SPF, "pass")
}

// ErrNoReport says that input holds no aggregate report.
var ErrNoReport = errors.New("no DMARC aggregate report found")

// ParseReport reads one report file: gzip, zip (every XML file in it) or
// plain XML, told apart by their first bytes.
func ParseReport(data []byte) ([]*Feedback, error) {
	budget := int64(maxReportBytes)
	return parseReport(data, &budget)
}

// parseReport reads one report file, uncompressing at most *budget bytes
// in all (a zip of many large members is a bomb, not a report).
func parseReport(data []byte, budget *int64) ([]*Feedback, error) {
	switch {
	case bytes.HasPrefix(data, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("dmarc report: gzip: %w", err)
		}
		zr.Multistream(false) // one member; some reporters append line breaks after it
		// data becomes the XML, read below as a plain report's.
		if data, err = readBudget(zr, budget); err != nil {
			return nil, fmt.Errorf("dmarc report: gzip: %w", err)
		}
	case bytes.HasPrefix(data, []byte("PK\x03\x04")):
		zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return nil, fmt.Errorf("dmarc report: zip: %w", err)
		}
		var out []*Feedback
		var firstErr error
		for i, zf := range zr.File {
			if i >= maxParts {
				break
			}
			if zf.FileInfo().IsDir() {
				continue
			}
			rc, err := zf.Open()
			if err != nil {
				firstErr = cmpErr(firstErr, fmt.Errorf("dmarc report: zip: %s: %w", zf.Name, err))
				continue
			}
			xmlData, err := readBudget(rc, budget)
			rc.Close()
			if err != nil {
				firstErr = cmpErr(firstErr, fmt.Errorf("dmarc report: zip: %s: %w", zf.Name, err))
				continue
			}
			f, err := parseXML(xmlData)
			if err != nil {
				firstErr = cmpErr(firstErr, fmt.Errorf("%s: %w", zf.Name, err))
				continue
			}
			out = append(out, f)
		}
		if len(out) == 0 {
			if firstErr == nil {
				firstErr = fmt.Errorf("dmarc report: zip: %w", ErrNoReport)
			}
			return nil, firstErr
		}
		return out, nil
	}
	f, err := parseXML(data)
	if err != nil {
		return nil, err
	}
	return []*Feedback{f}, nil
}

func cmpErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

func readBudget(r io.Reader, budget *int64) ([]byte, error) {
	b, err := readLimited(r, *budget)
	if err != nil {
		return nil, err
	}
	*budget -= int64(len(b))
	return b, nil
}

func readLimited(r io.Reader, n int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, n+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > n {
		return nil, fmt.Errorf("larger than %d bytes", n)
	}
	return b, nil
}

// parseXML reads the XML of one report. Bytes that are not UTF-8 are
// replaced, as real reporters send Latin-1 in comments.
func parseXML(data []byte) (*Feedback, error) {
	if !bytes.Contains(data, []byte("<feedback")) {
		return nil, fmt.Errorf("dmarc report: %w (no <feedback> element)", ErrNoReport)
	}
	data = bytes.ToValidUTF8(data, []byte("\uFFFD"))
	d := xml.NewDecoder(bytes.NewReader(data))
	d.CharsetReader = func(_ string, r io.Reader) (io.Reader, error) { return r, nil } // already made UTF-8
	// Find <feedback>: some reporters wrap it in an unclosed <xs:schema>.
	var f Feedback
	for {
		tok, err := d.Token()
		if err != nil {
			return nil, fmt.Errorf("dmarc report: xml: %w", err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "feedback" {
			if err := d.DecodeElement(&f, &se); err != nil {
				return nil, fmt.Errorf("dmarc report: xml: %w", err)
			}
			break
		}
	}
	if f.Policy.Domain == "" && len(f.Records) == 0 {
		return nil, fmt.Errorf("dmarc report: %w (no policy domain and no records)", ErrNoReport)
	}
	return &f, nil
}

// ParseMessage reads an email carrying aggregate reports (RFC 7489
// §7.2.1.1: a gzip, zip or XML attachment, or the whole body) and returns
// every report in it.
func ParseMessage(r io.Reader) ([]*Feedback, error) {
	data, err := readLimited(r, maxMessageBytes)
	if err != nil {
		return nil, fmt.Errorf("dmarc report message: %w", err)
	}
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("dmarc report message: %w", err)
	}
	p := &partWalker{budget: maxReportBytes}
	p.walk(textprotoHeader(msg.Header), msg.Body, 0)
	if len(p.reports) == 0 {
		if p.err != nil {
			return nil, p.err
		}
		return nil, fmt.Errorf("dmarc report message: %w", ErrNoReport)
	}
	return p.reports, nil
}

type header interface{ Get(string) string }

type textprotoHeader mail.Header

func (h textprotoHeader) Get(k string) string { return mail.Header(h).Get(k) }

type partWalker struct {
	budget  int64 // bytes left to uncompress
	reports []*Feedback
	err     error
	parts   int
}

func (p *partWalker) walk(h header, body io.Reader, depth int) {
	if p.parts++; p.parts > maxParts || depth > 5 {
		return
	}
	ctype, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil {
		ctype = "text/plain"
	}
	if strings.HasPrefix(ctype, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			part, err := mr.NextRawPart()
			if err != nil {
				if !errors.Is(err, io.EOF) && p.err == nil {
					p.err = fmt.Errorf("dmarc report message: %w", err)
				}
				return
			}
			p.walk(part.Header, part, depth+1)
		}
	}
	var r io.Reader = body
	switch strings.ToLower(strings.TrimSpace(h.Get("Content-Transfer-Encoding"))) {
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, &noSpace{r: body})
	case "quoted-printable":
		r = quotedprintable.NewReader(body)
	}
	data, err := readLimited(r, maxReportBytes)
	if err != nil {
		if p.err == nil {
			p.err = fmt.Errorf("dmarc report message: %s part: %w", ctype, err)
		}
		return
	}
	fs, err := parseReport(data, &p.budget)
	if err != nil {
		if p.err == nil && !errors.Is(err, ErrNoReport) {
			p.err = err
		}
		return
	}
	p.reports = append(p.reports, fs...)
}

// noSpace drops the line breaks and spaces of base64 text.
type noSpace struct{ r io.Reader }

func (n *noSpace) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	for {
		k, err := n.r.Read(b)
		j := 0
		for _, c := range b[:k] {
			if c != '\r' && c != '\n' && c != ' ' && c != '\t' {
				b[j] = c
				j++
			}
		}
		if j > 0 || err != nil {
			return j, err
		}
	}
}

// Rows turns a report into its rows.
func Rows(f *Feedback) []Row {
	m := f.Metadata
	begin, end := time.Unix(m.DateRange.Begin, 0).UTC(), time.Unix(m.DateRange.End, 0).UTC()
	reporter := strings.TrimSpace(m.OrgName)
	if reporter == "" { // some leave it empty: the domain of their address
		reporter = domainOf(strings.TrimSpace(m.Email))
	}
	var rows []Row
	for _, rec := range f.Records {
		pe := rec.Row.PolicyEvaluated
		row := Row{
			Reporter: reporter, ReportID: strings.TrimSpace(m.ReportID), Begin: begin, End: end,
			PolicyDomain: strings.ToLower(strings.TrimSpace(f.Policy.Domain)), SourceIP: normalizeIP(rec.Row.SourceIP), Count: rec.Row.Count,
			Disposition: lower(pe.Disposition), DKIM: lower(pe.DKIM), SPF: lower(pe.SPF),
			HeaderFrom: lower(rec.Identifiers.HeaderFrom), EnvelopeFrom: lower(rec.Identifiers.EnvelopeFrom),
			DKIMResults: rec.AuthResults.DKIM, SPFResults: rec.AuthResults.SPF,
		}
		for _, rs := range pe.Reasons {
			row.Reasons = append(row.Reasons, lower(rs.Type))
		}
		rows = append(rows, row)
	}
	return rows
}

func lower(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

func normalizeIP(s string) string {
	s = strings.TrimSpace(s)
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap().String()
	}
	return s
}

// LogFields are a row's fields for its structured log record.
func LogFields(r Row) []zap.Field {
	f := []zap.Field{
		zap.String("event.action", "dmarc-aggregate-row"),
		zap.String("mailsift.dmarc.reporter", r.Reporter),
		zap.String("mailsift.dmarc.report_id", r.ReportID),
		zap.String("mailsift.dmarc.policy_domain", r.PolicyDomain),
		zap.String("source.ip", r.SourceIP),
		zap.Int64("mailsift.dmarc.count", r.Count),
		zap.String("mailsift.dmarc.disposition", r.Disposition),
		zap.String("mailsift.dmarc.dkim", r.DKIM),
		zap.String("mailsift.dmarc.spf", r.SPF),
		zap.String("mailsift.dmarc.header_from", r.HeaderFrom),
		zap.Time("mailsift.dmarc.begin", r.Begin),
		zap.Time("mailsift.dmarc.end", r.End),
	}
	var dk, sp []string
	for _, d := range r.DKIMResults {
		dk = append(dk, d.Domain+"="+d.Result)
	}
	for _, s := range r.SPFResults {
		sp = append(sp, s.Domain+"="+s.Result)
	}
	if len(dk) > 0 {
		f = append(f, zap.String("mailsift.dmarc.dkim_results", strings.Join(dk, " ")))
	}
	if len(sp) > 0 {
		f = append(f, zap.String("mailsift.dmarc.spf_results", strings.Join(sp, " ")))
	}
	if len(r.Reasons) > 0 {
		f = append(f, zap.Strings("mailsift.dmarc.reasons", r.Reasons))
	}
	return f
}

// Source is what the rows say of one source IP.
type Source struct {
	IP          string
	Messages    int64
	Failing     int64 // messages that failed DMARC
	Rejected    int64 // of those, the ones the receivers rejected or quarantined
	HeaderFroms []string
	Reporters   []string
}

// Summarize adds the rows up per source IP, the ones with the most
// failing messages first.
func Summarize(rows []Row) []Source {
	by := map[string]*Source{}
	froms, reporters := map[string]map[string]bool{}, map[string]map[string]bool{}
	for _, r := range rows {
		s, ok := by[r.SourceIP]
		if !ok {
			s = &Source{IP: r.SourceIP}
			by[r.SourceIP] = s
			froms[r.SourceIP], reporters[r.SourceIP] = map[string]bool{}, map[string]bool{}
		}
		s.Messages += r.Count
		if r.Fails() {
			s.Failing += r.Count
			if r.Disposition == "reject" || r.Disposition == "quarantine" {
				s.Rejected += r.Count
			}
		}
		if r.HeaderFrom != "" {
			froms[r.SourceIP][r.HeaderFrom] = true
		}
		if r.Reporter != "" {
			reporters[r.SourceIP][r.Reporter] = true
		}
	}
	out := make([]Source, 0, len(by))
	for ip, s := range by {
		s.HeaderFroms, s.Reporters = slices.Sorted(maps.Keys(froms[ip])), slices.Sorted(maps.Keys(reporters[ip]))
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Failing != out[j].Failing {
			return out[i].Failing > out[j].Failing
		}
		if out[i].Messages != out[j].Messages {
			return out[i].Messages > out[j].Messages
		}
		return out[i].IP < out[j].IP
	})
	return out
}

// Receive reads one email sent to our rua address: each row of each
// report in it becomes a log record, and the rows go into the store (nil
// keeps none). A message that holds no report is logged and is no error;
// an error is a store that did not take the rows (try again later).
func Receive(ctx context.Context, r io.Reader, st Store, log *zap.Logger) ([]Row, error) {
	fs, err := ParseMessage(r)
	if err != nil {
		log.Warn("dmarc report unreadable", zap.String("event.action", "dmarc-aggregate-report"), zap.Error(err))
		return nil, nil
	}
	var rows []Row
	for _, f := range fs {
		rs := Rows(f)
		log.Info("dmarc aggregate report", zap.String("event.action", "dmarc-aggregate-report"),
			zap.String("mailsift.dmarc.reporter", f.Metadata.OrgName), zap.String("mailsift.dmarc.report_id", f.Metadata.ReportID),
			zap.String("mailsift.dmarc.policy_domain", f.Policy.Domain), zap.Int("mailsift.dmarc.rows", len(rs)))
		for _, row := range rs {
			log.Info("dmarc aggregate row", LogFields(row)...)
		}
		rows = append(rows, rs...)
	}
	if st != nil {
		if err := st.AddRows(ctx, rows); err != nil {
			return rows, err
		}
	}
	return rows, nil
}
