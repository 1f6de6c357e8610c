package checks

import (
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-msgauth/authres"

	"github.com/mailsift/mailsift/internal/resolver"
)

// FormatAuthRes writes the value of an Authentication-Results header field
// by RFC 8601 §2.2's grammar:
//
//	authres-payload = [CFWS] authserv-id ( no-result / 1*resinfo )
//	resinfo    = [CFWS] ";" methodspec [ CFWS reasonspec ] [ CFWS 1*propspec ]
//	reasonspec = "reason" [CFWS] "=" [CFWS] value
//	propspec   = ptype [CFWS] "." [CFWS] property [CFWS] "=" pvalue
//	pvalue     = [CFWS] ( value / [ [ local-part ] "@" ] domain-name ) [CFWS]
//
// where value is an RFC 2045 token or else a quoted-string. A value that is
// neither a token nor an address of a plain local part and a domain name
// (an address literal such as "[198.51.100.10]", a reason with spaces) is
// written as a quoted-string with "\" and `"` escaped. Nothing of a value
// can break the header: control characters (CR and LF among them) and
// non-ASCII become "?", except the domain of an address, which is written
// as A-labels.
func FormatAuthRes(authservID string, results []authres.Result) string {
	var b strings.Builder
	b.WriteString(arValue(authservID))
	if len(results) == 0 {
		b.WriteString("; none")
		return b.String()
	}
	var buf [4]arProp // the known types have at most three properties
	for _, r := range results {
		method, value, reason, props := arFields(r, buf[:0])
		b.WriteString("; ")
		b.WriteString(arKeyword(method))
		b.WriteString("=")
		b.WriteString(arKeyword(string(value)))
		if reason != "" {
			b.WriteString(" reason=")
			b.WriteString(arValue(reason))
		}
		kept := props[:0]
		for _, p := range props {
			if p.v != "" && p.k != "reason" {
				p.v = arPvalue(p.v)
				kept = append(kept, p)
			}
		}
		slices.SortFunc(kept, func(x, y arProp) int { return strings.Compare(x.k, y.k) })
		// Quoted values last: the grammar allows them anywhere, but
		// parsers in use (python-authres 1.2) read a quoted pvalue only at
		// the end of its resinfo and drop it elsewhere.
		for _, quoted := range [2]bool{false, true} {
			for _, p := range kept {
				if strings.HasSuffix(p.v, `"`) != quoted {
					continue
				}
				b.WriteString(" ")
				writeProperty(&b, p.k)
				b.WriteString("=")
				b.WriteString(p.v)
			}
		}
	}
	return b.String()
}

// arFields takes a result apart: go-msgauth's types keep their fields
// behind an unexported method, so each known type is spelled out here with
// the property names RFC 8601 §2.7 gives them.
func arFields(r authres.Result, props []arProp) (method string, value authres.ResultValue, reason string, _ []arProp) {
	switch r := r.(type) {
	case *authres.AuthResult:
		return "auth", r.Value, r.Reason, append(props, arProp{"smtp.auth", r.Auth})
	case *authres.DKIMResult:
		return "dkim", r.Value, r.Reason, append(props, arProp{"header.d", r.Domain}, arProp{"header.i", r.Identifier})
	case *authres.DomainKeysResult:
		return "domainkeys", r.Value, r.Reason, append(props, arProp{"header.d", r.Domain}, arProp{"header.from", r.From}, arProp{"header.sender", r.Sender})
	case *authres.IPRevResult:
		return "iprev", r.Value, r.Reason, append(props, arProp{"policy.iprev", r.IP})
	case *authres.SenderIDResult:
		return "sender-id", r.Value, r.Reason, append(props, arProp{"header." + strings.ToLower(r.HeaderKey), r.HeaderValue})
	case *authres.SPFResult:
		return "spf", r.Value, r.Reason, append(props, arProp{"smtp.mailfrom", r.From}, arProp{"smtp.helo", r.Helo})
	case *authres.DMARCResult:
		return "dmarc", r.Value, r.Reason, append(props, arProp{"header.from", r.From})
	case *authres.GenericResult:
		for k, v := range r.Params {
			props = append(props, arProp{k, v})
		}
		return r.Method, r.Value, r.Params["reason"], props
	}
	return "unknown", authres.ResultNone, "", props
}

// arProp is one property of a result: its name (ptype.property) and value.
type arProp struct{ k, v string }

// isTokenChar: RFC 2045 token, any US-ASCII CHAR except SPACE, CTLs and
// tspecials.
func isTokenChar(c byte) bool {
	return c > ' ' && c < 0x7f && !strings.ContainsRune(`()<>@,;:\"/[]?=`, rune(c))
}

func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isTokenChar(s[i]) {
			return false
		}
	}
	return s != ""
}

// arValue is value = token / quoted-string.
func arValue(s string) string {
	if isToken(s) {
		return s
	}
	return arQuote(s)
}

// arPvalue is value, or [[local-part] "@"] domain-name left bare when
// both parts are plain: a dot-atom local part of token characters, and a
// domain name of letters, digits and hyphens (RFC 6376's domain-name).
func arPvalue(s string) string {
	// An RFC 6531 address's domain, or a U-label domain (a DKIM d= under
	// RFC 8616), as A-labels.
	if at := strings.LastIndexByte(s, '@'); at >= 0 {
		if a, err := resolver.ToASCII(s[at+1:]); err == nil {
			s = s[:at+1] + a
		}
	} else if a, err := resolver.ToASCII(s); err == nil && isDomainName(a) {
		s = a
	}
	if isToken(s) {
		return s
	}
	if at := strings.LastIndexByte(s, '@'); at >= 0 && isPlainLocal(s[:at]) && isDomainName(s[at+1:]) {
		return s
	}
	return arQuote(s)
}

func isPlainLocal(s string) bool {
	if s == "" {
		return true
	}
	for _, part := range strings.Split(s, ".") {
		if !isToken(part) {
			return false
		}
	}
	return true
}

func isDomainName(s string) bool {
	return HostnameSyntaxError(s) == "" && !strings.HasSuffix(s, ".")
}

// arQuote writes s as an RFC 5322 quoted-string, in ASCII: a header that
// parsers of RFC 8601 can read (RFC 6532's UTF-8 is not among them), so
// anything else is "?".
func arQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n <= 1, r < ' ', r >= 0x7f:
			b.WriteByte('?')
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
		i += n
	}
	b.WriteByte('"')
	return b.String()
}

// arKeyword keeps a method or result name to RFC 8601's Keyword
// characters (letters, digits, "-", "_"); they come from our code, so this
// only guards against a mistake.
func arKeyword(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '-'
	}, s)
}

// writeProperty writes ptype.property, each a Keyword.
func writeProperty(b *strings.Builder, k string) {
	ptype, prop, ok := strings.Cut(k, ".")
	if !ok {
		b.WriteString(arKeyword(k))
		return
	}
	b.WriteString(arKeyword(ptype))
	b.WriteString(".")
	b.WriteString(arKeyword(prop))
}
