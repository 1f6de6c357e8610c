package checks

import (
	"context"
	"net/netip"

	"github.com/mailsift/mailsift/internal/resolver"
)

// Sender checks the MAIL FROM address, as Postfix's
// reject_non_fqdn_sender and reject_unknown_sender_domain do, and refuses
// domains that publish a null MX (RFC 7505): they send no mail. The null
// sender <> (bounces) always passes: refusing it breaks delivery reports.
type Sender struct {
	RequireFQDN   bool // refuse an unqualified domain
	RequireDomain bool // refuse a domain with no MX, A or AAAA record
	DNS           interface {
		LookupIP(ctx context.Context, host string) ([]netip.Addr, error)
		LookupMX(ctx context.Context, domain string) ([]resolver.MX, error)
	}
	// The replies; see Table for the defaults.
	Syntax, NonFQDN, UnknownDomain, NullMX, Temp Reply
}

// Name implements Check.
func (*Sender) Name() string { return SenderName }

// Local implements Local: only the domain test asks DNS.
func (s *Sender) Local() bool { return !s.RequireDomain }

// CheckMail implements MailChecker.
func (s *Sender) CheckMail(ctx context.Context, env *Envelope) Result {
	if env.From == "" {
		return Result{Status: Pass, Reason: ReasonSenderNull, Text: "null sender"}
	}
	vars := map[string]string{"sender": env.From}
	fail := func(reason, text string, r Reply) Result {
		return Result{Status: Fail, Reason: reason, Text: text, Reply: r.Expand(vars)}
	}
	a, err := ParseAddress(env.From)
	if err != nil {
		return fail(ReasonSenderMalformed, err.Error(), s.Syntax)
	}
	if s.RequireFQDN && !IsFQDN(a.Domain) {
		return fail(ReasonSenderNotFQDN, "sender domain "+quote(a.Domain)+" is not fully qualified", s.NonFQDN)
	}
	if !s.RequireDomain || a.Domain == "" || a.Literal.IsValid() {
		return Result{Status: Pass, Reason: ReasonSenderValid, Text: "sender address is valid"}
	}
	temp := func(err error) Result {
		return Result{Status: TempError, Reason: ReasonSenderTempError, Text: err.Error(), Reply: s.Temp.Expand(vars)}
	}
	mxs, err := s.DNS.LookupMX(ctx, a.Domain)
	switch {
	case err == nil:
		// RFC 7505 §3: a single MX of "." means the domain takes no mail,
		// and so sends none that can be answered.
		if len(mxs) == 1 && mxs[0].Host == "" {
			return fail(ReasonSenderNullMX, a.Domain+" publishes a null MX", s.NullMX)
		}
		return Result{Status: Pass, Reason: ReasonSenderDomainMX, Text: a.Domain + " has MX records"}
	case resolver.IsTemporary(err):
		return temp(err)
	case resolver.IsNotFound(err):
		return fail(ReasonSenderDomainUnknown, a.Domain+" does not exist", s.UnknownDomain)
	}
	// No MX: the address record is the implicit MX (RFC 5321 §5.1).
	_, err = s.DNS.LookupIP(ctx, a.Domain)
	switch {
	case err == nil:
		return Result{Status: Pass, Reason: ReasonSenderDomainAddress, Text: a.Domain + " has no MX but an address record"}
	case resolver.IsTemporary(err):
		return temp(err)
	}
	return fail(ReasonSenderDomainUnknown, a.Domain+" has no MX, A or AAAA record", s.UnknownDomain)
}

// The sender check's name and reasons (its log's mailsift.checks.sender.reason, and keys of its actions).
const (
	SenderName                = "sender"
	ReasonSenderNull          = "sender-null"
	ReasonSenderValid         = "sender-valid"
	ReasonSenderDomainMX      = "sender-domain-mx"
	ReasonSenderDomainAddress = "sender-domain-address"
	ReasonSenderMalformed     = "sender-malformed"
	ReasonSenderNotFQDN       = "sender-not-fqdn"
	ReasonSenderNullMX        = "sender-null-mx"
	ReasonSenderDomainUnknown = "sender-domain-unknown"
	ReasonSenderTempError     = "sender-temperror"
)

func senderReasons() []string {
	return []string{ReasonSenderNull, ReasonSenderValid, ReasonSenderDomainMX, ReasonSenderDomainAddress, ReasonSenderMalformed, ReasonSenderNotFQDN, ReasonSenderNullMX, ReasonSenderDomainUnknown, ReasonSenderTempError}
}

// senderRows are the sender check's default replies (keys of [checks.sender.replies]).
func senderRows() []Row {
	return []Row{
		{SenderName, "temp", Reply{450, "4.1.8", "<{sender}>: Sender address rejected: Domain not found"}},
		{SenderName, "unknown_domain", Reply{550, "5.1.8", "<{sender}>: Sender address rejected: Domain not found"}},
		{SenderName, "non_fqdn", Reply{504, "5.5.2", "<{sender}>: Sender address rejected: need fully-qualified address"}},
		{SenderName, "syntax", Reply{553, "5.1.7", "<{sender}>: Sender address rejected: malformed address"}},
		{SenderName, "null_mx", Reply{550, "5.7.27", "<{sender}>: Sender address rejected: Domain does not accept mail"}},
	}
}

// SenderConfig is [checks.sender].
type SenderConfig struct {
	Mode          CheckMode `toml:"mode"`
	NonFQDN       bool      `toml:"non_fqdn"`
	UnknownDomain bool      `toml:"unknown_domain"`
	CheckConfig
}

func defaultSenderConfig() SenderConfig { return SenderConfig{NonFQDN: true, UnknownDomain: true} }

// newSender builds the sender check from its table.
func newSender(t *SenderConfig, d Deps) Check {
	r := func(key string) Reply { return t.Reply(SenderName, key) }
	return &Sender{RequireFQDN: t.NonFQDN, RequireDomain: t.UnknownDomain, DNS: d.DNS,
		Syntax: r("syntax"), NonFQDN: r("non_fqdn"), UnknownDomain: r("unknown_domain"), NullMX: r("null_mx"), Temp: r("temp")}
}
