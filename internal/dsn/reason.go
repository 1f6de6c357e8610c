package dsn

import (
	_ "embed"
	"strings"
)

// The reason engine: sisimai's decision procedure over its published
// phrase lists. sisimai (libsisimai.org, BSD 2-Clause) has read bounces
// from hundreds of MTAs for ten years; its phrase lists and status table
// (sisimai-reasons.txt, source and licence in testdata/dsn/SOURCE) are the
// best public record of what each reply wording means, and its order of
// checks decides between overlapping wordings ("user unknown" after DATA is
// a filter, a 5.1.1 whose text names a blocklist is a block). The engine
// names a sisimai reason; reasonClass turns it into one of our classes,
// where issue 15's definition of hard (the address is dead) decides.
//
// It is a port of go-sisimai's reason.Find and anotherone (reason/find.go),
// the ProbesInto functions of reason/why-*.go and smtp/command.Find, over
// the facts the reader has: the status, the reply text, the SMTP command
// the reply answered and the action. Before it, as in sisimai, the wording
// tables of 21 MTAs' notices (lhost.go) and the documented replies of 18
// mail services (rhost.go) may name the reason. sisimai's per-MTA parsers
// themselves are not ported: the reader finds recipients and diagnostics
// its own way (parse.go, text.go), and its own rules (textRules) decide
// where the engine names no reason.

//go:embed sisimai-reasons.txt
var reasonData string

// phraseSet is one reason's phrases: any of index contained, or each
// element of a pair in order; never the reason when an isnot phrase occurs.
type phraseSet struct {
	index, isnot []string
	pairs        [][]string
}

// reasonTable is the parsed sisimai-reasons.txt.
type reasonTable struct {
	phrases map[string]*phraseSet
	status  map[string]string // RFC 3463 status -> reason
}

// reasons is read once from the embedded file; it is never written after.
var reasons = parseReasonTable(reasonData)

func parseReasonTable(data string) *reasonTable {
	t := &reasonTable{phrases: map[string]*phraseSet{}, status: map[string]string{}}
	var cur *phraseSet
	section := ""
	tableLines(data, func(name string) {
		section = name
		if section != "status" {
			cur = &phraseSet{}
			t.phrases[section] = cur
		}
	}, func(f []string) {
		switch {
		case section == "status" && len(f) == 2:
			t.status[f[0]] = f[1]
		case cur == nil:
		case f[0] == "index" && len(f) == 2:
			cur.index = append(cur.index, f[1])
		case f[0] == "isnot" && len(f) == 2:
			cur.isnot = append(cur.isnot, f[1])
		case f[0] == "pair" && len(f) >= 2:
			cur.pairs = append(cur.pairs, f[1:])
		}
	})
	return t
}

// tableLines reads one of the embedded table files: a "[name]" line starts
// a section (section is called), every other line is a row of
// tab-separated fields (row is called); blank lines and '#' comments are
// skipped.
func tableLines(data string, section func(name string), row func(fields []string)) {
	for _, line := range strings.Split(data, "\n") {
		switch {
		case line == "" || line[0] == '#':
		case line[0] == '[':
			section(strings.Trim(line, "[]"))
		default:
			row(strings.Split(line, "\t"))
		}
	}
}

// included reports whether the lowercased text carries one of reason's
// phrases (sisimai's IncludedIn).
func (t *reasonTable) included(reason, low string) bool {
	p := t.phrases[reason]
	if p == nil || low == "" {
		return false
	}
	for _, v := range p.isnot {
		if strings.Contains(low, v) {
			return false
		}
	}
	for _, v := range p.index {
		if strings.Contains(low, v) {
			return true
		}
	}
	for _, v := range p.pairs {
		if aligned(low, v) {
			return true
		}
	}
	return false
}

// aligned reports whether every part occurs in s, in order, without
// overlapping.
func aligned(s string, parts []string) bool {
	for _, p := range parts {
		i := strings.Index(s, p)
		if i < 0 {
			return false
		}
		s = s[i+len(p):]
	}
	return len(parts) > 0
}

// statusName is the reason an RFC 3463 status names by itself, or "".
func (t *reasonTable) statusName(st string) string { return t.status[st] }

// fact is what the engine knows about one failed recipient.
type fact struct {
	low     string // the reply or diagnostic, lowercased, spaces squeezed
	text    string // the reply or diagnostic as written (rhostFind's case-sensitive tables)
	status  string // RFC 3463 status, "" when none
	reply   string // SMTP reply code, "" when none
	command string // the SMTP command the reply answered: CONN, HELO, EHLO, MAIL, RCPT, DATA, STARTTLS, ...
	action  string // failed, delayed
	unix    bool   // the diagnostic is a local program's (Diagnostic-Code: X-Unix)

	rhost       string // the remote MTA (Remote-MTA, "host ... said"), lowercased
	lhost       string // the reporting MTA, lowercased
	destination string // the domain of the failed recipient, lowercased
	// preset is the reason an MTA's own wording names (lhostFind), found
	// before the probes; the probes keep it unless one before it matches.
	preset string
}

// classOrder are sisimai's ClassOrder[0] and [1] (reason/lib.go): the
// probes, then the phrase lists alone.
var (
	probeOrder = []string{"mailboxfull", "mesgtoobig", "exceedlimit", "suspend", "hasmoved", "norelaying", "authfailure",
		"userunknown", "filtered", "requireptr", "notcompliantrfc", "badreputation", "contenterror",
		"rejected", "hostunknown", "spamdetected", "speeding", "toomanyconn", "blocked"}
	phraseOrder = []string{"mailboxfull", "authfailure", "badreputation", "speeding", "spamdetected", "virusdetected",
		"policyviolation", "norelaying", "systemerror", "networkerror", "suspend", "contenterror",
		"systemfull", "notaccept", "expired", "failedstarttls", "securityerror", "suppressed", "mailererror"}
	retried = map[string]bool{"undefined": true, "onhold": true, "systemerror": true, "securityerror": true,
		"expired": true, "networkerror": true, "hostunknown": true, "userunknown": true}
)

func isAny(s string, set ...string) bool {
	for _, v := range set {
		if s == v {
			return true
		}
	}
	return false
}

// How a reason was found: not, from the status code or reply code alone,
// or from the wording.
const (
	notFound = iota
	// bySubject: only the status's subject (x.7.x security or policy,
	// x.6.x content) named it, a broad guess.
	bySubject
	byCode
	byWords
)

// codeVerdict is how much a reason the status names says: an "other or
// undefined" status (x.y.0, RFC 3463) and x.7.1, which servers give every
// kind of refusal, say no more than their subject.
func codeVerdict(status string) int {
	if strings.HasSuffix(status, ".0") || strings.HasSuffix(status, ".7.1") {
		return bySubject
	}
	return byCode
}

func code(ok bool) int {
	if ok {
		return byCode
	}
	return notFound
}

// words is t.included as a verdict.
func (t *reasonTable) words(reason, low string) int {
	if t.included(reason, low) {
		return byWords
	}
	return notFound
}

// probe is sisimai's ProbesInto[reason]: the phrase list with the status
// and the SMTP command.
func (t *reasonTable) probe(reason string, f *fact) int {
	if f.preset == reason {
		return byWords
	}
	name := t.statusName(f.status)
	switch reason {
	case "authfailure", "blocked", "exceedlimit", "mailboxfull", "requireptr", "toomanyconn":
		if name == reason {
			return codeVerdict(f.status)
		}
		return t.words(reason, f.low)
	case "badreputation", "hasmoved", "notcompliantrfc", "speeding":
		return t.words(reason, f.low)
	case "contenterror":
		if t.probe("spamdetected", f) != notFound {
			return notFound
		}
		if name == reason {
			return codeVerdict(f.status)
		}
		return t.words(reason, f.low)
	case "filtered":
		if name == "suspend" || name != "filtered" && isAny(f.command, "CONN", "EHLO", "HELO", "MAIL", "RCPT") {
			return notFound
		}
		if t.included("userunknown", f.low) || t.included("filtered", f.low) {
			return byWords
		}
		return notFound
	case "hostunknown":
		if name == "hostunknown" && !t.included("networkerror", f.low) {
			if t.included("hostunknown", f.low) {
				return byWords
			}
			return codeVerdict(f.status)
		}
		if name == "hostunknown" {
			return notFound
		}
		return t.words("hostunknown", f.low)
	case "mesgtoobig":
		if name == "mesgtoobig" {
			return codeVerdict(f.status)
		}
		if name == "exceedlimit" || f.status == "5.2.3" {
			return notFound
		}
		return t.words(reason, f.low)
	case "norelaying":
		if isAny(f.command, "CONN", "EHLO", "HELO") {
			return notFound
		}
		return t.words(reason, f.low)
	case "rejected":
		if name == "" {
			name = "undefined"
		}
		if name == "rejected" {
			return codeVerdict(f.status)
		}
		switch {
		case f.command == "MAIL":
			return t.words(reason, f.low)
		case f.command == "DATA":
			if name == "userunknown" {
				return notFound
			}
			return t.words(reason, f.low)
		case !isExplicit(name) || name == "securityerror" || name == "systemerror":
			return t.words(reason, f.low)
		}
		return notFound
	case "spamdetected":
		if f.status == "" {
			return notFound
		}
		if name == reason {
			return codeVerdict(f.status)
		}
		if isAny(f.command, "CONN", "EHLO", "HELO", "MAIL", "RCPT") {
			return notFound
		}
		return t.words(reason, f.low)
	case "suspend":
		if t.included(reason, f.low) {
			return byWords
		}
		return code(f.reply == "525")
	case "userunknown":
		if name == "suspend" {
			return notFound
		}
		if name == "userunknown" {
			for _, e := range []string{"norelaying", "blocked", "mailboxfull", "hasmoved", "rejected", "notaccept"} {
				if t.included(e, f.low) {
					return notFound
				}
			}
			if t.included(reason, f.low) {
				return byWords
			}
			return codeVerdict(f.status)
		}
		if f.command == "RCPT" {
			return t.words(reason, f.low)
		}
		return notFound
	case "syntaxerror":
		r := f.reply
		return code(len(r) == 3 && (r > "400" && r < "408" || r > "500" && r < "508"))
	}
	return notFound
}

func isExplicit(r string) bool { return r != "" && r != "undefined" && r != "onhold" }

// find is sisimai's reason.Find: the probes in order, then the phrase
// lists, then the status alone. It returns "onhold" when the text names no
// reason and "undefined" when there is no text, and how the reason was
// found (byWords, byCode).
func (t *reasonTable) find(f *fact) (string, int) {
	if strings.HasPrefix(f.status, "2.") {
		return "delivered", byCode
	}
	if !f.unix {
		for _, r := range probeOrder {
			if how := t.probe(r, f); how != notFound {
				return r, how
			}
		}
	}
	r, how := t.anotherOne(f)
	if r == "undefined" {
		r = ""
	}
	if r == "" && f.action == "delayed" {
		r, how = "expired", byCode
	}
	if r != "" {
		return r, how
	}
	if t.included("vacation", f.low) {
		return "vacation", byWords
	}
	if f.low != "" {
		return "onhold", notFound
	}
	return "undefined", notFound
}

// anotherOne is sisimai's anotherone: the fallback of find.
func (t *reasonTable) anotherOne(f *fact) (string, int) {
	if isExplicit(f.preset) {
		return f.preset, byWords
	}
	name := t.statusName(f.status)
	if name == "" || retried[name] || !f.unix {
		for _, r := range phraseOrder {
			if t.included(r, f.low) {
				return r, byWords
			}
		}
		if name != "" {
			return name, codeVerdict(f.status)
		}
		if len(f.status) > 3 {
			switch f.status[:3] {
			case "5.6", "4.6":
				return "contenterror", bySubject
			case "5.7", "4.7":
				return "securityerror", bySubject
			}
		}
		switch {
		case f.unix:
			return "mailererror", byCode
		case t.probe("syntaxerror", f) != notFound:
			return "syntaxerror", byCode
		case f.action == "delayed" || f.action == "expired":
			return "expired", byCode
		case f.command == "EHLO" || f.command == "HELO":
			return "blocked", byCode
		}
	}
	return name, byCode
}

// smtpCommands are the commands findCommand looks for, in sisimai's order
// (smtp/command Detectable); the last one found in the text wins.
var smtpCommands = []string{"HELO", "EHLO", "STARTTLS", "AUTH PLAIN", "AUTH LOGIN", "AUTH CRAM-", "AUTH DIGEST-",
	"MAIL F", "RCPT", "RCPT T", "DATA", "QUIT", "XFORWARD"}

// findCommand names the SMTP command a reply text says it answered
// ("in reply to RCPT TO command", ">>> DATA"), as sisimai's command.Find:
// upper case, not part of a word ("DATABASE@EXAMPLE.JP").
func findCommand(text string) string {
	if len(text) < 4 {
		return ""
	}
	var found []string
	padded := " " + text + " "
	for _, c := range smtpCommands {
		i := strings.Index(text, c)
		if i < 0 {
			continue
		}
		if !strings.Contains(c, " ") {
			before, after := padded[i], padded[i+len(c)+1]
			if isWordByte(before) || isWordByte(after) {
				continue
			}
		}
		short := c[:4]
		dup := false
		for _, f := range found {
			if strings.HasPrefix(f, short) || strings.HasPrefix(short, f) {
				dup = true
			}
		}
		if dup {
			continue
		}
		switch short {
		case "STAR":
			short = "STARTTLS"
		case "XFOR":
			short = "XFORWARD"
		}
		found = append(found, short)
	}
	if len(found) == 0 {
		return ""
	}
	return found[len(found)-1]
}

func isWordByte(b byte) bool {
	return b >= '0' && b <= '9' || b >= '@' && b <= 'Z' || b >= 'a' && b <= 'z'
}

// reasonClass turns a sisimai reason into one of our classes. "" is not a
// failure (delivered, an auto-reply, a feedback report) or no reason.
var reasonClass = map[string]string{
	"userunknown":     UserUnknown,
	"hasmoved":        UserUnknown, // the address has moved: dead here (hard)
	"hostunknown":     HostUnknown,
	"notaccept":       HostUnknown, // null MX, the domain accepts no mail
	"mailboxfull":     MailboxFull,
	"systemfull":      MailboxFull,
	"suspend":         Suspended,
	"mesgtoobig":      TooLarge,
	"exceedlimit":     TooLarge,
	"norelaying":      RelayDenied,
	"expired":         Expired,
	"networkerror":    Network,
	"toomanyconn":     RateLimited,
	"speeding":        RateLimited,
	"authfailure":     PolicyAuth,
	"securityerror":   PolicyAuth,
	"requireptr":      PolicyAuth,
	"failedstarttls":  PolicyAuth, // TLS required or failed
	"rejected":        PolicyAuth, // the envelope sender was refused
	"blocked":         SpamBlocked,
	"badreputation":   SpamBlocked,
	"spamdetected":    SpamBlocked,
	"virusdetected":   SpamBlocked,
	"contenterror":    SpamBlocked,
	"policyviolation": SpamBlocked,
	"filtered":        SpamBlocked, // refused by the recipient's filter, after DATA
	"notcompliantrfc": Other,
	"systemerror":     Other,
	"mailererror":     Other,
	"syntaxerror":     Other,
	"suppressed":      Other, // on the sending service's suppression list
	"onhold":          Other,
	"undefined":       Other,
	"delivered":       "",
	"feedback":        "",
	"vacation":        "",
}

// classOfReason is reasonClass with issue 15's definition of hard where it
// differs from sisimai's: a "user unknown" refused after DATA (sisimai's
// filtered) is still a dead address, and so is a domain whose DNS answer
// was NXDOMAIN (sisimai's networkerror when the MTA called it temporary).
func (t *reasonTable) classOfReason(reason, low string) string {
	switch {
	case reason == "filtered" && t.included("userunknown", low):
		return UserUnknown
	case reason == "networkerror" && strings.Contains(low, "nxdomain"):
		return HostUnknown
	}
	return reasonClass[reason]
}

// decide is the class of one failed recipient: detail is its reply or
// diagnostic, context the text around it in the notice (it names the SMTP
// command the reply answered).
//
// The reason engine decides when the wording names a reason. Where it
// names none, the reader's own rules decide: they know formats the
// engine's phrase lists do not (Domino, Google Groups, qmail, ...). Where
// the engine has only the status code, the reader's specific wording
// decides ("550 5.1.3 ... spamhaus" is a blocklist, not a bad address),
// but not its catch-all words ("blocked", "timed out"). firmRules are our
// definitions and always win.
func decide(in input) string {
	detail, context := in.detail, in.context
	if len(detail) > maxClassify {
		detail = detail[:maxClassify]
	}
	if len(context) > maxClassify {
		context = context[:maxClassify]
	}
	status := in.status
	if status == "" {
		status = FindStatus(detail)
	}
	ours, _ := wordClass(status, detail)
	ours = Final(in.action, status, ours, detail+"\n"+context)
	low := strings.Join(strings.Fields(strings.ToLower(detail)), " ")
	f := &fact{low: low, text: detail, status: status, reply: FindReply(detail), command: findCommand(detail + "\n" + context),
		action: in.action, unix: in.unix || strings.Contains(low, "x-unix;"),
		rhost: strings.ToLower(in.remoteMTA), lhost: strings.ToLower(in.reportingMTA)}
	if _, d, ok := strings.Cut(in.recipient, "@"); ok {
		f.destination = strings.ToLower(d)
	}
	r, how := reasons.reason(f, detail+"\n"+context)
	eng := reasons.classOfReason(r, low)
	switch {
	case firstRule(firmRules, low) != classNone:
		return ours
	case r == "onhold" || r == "undefined" || eng == "":
		return ours
	case r == "expired" && in.action == "" && ours != Other:
		// One reply line, not a notice: nobody gave up yet.
		return ours
	case how != byWords && firstRule(specificRules, low) != classNone:
		return ours
	case how == bySubject && textClass(low) != classNone:
		// "5.7.1 ... content restrictions": any of our words say more
		// than the subject of the status.
		return ours
	case how != byWords && r == "notaccept" && strings.HasSuffix(status, ".1.10"):
		// RFC 7505 gives x.1.10 to a null MX, but Exchange Online
		// answers RecipientNotFound with it; a null MX says so in words.
		return UserUnknown
	}
	return eng
}

// input is what decide knows of one failed recipient.
type input struct {
	action    string // failed, delayed; "" for a reply line on its own
	status    string // RFC 3463 status, may be ""
	detail    string // the reply or diagnostic
	context   string // the text around it in the notice
	recipient string // the failed address
	remoteMTA string // the host that answered
	// reportingMTA is the host that wrote the notice.
	reportingMTA string
	// unix: the diagnostic is a local program's (Diagnostic-Code: X-Unix),
	// not a remote server's reply.
	unix bool
}

// reason is sisimai's order of steps: the wording of the reporting MTA
// (lhostFind, over the whole notice text), the remote host's documented
// replies (rhostFind), then the probes and phrase lists (find).
func (t *reasonTable) reason(f *fact, notice string) (string, int) {
	f.preset = t.lhostFind(f, notice)
	if f.preset != "" && !retried[f.preset] {
		return f.preset, byWords
	}
	if r := t.rhostFind(f); isExplicit(r) {
		return r, byWords
	}
	return t.find(f)
}
