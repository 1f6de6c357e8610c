package dsn

import (
	"net/mail"
	"regexp"
	"sort"
	"strings"

	"github.com/emersion/go-message"
)

// reOriginal marks where a free-text bounce starts quoting the original
// message: what follows is the sender's own text, not the report.
var reOriginal = regexp.MustCompile(`(?im)^[\s\-=_>*]*(` +
	`-+ ?below this line is a copy of the message|` +
	`-*\s*this is a copy of the message|` +
	`-+\s*original message\s*-*|` +
	`original message follows|` +
	`-+ ?(the )?original message( header)?s?( follows| is attached)?|` +
	`-+ ?enclosed (is|are) (a copy|the)|` +
	`-+ ?(returned|undelivered|unsent) (message|mail)( follows)?|` +
	`-+ ?message headers? follows?|` +
	`-+ ?the header of the original message|` +
	`content-type: message/rfc822|` +
	`-+ ?headers of (the )?(original|your) message|` +
	`-+ ?copy of (the )?(original )?message|` +
	`-+ ?(start|begin) of (the )?(returned|original|forwarded) message|` +
	`received: ?from\b` +
	`)`)

// maxNote bounds the report text read before the quoted original.
const maxNote = 64 << 10

// notification returns the part of the human-readable text that is the
// report, without the quoted original message.
func notification(text string) string {
	if len(text) > maxNote {
		text = text[:maxNote]
	}
	if loc := reOriginal.FindStringIndex(text); loc != nil && loc[0] > 0 {
		text = text[:loc[0]]
	}
	return text
}

var (
	reBounceSubject = regexp.MustCompile(`(?i)undeliver|undelivered|delivery (status notification|failure|failed|has failed|problem|report|notification|incomplete|error)|failure notice|returned mail|return(ed|ing)? to sender|failed mail|mail failed|mail delivery (failed|failure|system|subsystem|error)|could not be delivered|nondeliverable|non[- ]delivery|not delivered|delivery unsuccessful|rejected|bounce|message (not delivered|delivery failed|could not)|permanent (error|failure)|warning: could not send|unzustellbar|nicht zustellbar|delivery (notification|warning)|mail system error|failed delivery|no se puede entregar|non remis|nondelivery|mail could not|message you sent|delivery delayed|delayed mail|mail failure|unable to deliver|problem delivering|sending failed|error sending|unsuccessful delivery|recipient.*(unknown|rejected)|не доставлено|недоставлен|доставки|未達|エラー`)
	reDaemonFrom    = regexp.MustCompile(`(?i)mailer[-_]?daemon|post_?master|mail delivery (system|subsystem)|mail ?administrator|mailadmin|bounce|no-?reply.*(delivery|mailer)|mailerdaemon|mdaemon|notification|network service|ms exchange|system administrator|mail-?router|smtp gateway|daemon@`)
	reBounceBody    = regexp.MustCompile(`(?i)(could not|wasn't able to|was unable to|unable to|cannot|can't|couldn't|failed to|has failed to|not able to) (be )?deliver|delivery (to the following|has failed|failed|status|attempt)|the following (address|recipient)|permanent (error|fatal)|undeliverable|did not reach|non-?delivery|message was not delivered|returned to sender|user unknown|no such user|was rejected|could not be delivered|mailbox (is )?full|failed recipient|recipient address rejected|delivery (is )?delayed|has been delayed|not yet been delivered|will (continue|keep) (trying|to try)|remote (host|server) (said|returned|replied)|smtp error|\b5\d\d[ \-][45]\.\d+\.\d+|\b[45]\d\d \d\.\d\.\d` +
		// Smail's "Failed addresses follow:", USA.NET's "The following
		// mail has been returned"
		`|failed addresses|(mail|message) (has been|was) returned`)
	// reRecipientColon is the recipient line of qmail's and Postfix's
	// notices (and of the mail systems that copy them, such as Sina's):
	// "<user@example.com>:" at the start of a line, the reason after it
	// or on the lines below, whatever language the prose is in.
	reRecipientColon = regexp.MustCompile(`(?m)^[ \t]*<[^<>\s@]+@[^<>\s]+>:`)
)

// looksLikeBounce tells whether a message that carries no delivery-status
// part reads like a delivery failure notice.
func looksLikeBounce(h message.Header, note string) bool {
	if h.Get("X-Failed-Recipients") != "" {
		return true
	}
	subj := decodeHeader(h, "Subject")
	from := decodeHeader(h, "From")
	rp := strings.TrimSpace(h.Get("Return-Path"))
	score := 0
	if reBounceSubject.MatchString(subj) {
		score++
	}
	if reDaemonFrom.MatchString(from) || rp == "<>" {
		score++
	}
	// The wording may be wrapped: Postfix's "could not be\ndelivered".
	if reBounceBody.MatchString(note) || reRecipientColon.MatchString(note) || reBounceBody.MatchString(strings.Join(strings.Fields(note), " ")) {
		score++
	}
	return score >= 2
}

func decodeHeader(h message.Header, k string) string {
	if v, err := h.Text(k); err == nil {
		return v
	}
	return h.Get(k)
}

var reAutoSubject = regexp.MustCompile(`(?i)^\s*(auto(matic)?[ -]?(reply|response|answer|antwort|réponse|respuesta)|auto:|out of (the )?office|vacation|abwesen|absence|ausser haus|réponse automatique|respuesta automática|risposta automatica|autoreply|autoresponse|i am (out|away|on)|on vacation|away from|not in the office|自動応答|自動返信|不在)`)

// isAutoReply tells whether a message says it is an automatic reply
// (RFC 3834 Auto-Submitted: auto-replied, or the headers and subjects
// vacation programs use).
func isAutoReply(h message.Header) bool {
	as := strings.ToLower(h.Get("Auto-Submitted"))
	if strings.HasPrefix(as, "auto-replied") || h.Get("X-Autoreply") != "" || h.Get("X-Autorespond") != "" ||
		h.Get("X-Autoresponder") != "" || strings.EqualFold(h.Get("X-Auto-Reply"), "yes") {
		return true
	}
	p := strings.ToLower(h.Get("Precedence"))
	if p == "auto_reply" || p == "auto-reply" {
		return true
	}
	return reAutoSubject.MatchString(decodeHeader(h, "Subject"))
}

var (
	reAddr         = regexp.MustCompile(`[A-Za-z0-9!#$%&'*+/=?^_{|}~.\-]+@[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?)+`)
	reLineAddr     = regexp.MustCompile(`(?im)^[ \t>*\-]*(?:(?:recipient|address|original recipient|intended recipient|failed recipient|rcpt to|rcpt|final-recipient|invalid recipient|unknown recipient)s?(?:\(s\))?:?[ \t]*)?(?:"[^"\n]*"[ \t]*|'[^'\n]*'[ \t]*)?<?(?:mailto:)?([A-Za-z0-9!#$%&'*+/=?^_{|}~.\-]+@[A-Za-z0-9.\-]+[A-Za-z0-9])>?(?:[\s:;,>)\]]|\.\.\.|$)`)
	reSendmailLine = regexp.MustCompile(`(?m)^[ \t]*[45]\d\d(?:[ -][245]\.\d{1,3}\.\d{1,3})? <([^<>\s]+@[^<>\s]+)>\.\.\. `)
	reSendmailHost = regexp.MustCompile(`^[45]\d\d [^\s<>@]+ \(\w+\)\.\.\. `) // "550 example.org (smtp)... ": the next recipient's host
	reCodePrefix   = regexp.MustCompile(`^[45]\d\d(?:[ -][245]\.\d{1,3}\.\d{1,3})? `)
	reQuotedHeader = regexp.MustCompile(`(?im)^[ \t>]*(from|reply-to|sender|return-path|message-id|in-reply-to|references|envelope-from|x-sender|mail from|date)[ \t]*:.*$`)
	// rePhraseAddr is a recipient named inside a sentence: Exim 2's "The
	// following message, addressed to 'user@example.com', failed", the
	// directory bounces' "The address to which your message was
	// addressed, user@example.com, did not match".
	rePhraseAddr   = regexp.MustCompile(`(?i)\b(?:addressed to|was addressed,)[ \t\n]*['"<]?([A-Za-z0-9!#$%&*+/=?^_{|}~.\-]+@[A-Za-z0-9.\-]+[A-Za-z0-9])`)
	reExpandedFrom = regexp.MustCompile(`(?i)\((?:expanded|generated) from:?[ \t]*<?([A-Za-z0-9!#$%&'*+/=?^_{|}~.\-]+@[A-Za-z0-9.\-]+[A-Za-z0-9])>?\)`)
	reQuotedTo     = regexp.MustCompile(`(?im)^[ \t>]*(to|cc)[ \t]*:.*$`)
	reFromBefore   = regexp.MustCompile(`(?i)\bfrom[ \t]*:?[ \t]*[<"'(]?$`)
	reDaemon       = regexp.MustCompile(`(?i)^(mailer-daemon|postmaster|mailer_daemon|mailerdaemon|daemon|root|bounce[s]?|no-?reply)@`)
)

// readText reads a free-text bounce: the failed recipients are the
// addresses that start lines in the notification (or the X-Failed-Recipients
// header), each with the text that follows it as its diagnostic.
func (rep *Report) readText(h message.Header, note, text string, orig *message.Header) {
	skip := map[string]bool{}
	for _, k := range []string{"From", "To", "Cc", "Reply-To", "Sender", "Return-Path", "Delivered-To"} {
		for _, a := range headerAddrs(h, k) {
			skip[strings.ToLower(a)] = true
		}
	}
	if orig != nil {
		for _, a := range headerAddrs(*orig, "From") {
			skip[strings.ToLower(a)] = true
		}
		for _, a := range headerAddrs(*orig, "Return-Path") {
			skip[strings.ToLower(a)] = true
		}
	}
	// The sender's own addresses never are the failed recipient when
	// guessed from loose text; an address that starts a line of the
	// notification is taken unless it is the report's author.
	strong := map[string]bool{}
	for _, a := range headerAddrs(h, "From") {
		strong[strings.ToLower(a)] = true
	}
	// The sender a report goes back to (its To, the original's From and
	// Return-Path) and a mail system's role addresses (postmaster,
	// MAILER-DAEMON) stand in notices as whom the message came from or
	// whom to contact; as a line's first address they are the failed
	// recipient only when no other line names one (mail to oneself, to
	// a postmaster).
	sender := map[string]bool{}
	for _, a := range headerAddrs(h, "To") {
		sender[strings.ToLower(a)] = true
	}
	if orig != nil {
		for _, k := range []string{"From", "Return-Path"} {
			for _, a := range headerAddrs(*orig, k) {
				sender[strings.ToLower(a)] = true
			}
		}
	}
	if orig != nil {
		for _, a := range headerAddrs(*orig, "Message-Id") {
			strong[strings.ToLower(a)] = true
			skip[strings.ToLower(a)] = true
		}
	}
	for _, a := range headerAddrs(h, "Message-Id") {
		strong[strings.ToLower(a)] = true
		skip[strings.ToLower(a)] = true
	}
	var addrs []string
	seen := map[string]bool{}
	loose := true
	add := func(a string) {
		a = bareAddr(a)
		l := strings.ToLower(a)
		if seen[l] || strong[l] || loose && (skip[l] || reDaemon.MatchString(a)) {
			return
		}
		seen[l] = true
		addrs = append(addrs, a)
	}
	for _, v := range h.Values("X-Failed-Recipients") {
		for _, a := range strings.Split(v, ",") {
			if a = cleanAddr(a); strings.Contains(a, "@") {
				add(a)
			}
		}
	}
	if len(addrs) == 0 {
		// A heading and a list of bare local parts under it: the list
		// is the failed recipients, whatever addresses the explanation
		// below it names.
		for _, a := range bareNames(note, text, h) {
			add(a)
		}
	}
	if len(addrs) == 0 {
		// Lines that start with an address, and Sendmail's
		// "554 <addr>... reason" lines, in the order they come.
		loose = false
		type hit struct {
			at   int
			addr string
		}
		var hits []hit
		for _, re := range []*regexp.Regexp{reLineAddr, reSendmailLine, rePhraseAddr, reExpandedFrom} {
			for _, m := range re.FindAllStringSubmatchIndex(note, -1) {
				hits = append(hits, hit{m[2], note[m[2]:m[3]]})
			}
		}
		sort.SliceStable(hits, func(i, j int) bool { return hits[i].at < hits[j].at })
		var out []hit
		for _, h := range hits {
			if n := len(out); n > 0 && out[n-1].at == h.at {
				continue
			}
			// Sendmail's "(expanded from: alias@example.org)" and Exim's
			// "(generated from alias@example.org)" under (or beside) the
			// address that failed name the address the sender wrote,
			// which is what a suppression list must hold.
			if n := len(out); n > 0 && reExpandedAt(note, h.at) && strings.Count(note[out[n-1].at:h.at], "\n") <= 1 {
				out[n-1].addr, out[n-1].at = h.addr, h.at // the next remark counts its lines from here
				continue
			}
			out = append(out, h)
		}
		others := false
		for _, h := range out {
			a := bareAddr(h.addr)
			if !sender[strings.ToLower(a)] && !reDaemon.MatchString(a) && !strong[strings.ToLower(a)] {
				others = true
			}
		}
		for _, h := range out {
			a := bareAddr(h.addr)
			if others && (sender[strings.ToLower(a)] || reDaemon.MatchString(a)) {
				continue
			}
			add(h.addr)
		}
		loose = true
	}
	if len(addrs) == 0 {
		// Quoted header lines name the sender and message ids, never the
		// failed recipient.
		for _, line := range reQuotedHeader.FindAllString(note, -1) {
			for _, a := range reAddr.FindAllString(line, -1) {
				skip[strings.ToLower(a)] = true
			}
		}
		// The original's quoted To and Cc (Exchange's "Your message
		// To: list@example.org ... did not reach the following
		// recipient(s)") name where it was sent, often a mailing list,
		// not who failed: taken only when the prose names nobody else.
		quotedTo := map[string]bool{}
		for _, line := range reQuotedTo.FindAllString(note, -1) {
			for _, a := range reAddr.FindAllString(line, -1) {
				quotedTo[strings.ToLower(bareAddr(a))] = true
			}
		}
		locs := reAddr.FindAllStringIndex(note, -1)
		for _, pass := range []int{0, 1} {
			for _, loc := range locs {
				a := note[loc[0]:loc[1]]
				if pass == 0 && quotedTo[strings.ToLower(bareAddr(a))] || afterFrom(note, loc[0]) {
					continue
				}
				add(a)
			}
			if len(addrs) > 0 || len(quotedTo) == 0 {
				break
			}
		}
	}
	if len(addrs) == 0 && orig != nil {
		for _, k := range []string{"To", "Cc"} {
			for _, a := range headerAddrs(*orig, k) {
				add(a)
			}
		}
	}
	if len(addrs) == 0 {
		return
	}
	delayed := reDelayed.MatchString(note) && !rePermanent.MatchString(note) &&
		(!reNotDelivered.MatchString(note) || reRetrying.MatchString(note))
	ix := newNoteIndex(note, addrs)
	// A recipient the notice does not name (an X-Failed-Recipients
	// entry, a bare name given a domain) is read against the whole
	// notice: that reading is done once, and its class once per domain
	// (all that decide takes of the address), however many such
	// recipients there are.
	var whole *Recipient
	wholeClass := map[string]string{}
	for _, a := range addrs {
		region := ix.recipientRegion(a)
		own := region != ""
		if !own || FindReply(region) == "" && FindStatus(region) == "" && len(addrs) == 1 {
			region = strings.TrimSpace(region + " " + note)
		}
		action := "failed"
		if delayed {
			action = "delayed"
		}
		var rc Recipient
		if !own && whole != nil {
			rc = *whole
		} else {
			rc = Recipient{Action: action, Diagnostic: summarize(region), Status: FindStatus(region), RemoteMTA: remoteMTA(region)}
			if !own {
				w := rc
				whole = &w
			}
		}
		rc.Recipient = a
		in := input{action: rc.Action, status: rc.Status, detail: region, context: region,
			recipient: a, remoteMTA: rc.RemoteMTA, reportingMTA: rep.ReportingMTA}
		if own {
			rc.Class = decide(in)
		} else {
			_, domain, _ := strings.Cut(strings.ToLower(a), "@")
			c, ok := wholeClass[domain]
			if !ok {
				c = decide(in)
				wholeClass[domain] = c
			}
			rc.Class = c
		}
		rc.Hard = IsHard(rc.Class)
		rep.Recipients = append(rep.Recipients, rc)
	}
}

var (
	reDelayed   = regexp.MustCompile(`(?i)has (been|not yet been) (delayed|delivered)|delivery (is |has been )?delayed|will (continue|keep) (trying|to try)|still (trying|being retried)|is still in the queue|temporary (failure|error|problem).*retry|warning: message .* delayed|no action is required on your part|will retry|` + reRetryingText)
	rePermanent = regexp.MustCompile(`(?i)permanent|given up|giving up|gave up|failed permanently|fatal`)
	// "could not be delivered" is permanent unless the notice says the
	// attempts go on: a delay warning (Symantec's gateway: "could not be
	// delivered to the following recipients ... Delivery attempts will
	// continue to be made for 5 day(s)"; Postfix's "THIS IS A WARNING
	// ONLY").
	reNotDelivered = regexp.MustCompile(`(?i)could not be delivered`)
	reRetrying     = regexp.MustCompile(`(?i)` + reRetryingText)
	reRemote       = regexp.MustCompile(`(?i)(?:host|server|mx|remote host|by)\s+\[?([a-z0-9][a-z0-9.\-]*\.[a-z]{2,}|\d{1,3}(?:\.\d{1,3}){3})\]?(?:\s*\[[0-9a-f.:]+\])?\s*(?:said|says|replied|returned|answered|:)`)
)

var (
	// reNameListHead is a heading that announces the failed recipients,
	// ending in a colon: "Your mail to the following recipients could not
	// be delivered because ...:" (AOL), "Message not delivered to the
	// following:" (Yale's phquery).
	reNameListHead = regexp.MustCompile(`(?im)^[^\n]*(?:following (?:recipients?|addresses|address\(es\)|users?)|delivered to the following)[^\n]*:[ \t]*$`)
	// reNameLine is one entry of such a list given as a bare local part,
	// indented, alone or followed by its reason after two spaces.
	reNameLine = regexp.MustCompile(`^[ \t]+([A-Za-z0-9][A-Za-z0-9._+\-]{0,63})(?:[ \t]{2,}\S.*|[ \t]*)$`)
)

// maxBareNames bounds the bare names read from one notification, and
// maxBareText the text searched for their full addresses.
const (
	maxBareNames = 100
	maxBareText  = 256 << 10
)

// bareNames reads a list of failed recipients given as bare local parts
// (AOL's screen names, a directory's "thomas.dtankengine    No matches"):
// the reporting system's own users. Each becomes the full address with
// that local part that the message names elsewhere (the quoted original's
// "for <user@example.edu>"), else the local part at the domain of the
// report's From, the system that holds the mailbox.
func bareNames(note, text string, h message.Header) []string {
	var names []string
	for _, loc := range reNameListHead.FindAllStringIndex(note, -1) {
		rest := strings.TrimPrefix(note[loc[1]:], "\n") // the heading's own line end
		blank, found := 0, 0
		for rest != "" && len(names) < maxBareNames {
			line, after, _ := strings.Cut(rest, "\n")
			rest = after
			if strings.TrimSpace(line) == "" {
				if blank++; blank > 2 || found > 0 {
					break
				}
				continue
			}
			m := reNameLine.FindStringSubmatch(line)
			if m == nil {
				break
			}
			names = append(names, m[1])
			found++
		}
	}
	if len(names) == 0 {
		return nil
	}
	full := map[string]string{}
	if len(text) > maxBareText {
		text = text[:maxBareText]
	}
	for _, a := range reAddr.FindAllString(text, -1) {
		a = bareAddr(a)
		local, _, _ := strings.Cut(strings.ToLower(a), "@")
		if _, ok := full[local]; !ok {
			full[local] = a
		}
	}
	domain := ""
	if from := headerAddrs(h, "From"); len(from) > 0 {
		if _, d, ok := strings.Cut(from[0], "@"); ok {
			domain = strings.ToLower(strings.TrimRight(d, "."))
		}
	}
	var out []string
	for _, n := range names {
		if a, ok := full[strings.ToLower(n)]; ok {
			out = append(out, a)
		} else if domain != "" {
			out = append(out, n+"@"+domain)
		}
	}
	return out
}

// afterFrom tells whether the address at i in note follows "from" on its
// line: the sender's ("not accepting mail from list@example.org", "mail
// from <a@b>"), never the failed recipient.
func afterFrom(note string, i int) bool {
	w := note[max(i-24, 0):i] // a bounded look back: no rescan of long lines
	if j := strings.LastIndexByte(w, '\n'); j >= 0 {
		w = w[j+1:]
	}
	return reFromBefore.MatchString(w) && !reExpandedAt(note, i)
}

// reExpandedAt tells whether the address at i is the one of an
// "(expanded from: ...)" or "(generated from ...)" remark.
func reExpandedAt(note string, i int) bool {
	start := max(i-24, 0)
	return reExpandedBefore.MatchString(note[start:i])
}

var reExpandedBefore = regexp.MustCompile(`(?i)\((?:expanded|generated) from:?[ \t]*<?$`)

// bareAddr strips from an address found in prose what is not its: a
// sentence's final dot, the single quotes around it (Exim 2's "addressed
// to 'user@example.com'"), and the "SMTP=" of an X.400 O/R address
// (Exchange 5.5's "c=US;a= ;p=Org;o=Site;dda:SMTP=user@example.com;").
func bareAddr(a string) string {
	a = strings.TrimRight(a, ".")
	a = strings.TrimLeft(a, "'")
	if len(a) > 5 && strings.EqualFold(a[:5], "smtp=") {
		a = a[5:]
	}
	return a
}

const reRetryingText = `attempts will continue|will (continue to )?be retried|will (continue|keep) (trying|to try)|will retry|warning only|do not need to resend`

func remoteMTA(region string) string {
	if m := reRemote.FindStringSubmatch(region); m != nil {
		return m[1]
	}
	return ""
}

func headerAddrs(h message.Header, k string) []string {
	var out []string
	for _, v := range h.Values(k) {
		if list, err := mail.ParseAddressList(v); err == nil {
			for _, a := range list {
				out = append(out, a.Address)
			}
			continue
		}
		out = append(out, reAddr.FindAllString(v, -1)...)
	}
	return out
}

// noteIndex is a notification read once for the regions of all its
// recipients: lowercased, its addresses' first offsets, the recipients'
// addresses as a set. Each region then costs its own lines, not the
// whole notification: a report naming thousands of recipients is read
// in linear time.
type noteIndex struct {
	note, low string
	at        map[string]int  // lowercased address -> its first offset in low
	others    map[string]bool // lowercased recipient addresses
	odd       []string        // lowercased recipients reAddr does not match whole
	misses    int             // scans for odd addresses so far
}

func newNoteIndex(note string, others []string) *noteIndex {
	ix := &noteIndex{note: note, low: strings.ToLower(note), at: map[string]int{}, others: map[string]bool{}}
	if len(ix.low) != len(note) { // a case mapping that changes lengths: offsets differ
		ix.low = asciiLower(note)
	}
	for _, loc := range reAddr.FindAllStringIndex(ix.low, -1) {
		if _, ok := ix.at[ix.low[loc[0]:loc[1]]]; !ok {
			ix.at[ix.low[loc[0]:loc[1]]] = loc[0]
		}
	}
	for _, o := range others {
		o = strings.ToLower(o)
		ix.others[o] = true
		if reAddr.FindString(o) != o {
			ix.odd = append(ix.odd, o)
		}
	}
	return ix
}

// asciiLower lowercases ASCII letters only, keeping byte offsets.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// maxOddLookups bounds the notification scans for recipients that are not
// plain addresses (quoted local parts, non-ASCII) in one notification.
const maxOddLookups = 32

// offset returns where addr first stands in the notification, or -1.
func (ix *noteIndex) offset(addr string) int {
	low := strings.ToLower(addr)
	if i, ok := ix.at[low]; ok {
		return i
	}
	if reAddr.FindString(low) == low || ix.misses >= maxOddLookups {
		return -1
	}
	ix.misses++
	return strings.Index(ix.low, low)
}

// recipientRegion returns the text about addr in a notification: from the
// line where it first stands as a recipient to the next line that names
// another recipient, or a blank-line-separated paragraph further on.
func (ix *noteIndex) recipientRegion(addr string) string {
	if ix.note == "" || addr == "" {
		return ""
	}
	i := ix.offset(addr)
	if i < 0 {
		return ""
	}
	note := ix.note
	start := strings.LastIndexByte(note[:i], '\n') + 1
	rest := note[start:]
	var out []string
	blank := 0
	for n := 0; rest != ""; n++ {
		line, after, _ := strings.Cut(rest, "\n")
		rest = after
		t := strings.TrimSpace(line)
		if n > 0 && (ix.startsWithOther(t, addr) || reSendmailHost.MatchString(t)) {
			break
		}
		if t == "" {
			blank++
			if blank > 3 {
				break
			}
			continue
		}
		out = append(out, t)
		if len(out) > 25 {
			break
		}
	}
	return strings.Join(out, "\n")
}

// startsWithOther tells whether a line starts with another recipient's
// address: the start of that recipient's block.
func (ix *noteIndex) startsWithOther(t, addr string) bool {
	if m := reCodePrefix.FindString(t); m != "" {
		t = t[len(m):]
	}
	t = strings.ToLower(strings.TrimLeft(t, "<\"' >*-"))
	self := strings.ToLower(addr)
	// The address t starts with (a sentence's final dot is not its).
	if loc := reAddr.FindStringIndex(t); loc != nil && loc[0] == 0 {
		if p := strings.TrimRight(t[:loc[1]], ".-"); p != self && ix.others[p] {
			return true
		}
	}
	for _, o := range ix.odd {
		if o != self && strings.HasPrefix(t, o) {
			return true
		}
	}
	return false
}

var reSpace = regexp.MustCompile(`\s+`)

// summarize returns the most telling part of a region: from the first
// SMTP reply code (or status) on, whitespace collapsed, at most 400 bytes.
func summarize(region string) string {
	s := reSpace.ReplaceAllString(region, " ")
	if loc := reReplyStart.FindStringIndex(s); loc != nil {
		s = s[loc[0]:]
	}
	s = strings.TrimSpace(s)
	if len(s) > 400 {
		cut := 400
		for cut > 0 && s[cut]&0xC0 == 0x80 {
			cut--
		}
		s = s[:cut]
	}
	return s
}

var reReplyStart = regexp.MustCompile(`\b[45]\d\d[ \-][45]\.\d{1,3}\.\d{1,3}\b|\b[45]\d\d[ \-]\S|#?\b[45]\.\d{1,3}\.\d{1,3}\b`)
