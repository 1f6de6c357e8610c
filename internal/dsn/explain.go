package dsn

import (
	"fmt"
	"regexp"
	"strings"
)

// Sides: who must act on a failed delivery.
const (
	SideSenderAdmin    = "sender-admin"    // the sending site's DNS, authentication, reputation
	SideSenderUser     = "sender-user"     // the address, the From, the message
	SideRecipientAdmin = "recipient-admin" // the receiving site
	SideNobody         = "nobody"          // temporary: the sending MTA retries
)

// Explanation is what explain prints for one reply.
type Explanation struct {
	Class  string `json:"class"`
	Hard   bool   `json:"hard"`
	Side   string `json:"side"`
	Advice string `json:"advice"`
	Status string `json:"status,omitempty"` // RFC 3463 status found in the reply
	Reply  string `json:"reply,omitempty"`  // SMTP reply code found in the reply
}

var reReputation = regexp.MustCompile(`(?i)black ?list|block ?list|\brbl\b|dnsbl|spamhaus|spamcop|sorbs|barracuda|reputation|\blisted\b|banned sending ip|client host .*blocked|\bip\b|complaints|unexpected volume`)

// Explain classifies one reply line or diagnostic text and says who must
// act and what to do. status may be "" (it is then looked for in text).
func Explain(status, text string) Explanation {
	text = strings.TrimSpace(text)
	if len(text) > maxClassify {
		text = text[:maxClassify]
	}
	if status == "" {
		status = FindStatus(text)
	}
	e := Explanation{Status: status, Reply: FindReply(text)}
	e.Class, e.Hard = Classify(status, text)
	temporary := strings.HasPrefix(e.Reply, "4") || strings.HasPrefix(status, "4.")
	code := strings.TrimSpace(e.Reply + " " + status)
	if code == "" {
		code = "no status code"
	}
	quote := fmt.Sprintf("The reply (%s)", code)
	switch {
	case e.Hard && e.Class == UserUnknown:
		e.Side = SideSenderUser
		e.Advice = quote + " says the mailbox does not exist (or has moved). The address is dead whatever the first digit: correct it or remove it from your lists; mailing it again hurts your reputation."
	case e.Hard:
		e.Side = SideSenderUser
		e.Advice = quote + " says the recipient's domain does not exist or accepts no mail (no MX, null MX). Check the address for a typo in the domain and remove it if it is right."
	case temporary && e.Class != PolicyAuth && e.Class != SpamBlocked:
		e.Side = SideNobody
		e.Advice = quote + " is temporary (" + e.Class + "): the sending server keeps the message and retries. Act only if it still fails when the queue lifetime ends."
	default:
		e.Side, e.Advice = adviceFor(e.Class, quote, text, temporary)
	}
	return e
}

func adviceFor(class, quote, text string, temporary bool) (string, string) {
	retry := ""
	if temporary {
		retry = " It is temporary for now: the sending server retries, but it will keep failing until this is fixed."
	}
	switch class {
	case MailboxFull:
		return SideRecipientAdmin, quote + " says the recipient's mailbox (or their server's storage) is full. Only the recipient or their administrator can free space; tell them by another channel, or resend later."
	case PolicyAuth:
		return SideSenderAdmin, quote + " is an authentication or sender-policy refusal (SPF, DKIM, DMARC, reverse DNS, TLS, or the sender address). Check your domain's SPF record includes this server, that mail is DKIM-signed for the From domain, DMARC alignment, and the PTR of the sending IP." + retry
	case SpamBlocked:
		if reReputation.MatchString(text) {
			return SideSenderAdmin, quote + " refuses the sending server's IP or domain (blocklist or reputation). Look the IP up in the named list, fix the cause (compromised account, open relay, missing PTR), request delisting, and ask the receiving administrator if the refusal persists." + retry
		}
		return SideRecipientAdmin, quote + " is a content or policy filter at the receiving site. Ask the receiving administrator, quoting this line, why the message was refused; check links, attachments and the From header of the message." + retry
	case RelayDenied:
		return SideRecipientAdmin, quote + " says the server that answered does not relay for this domain. Either the recipient's MX records point to the wrong server (the recipient's administrator must fix their DNS), or your own server sent through a relay that does not accept you (check your relayhost and SMTP authentication)."
	case Network:
		return SideRecipientAdmin, quote + " is a connection or DNS failure toward the recipient's servers. If it lasts, the recipient's administrator must check their MX hosts; retry later."
	case Expired:
		return SideRecipientAdmin, quote + " means the sending server gave up after retrying for its queue lifetime: the recipient's servers were unreachable or kept deferring. Ask the recipient's administrator; resend once they are reachable."
	case Suspended:
		return SideSenderUser, quote + " says the recipient's account is disabled or suspended. Contact the recipient another way; stop mailing the address if it stays disabled."
	case TooLarge:
		return SideSenderUser, quote + " says the message is larger than the receiving server accepts. Send a smaller message (a link instead of an attachment)."
	case RateLimited:
		if temporary {
			return SideNobody, quote + " is a rate limit: the sending server retries later. If it persists, send more slowly or ask the receiving administrator to raise the limit."
		}
		return SideSenderAdmin, quote + " refuses mail for sending too much, too fast. Lower the sending rate and volume from this server."
	}
	if temporary {
		return SideNobody, quote + " is temporary: the sending server retries. Act only if it keeps failing."
	}
	return SideRecipientAdmin, quote + " is a permanent refusal with no more specific cause. Ask the receiving administrator, quoting this line."
}
