package checks

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// Address is a parsed RFC 5321 mailbox (§4.1.2).
type Address struct {
	Local  string // as given: never lowercased, quotes kept
	Domain string // lowercased, without a final dot, in A-label form; "" when unqualified
	// Literal is the address of an address-literal domain ("[192.0.2.1]").
	Literal netip.Addr
}

// String gives the address as local@domain.
func (a Address) String() string {
	if a.Domain == "" {
		return a.Local
	}
	return a.Local + "@" + a.Domain
}

// ErrAddress is wrapped by every parse error.
var ErrAddress = errors.New("malformed address")

// ParseAddress parses the argument of MAIL FROM or RCPT TO (brackets
// already stripped by the MTA or not). It accepts RFC 5321 mailboxes with
// dot-string or quoted local parts, address literals, UTF-8 (RFC 6531),
// and a leading source route, which §4.1.2 says to accept and ignore. An
// address without a domain parses with Domain "" (the caller decides).
func ParseAddress(s string) (Address, error) {
	fail := func(why string) (Address, error) {
		return Address{}, fmt.Errorf("%w %q: %s", ErrAddress, Sanitize(s), why)
	}
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "<") && strings.HasSuffix(s, ">") {
		s = s[1 : len(s)-1]
	}
	if strings.HasPrefix(s, "@") { // source route: @a,@b:user@c
		i := strings.IndexByte(s, ':')
		if i < 0 {
			return fail("source route without ':'")
		}
		s = s[i+1:]
	}
	if s == "" {
		return fail("empty")
	}
	if !utf8.ValidString(s) {
		return fail("not UTF-8")
	}
	if len(s) > 254 {
		return fail("longer than 254 octets")
	}
	local, rest, err := splitLocal(s)
	if err != "" {
		return fail(err)
	}
	if len(local) > 64 {
		return fail("local part longer than 64 octets")
	}
	a := Address{Local: local}
	if rest == "" {
		return a, nil
	}
	domain := rest[1:] // after '@'
	switch {
	case strings.HasPrefix(domain, "["):
		if why := heloSyntaxError(domain); why != "" {
			return fail(why)
		}
		lit := strings.TrimPrefix(domain[1:len(domain)-1], "IPv6:")
		a.Literal = netip.MustParseAddr(lit).Unmap()
		a.Domain = domain
		return a, nil
	case domain == "":
		return fail("empty domain")
	}
	ascii, err2 := idna.Lookup.ToASCII(strings.TrimSuffix(domain, "."))
	if err2 != nil {
		return fail("invalid domain: " + err2.Error())
	}
	if strings.HasSuffix(ascii, ".") {
		return fail("invalid domain: empty label")
	}
	if why := HostnameSyntaxError(ascii); why != "" {
		return fail("invalid domain: " + why)
	}
	a.Domain = strings.ToLower(ascii)
	return a, nil
}

// splitLocal returns the local part and what follows it ("" or "@...").
func splitLocal(s string) (local, rest, why string) {
	if s[0] == '"' {
		i := 1
		for ; i < len(s); i++ {
			c := s[i]
			switch {
			case c == '\\':
				i++
				if i >= len(s) || s[i] < 32 || s[i] > 126 {
					return "", "", "bad quoted pair"
				}
			case c == '"':
				local = s[:i+1]
				rest = s[i+1:]
				if rest != "" && rest[0] != '@' {
					return "", "", "text after the quoted local part"
				}
				return local, rest, ""
			case c < 32 || c == 127:
				return "", "", "control character in the quoted local part"
			}
		}
		return "", "", "unterminated quoted local part"
	}
	at := strings.LastIndexByte(s, '@')
	if at < 0 {
		local = s
	} else {
		local, rest = s[:at], s[at:]
	}
	if local == "" {
		return "", "", "empty local part"
	}
	for _, atom := range strings.Split(local, ".") {
		if atom == "" {
			return "", "", "empty atom in the local part (a leading, trailing or double dot)"
		}
		for _, c := range atom {
			if !isAtext(c) {
				return "", "", fmt.Sprintf("character %q not allowed in the local part", c)
			}
		}
	}
	return local, rest, ""
}

// isAtext reports whether c may appear in an atom (RFC 5322 §3.2.3 atext,
// with UTF-8 allowed by RFC 6531).
func isAtext(c rune) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c >= 0x80:
		return true
	}
	return strings.ContainsRune("!#$%&'*+-/=?^_`{|}~", c)
}

// IsFQDN reports whether domain is a fully qualified domain name: valid
// hostname syntax with at least two labels (Postfix's test for
// reject_non_fqdn_*). An address literal is not a domain name and passes.
func IsFQDN(domain string) bool {
	if strings.HasPrefix(domain, "[") {
		return true
	}
	d := strings.TrimSuffix(domain, ".")
	return HostnameSyntaxError(d) == "" && strings.Contains(d, ".")
}
