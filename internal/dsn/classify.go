package dsn

import (
	"regexp"
	"strings"
)

// The classes of a failed delivery. The list is closed: every recipient
// gets exactly one.
const (
	UserUnknown = "user-unknown" // no such mailbox, or it has moved (hard)
	MailboxFull = "mailbox-full" // over quota, or the receiving system is out of storage
	PolicyAuth  = "policy-auth"  // SPF, DKIM, DMARC, PTR, TLS, authentication, sender refused
	SpamBlocked = "spam-blocked" // content, IP reputation, blocklist, recipient's filter
	RelayDenied = "relay-denied" // the server does not relay for the sender
	HostUnknown = "host-unknown" // no such domain, no MX, null MX: accepts no mail (hard)
	Network     = "network"      // connection refused, timed out, lost, routing
	Expired     = "expired"      // the sending MTA gave up after its retry time
	Suspended   = "suspended"    // mailbox disabled, suspended, inactive
	TooLarge    = "too-large"    // message over a size limit
	RateLimited = "rate-limited" // too many connections, messages or recipients
	Other       = "other"        // anything else
	classNone   = ""             // internal: no rule matched
)

// Classes lists every class, in the order of the documentation.
var Classes = []string{UserUnknown, MailboxFull, PolicyAuth, SpamBlocked, RelayDenied,
	HostUnknown, Network, Expired, Suspended, TooLarge, RateLimited, Other}

// IsHard tells whether a class means that the address itself is dead and
// will never work: a user that does not exist (or has moved), a domain that
// does not exist or accepts no mail. Everything else may work later or from
// elsewhere, whatever the reply's first digit.
func IsHard(class string) bool { return class == UserUnknown || class == HostUnknown }

// textRule maps wording in a reply to a class. The rules are tried in
// order; the first that matches wins, so the specific comes before the
// general.
type textRule struct {
	class string
	re    *regexp.Regexp
}

func rules(pairs ...string) []textRule {
	out := make([]textRule, 0, len(pairs)/2)
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, textRule{pairs[i], regexp.MustCompile(pairs[i+1])})
	}
	return out
}

const strongSpamRE = `spam|junk|smtp server of your isp|dynamic(ally assigned)? ip|dial-?up|residential (ip|address)|blacklist|blocklist|block ?list|black ?list|\brbl\b|dnsbl|spamhaus|spamcop|barracuda|sorbs|reputation|\blisted\b|banned|virus|malware|infected|phish|recipient preferences|user complaints|unsolicited|\bubeg?\b|\bucep?\b|policy violation|protocol violation`

// strongSpam is wording that names spam, a blocklist or reputation.
var strongSpam = regexp.MustCompile(strongSpamRE)

// firmRules are wording whose class is ours by definition, whatever the
// reason engine says: a refused sender or HELO is the sending site's
// identity (policy-auth; sisimai's "blocked" would send the user to
// blocklists), and a sending quota is a rate limit, not a full mailbox.
var firmRules = rules(
	PolicyAuth, senderRefusedRE,
	RateLimited, sendingQuotaRE,
)

const (
	senderRefusedRE = `sender address rejected|sender verify failed|sender verification failed|helo command rejected|(ehlo|helo) (name |hostname )?(rejected|invalid|not (found|valid|accepted))|invalid (ehlo|helo)|domain of sender address .* does not exist|client host rejected: cannot find your`
	sendingQuotaRE  = `(daily|hourly|sending|send|relay|message|recipient) (user )?(sending )?quota|threshold ?exceeded|max(imum)? (number of )?(messages|recipients|connections) (per|reached|exceeded)`
)

// textRules are matched against the lowercased text: specificRules, then
// genericRules.
var textRules = append(specificRules[:len(specificRules):len(specificRules)], genericRules...)

// specificRules name a class by wording that says what happened.
var specificRules = rules(
	Network, `name server reply|host not found, try again|temporary failure in name resolution|network error|host name lookup failure|name server: `,
	// Sendmail's access database names the address it refuses: a
	// "<sender>... Access denied" is about the sender (Postfix's
	// "Recipient address rejected: Access denied" is not this form).
	PolicyAuth, `>\.\.\. access denied`,
	// The sender's own address, domain or HELO refused (Postfix, Exim,
	// Sendmail standard texts): checked before the host and user rules,
	// which would read "Sender address rejected: Domain not found" as the
	// recipient's domain.
	PolicyAuth, senderRefusedRE,
	UserUnknown, `not listed in (the )?(domino |public |address )?(directory|book)|user doesn't have a|ディレクトリには見つかりません`,
	Other, `procmail|couldn't create|command (died|failed)|not (rfc ?(2822|5322|822) )?compliant|multiple addresses in from|there are multiple (subject|from|to|date)|multiple [a-z\-]+ headers|message-id .* (missing|invalid)|mailer error|x-unix;|internal (system|server) error|system config error|malformed address|queue file write error`,
	Network, `too many hops|hop count|mail loop|loop detected|routing loop|loops back|message is looping|is looping`,
	RelayDenied, `configured to relay|relay(ing)? (access )?(is )?(denied|not (permitted|allowed)|prohibited|refused)|(not permitted|not allowed|unable|cannot|can't|will not|do not|don't) (to )?relay|relay not (permitted|allowed)|not (a )?(gateway|local domain)|no relaying|relaying (is )?disallowed|relay(ing)? denied|open relay|not in (my )?rcpthosts|not a valid relay|isn't allowed to relay|we do not relay`,
	// A sending quota is a rate limit, not a full mailbox (Gmail 5.4.5
	// "Daily sending quota exceeded", Exchange "ThresholdExceeded").
	RateLimited, sendingQuotaRE,
	MailboxFull, `mailbox exceeds allowed size|mailbox (is )?full|over ?quota|quota exceeded`,
	TooLarge, `too (big|large)|size (limit|exceeded)|exceeds? (the )?(maximum|max|size|allowed|message size)|message size|message length exceeds|larger than (the )?(allowed|maximum)|mail size|maximum (allowed )?(message )?size|message is too long`,
	MailboxFull, `mailbox (is )?full|over ?quota|quota (exceeded|exceed|full|limit)|exceeded (the )?(storage|quota)|(insufficient|not enough) (system )?(storage|disk|space|resources)|mailbox size limit|disk quota|out of storage|storage (space )?(is )?(full|exceeded)|mailbox (has )?exceeded|is over (the|their|its|his|her) (quota|limit|storage)|user is over|mail ?box (is )?(over|at) (its )?(limit|capacity|quota)|mailfolder is full|full mailbox|inbox is full|has too many messages|no space left|account is full|exceeds (its|the) quota|system full|messages in recipient's mailbox exceeded|mailbox exceeded|exceeded the local limit`,
	Suspended, `suspend|account (has been |is )?(disabled|deactivated|inactive|locked|closed|blocked|expired|frozen)|mailbox (has been |is )?(disabled|deactivated|inactive|locked|closed|frozen)|(disabled|inactive|deactivated|closed|locked|expired) (mail ?box|account|user|recipient)|user (is |has been )?(disabled|deactivated|inactive)|recipient (is )?(disabled|inactive)|not active|no longer active|temporar(y|ily) (disabled|locked)|the email account that you tried to reach is disabled|over (the )?maximum idle|has been disabled|account is disabled`,
	SpamBlocked, strongSpamRE,
	// The sending MTA gave up: after the specific reasons above (a full
	// mailbox or a blocklist named in the expiry notice is the reason).
	Expired, `message (has )?expired|delivery time expired|retry timeout exceeded|queue too long|failed \d+ attempts`,
	RateLimited, `greylist|grey-list|gray-list|graylist|rate ?limit|at a rate that|too many (connections|messages|recipients|concurrent|mails|emails|sessions)|try again slower|slow down|throttl|sending (rate|limit)|(message|mail|connection) (rate|frequency)|limit (exceeded|reached)`,
	HostUnknown, `illegal host/domain|couldn't find any host|couldn't find a mail exchanger|point to non-?existent hosts|no route found to domain|host (or domain name )?(unknown|not found)|unknown (host|domain)|domain (name )?(not found|does not exist|doesn't exist|unknown|is not valid|has no mx)|(no such|invalid) (domain|host)|host not found|name or service not known|nxdomain|no mx (record|host)|null mx|does not accept (e-?)?mail|accepts no mail|doesn't receive email|unrouteable (mail )?domain|domain (is )?(not|no longer) (in use|hosted|active|receiving)|no (valid )?(mail exchanger|mx)|name server error|domain lookup failed|unroutable domain|\bhostunknown\b|mx (record )?(not found|does not exist)|(^|\s)[a-z0-9\-]+(\.[a-z0-9\-]+)+\.? does not exist|no smtp service|unrouteable address|unroutable address`,
	UserUnknown, `recipnotfound|recipientnotfound|recipient address rejected: access denied|address rejected(\s*[.\-]|\s+[^:\s]|$)|not our (user|customer)|user (is )?unknown|unknown (user|recipient|local part|mailbox|address|local-part|e-?mail address)|no such (user|mailbox|recipient|address|account|local user|person|e-?mail)|(user|recipient|mailbox|address|account|addressee)( name)? (was |is )?(not found|not known|does not exist|doesn't exist|not exist|nonexistent|invalid|unavailable|not available|not valid|not listed|unknown|not recognized)|(invalid|unknown|bad|non-?existent|inexistent) (recipient|mailbox|user|address|destination|e-?mail)|does not exist|doesn't exist|not a valid (mailbox|user|recipient|address)|no (mailbox|account) (here )?(by that name|for)|mailbox (is )?(not available|unavailable|not found)|(recipient|user) not (found|known|local|recognized)|not our customer|unknown or illegal alias|has moved|has been replaced|no longer (valid|available|in use|exists|with)|moved (permanently|away)|address (has )?changed|not listed in|user doesn't have|no such user here|we do not have a customer|undeliverable address|recipient unknown|mailbox (does not|doesn't) exist|account (does not|doesn't) exist|unknown account|user not exist|invalid address|no mailbox|isn't a valid|this user doesn't|(no|not a) valid recipient|mailbox not present|bad destination|not found in directory|couldn't find|is not a known user|address unknown|user account (does not|doesn't) exist|no user|address not (found|present|valid)|user_unknown|userunknown|nosuchuser|recipient name is not recognized`,
	PolicyAuth, `\bspf\b|sender policy framework|\bdkim\b|\bdmarc\b|authenticat|not authorized to send|not permitted to send|is not allowed to send|\bptr\b|reverse dns|\brdns\b|reverse (lookup|address|dns lookup)|hostname (does not|doesn't) match|does not resolve|cannot find your hostname|(sender|from):? (address |domain )?(is )?(rejected|refused|denied|not allowed|invalid|not verified|verify failed|unknown|does not exist)|domain of sender address|sender (domain )?(must|does not) |sender verif|verification failed|(bad|invalid|unknown) sender|envelope[- ]sender|tls (is )?required|must (issue|use) a starttls|starttls|encryption required|requires? (tls|encryption|authentication)|smtp auth|impersonat|forged|spoof|sender (is |was )?not (allowed|permitted|authorized)|you are not allowed to send|purported responsible|from: domain|permission to post|send mail as|does not support tls|alignment|mismatches client ip`,
	Expired, `expired|cannot send message for|still undelivered|undelivered after|will (continue|keep) trying|will be retried for|retry (time|timeout|period)|retried for|failing for a long time|queue too long|(too|been) (long|old)|delivery time|could not be delivered (for|within|in)|giving up|gave up|queue (time|lifetime)|maximum (queue|delivery)|timeout expired|message timed out|has not been delivered|could not deliver.*days|remains undelivered|will not be retried|not delivered for more`,
	Network, `connection (refused|timed out|reset)|no route to host|network is unreachable|lost connection|conversation .* timed out|(wasn't|was not|unable to|not) (able to )?establish (an )?smtp connection|read error from`,
	// Protocol and system errors: the command, not the message or the
	// sender, was refused, or the receiving system failed.
	Other, `syntax error|bad sequence of commands|command (not )?(recognized|unrecognized|not implemented)|unrecognized command|temporary system problem|system (is )?(busy|unavailable)|local error in processing`,
)

// genericRules are the catch-all words ("blocked", "timed out", "try again
// later"): they name a class when nothing more specific does, but they do
// not overrule a reason the status code names.
var genericRules = rules(
	SpamBlocked, `blocked|block(ed)? (by|for|due)|content|filter|policy|prohibit|will not accept|not accepted|refused|denied|bulk|suspicious|abuse|poor|not allowed|rejected (for|due|because|by)|message (was |has been )?rejected|mail rejected|rejected by|header|attachment|malformed|syntax|dangerous|not welcome|refuse|mailbox unavailable|\brejected\b`,
	RateLimited, `too many|(please )?(try|retry) (again )?later|frequency|temporarily (deferred|rate)|flood|speed|excessive|exceeded (the )?(maximum )?number|daily .*quota`,
	Network, `connection (refused|timed out|reset|lost|closed|dropped|failure|failed|error)|(timed|time) ?out|no route|network|unreachable|not reachable|lost connection|could not connect|can't connect|cannot connect|couldn't connect|unable to connect|no answer|not responding|connect to .* failed|tls handshake|broken pipe|dns (error|failure|temporary)|servfail|temporary lookup failure|try again|nameserver|name server|host not responding|did not accept our requests to connect|protocol error|lookup failure`,
	// Last: a notice that names no cause but asks to check the address.
	UserUnknown, `check (if|that|whether) (the )?(recipient'?s? |e-?mail )?address is (correct|valid|right)`,
	// Common non-English wording (German, French, Spanish, Italian,
	// Portuguese, Russian, Chinese, Japanese), last so that an English
	// reply quoted in the same notice decides.
	MailboxFull, `postfach (ist )?voll|speicherplatz|boîte (aux lettres |mail )?(est )?pleine|buzón (está )?lleno|casella (di posta )?piena|caixa (postal )?(está )?cheia|ящик переполнен|邮箱已满|邮箱空间不足|容量(が)?(超過|オーバー|不足)`,
	UserUnknown, `benutzer unbekannt|unbekannter (benutzer|empfänger)|empfänger unbekannt|utilisateur inconnu|destinataire inconnu|adresse (e-?mail )?(inconnue|invalide|inexistante)|usuario desconocido|utente sconosciuto|utente inesistente|usuário desconhecido|пользователь не найден|нет такого пользователя|用户不存在|收件人不存在|宛先不明`,
)

// statusClass maps an RFC 3463 status (subject.detail, with its class) to
// a class, when the words of the reply did not decide.
func statusClass(st string) string {
	if st == "" {
		return classNone
	}
	cls, sub, det, ok := splitStatus(st)
	if !ok {
		return classNone
	}
	switch sub + "." + det {
	case "1.1", "1.3", "1.6", "1.0", "1.5", "7.17":
		return UserUnknown
	case "1.10":
		// RFC 7505 gives x.1.10 to a null MX, but Exchange Online uses it
		// for RESOLVER.ADR.RecipientNotFound; a null MX says so in words.
		return UserUnknown
	case "1.2", "4.4", "7.18":
		return HostUnknown
	case "1.8", "1.7", "7.27":
		return PolicyAuth
	case "1.4":
		return UserUnknown
	case "2.1", "7.13", "7.14":
		return Suspended
	case "2.2", "3.1":
		return MailboxFull
	case "2.3", "3.4":
		return TooLarge
	case "4.1", "4.2", "4.3", "4.0", "4.6", "4.5":
		return Network
	case "4.7":
		return Expired
	case "7.1", "7.0", "6.0", "6.1", "6.2", "6.3", "6.4", "6.5", "7.7", "7.28":
		return SpamBlocked
	case "7.2", "7.3", "7.4", "7.5", "7.6", "7.8", "7.9", "7.10", "7.11", "7.12", "7.15", "7.16",
		"7.19", "7.20", "7.21", "7.22", "7.23", "7.24", "7.25", "7.26", "7.29", "7.30":
		return PolicyAuth
	case "3.0", "3.2", "3.5", "2.4", "2.0", "5.0", "5.1", "5.2", "5.3", "5.4", "5.5", "5.6", "3.3":
		return Other
	case "0.0":
		return classNone
	}
	_ = cls
	switch sub {
	case "1":
		return UserUnknown
	case "2":
		return MailboxFull
	case "6":
		return SpamBlocked
	case "7":
		return SpamBlocked
	}
	return classNone
}

func splitStatus(st string) (cls, sub, det string, ok bool) {
	p := strings.Split(st, ".")
	if len(p) != 3 {
		return "", "", "", false
	}
	return p[0], p[1], p[2], true
}

var (
	reStatus = regexp.MustCompile(`(?:^|[^\d.])([245])\.(\d{1,3})\.(\d{1,3})(?:[^\d.]|\.(?:\D|$)|$)`)
	reReply  = regexp.MustCompile(`(?:^|[^\d.#:/\-])([245][0-5]\d)(?:[ \-]|$)`)
)

// FindStatus returns the first RFC 3463 failure status code (4.x.x or
// 5.x.x) in text ("5.1.1"), else the first success status, or "". A
// transcript's "250 2.1.5 Ok" is not what failed.
func FindStatus(text string) string {
	var first string
	for _, m := range reStatus.FindAllStringSubmatch(text, 32) {
		if m[1] != "2" {
			return m[1] + "." + m[2] + "." + m[3]
		}
		if first == "" {
			first = m[1] + "." + m[2] + "." + m[3]
		}
	}
	return first
}

// FindReply returns the first SMTP failure reply code (4xx, 5xx) in text
// ("550"), else the first success code, or "".
func FindReply(text string) string {
	var first string
	for _, m := range reReply.FindAllStringSubmatch(text, 32) {
		if m[1][0] != '2' {
			return m[1]
		}
		if first == "" {
			first = m[1]
		}
	}
	return first
}

// Classify gives the class of a failed delivery from its status (RFC
// 3463, may be "") and the text of the reply or diagnostic, and whether
// the address itself is dead (hard). The wording decides first, then the
// status: "550 5.7.1 blocked using zen.spamhaus.org" is spam-blocked (soft)
// and "450 4.1.1 user unknown" is user-unknown (hard).
func Classify(status, text string) (class string, hard bool) {
	in := input{status: status, detail: text}
	if reGaveUp.MatchString(strings.ToLower(text)) {
		// The text is a notice's, not a reply's: the sending MTA gave
		// up, so a connection failure is an expired delivery.
		in.action = "failed"
	}
	class = decide(in)
	return class, IsHard(class)
}

var reGaveUp = regexp.MustCompile(`permanent failure|giving up|gave up|not going to try again|could not be delivered|undeliverable`)

// wordClass is the class the reader's own rules (textRules, statusClass)
// give a reply.
func wordClass(status, text string) (class string, hard bool) {
	if len(text) > maxClassify {
		text = text[:maxClassify]
	}
	if status == "" {
		status = FindStatus(text)
	}
	low := strings.ToLower(text)
	low = strings.ReplaceAll(low, "delivery temporarily suspended:", "")
	// Continuation lines repeat the reply code: "550-5.7.1 Messages with
	// multiple 550-5.7.1 addresses" reads as one sentence without them.
	low = reContinuation.ReplaceAllString(low, " ")
	// Wrapped lines read as one sentence: "From:\n    Domain is invalid".
	low = strings.Join(strings.Fields(low), " ")
	class = classify(status, low)
	return class, IsHard(class)
}

func classify(status, low string) string {
	st := statusClass(status)
	// The status codes that say exactly what happened win over wording.
	switch status {
	case "5.1.1", "4.1.1", "5.1.2", "4.1.2", "5.1.6", "5.2.2", "4.2.2",
		"5.3.4", "5.2.3", "5.7.26", "5.7.25", "5.7.23", "4.4.7", "5.4.7", "5.1.8", "4.1.8", "5.1.7", "4.1.7", "5.4.4",
		"5.7.13", "5.7.24", "4.7.24", "4.7.25", "4.7.26":
		// ...unless the words say the refusal came from a filter or a
		// blocklist (5.1.1 used for everything by some servers) or the
		// sender side.
		if t := textClass(low); t == SpamBlocked || t == PolicyAuth || t == RateLimited || t == RelayDenied || t == Suspended || t == MailboxFull || t == Network && status == "5.4.4" || t == Other {
			if !(st == UserUnknown && (t == SpamBlocked) && userUnknownWords.MatchString(low)) {
				return t
			}
		}
		return st
	}
	if t := textClass(low); t != classNone {
		return t
	}
	if st != classNone {
		return st
	}
	return Other
}

// maxClassify bounds the text the rules read: a reply, or the paragraph
// about one recipient, is far shorter.
const maxClassify = 4096

var reContinuation = regexp.MustCompile(`\s[245]\d\d[ \-][245]\.\d{1,3}\.\d{1,3}\s`)

var userUnknownWords = regexp.MustCompile(`user unknown|unknown user|no such user|does not exist|not found|invalid recipient|unknown recipient`)

// Final adjusts the class of a recipient from what surrounds its reply
// (context): a connection problem that made the sending MTA give up for
// good is expired, and a refusal at MAIL FROM is about the sender.
//
// A "user unknown" refused after DATA stays user-unknown: the receiving
// server says the mailbox does not exist, whatever the SMTP stage (sisimai
// calls it "filtered"; testdata/dsn/README).
func Final(action, status, class, context string) string {
	low := strings.ToLower(context)
	if len(low) > maxClassify {
		low = low[:maxClassify]
	}
	if action == "failed" && class == Network && (status == "" && !strings.HasPrefix(FindReply(low), "5") || strings.HasPrefix(status, "4")) && !reDNSWords.MatchString(low) {
		return Expired
	}
	if action == "delayed" && (class == Network || class == Other) {
		// A delay notice: not delivered for hours, still being retried.
		return Expired
	}
	if (class == SpamBlocked && !strongSpam.MatchString(low) || class == Other) && reMailFrom.MatchString(low) {
		// Refused at MAIL FROM: the sender, not the message, was refused.
		return PolicyAuth
	}
	if reGoogleGroups.MatchString(low) && (class == Other || class == SpamBlocked) {
		// Google Groups: the group does not exist or refuses this poster.
		return PolicyAuth
	}
	return class
}

var (
	reMailFrom     = regexp.MustCompile(`in reply to mail from|after mail from|>>> mail from:?<[^>]*>[^<]*<<< [45]`)
	reGoogleGroups = regexp.MustCompile(`groups\.google\.com|googlegroups\.com`)
)

var reDNSWords = regexp.MustCompile(`name service|name server|dns|host not found|lookup`)

func textClass(low string) string { return firstRule(textRules, low) }

func firstRule(rs []textRule, low string) string {
	for _, r := range rs {
		if r.re.MatchString(low) {
			return r.class
		}
	}
	return classNone
}
