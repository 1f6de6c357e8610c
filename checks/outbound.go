package checks

import (
	"fmt"
	"net/mail"
	"net/netip"
	"strings"
	"time"

	"github.com/emersion/go-msgauth/dmarc"

	"github.com/mailsift/mailsift/greylist"
	"github.com/mailsift/mailsift/internal/resolver"
)

// The outbound checks judge submissions — mail our own users send: from a
// trusted network, SMTP-authenticated, or handed to the MTA by a local
// program (Postfix's non_smtpd_milters) — and stop at the moment it is
// sent the mail that receivers would refuse or that would be lost. They
// run only for submissions, as the inbound checks run only for the rest.
//
// Each has a name shared by its [outbound.NAME] table, its log fields
// and its metrics labels.
const (
	PreflightName = "preflight" // DMARC preflight: can the From domain's policy be met
	LoginName     = "login"     // the authenticated login owns the sender address
	MailboxName   = "mailbox"   // the return address is a mailbox of ours
	LimitName     = "limit"     // daily message limit per login or sender
	StandardsName = "standards" // RFC 5322 header and line rules
	SuppressName  = "suppress"  // the recipient is on the suppression list (bounces)
)

// OutboundChecks lists the outbound checks' names in their order.
var OutboundChecks = []string{LoginName, MailboxName, LimitName, SuppressName, PreflightName, StandardsName}

// IsOutbound reports whether name is an outbound check's.
func IsOutbound(name string) bool {
	for _, n := range OutboundChecks {
		if n == name {
			return true
		}
	}
	return false
}

func outboundRows() []Row {
	const ways = "send from an address at your own domain, or through {domain}'s own mail server with SMTP authentication"
	return []Row{
		{PreflightName, "reject", Reply{550, "5.7.1", "{domain} publishes a DMARC policy of reject and this server is not allowed to send as {domain}: " + ways}},
		{PreflightName, "quarantine", Reply{550, "5.7.1", "{domain} publishes a DMARC policy of quarantine and this server is not allowed to send as {domain}: " + ways}},
		{PreflightName, "temp", Reply{451, "4.7.1", "Cannot check the DMARC policy of {domain} now, try again later"}},
		{LoginName, "mismatch", Reply{553, "5.7.1", "<{sender}>: Sender address rejected: not owned by user {login}"}},
		{LoginName, "temp", Reply{451, "4.3.0", "<{sender}>: Sender address rejected: temporary lookup failure"}},
		{MailboxName, "unknown", Reply{553, "5.1.8", "<{sender}>: Sender address rejected: no such mailbox here; replies and bounces to it would be lost"}},
		{MailboxName, "temp", Reply{451, "4.3.0", "<{sender}>: Sender address rejected: temporary lookup failure"}},
		{LimitName, "temp", Reply{450, "4.7.1", "{login}: daily limit of {limit} messages reached, try again later"}},
		{LimitName, "store", Reply{451, "4.3.0", "Temporary lookup failure, try again later"}},
		{StandardsName, "perm", Reply{550, "5.6.0", "Message does not comply with RFC 5322: {what}"}},
		{SuppressName, "perm", Reply{550, "5.1.1", "<{rcpt}>: recipient suppressed after {bounces} bounces (last: {last})"}},
		{SuppressName, "store", Reply{451, "4.3.0", "Temporary lookup failure, try again later"}},
	}
}

// AuthorDomain returns the lowercased domain of the message's one From
// address (RFC 5322 §3.6.2), or why there is none.
func AuthorDomain(hs []Header) (string, string) {
	var values []string
	for _, h := range hs {
		if strings.EqualFold(h.Name, "From") {
			values = append(values, h.Value)
		}
	}
	if len(values) != 1 {
		return "", fmt.Sprintf("%d From header fields", len(values))
	}
	addrs, err := mail.ParseAddressList(values[0])
	if err != nil {
		return "", "From header does not parse: " + err.Error()
	}
	if len(addrs) != 1 {
		return "", fmt.Sprintf("From header has %d addresses", len(addrs))
	}
	d := domainOf(addrs[0].Address)
	if HostnameSyntaxError(d) != "" {
		return "", "From address has no valid domain"
	}
	return d, ""
}

// domainOf returns the lowercased domain of an address, "" when it has none.
func domainOf(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return ""
	}
	return strings.ToLower(strings.TrimSuffix(addr[at+1:], "."))
}

// alignedWith reports whether domain a is aligned with b under DMARC's
// relaxed mode (same organizational domain) or strict mode (equal), RFC
// 7489 §3.1: the dmarc check's own comparison (A-labels, case and dots
// ignored), so that the preflight predicts what receivers decide.
func alignedWith(a, b string, strict bool) bool {
	var mode dmarc.AlignmentMode = dmarc.AlignmentRelaxed
	if strict {
		mode = dmarc.AlignmentStrict
	}
	return alignedDomains(a, b, mode)
}

// OutboundCheck is the table of one outbound check, [outbound.NAME].
type OutboundCheck struct {
	Mode CheckMode `toml:"mode"`
	CheckConfig
}

// OutboundLoginCheck is [outbound.login].
type OutboundLoginCheck struct {
	Mode       CheckMode `toml:"mode"`
	FromHeader bool      `toml:"from_header"` // the From header's addresses must be the login's too
	CheckConfig
}

// OutboundTables are the outbound checks' tables, [outbound.NAME]; they
// sit in [outbound] beside its own keys.
type OutboundTables struct {
	Preflight OutboundCheck      `toml:"preflight"`
	Login     OutboundLoginCheck `toml:"login"`
	Mailbox   OutboundCheck      `toml:"mailbox"`
	Limit     OutboundCheck      `toml:"limit"`
	Standards OutboundCheck      `toml:"standards"`
	Suppress  OutboundCheck      `toml:"suppress"`
}

// DefaultOutboundTables are the outbound checks' tables when the file says
// nothing.
func DefaultOutboundTables() OutboundTables {
	return OutboundTables{Preflight: defaultPreflightTable(), Limit: defaultLimitTable(), Suppress: defaultSuppressTable()}
}

// OutboundDeps is what the outbound checks are built with besides their
// tables. A check whose input is missing (no logins file, no mailbox list,
// no daily limit, no suppression list) is not built.
type OutboundDeps struct {
	DNS       *resolver.Resolver
	Hostname  string
	Domains   []string // our sending domains
	Delimiter string   // [checks.recipient] delimiter: "user+tag" is "user"
	// Logins and Mailboxes are [outbound] logins and mailboxes, loaded;
	// nil turns their check off.
	Logins    *LoginMap
	Mailboxes *RecipientList
	// DailyLimit is [outbound] daily_limit, 0 for none; Counter gives the
	// store that counts, called only when the limit runs; Observe shows
	// each count (a metric).
	DailyLimit int
	Counter    func() greylist.Counter
	Observe    func(who string, count int)
	// Suppression gives the suppression list, called only when the
	// suppress check is on; nil when bounces are not read.
	Suppression func() SuppressionList
	// Addresses are our outbound addresses as receivers see them, and
	// Signer says which domain a message's From domain is signed for: the
	// preflight's two ways to align.
	Addresses []netip.Addr
	Signer    interface{ SigningDomain(from string) string }
}

// List is the one ordered list of the outbound checks, as Inbound is of
// the inbound ones: the order of the outbound chain, and what validation
// and policy rules follow. A new outbound check is one line here and its
// table in OutboundTables.
func (t *OutboundTables) List() []Entry {
	e := func(name string, mode CheckMode, cc *CheckConfig, out func(OutboundDeps) Check) Entry {
		return Entry{Name: name, Mode: mode, On: mode != "off", Table: cc, Prefix: "outbound." + name,
			New: func(d Deps) Check { return out(d.Outbound) }}
	}
	return []Entry{
		e(LoginName, t.Login.Mode, &t.Login.CheckConfig, func(d OutboundDeps) Check {
			if d.Logins == nil {
				return nil
			}
			return NewLogin(&t.Login, d.Logins, d.Delimiter)
		}),
		e(MailboxName, t.Mailbox.Mode, &t.Mailbox.CheckConfig, func(d OutboundDeps) Check {
			if d.Mailboxes == nil {
				return nil
			}
			return NewMailbox(&t.Mailbox, d.Domains, d.Mailboxes)
		}),
		e(LimitName, t.Limit.Mode, &t.Limit.CheckConfig, func(d OutboundDeps) Check {
			if d.DailyLimit <= 0 {
				return nil
			}
			return NewLimit(&t.Limit, d.Counter(), d.DailyLimit, d.Observe)
		}),
		e(SuppressName, t.Suppress.Mode, &t.Suppress.CheckConfig, func(d OutboundDeps) Check {
			if d.Suppression == nil {
				return nil
			}
			l := d.Suppression()
			if l == nil {
				return nil
			}
			return NewSuppress(&t.Suppress, l)
		}),
		e(PreflightName, t.Preflight.Mode, &t.Preflight.CheckConfig, func(d OutboundDeps) Check {
			return NewPreflight(&t.Preflight, d.DNS, d.Addresses, d.Hostname, d.Signer)
		}),
		e(StandardsName, t.Standards.Mode, &t.Standards.CheckConfig, func(OutboundDeps) Check {
			return NewStandards(&t.Standards)
		}),
	}
}

// NewChain builds the outbound chain from the list: each check that runs
// and has its input, with its exceptions.
func (t *OutboundTables) NewChain(timeout time.Duration, d OutboundDeps) *Chain {
	return chainOf(timeout, t.List(), Deps{Outbound: d})
}
