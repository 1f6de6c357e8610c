package dmarcreport

import (
	"context"
	"fmt"
	"net/mail"
	"strconv"
	"strings"

	"golang.org/x/net/publicsuffix"

	"github.com/mailsift/mailsift/internal/resolver"
)

// TXTResolver is the DNS a report needs: the verification of external
// destinations (RFC 7489 §7.1). *resolver.Resolver has it.
type TXTResolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
}

// Destination is one rua or ruf URI (RFC 7489 §6.2): only mailto is used
// by mailsift, with its optional size limit ("!10m").
type Destination struct {
	URI     string // as published
	Address string // the mailbox, for mailto
	Domain  string // the mailbox's domain, lowercased
	MaxSize int64  // bytes; 0 for no limit
}

// ParseURI reads one rua/ruf entry. Other schemes than mailto are an
// error: RFC 7489 §7.1 only defines mail delivery.
func ParseURI(s string) (Destination, error) {
	d := Destination{URI: s}
	uri := strings.TrimSpace(s)
	if i := strings.LastIndexByte(uri, '!'); i >= 0 {
		n, err := parseSize(uri[i+1:])
		if err != nil {
			return d, fmt.Errorf("dmarc uri %q: size limit: %w", s, err)
		}
		d.MaxSize, uri = n, uri[:i]
	}
	scheme, rest, ok := strings.Cut(uri, ":")
	if !ok || !strings.EqualFold(scheme, "mailto") {
		return d, fmt.Errorf("dmarc uri %q: want mailto:ADDRESS", s)
	}
	rest, _, _ = strings.Cut(rest, "?") // hfields are not ours to use
	a, err := mail.ParseAddress(rest)
	if err != nil {
		return d, fmt.Errorf("dmarc uri %q: %v", s, err)
	}
	at := strings.LastIndexByte(a.Address, '@')
	if at <= 0 || at == len(a.Address)-1 {
		return d, fmt.Errorf("dmarc uri %q: the address has no domain", s)
	}
	d.Address = a.Address
	d.Domain = strings.ToLower(strings.TrimSuffix(a.Address[at+1:], "."))
	return d, nil
}

// parseSize reads RFC 7489 §6.2's size: digits and an optional unit k, m,
// g or t (powers of two).
func parseSize(s string) (int64, error) {
	mult := int64(1)
	if s != "" {
		switch s[len(s)-1] {
		case 'k', 'K':
			mult = 1 << 10
		case 'm', 'M':
			mult = 1 << 20
		case 'g', 'G':
			mult = 1 << 30
		case 't', 'T':
			mult = 1 << 40
		}
		if mult > 1 {
			s = s[:len(s)-1]
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("want digits and an optional unit k, m, g or t, got %q", s)
	}
	return n * mult, nil
}

// OrgDomain is the organizational domain of d (RFC 7489 §3.2), by the
// public suffix list.
func OrgDomain(d string) string {
	d = strings.ToLower(strings.TrimSuffix(d, "."))
	if o, err := publicsuffix.EffectiveTLDPlusOne(d); err == nil {
		return o
	}
	return d
}

// External reports whether dest is outside policyDomain's organizational
// domain, so that it must authorize the reports (RFC 7489 §7.1).
func External(policyDomain string, dest Destination) bool {
	return OrgDomain(policyDomain) != OrgDomain(dest.Domain)
}

// Authorized says whether reports about policyDomain may go to dest: a
// destination in the same organizational domain always may; an external
// one must publish "v=DMARC1" at
// <policy-domain>._report._dmarc.<destination-host> (RFC 7489 §7.1). A
// temporary DNS failure is an error, never an answer.
func Authorized(ctx context.Context, dns TXTResolver, policyDomain string, dest Destination) (bool, error) {
	if !External(policyDomain, dest) {
		return true, nil
	}
	name := strings.ToLower(strings.TrimSuffix(policyDomain, ".")) + "._report._dmarc." + dest.Domain
	txts, err := dns.LookupTXT(ctx, name)
	if err != nil {
		if resolver.IsTemporary(err) {
			return false, err
		}
		return false, nil
	}
	for _, t := range txts {
		// "v=DMARC1" and then optionally more tags (§7.1 step 3).
		v, _, _ := strings.Cut(t, ";")
		if strings.TrimSpace(v) == "v=DMARC1" {
			return true, nil
		}
	}
	return false, nil
}

// VerificationName is the name an external destination publishes to
// accept reports about policyDomain.
func VerificationName(policyDomain string, dest Destination) string {
	return strings.ToLower(strings.TrimSuffix(policyDomain, ".")) + "._report._dmarc." + dest.Domain
}
