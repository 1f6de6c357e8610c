package spf

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Record is a parsed SPF record (RFC 7208 §4.5, §12).
type Record struct {
	Directives []Directive
	Redirect   *MacroString // redirect= (§6.1), nil when absent
	Exp        *MacroString // exp= (§6.2), nil when absent
	hasAll     bool
}

// Directive is a qualifier and a mechanism (§4.6.2, §5).
type Directive struct {
	Qualifier byte   // '+', '-', '~' or '?'
	Mechanism string // "all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists"
	Domain    *MacroString
	Net       netip.Prefix // ip4, ip6
	CIDR4     int          // a, mx: ip4-cidr-length, 32 when absent
	CIDR6     int          // a, mx: ip6-cidr-length, 128 when absent
	text      string       // the term as written, for the log
}

// String gives the directive as written in the record.
func (d Directive) String() string { return d.text }

// SyntaxError is a record that does not follow RFC 7208's grammar: the
// result is permerror (§4.6).
type SyntaxError struct {
	Term string // the offending term, or "" for the record as a whole
	Why  string
}

func (e *SyntaxError) Error() string {
	if e.Term == "" {
		return "spf: " + e.Why
	}
	return fmt.Sprintf("spf: term %q: %s", e.Term, e.Why)
}

// IsRecord reports whether txt is an SPF version 1 record: "v=spf1" (in
// any case) alone or followed by a space (§4.5).
func IsRecord(txt string) bool {
	return len(txt) >= 6 && strings.EqualFold(txt[:6], "v=spf1") && (len(txt) == 6 || txt[6] == ' ')
}

// Parse reads an SPF record. Every term is checked before any is
// evaluated: a syntax error anywhere is a permerror, even after a term
// that would have matched (§4.6).
func Parse(txt string) (*Record, error) {
	if !IsRecord(txt) {
		return nil, &SyntaxError{Why: `the record does not start with "v=spf1"`}
	}
	// §3.1 and §4.6.1: the record is 7-bit ASCII and terms are separated by
	// spaces only; a control character or non-ASCII octet is no part of
	// any term's grammar.
	for i := 0; i < len(txt); i++ {
		if c := txt[i]; c != ' ' && (c < 0x21 || c > 0x7e) {
			return nil, &SyntaxError{Term: termAt(txt, i), Why: fmt.Sprintf("octet 0x%02x is not allowed in an SPF record", c)}
		}
	}
	rec := &Record{}
	for _, t := range strings.Split(txt[6:], " ") {
		if t == "" {
			continue // *SP between and after terms
		}
		if err := rec.addTerm(t); err != nil {
			return nil, err
		}
	}
	return rec, nil
}

// termAt returns the space-delimited term around txt[i].
func termAt(txt string, i int) string {
	start := strings.LastIndexByte(txt[:i], ' ') + 1
	end := strings.IndexByte(txt[i:], ' ')
	if end < 0 {
		return txt[start:]
	}
	return txt[start : i+end]
}

func (rec *Record) addTerm(t string) error {
	// §4.6.1: a modifier's name is followed at once by "=", before any
	// ":" or "/"; a mechanism's name is followed by ":", "/" or nothing.
	nameEnd := strings.IndexAny(t, ":/=")
	if nameEnd >= 0 && t[nameEnd] == '=' {
		return rec.addModifier(t, t[:nameEnd], t[nameEnd+1:])
	}
	d := Directive{Qualifier: '+', text: t}
	body := t
	switch body[0] {
	case '+', '-', '~', '?':
		d.Qualifier, body = body[0], body[1:]
	}
	name, arg := body, ""
	if i := strings.IndexAny(body, ":/"); i >= 0 {
		name, arg = body[:i], body[i:]
	}
	d.Mechanism = strings.ToLower(name)
	bad := func(why string) error { return &SyntaxError{Term: t, Why: why} }
	switch d.Mechanism {
	case "all": // §5.1: all = "all"
		if arg != "" {
			return bad(`"all" takes no argument`)
		}
		rec.hasAll = true
	case "include", "exists": // §5.2, §5.7: ":" domain-spec, required
		if !strings.HasPrefix(arg, ":") {
			return bad(fmt.Sprintf("%q needs \":\" and a domain", d.Mechanism))
		}
		ms, err := parseDomainSpec(arg[1:])
		if err != nil {
			return bad(err.Error())
		}
		d.Domain = ms
	case "a", "mx": // §5.3, §5.4: [ ":" domain-spec ] [ dual-cidr-length ]
		rest, c4, c6, err := dualCIDR(arg)
		if err != nil {
			return bad(err.Error())
		}
		d.CIDR4, d.CIDR6 = c4, c6
		if rest != "" {
			if rest[0] != ':' {
				return bad("want \":\" before the domain")
			}
			if d.Domain, err = parseDomainSpec(rest[1:]); err != nil {
				return bad(err.Error())
			}
		}
	case "ptr": // §5.5: [ ":" domain-spec ]
		if arg != "" {
			if arg[0] != ':' {
				return bad(`"ptr" takes no prefix length`)
			}
			ms, err := parseDomainSpec(arg[1:])
			if err != nil {
				return bad(err.Error())
			}
			d.Domain = ms
		}
	case "ip4", "ip6": // §5.6
		p, err := parseNetwork(d.Mechanism, arg)
		if err != nil {
			return bad(err.Error())
		}
		d.Net = p
	default:
		return bad("unknown mechanism")
	}
	rec.Directives = append(rec.Directives, d)
	return nil
}

// addModifier reads name "=" value (§4.6.1, §6).
func (rec *Record) addModifier(t, name, value string) error {
	bad := func(why string) error { return &SyntaxError{Term: t, Why: why} }
	// name = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." )
	if name == "" || !isAlpha(name[0]) {
		return bad("a modifier's name starts with a letter")
	}
	for i := 1; i < len(name); i++ {
		if c := name[i]; !isAlpha(c) && !isDigit(c) && c != '-' && c != '_' && c != '.' {
			return bad(fmt.Sprintf("%q is not allowed in a modifier's name", c))
		}
	}
	switch strings.ToLower(name) {
	case "redirect", "exp":
		// §6: each at most once. The erratum to §6.2 makes an empty or
		// malformed domain-spec a permerror for exp= too.
		ms, err := parseDomainSpec(value)
		if err != nil {
			return bad(err.Error())
		}
		p := &rec.Redirect
		if strings.EqualFold(name, "exp") {
			p = &rec.Exp
		}
		if *p != nil {
			return bad(fmt.Sprintf("%q appears more than once", strings.ToLower(name)))
		}
		*p = ms
	default:
		// §6: unknown modifiers are ignored, but their value must be a
		// macro-string (§12, unknown-modifier).
		if _, err := parseMacroString(value, false); err != nil {
			return bad(err.Error())
		}
	}
	return nil
}

// dualCIDR takes [ ip4-cidr-length ] [ "/" ip6-cidr-length ] off the end
// of s (§5.3). The domain-spec before it may itself hold a "/", so the
// lengths are read from the right.
func dualCIDR(s string) (rest string, c4, c6 int, err error) {
	c4, c6 = 32, 128
	if i := strings.LastIndex(s, "//"); i >= 0 && allDigits(s[i+2:]) {
		if c6, err = cidrLen(s[i+2:], 128); err != nil {
			return "", 0, 0, err
		}
		s = s[:i]
	}
	if i := strings.LastIndexByte(s, '/'); i >= 0 && allDigits(s[i+1:]) {
		if c4, err = cidrLen(s[i+1:], 32); err != nil {
			return "", 0, 0, err
		}
		s = s[:i]
	}
	return s, c4, c6, nil
}

// cidrLen reads a prefix length: "0", or digits without a leading zero,
// at most max (§5.6: ip4-cidr-length, ip6-cidr-length).
func cidrLen(s string, max int) (int, error) {
	if s == "" || len(s) > 3 || (len(s) > 1 && s[0] == '0') || !allDigits(s) {
		return 0, fmt.Errorf("prefix length %q: want a number from 0 to %d without leading zeros", s, max)
	}
	n, _ := strconv.Atoi(s)
	if n > max {
		return 0, fmt.Errorf("prefix length %d is over %d", n, max)
	}
	return n, nil
}

// parseNetwork reads ":" ip4-network [ ip4-cidr-length ] or its IPv6
// counterpart (§5.6).
func parseNetwork(mech, arg string) (netip.Prefix, error) {
	if !strings.HasPrefix(arg, ":") {
		return netip.Prefix{}, fmt.Errorf("%q needs \":\" and a network", mech)
	}
	s, bits := arg[1:], 32
	if mech == "ip6" {
		bits = 128
	}
	if i := strings.IndexByte(s, '/'); i >= 0 {
		n, err := cidrLen(s[i+1:], bits)
		if err != nil {
			return netip.Prefix{}, err
		}
		s, bits = s[:i], n
	}
	// netip refuses IPv4 octets with leading zeros, as qnum does, and
	// zones ("%eth0") are no part of ip6-network.
	addr, err := netip.ParseAddr(s)
	if err != nil || addr.Zone() != "" || (mech == "ip4") != addr.Is4() {
		return netip.Prefix{}, fmt.Errorf("%q is not an %s address", s, map[string]string{"ip4": "IPv4", "ip6": "IPv6"}[mech])
	}
	return netip.PrefixFrom(addr, bits).Masked(), nil
}

// parseDomainSpec reads domain-spec = macro-string domain-end, where
// domain-end = ( "." toplabel [ "." ] ) / macro-expand (§7.1). An empty
// domain-spec is an error.
func parseDomainSpec(s string) (*MacroString, error) {
	if s == "" {
		return nil, fmt.Errorf("empty domain")
	}
	ms, err := parseMacroString(s, false)
	if err != nil {
		return nil, err
	}
	last := ms.parts[len(ms.parts)-1]
	if last.letter != 0 || last.escape {
		return ms, nil // ends in a macro-expand ("%%", "%_" and "%-" are ones too)
	}
	lit := strings.TrimSuffix(last.lit, ".")
	i := strings.LastIndexByte(lit, '.')
	if i < 0 {
		return nil, fmt.Errorf("%q does not end in a top-level domain name", s)
	}
	if !isToplabel(lit[i+1:]) {
		return nil, fmt.Errorf("%q does not end in a valid top-level domain name", s)
	}
	return ms, nil
}

// isToplabel reports whether s is a toplabel:
// ( *alphanum ALPHA *alphanum ) / ( 1*alphanum "-" *( alphanum / "-" ) alphanum )
// that is, letters, digits and inner hyphens, not all digits.
func isToplabel(s string) bool {
	if s == "" || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	letter, hyphen := false, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case isAlpha(c):
			letter = true
		case c == '-':
			hyphen = true
		case !isDigit(c):
			return false
		}
	}
	return letter || hyphen
}

func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return s != ""
}
