package dsn

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"regexp"
	"strings"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/charset" // bounces in ISO-2022-JP, KOI8-R, ...
)

// MaxBytes is how much of a message Parse reads. A bounce's report comes
// before the copy of the original message, so cutting there loses nothing
// that Parse needs.
const MaxBytes = 2 << 20

// maxParts bounds the MIME parts Parse looks at, maxDepth their nesting.
const (
	maxParts = 64
	maxDepth = 8
)

// Kind is what a message is, as far as the sender of the original cares.
type Kind string

const (
	KindNone      Kind = "none"            // an ordinary message
	KindBounce    Kind = "bounce"          // at least one recipient failed
	KindDelay     Kind = "delay"           // delayed, still being retried
	KindDelivered Kind = "delivered"       // a success DSN: delivered, relayed, expanded
	KindAutoReply Kind = "autoreply"       // vacation and other automatic replies (RFC 3834)
	KindFeedback  Kind = "feedback-report" // an ARF complaint (RFC 5965)
)

// Recipient is one address a report is about.
type Recipient struct {
	Recipient  string // the final recipient address
	Action     string // failed, delayed, delivered, relayed, expanded
	Status     string // RFC 3463 status, "5.1.1"; "" when the report has none
	RemoteMTA  string // the host that answered, when known
	Diagnostic string // the reply or the reporting MTA's explanation
	Class      string // one of Classes
	Hard       bool   // the address itself is dead
}

// Report is what Parse found in a message.
type Report struct {
	Kind         Kind
	Format       string // how it was read: "rfc3464", "text", "arf", "autoreply", ...
	ReportingMTA string
	FeedbackType string // ARF Feedback-Type
	Recipients   []Recipient
	// OriginalMessageID is the Message-ID of the message the report is
	// about, when the report carries its headers.
	OriginalMessageID string
}

// IsBounce tells whether the report says some recipient failed for good.
func (r *Report) IsBounce() bool { return r != nil && r.Kind == KindBounce }

// Failed returns the recipients whose delivery failed.
func (r *Report) Failed() []Recipient {
	var out []Recipient
	for _, rc := range r.Recipients {
		if rc.Action == "failed" {
			out = append(out, rc)
		}
	}
	return out
}

// ErrNotMessage is returned (wrapped) when the input has no message header.
var ErrNotMessage = errors.New("not a mail message")

// parsed holds what the MIME walk collected.
type parsed struct {
	header     message.Header
	reportType string
	statuses   []string // message/delivery-status bodies
	feedback   string   // message/feedback-report body
	texts      []string // the human-readable parts, in order
	orig       *message.Header
	parts      int
}

// Parse reads one message (at most MaxBytes of it) and tells what it is.
// A message that is not a report is a Report of KindNone, not an error; the
// error is for input that is not a message at all.
func Parse(r io.Reader) (*Report, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxBytes))
	if err != nil {
		return nil, fmt.Errorf("dsn: reading message: %w", err)
	}
	data = normalizeNewlines(data)
	if bytes.HasPrefix(data, []byte("From ")) {
		// an mbox separator line
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			data = data[i+1:]
		}
	}
	e, err := message.Read(bytes.NewReader(data))
	if e == nil {
		return nil, fmt.Errorf("dsn: %w: %v", ErrNotMessage, err)
	}
	if e.Header.Len() == 0 {
		return nil, fmt.Errorf("dsn: %w: no header fields", ErrNotMessage)
	}
	p := &parsed{header: e.Header}
	p.walk(e, 0, false)
	return p.report(), nil
}

func normalizeNewlines(b []byte) []byte {
	if !bytes.Contains(b, []byte("\r")) {
		return b
	}
	b = bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
	return bytes.ReplaceAll(b, []byte("\r"), []byte("\n"))
}

func mediaType(h interface{ Get(string) string }) (string, map[string]string) {
	v := h.Get("Content-Type")
	if v == "" {
		return "text/plain", nil
	}
	t, params, err := mime.ParseMediaType(v)
	if err != nil {
		// Keep what is before the first ';' of a broken header.
		t = strings.ToLower(strings.TrimSpace(strings.SplitN(v, ";", 2)[0]))
	}
	return t, params
}

func readBody(e *message.Entity) string {
	b, _ := io.ReadAll(io.LimitReader(e.Body, MaxBytes))
	return decodeJIS(string(b))
}

// decodeJIS decodes ISO-2022-JP text that came without a charset (a
// delivery-status part written by a Japanese MTA): its escape sequences
// are unambiguous.
func decodeJIS(s string) string {
	if !strings.Contains(s, "\x1b$B") && !strings.Contains(s, "\x1b$@") {
		return s
	}
	r, err := charset.Reader("iso-2022-jp", strings.NewReader(s))
	if err != nil {
		return s
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return s
	}
	return string(b)
}

func (p *parsed) walk(e *message.Entity, depth int, inOriginal bool) {
	p.parts++
	if p.parts > maxParts || depth > maxDepth {
		return
	}
	t, params := mediaType(&e.Header)
	switch {
	case strings.HasPrefix(t, "multipart/"):
		if t == "multipart/report" && p.reportType == "" {
			p.reportType = strings.ToLower(params["report-type"])
		}
		raw, _ := io.ReadAll(io.LimitReader(e.Body, MaxBytes))
		me, _ := message.New(e.Header, bytes.NewReader(raw))
		mr := me.MultipartReader()
		n := 0
		for mr != nil {
			part, err := mr.NextPart()
			if part == nil || (err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err)) {
				break
			}
			n++
			p.walk(part, depth+1, inOriginal)
			if p.parts > maxParts {
				return
			}
		}
		if n == 0 && !inOriginal {
			// A broken boundary: read the body as text.
			p.texts = append(p.texts, string(raw))
		}
	case t == "message/delivery-status" || t == "message/global-delivery-status":
		p.statuses = append(p.statuses, readBody(e))
	case t == "message/feedback-report":
		p.feedback = readBody(e)
	case t == "message/rfc822" || t == "message/global" || t == "text/rfc822-headers" || t == "message/rfc822-headers" || t == "message/global-headers":
		if p.orig == nil {
			if oe, err := message.Read(io.LimitReader(e.Body, MaxBytes)); oe != nil {
				if ot, _ := mediaType(&oe.Header); ot == "multipart/report" && !inOriginal && len(p.texts) == 0 && len(p.statuses) == 0 {
					// A report forwarded whole as an attachment, with no
					// text of its own before it (a gateway that wraps
					// the DSN it got in a multipart/mixed): the
					// attached report is the report.
					p.walk(oe, depth+1, false)
					return
				}
				h := oe.Header
				p.orig = &h
			} else {
				_ = err
			}
		}
	case strings.HasPrefix(t, "text/") && !inOriginal:
		if d, _, _ := e.Header.ContentDisposition(); d == "attachment" && t != "text/plain" {
			return
		}
		s := readBody(e)
		if t == "text/html" {
			if len(p.texts) > 0 {
				return // the plain alternative is enough
			}
			s = stripHTML(s)
		}
		p.texts = append(p.texts, s)
	}
}

var (
	reBreak    = regexp.MustCompile(`(?i)<br\s*/?>|</p>|</div>|</tr>|</li>`)
	reTag      = regexp.MustCompile(`(?s)<(script|style)[^>]*>.*?</(script|style)>|<[^>]*>`)
	reEntities = strings.NewReplacer("&nbsp;", " ", "&lt;", "<", "&gt;", ">", "&amp;", "&", "&quot;", `"`, "&#39;", "'")
)

func stripHTML(s string) string {
	s = reBreak.ReplaceAllString(s, "\n")
	return reEntities.Replace(reTag.ReplaceAllString(s, ""))
}

func (p *parsed) report() *Report {
	rep := &Report{Kind: KindNone}
	if p.orig != nil {
		rep.OriginalMessageID = strings.TrimSpace(p.orig.Get("Message-Id"))
	}
	if strings.EqualFold(strings.TrimSpace(p.header.Get("X-Apple-Unsubscribe")), "true") {
		// Apple Mail's unsubscribe button: the recipient asks to be
		// removed, a complaint rather than a bounce.
		rep.Kind, rep.Format = KindFeedback, "unsubscribe"
		return rep
	}
	if p.feedback != "" || p.reportType == "feedback-report" {
		rep.Kind, rep.Format = KindFeedback, "arf"
		f := fieldsOf(p.feedback)
		rep.FeedbackType = strings.ToLower(first(f, "feedback-type"))
		rep.ReportingMTA = first(f, "reporting-mta")
		return rep
	}
	text := strings.Join(p.texts, "\n")
	if len(p.statuses) == 0 {
		if st := embeddedStatus(text); st != "" {
			p.statuses = append(p.statuses, st)
		}
	}
	if r := readSES(text); r != nil {
		return r
	}
	if p.orig != nil && p.feedback == "" && reComplaint.MatchString(decodeHeader(p.header, "Subject")) {
		rep.Kind, rep.Format = KindFeedback, "complaint"
		return rep
	}
	note := notification(text)
	if len(p.statuses) > 0 {
		rep.Format = "rfc3464"
		for _, s := range p.statuses {
			rep.readStatus(s, note)
		}
	}
	if len(rep.Recipients) == 0 {
		if isAutoReply(p.header) && !looksLikeBounce(p.header, note) {
			rep.Kind, rep.Format = KindAutoReply, "autoreply"
			return rep
		}
		if !looksLikeBounce(p.header, note) && len(p.statuses) == 0 {
			return rep
		}
		rep.Format = "text"
		rep.readText(p.header, note, text, p.orig)
	}
	rep.Kind = kindOf(rep.Recipients)
	if rep.Kind == KindNone && isAutoReply(p.header) {
		rep.Kind, rep.Format = KindAutoReply, "autoreply"
	}
	return rep
}

func kindOf(rs []Recipient) Kind {
	var failed, delayed, ok int
	for _, r := range rs {
		switch r.Action {
		case "failed":
			failed++
		case "delayed":
			delayed++
		case "delivered", "relayed", "expanded":
			ok++
		}
	}
	switch {
	case failed > 0:
		return KindBounce
	case delayed > 0:
		return KindDelay
	case ok > 0:
		return KindDelivered
	}
	return KindNone
}

// fieldGroups splits a delivery-status body into its groups of header
// fields (the per-message group first, then one per recipient). Field
// names are lowercased; folded lines are joined.
func fieldGroups(body string) []map[string][]string {
	var groups []map[string][]string
	cur := map[string][]string{}
	last := ""
	flush := func() {
		if len(cur) > 0 {
			groups = append(groups, cur)
		}
		cur, last = map[string][]string{}, ""
	}
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(make([]byte, 0, 64*1024), MaxBytes)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), " \t")
		if strings.TrimSpace(line) == "" {
			flush()
			continue
		}
		if (line[0] == ' ' || line[0] == '\t') && last != "" {
			vs := cur[last]
			vs[len(vs)-1] += " " + strings.TrimSpace(line)
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok || strings.ContainsAny(k, " \t") {
			continue
		}
		last = strings.ToLower(k)
		cur[last] = append(cur[last], strings.TrimSpace(v))
	}
	flush()
	return groups
}

func fieldsOf(body string) map[string][]string {
	out := map[string][]string{}
	for _, g := range fieldGroups(body) {
		for k, v := range g {
			out[k] = append(out[k], v...)
		}
	}
	return out
}

func first(f map[string][]string, k string) string {
	if v := f[k]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// typed strips an RFC 3464 type prefix: "rfc822; a@b" → "a@b".
func typed(v string) string {
	if t, rest, ok := strings.Cut(v, ";"); ok && !strings.ContainsAny(t, " @<") {
		return strings.TrimSpace(rest)
	}
	return strings.TrimSpace(v)
}

func cleanAddr(a string) string {
	a = strings.TrimSpace(a)
	a = strings.Trim(a, "<>\"' ")
	if i := strings.LastIndexByte(a, '<'); i >= 0 {
		a = strings.Trim(a[i:], "<> ")
	}
	if strings.HasPrefix(strings.ToLower(a), "rfc822:") {
		a = a[len("rfc822:"):]
	}
	return strings.TrimSpace(a)
}

// sentTo returns the address the sender wrote for a recipient group: its
// Original-Recipient (RFC 3464 2.3.1, the RFC 3461 ORCPT) when that is a
// plain rfc822 address, else final, the Final-Recipient. After an alias or
// a forward the final recipient is an address the sender never used
// (Postfix's "expanded from", PMDF's and Sun Internet Mail Server's
// internal mailstore "user@sims-ms-daemon" or "USER@host.dept.example"),
// and what a suppression list must hold is what the sender sends to.
//
// An original that expanded to several recipients of the report (counted
// in expandedTo) is an alias or a list: there final stays.
func sentTo(g map[string][]string, final string, expandedTo map[string]int) string {
	v := first(g, "original-recipient")
	if t, _, ok := strings.Cut(v, ";"); ok && !strings.EqualFold(strings.TrimSpace(t), "rfc822") {
		return final
	}
	o := cleanAddr(typed(v))
	if o == "" || reAddr.FindString(o) != o || expandedTo[strings.ToLower(o)] > 1 {
		return final
	}
	return o
}

var reStatusField = regexp.MustCompile(`^([245])\.(\d{1,3})\.(\d{1,3})`)

func (rep *Report) readStatus(body, note string) {
	groups := fieldGroups(body)
	var others []string
	// An Original-Recipient that several recipients share is an alias or
	// a list the sender wrote once that expanded to them: each member is
	// its own failed recipient, and the alias is not dead because one
	// member is.
	expandedTo := map[string]int{}
	for _, g := range groups {
		if a := cleanAddr(typed(first(g, "final-recipient"))); a != "" {
			others = append(others, a)
			if o := cleanAddr(typed(first(g, "original-recipient"))); o != "" && !strings.EqualFold(o, a) {
				expandedTo[strings.ToLower(o)]++
			}
		}
	}
	ix := newNoteIndex(note, others)
	for i, g := range groups {
		if i == 0 && g["final-recipient"] == nil && g["original-recipient"] == nil {
			rep.ReportingMTA = typed(first(g, "reporting-mta"))
			continue
		}
		addr := cleanAddr(typed(first(g, "final-recipient")))
		if addr == "" || !strings.Contains(addr, "@") {
			if o := cleanAddr(typed(first(g, "original-recipient"))); o != "" {
				addr = o
			}
		}
		if addr == "" {
			continue
		}
		rc := Recipient{
			Recipient:  sentTo(g, addr, expandedTo),
			Action:     strings.ToLower(strings.Fields(first(g, "action") + " x")[0]),
			RemoteMTA:  typed(first(g, "remote-mta")),
			Diagnostic: typed(first(g, "diagnostic-code")),
		}
		expired := rc.Action == "expired"
		switch rc.Action {
		case "x", "expired", "failure", "fail", "bounced", "undeliverable":
			rc.Action = "failed"
		case "deliverable":
			rc.Action = "delivered"
		}
		if m := reStatusField.FindStringSubmatch(strings.TrimSpace(first(g, "status"))); m != nil {
			rc.Status = m[1] + "." + m[2] + "." + m[3]
		}
		detail := rc.Diagnostic
		region := ix.recipientRegion(addr)
		if region != "" && (detail == "" || FindReply(detail) == "" && FindStatus(detail) == "") {
			detail = strings.TrimSpace(detail + " " + region)
			if rc.Diagnostic == "" {
				rc.Diagnostic = summarize(region)
			}
		}
		if ds := FindStatus(rc.Diagnostic); ds != "" && (rc.Status == "" || strings.HasSuffix(rc.Status, ".0.0") || ds[0] == rc.Status[0] && strings.HasSuffix(rc.Status, ".0")) {
			rc.Status = ds
		}
		switch rc.Action {
		case "failed", "delayed":
			rc.Class = decide(input{action: rc.Action, status: rc.Status, detail: detail, context: region,
				recipient: addr, remoteMTA: rc.RemoteMTA, reportingMTA: rep.ReportingMTA,
				unix: strings.HasPrefix(strings.ToLower(strings.TrimSpace(first(g, "diagnostic-code"))), "x-unix")})
			if expired {
				rc.Class = Expired
			}
			rc.Hard = IsHard(rc.Class)
		}
		if rc.Action == "failed" && rc.Status != "" && rc.Status[0] == '2' {
			rc.Action = "delivered"
			rc.Class, rc.Hard = "", false
		}
		rep.Recipients = append(rep.Recipients, rc)
	}
}

var (
	reEmbeddedStatus = regexp.MustCompile(`(?im)^(reporting-mta|final-recipient|original-recipient):`)
	reComplaint      = regexp.MustCompile(`(?i)complaint about message|abuse report|feedback report|spam report`)
)

// embeddedStatus finds delivery-status fields written in a text part (a
// report whose MIME structure is broken): from the first Reporting-MTA or
// Final-Recipient line on.
func embeddedStatus(text string) string {
	loc := reEmbeddedStatus.FindStringIndex(text)
	if loc == nil || !strings.Contains(strings.ToLower(text[loc[0]:]), "final-recipient:") {
		return ""
	}
	return text[loc[0]:]
}

// sesNotification is the JSON an Amazon SES notification (through SNS
// email) carries.
type sesNotification struct {
	NotificationType string `json:"notificationType"`
	Message          string `json:"Message"`
	Bounce           struct {
		BounceType        string `json:"bounceType"`
		ReportingMTA      string `json:"reportingMTA"`
		BouncedRecipients []struct {
			EmailAddress   string `json:"emailAddress"`
			Action         string `json:"action"`
			Status         string `json:"status"`
			DiagnosticCode string `json:"diagnosticCode"`
		} `json:"bouncedRecipients"`
		RemoteMTAIP string `json:"remoteMtaIp"`
	} `json:"bounce"`
	Delivery struct {
		Recipients   []string `json:"recipients"`
		SMTPResponse string   `json:"smtpResponse"`
		ReportingMTA string   `json:"reportingMTA"`
	} `json:"delivery"`
	Complaint struct {
		ComplaintFeedbackType string `json:"complaintFeedbackType"`
	} `json:"complaint"`
}

// readSES reads an Amazon SES notification, or returns nil.
func readSES(text string) *Report {
	i := strings.Index(text, "{")
	if i < 0 || !strings.Contains(text, `notificationType`) {
		return nil
	}
	var n sesNotification
	if err := json.NewDecoder(strings.NewReader(text[i:])).Decode(&n); err != nil {
		// Lines wrapped by the mail system: join them.
		n = sesNotification{}
		if err := json.NewDecoder(strings.NewReader(strings.ReplaceAll(text[i:], "\n", ""))).Decode(&n); err != nil {
			return nil
		}
	}
	if n.NotificationType == "" && n.Message != "" {
		if err := json.Unmarshal([]byte(n.Message), &n); err != nil {
			return nil
		}
	}
	rep := &Report{Format: "amazonses"}
	switch n.NotificationType {
	case "Bounce":
		rep.Kind, rep.ReportingMTA = KindBounce, typed(n.Bounce.ReportingMTA)
		for _, b := range n.Bounce.BouncedRecipients {
			rc := Recipient{Recipient: b.EmailAddress, Action: strings.ToLower(b.Action), Status: b.Status,
				Diagnostic: typed(b.DiagnosticCode), RemoteMTA: n.Bounce.RemoteMTAIP}
			if rc.Action == "" {
				rc.Action = "failed"
			}
			if ds := FindStatus(rc.Diagnostic); ds != "" && (rc.Status == "" || strings.HasSuffix(rc.Status, ".0.0")) {
				rc.Status = ds
			}
			rc.Class, rc.Hard = Classify(rc.Status, rc.Diagnostic)
			rep.Recipients = append(rep.Recipients, rc)
		}
		rep.Kind = kindOf(rep.Recipients)
	case "Delivery":
		rep.Kind, rep.ReportingMTA = KindDelivered, n.Delivery.ReportingMTA
		for _, a := range n.Delivery.Recipients {
			rep.Recipients = append(rep.Recipients, Recipient{Recipient: a, Action: "delivered",
				Status: FindStatus(n.Delivery.SMTPResponse), Diagnostic: n.Delivery.SMTPResponse})
		}
	case "Complaint":
		rep.Kind, rep.FeedbackType = KindFeedback, n.Complaint.ComplaintFeedbackType
	default:
		return nil
	}
	return rep
}
