package checks

import (
	"context"
	"net/netip"
	"strings"

	"github.com/mailsift/mailsift/internal/resolver"
)

// Helo checks the HELO/EHLO argument, as Postfix's
// reject_invalid_helo_hostname, reject_non_fqdn_helo_hostname and
// reject_unknown_helo_hostname do, and refuses a client that claims to be
// us. Trusted clients never reach it.
//
// It never compares the name with the client's reverse DNS: RFC 5321
// §4.1.4 forbids refusing mail for that alone.
type Helo struct {
	// RequireFQDN refuses a name that is not fully qualified.
	RequireFQDN bool
	// RequireDNS refuses a name with no A, AAAA or MX record (needs DNS).
	RequireDNS bool
	// OurNames are names only we may use; the MTA's own name (macro j) is
	// always one.
	OurNames []string
	DNS      interface {
		LookupIP(ctx context.Context, host string) ([]netip.Addr, error)
		LookupMX(ctx context.Context, domain string) ([]resolver.MX, error)
	}
	// The replies; see Table for the defaults.
	Syntax, NonFQDN, Literal, Ours, Unknown, Temp Reply
}

// Name implements Check.
func (*Helo) Name() string { return HeloName }

// Local implements Local: only the unknown-name test asks DNS.
func (h *Helo) Local() bool { return !h.RequireDNS }

// CheckHelo implements HeloChecker.
func (h *Helo) CheckHelo(ctx context.Context, env *Envelope) Result {
	name := env.Helo
	vars := map[string]string{"helo": name}
	fail := func(reason, text string, r Reply) Result {
		return Result{Status: Fail, Reason: reason, Text: text, Reply: r.Expand(vars)}
	}
	if name == "" {
		return fail(ReasonHeloMissing, "no HELO/EHLO name was given", h.Syntax)
	}
	if why := heloSyntaxError(name); why != "" {
		return fail(ReasonHeloInvalidSyntax, "HELO name "+quote(name)+": "+why, h.Syntax)
	}
	if strings.HasPrefix(name, "[") {
		lit := netip.MustParseAddr(strings.TrimPrefix(name[1:len(name)-1], "IPv6:")).Unmap()
		switch {
		case !env.ClientIP.IsValid() || lit == env.ClientIP:
			return Result{Status: Pass, Reason: ReasonHeloLiteral, Text: "address literal of the client"}
		case lit == env.DaemonAddr:
			return fail(ReasonHeloOurs, "HELO with our own address "+lit.String(), h.Ours)
		}
		return fail(ReasonHeloLiteralMismatch, "address literal "+lit.String()+" is not the client's "+env.ClientIP.String(), h.Literal)
	}
	host := strings.ToLower(strings.TrimSuffix(name, "."))
	for _, ours := range append([]string{env.MTAName}, h.OurNames...) {
		if ours != "" && host == strings.ToLower(strings.TrimSuffix(ours, ".")) {
			return fail(ReasonHeloOurs, "HELO with our own name "+host, h.Ours)
		}
	}
	if h.RequireFQDN && !IsFQDN(host) {
		return fail(ReasonHeloNotFQDN, "HELO name "+quote(name)+" is not fully qualified", h.NonFQDN)
	}
	if h.RequireDNS {
		_, err := h.DNS.LookupIP(ctx, host)
		if err != nil && !resolver.IsTemporary(err) {
			_, err = h.DNS.LookupMX(ctx, host)
		}
		switch {
		case resolver.IsTemporary(err):
			return Result{Status: TempError, Reason: ReasonHeloTempError, Text: err.Error(), Reply: h.Temp.Expand(vars)}
		case err != nil:
			return fail(ReasonHeloUnknown, "HELO name "+host+" has no A, AAAA or MX record", h.Unknown)
		}
	}
	return Result{Status: Pass, Reason: ReasonHeloValid, Text: "HELO name is valid"}
}

// heloSyntaxError says what is wrong with a HELO argument, or "" if nothing.
func heloSyntaxError(name string) string {
	if strings.HasPrefix(name, "[") {
		if !strings.HasSuffix(name, "]") {
			return "address literal without closing bracket"
		}
		lit := name[1 : len(name)-1]
		if v6, ok := strings.CutPrefix(lit, "IPv6:"); ok {
			a, err := netip.ParseAddr(v6)
			if err != nil || !a.Is6() || a.Zone() != "" {
				return "invalid IPv6 address literal"
			}
			return ""
		}
		a, err := netip.ParseAddr(lit)
		if err != nil || !a.Is4() {
			return "invalid IPv4 address literal"
		}
		return ""
	}
	return HostnameSyntaxError(name)
}

// HostnameSyntaxError says what is wrong with a hostname (RFC 5321 §4.1.2:
// letters, digits and inner hyphens, labels of 1 to 63 octets, 253 in all),
// or "" if nothing. One trailing dot is accepted, as resolvers do. A name
// whose last label is all digits is an IP address written without brackets,
// never a hostname: no top-level domain is numeric (RFC 3696 §2).
func HostnameSyntaxError(name string) string {
	name = strings.TrimSuffix(name, ".")
	if name == "" {
		return "empty name"
	}
	if len(name) > 253 {
		return "name longer than 253 characters"
	}
	labels := strings.Split(name, ".")
	for _, l := range labels {
		if l == "" {
			return "empty label"
		}
		if len(l) > 63 {
			return "label longer than 63 characters"
		}
		if l[0] == '-' || l[len(l)-1] == '-' {
			return "label starts or ends with a hyphen"
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return "invalid character " + quote(string(c))
			}
		}
	}
	last := labels[len(labels)-1]
	if strings.Trim(last, "0123456789") == "" {
		return "IP address without brackets"
	}
	return ""
}

func quote(s string) string { return "\"" + Sanitize(s) + "\"" }

// The helo check's name and reasons (its log's mailsift.checks.helo.reason, and keys of its actions).
const (
	HeloName                  = "helo"
	ReasonHeloValid           = "helo-valid"
	ReasonHeloLiteral         = "helo-literal"
	ReasonHeloMissing         = "helo-missing"
	ReasonHeloInvalidSyntax   = "helo-invalid-syntax"
	ReasonHeloLiteralMismatch = "helo-literal-mismatch"
	ReasonHeloOurs            = "helo-ours"
	ReasonHeloNotFQDN         = "helo-not-fqdn"
	ReasonHeloUnknown         = "helo-unknown"
	ReasonHeloTempError       = "helo-temperror"
)

func heloReasons() []string {
	return []string{ReasonHeloValid, ReasonHeloLiteral, ReasonHeloMissing, ReasonHeloInvalidSyntax, ReasonHeloLiteralMismatch, ReasonHeloOurs, ReasonHeloNotFQDN, ReasonHeloUnknown, ReasonHeloTempError}
}

// heloRows are the helo check's default replies (keys of [checks.helo.replies]).
func heloRows() []Row {
	return []Row{
		{HeloName, "temp", Reply{450, "4.7.1", "<{helo}>: Helo command rejected: Host not found"}},
		{HeloName, "unknown", Reply{550, "5.7.1", "<{helo}>: Helo command rejected: Host not found"}},
		{HeloName, "syntax", Reply{501, "5.5.2", "<{helo}>: Helo command rejected: Invalid name"}},
		{HeloName, "non_fqdn", Reply{504, "5.5.2", "<{helo}>: Helo command rejected: need fully-qualified hostname"}},
		{HeloName, "literal", Reply{550, "5.7.1", "<{helo}>: Helo command rejected: not your address"}},
		{HeloName, "ours", Reply{550, "5.7.1", "<{helo}>: Helo command rejected: You are not me"}},
	}
}

// HeloConfig is [checks.helo].
type HeloConfig struct {
	Mode    CheckMode `toml:"mode"`
	NonFQDN bool      `toml:"non_fqdn"`
	Unknown bool      `toml:"unknown"`
	CheckConfig
}

func defaultHeloConfig() HeloConfig { return HeloConfig{NonFQDN: true, Unknown: true} }

// newHelo builds the helo check from its table.
func newHelo(t *HeloConfig, d Deps) Check {
	r := func(key string) Reply { return t.Reply(HeloName, key) }
	return &Helo{RequireFQDN: t.NonFQDN, RequireDNS: t.Unknown, OurNames: []string{d.Hostname}, DNS: d.DNS,
		Syntax: r("syntax"), NonFQDN: r("non_fqdn"), Literal: r("literal"), Ours: r("ours"), Unknown: r("unknown"), Temp: r("temp")}
}
