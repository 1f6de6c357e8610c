package milter

import (
	"strings"
)

// authServID returns the authserv-id of an Authentication-Results value,
// or "" when it has none. RFC 8601 §2.2: the field starts with
// authserv-id = value (RFC 2045: a token or a quoted-string), and CFWS may
// come before it, so "(trusted) mx.example.org; ..." and
// "\"mx.example.org\"; ..." name mx.example.org. Only the identifier
// matters here, so a value whose results do not parse still yields it.
func authServID(v string) string {
	i := skipCFWS(v, 0)
	if i < len(v) && v[i] == '"' {
		var b strings.Builder
		for i++; i < len(v); i++ {
			switch c := v[i]; c {
			case '"':
				return b.String()
			case '\\':
				if i+1 < len(v) {
					i++
					b.WriteByte(v[i])
				}
			default:
				b.WriteByte(c)
			}
		}
		return "" // an unterminated quoted-string
	}
	j := i
	for j < len(v) && isTokenChar(v[j]) {
		j++
	}
	return v[i:j]
}

// skipCFWS skips folding white space and comments (which nest and may hold
// quoted-pairs) from v[i:] and returns the index after them.
func skipCFWS(v string, i int) int {
	depth := 0
	for ; i < len(v); i++ {
		switch c := v[i]; {
		case depth > 0 && c == '\\':
			i++
		case c == '(':
			depth++
		case depth > 0 && c == ')':
			depth--
		case depth > 0 || c == ' ' || c == '\t' || c == '\r' || c == '\n':
		default:
			return i
		}
	}
	return len(v) // a quoted-pair may have stepped past the end
}

// isTokenChar reports whether c may be in an RFC 2045 token: a visible
// ASCII character other than tspecials.
func isTokenChar(c byte) bool {
	return c > ' ' && c < 0x7f && !strings.ContainsRune(`()<>@,;:\"/[]?=`, rune(c))
}

// isOurs reports whether an Authentication-Results value names hostname as
// its authserv-id: compared as domain names (any case, a trailing dot).
func isOurs(v, hostname string) bool {
	id := strings.TrimSuffix(authServID(v), ".")
	return id != "" && strings.EqualFold(id, strings.TrimSuffix(hostname, "."))
}
