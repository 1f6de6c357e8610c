package checks

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/mailsift/mailsift/internal/resolver"
)

// The From header is read by RFC 5322 §3.4 (mailbox-list), with the
// obsolete forms of §4 that receivers must accept (comments and folding
// white space anywhere between tokens, "." in display names, routes in
// angle addresses, empty list elements, white space around the dots of a
// domain), and with RFC 6532's UTF-8 in atoms, quoted strings, comments and
// domain literals. One leniency beyond the grammar: a local part written as
// words without dots ("Joe" joe@example.com, the display name left without
// angle brackets) is read, since the author domain after "@" is not in
// doubt; OpenDMARC reads it so too.

// fromAddress is one mailbox of a From header.
type fromAddress struct {
	Local, Domain string // the domain as written: perhaps UTF-8, perhaps a [literal]
}

// parseMailboxList parses a header value that holds a mailbox-list.
func parseMailboxList(v string) ([]fromAddress, error) {
	if !utf8.ValidString(v) {
		return nil, errors.New("not valid UTF-8")
	}
	toks, err := lexAddress(v)
	if err != nil {
		return nil, err
	}
	p := &addrParser{toks: toks}
	var out []fromAddress
	for {
		for p.is(',') { // obs-mbox-list: empty elements
			p.next()
		}
		if p.done() {
			break
		}
		a, err := p.mailbox()
		if err != nil {
			return nil, err
		}
		out = append(out, a)
		if !p.done() && !p.is(',') {
			return nil, fmt.Errorf("unexpected %s after the address %s@%s", p.peek(), a.Local, a.Domain)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no address")
	}
	return out, nil
}

type tokKind int

const (
	tokAtom    tokKind = iota // atext run, RFC 6532 UTF-8 included
	tokQuoted                 // quoted-string, its content unquoted
	tokLiteral                // domain-literal, with its brackets
	tokSpecial                // one of ()<>[]:;@\,."
)

type token struct {
	kind tokKind
	text string
	ch   byte // the special
}

func (t token) String() string {
	switch t.kind {
	case tokSpecial:
		return fmt.Sprintf("%q", string(t.ch))
	case tokQuoted:
		return fmt.Sprintf("quoted string %q", t.text)
	}
	return fmt.Sprintf("%q", t.text)
}

// lexAddress splits v into tokens, dropping comments and folding white
// space (CFWS), which may appear between any two tokens (RFC 5322 §4.4).
func lexAddress(v string) ([]token, error) {
	var toks []token
	for i := 0; i < len(v); {
		c := v[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			i++
		case c == '(':
			depth := 0
			for ; i < len(v); i++ {
				switch v[i] {
				case '\\':
					i++
				case '(':
					depth++
				case ')':
					depth--
				}
				if depth == 0 {
					break
				}
			}
			if depth != 0 || i >= len(v) {
				return nil, errors.New("unterminated comment")
			}
			i++
		case c == '"':
			var b strings.Builder
			i++
			for ; i < len(v) && v[i] != '"'; i++ {
				if v[i] == '\\' && i+1 < len(v) {
					i++
				} else if v[i] == '\r' || v[i] == '\n' {
					continue // folding inside a quoted string is not content
				}
				b.WriteByte(v[i])
			}
			if i >= len(v) {
				return nil, errors.New("unterminated quoted string")
			}
			i++
			toks = append(toks, token{kind: tokQuoted, text: b.String()})
		case c == '[':
			j := i + 1
			for ; j < len(v) && v[j] != ']'; j++ {
				if v[j] == '[' || v[j] == '\\' {
					return nil, errors.New("invalid domain literal")
				}
			}
			if j >= len(v) {
				return nil, errors.New("unterminated domain literal")
			}
			lit := strings.Map(func(r rune) rune {
				if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
					return -1
				}
				return r
			}, v[i:j+1])
			toks = append(toks, token{kind: tokLiteral, text: lit})
			i = j + 1
		case isAtext(rune(c)): // RFC 6532 §3.2: UTF-8 (already checked valid) is atext
			j := i
			for j < len(v) && isAtext(rune(v[j])) {
				j++
			}
			toks = append(toks, token{kind: tokAtom, text: v[i:j]})
			i = j
		case strings.IndexByte(`<>:;@,.`, c) >= 0:
			toks = append(toks, token{kind: tokSpecial, ch: c})
			i++
		default:
			return nil, fmt.Errorf("invalid character %q", string(rune(c)))
		}
	}
	return toks, nil
}

type addrParser struct {
	toks []token
	pos  int
}

func (p *addrParser) done() bool { return p.pos >= len(p.toks) }

func (p *addrParser) peek() token {
	if p.done() {
		return token{kind: tokAtom, text: "end of header"}
	}
	return p.toks[p.pos]
}

func (p *addrParser) next() token { t := p.peek(); p.pos++; return t }

func (p *addrParser) is(c byte) bool {
	return !p.done() && p.toks[p.pos].kind == tokSpecial && p.toks[p.pos].ch == c
}

func (p *addrParser) isWord() bool {
	return !p.done() && (p.toks[p.pos].kind == tokAtom || p.toks[p.pos].kind == tokQuoted)
}

// mailbox = name-addr / addr-spec.
func (p *addrParser) mailbox() (fromAddress, error) {
	// Words and dots up to "<" are a display name (obs-phrase allows
	// dots); up to "@" they are a local part.
	start := p.pos
	for p.isWord() || p.is('.') {
		p.next()
	}
	switch {
	case p.is('<'):
		if p.pos > start && p.toks[start].kind == tokSpecial {
			return fromAddress{}, errors.New("display name starts with \".\"")
		}
		p.next()
		p.route()
		a, err := p.addrSpec(p.pos)
		if err != nil {
			return a, err
		}
		if !p.is('>') {
			return a, fmt.Errorf("want \">\" after the address, got %s", p.peek())
		}
		p.next()
		return a, nil
	case p.is('@'):
		return p.addrSpec(start)
	case p.pos == start:
		return fromAddress{}, fmt.Errorf("want an address, got %s", p.peek())
	}
	return fromAddress{}, fmt.Errorf("no \"@\" in the address, got %s", p.peek())
}

// route skips an obs-route ("@a.example,@b.example:") in an angle address.
func (p *addrParser) route() {
	if !p.is('@') && !p.is(',') {
		return
	}
	save := p.pos
	for !p.done() && !p.is(':') && !p.is('>') {
		p.next()
	}
	if p.is(':') {
		p.next()
		return
	}
	p.pos = save
}

// addrSpec reads local-part "@" domain; the local part's tokens start at
// start (already read when the address has no angle brackets).
func (p *addrParser) addrSpec(start int) (fromAddress, error) {
	if p.pos == start {
		for p.isWord() || p.is('.') {
			p.next()
		}
	}
	var local strings.Builder
	for _, t := range p.toks[start:p.pos] {
		if t.kind == tokSpecial {
			local.WriteByte('.')
		} else {
			local.WriteString(t.text)
		}
	}
	if p.pos == start {
		return fromAddress{}, fmt.Errorf("want a local part, got %s", p.peek())
	}
	if !p.is('@') {
		return fromAddress{}, fmt.Errorf("want \"@\" after the local part %q, got %s", local.String(), p.peek())
	}
	p.next()
	if !p.done() && p.peek().kind == tokLiteral {
		return fromAddress{Local: local.String(), Domain: p.next().text}, nil
	}
	// domain = dot-atom / obs-domain: atoms separated by dots, CFWS
	// around them already gone.
	var labels []string
	for {
		if p.done() || p.peek().kind != tokAtom {
			return fromAddress{}, fmt.Errorf("want a domain after \"@\", got %s", p.peek())
		}
		labels = append(labels, p.next().text)
		if !p.is('.') {
			break
		}
		p.next()
	}
	return fromAddress{Local: local.String(), Domain: strings.Join(labels, ".")}, nil
}

// fromDomain returns the domain of the message's one From address, as
// lowercase A-labels, or why there is none (RFC 7489 §6.6.1).
func fromDomain(hs []Header) (string, string) {
	var values []string
	for _, h := range hs {
		if strings.EqualFold(h.Name, "From") {
			values = append(values, h.Value)
		}
	}
	switch len(values) {
	case 0:
		return "", "no From header"
	case 1:
	default:
		return "", fmt.Sprintf("%d From headers", len(values))
	}
	addrs, err := parseMailboxList(values[0])
	if err != nil {
		return "", "From header does not parse: " + err.Error()
	}
	if len(addrs) != 1 {
		return "", fmt.Sprintf("From header has %d addresses", len(addrs))
	}
	domain := addrs[0].Domain
	if strings.HasPrefix(domain, "[") {
		return "", "From address has an address literal, no domain"
	}
	ascii, err := resolver.ToASCII(strings.TrimSuffix(domain, "."))
	if err != nil {
		return "", "From address has no valid domain: " + err.Error()
	}
	ascii = strings.ToLower(ascii)
	if HostnameSyntaxError(ascii) != "" {
		return "", "From address has no valid domain"
	}
	return ascii, ""
}
