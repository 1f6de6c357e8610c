package checks

import (
	"context"
	"net/netip"
	"strings"
)

// Helo checks the HELO/EHLO argument. For now it checks syntax only, as
// Postfix's reject_invalid_helo_hostname does: the argument must be a
// hostname (RFC 5321 §4.1.2 Domain) or an address literal (§4.1.3).
//
// It never compares the name with the client's reverse DNS: RFC 5321
// §4.1.4 forbids refusing mail for that alone.
type Helo struct {
	// Syntax is the reply for an invalid name; see Table for the default.
	Syntax Reply
}

// Name implements Check.
func (*Helo) Name() string { return "helo" }

// CheckHelo implements HeloChecker.
func (h *Helo) CheckHelo(_ context.Context, env *Envelope) Result {
	name := env.Helo
	vars := map[string]string{"helo": name}
	if name == "" {
		return Result{Status: Fail, Reason: "helo-missing", Text: "no HELO/EHLO name was given",
			Reply: h.Syntax.Expand(vars)}
	}
	if why := heloSyntaxError(name); why != "" {
		return Result{Status: Fail, Reason: "helo-invalid-syntax", Text: "HELO name " + quote(name) + ": " + why,
			Reply: h.Syntax.Expand(vars)}
	}
	return Result{Status: Pass, Reason: "helo-valid", Text: "HELO name is valid"}
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
