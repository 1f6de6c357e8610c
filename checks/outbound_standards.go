package checks

import (
	"context"
	"fmt"
	"strings"
)

// Standards refuses a submission that breaks the rules receivers enforce
// (RFC 5322): exactly one From, at most one of each field §3.6 allows once
// (Date, Subject, Message-ID, ...), no line over 998 octets (§2.1.1), and
// no CR or LF other than as a line's CRLF (§2.3). It reads the body as a
// stream, so a large message costs no memory.
type Standards struct {
	// The reply; {what} names the first violation found.
	Violation Reply
}

// Name implements Check.
func (*Standards) Name() string { return StandardsName }

// ReadsBody implements BodyReader.
func (*Standards) ReadsBody() {}

// maxLine is the longest line RFC 5322 §2.1.1 allows, without the CRLF.
const maxLine = 998

// onceFields are the fields RFC 5322 §3.6 allows at most once, as
// written in its table; From must also be there.
var onceFields = []string{"Date", "From", "Sender", "Reply-To", "To", "Cc", "Bcc", "Message-ID", "In-Reply-To", "References", "Subject"}

// CheckData implements DataChecker.
func (s *Standards) CheckData(ctx context.Context, env *Envelope) Result {
	what := HeaderViolation(env.Headers)
	if st, ok := env.Streams[s.Name()]; ok {
		body := st.Finish(ctx)
		if what == "" {
			what = body.Text
		}
	}
	if what == "" {
		return Result{Status: Pass, Reason: ReasonStandardsOK, Text: "RFC 5322"}
	}
	return Result{Status: Fail, Reason: ReasonStandardsViolation, Text: what, Reply: s.Violation.Expand(map[string]string{"what": what})}
}

// HeaderViolation returns the first violation of the header rules in hs,
// or "".
func HeaderViolation(hs []Header) string {
	count := map[string]int{}
	for _, h := range hs {
		count[strings.ToLower(h.Name)]++
	}
	if count["from"] == 0 {
		return "no From header field"
	}
	for _, f := range onceFields {
		if n := count[strings.ToLower(f)]; n > 1 {
			return fmt.Sprintf("%d %s header fields", n, f)
		}
	}
	for _, h := range hs {
		v := strings.ReplaceAll(h.Value, "\r\n", "\n")
		if strings.Contains(v, "\r") {
			return "bare CR in the " + h.Name + " header field"
		}
		lines := strings.Split(v, "\n")
		for i, l := range lines {
			if i > 0 && (l == "" || (l[0] != ' ' && l[0] != '\t')) {
				return "bare LF in the " + h.Name + " header field"
			}
			n := len(l)
			if i == 0 {
				n += len(h.Name) + 2 // "Name: "
			}
			if n > maxLine {
				return fmt.Sprintf("a line of the %s header field is %d octets long, over %d", h.Name, n, maxLine)
			}
		}
	}
	return ""
}

// Stream implements Streamer: the header block, then the body.
func (s *Standards) Stream(context.Context) MessageStream { return &BodyLines{} }

// BodyLines scans a message's body, after its header block, for lines
// over 998 octets and for a CR or LF that is not part of a CRLF. It keeps
// the first violation; its Finish gives it as the Result's Text.
type BodyLines struct {
	hdr    int  // bytes of "\r\n\r\n" matched; 4 once in the body
	line   int  // body line number, from 1
	n      int  // octets in the current line
	prevCR bool // the last byte was a CR
	what   string
}

const endOfHeader = "\r\n\r\n"

// Write implements io.Writer.
func (b *BodyLines) Write(p []byte) (int, error) {
	for _, c := range p {
		if b.hdr < 4 {
			switch {
			case c == endOfHeader[b.hdr]:
				b.hdr++
			case c == '\r':
				b.hdr = 1
			default:
				b.hdr = 0
			}
			if b.hdr == 4 {
				b.line = 1
			}
			continue
		}
		if b.what != "" {
			continue
		}
		if b.prevCR {
			b.prevCR = false
			if c == '\n' {
				b.line, b.n = b.line+1, 0
				continue
			}
			b.what = fmt.Sprintf("bare CR in line %d of the body", b.line)
			continue
		}
		switch c {
		case '\r':
			b.prevCR = true
		case '\n':
			b.what = fmt.Sprintf("bare LF in line %d of the body", b.line)
		default:
			if b.n++; b.n == maxLine+1 {
				b.what = fmt.Sprintf("line %d of the body is over %d octets long", b.line, maxLine)
			}
		}
	}
	return len(p), nil
}

// Finish implements MessageStream.
func (b *BodyLines) Finish(context.Context) Result {
	if b.what == "" && b.prevCR {
		b.what = fmt.Sprintf("bare CR in line %d of the body", b.line)
	}
	return Result{Text: b.what}
}

// Abort implements MessageStream.
func (b *BodyLines) Abort() {}

// The standards check's reasons (its log's mailsift.checks.standards.reason, and keys of its actions).
const (
	ReasonStandardsOK        = "standards-ok"
	ReasonStandardsViolation = "standards-violation"
)

func standardsReasons() []string {
	return []string{ReasonStandardsOK, ReasonStandardsViolation}
}

// NewStandards builds the standards check from its table.
func NewStandards(t *OutboundCheck) Check {
	return &Standards{Violation: t.Reply(StandardsName, "perm")}
}
