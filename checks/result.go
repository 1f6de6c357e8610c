// Package checks holds the check contract that every mailsift check follows,
// the one table of default replies, and the Chain that runs the checks of a
// stage.
//
// A check only judges: it returns a Result in the words of the RFCs
// (pass, fail, temperror, ...) and the reply it would give. What happens to
// the message is decided by the policy package from the configuration, so a
// check can be dry-run (observe) or softened (tag) without touching its code.
package checks

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-msgauth/authres"
)

// Status is a check's verdict, spelled as the RFCs spell it (RFC 8601 §2.7).
type Status string

// The statuses a check may return.
const (
	Pass      Status = "pass"
	Fail      Status = "fail"
	SoftFail  Status = "softfail"
	Neutral   Status = "neutral"
	None      Status = "none"
	TempError Status = "temperror"
	PermError Status = "permerror"
)

// Skipped is not an RFC word: the check did not run because an exception
// matched. It is logged, never acted on.
const Skipped Status = "skipped"

// Statuses lists every status a check may return, in the order the config documents them.
var Statuses = []Status{Pass, Fail, SoftFail, Neutral, None, TempError, PermError}

// ParseStatus returns the Status named by s.
func ParseStatus(s string) (Status, error) {
	for _, st := range Statuses {
		if string(st) == s {
			return st, nil
		}
	}
	return "", fmt.Errorf("unknown status %q, want one of pass, fail, softfail, neutral, none, temperror, permerror", s)
}

// Result is what one check found.
type Result struct {
	Check  string // the check's name
	Status Status // the verdict
	Reason string // short machine reason, e.g. "helo-invalid-syntax"
	Text   string // a human sentence for the log; may name details
	Reply  Reply  // what the check would answer if the policy refuses
	// The typed hand-offs to later checks (see Envelope.Take): the client
	// hostname the ptr check forward-confirmed, or that it found the
	// client's reverse DNS does not hold; the spf and dkim checks' outcomes.
	ClientName        string
	RefutesClientName bool
	SPF               *SPFOutcome
	DKIM              *DKIMOutcome
	// Details are more log fields, mailsift.checks.<name>.<key>: facts
	// such as the server asked, never header values or bodies.
	Details map[string]string
	// AuthRes are the check's entries for our Authentication-Results header
	// (RFC 8601), in the order they are to appear.
	AuthRes  []authres.Result
	Duration time.Duration // how long the check took, set by the Chain
}

// Reply is an SMTP reply: a code (RFC 5321 §4.2), an enhanced status code
// (RFC 3463) and a text.
type Reply struct {
	Code     int
	Enhanced string
	Text     string
}

// String gives the reply line as the client sees it.
func (r Reply) String() string {
	if r.Enhanced == "" {
		return fmt.Sprintf("%d %s", r.Code, r.Text)
	}
	return fmt.Sprintf("%d %s %s", r.Code, r.Enhanced, r.Text)
}

// IsZero reports whether r is unset.
func (r Reply) IsZero() bool { return r.Code == 0 }

// Temporary reports whether r is a 4xx reply.
func (r Reply) Temporary() bool { return r.Code/100 == 4 }

// Validate checks that the code is 4xx or 5xx and that the enhanced code has
// the same class: RFC 3463 §3.1 says the class of the enhanced code must
// agree with the class of the basic code.
func (r Reply) Validate() error {
	if r.Code < 400 || r.Code > 599 {
		return fmt.Errorf("reply code %d: want a 4xx or 5xx code", r.Code)
	}
	if r.Enhanced != "" {
		parts := strings.Split(r.Enhanced, ".")
		if len(parts) != 3 {
			return fmt.Errorf("enhanced code %q: want CLASS.SUBJECT.DETAIL", r.Enhanced)
		}
		for i, p := range parts {
			n, err := strconv.Atoi(p)
			if err != nil || n < 0 || (i == 1 && n > 999) || (i == 2 && n > 999) || len(p) > 3 {
				return fmt.Errorf("enhanced code %q: want CLASS.SUBJECT.DETAIL", r.Enhanced)
			}
		}
		if parts[0] != strconv.Itoa(r.Code/100) {
			return fmt.Errorf("reply %d %s: the enhanced code's class %s.x.x does not match the reply code's class %dxx", r.Code, r.Enhanced, parts[0], r.Code/100)
		}
	}
	for _, c := range r.Text {
		if c < 0x20 || c > 0x7e {
			return fmt.Errorf("reply text %q: want printable ASCII on one line", r.Text)
		}
	}
	return nil
}

// ParseReply reads a reply line such as "550 5.7.1 Go away".
func ParseReply(s string) (Reply, error) {
	code, rest, _ := strings.Cut(s, " ")
	n, err := strconv.Atoi(code)
	if err != nil || len(code) != 3 {
		return Reply{}, fmt.Errorf("reply %q: want \"CODE X.Y.Z text\", e.g. \"550 5.7.1 Rejected\"", s)
	}
	r := Reply{Code: n}
	if first, text, ok := strings.Cut(rest, " "); ok && looksEnhanced(first) {
		r.Enhanced, r.Text = first, text
	} else if looksEnhanced(rest) {
		r.Enhanced = rest
	} else {
		r.Text = rest
	}
	if r.Text == "" {
		return Reply{}, fmt.Errorf("reply %q: the text is empty; say why the mail is refused", s)
	}
	if err := r.Validate(); err != nil {
		return Reply{}, err
	}
	return r, nil
}

func looksEnhanced(s string) bool {
	return len(s) >= 5 && s[1] == '.' && strings.Count(s, ".") == 2 && s[0] >= '2' && s[0] <= '5'
}

// AsTemporary turns a permanent reply into its temporary counterpart, for a
// policy that tempfails where the check would reject.
func (r Reply) AsTemporary() Reply {
	if r.Temporary() {
		return r
	}
	t := r
	t.Code = 451
	if r.Code == 550 {
		t.Code = 450
	}
	if r.Enhanced != "" {
		t.Enhanced = "4" + r.Enhanced[1:]
	}
	return t
}

// AsPermanent turns a temporary reply into its permanent counterpart, for a
// policy that rejects where the check would tempfail.
func (r Reply) AsPermanent() Reply {
	if !r.Temporary() {
		return r
	}
	p := r
	p.Code = 554
	if r.Code == 450 {
		p.Code = 550
	}
	if r.Enhanced != "" {
		p.Enhanced = "5" + r.Enhanced[1:]
	}
	return p
}

// Expand returns r with each {name} in its text replaced by vars[name],
// sanitized: values come from the client and must neither break the reply
// line nor be taken as a format by the MTA ('%' is special to Sendmail).
func (r Reply) Expand(vars map[string]string) Reply {
	if !strings.Contains(r.Text, "{") {
		return r
	}
	var b strings.Builder
	s := r.Text
	for {
		i := strings.IndexByte(s, '{')
		if i < 0 {
			b.WriteString(s)
			break
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			b.WriteString(s)
			break
		}
		name := s[i+1 : i+j]
		v, ok := vars[name]
		b.WriteString(s[:i])
		if ok {
			b.WriteString(Sanitize(v))
		} else {
			b.WriteString(s[i : i+j+1])
		}
		s = s[i+j+1:]
	}
	r.Text = b.String()
	return r
}

// maxReplyValue bounds a client-chosen value quoted in a reply, so that the
// line stays well under the 512-octet limit of RFC 5321 §4.5.3.1.5.
const maxReplyValue = 100

// Sanitize makes a client-chosen string safe to quote in a reply line.
func Sanitize(v string) string {
	var b strings.Builder
	for i, c := range v {
		if i >= maxReplyValue {
			b.WriteString("...")
			break
		}
		if c < 0x20 || c > 0x7e || c == '%' {
			c = '?'
		}
		b.WriteRune(c)
	}
	return b.String()
}
