package spf

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// MacroString is a parsed macro-string (RFC 7208 §7.1): literal text and
// macro-expands, expanded at evaluation time.
type MacroString struct {
	parts []macroPart
	text  string
}

// String gives the macro-string as written.
func (m *MacroString) String() string { return m.text }

type macroPart struct {
	lit     string // literal text; for an escape, what it stands for
	escape  bool   // "%%", "%_" or "%-"
	letter  byte   // the macro letter, lowercased; 0 for literal text
	upper   bool   // the letter was upper case: URL-escape the value (§7.3)
	digits  int    // keep this many right-hand parts; 0 for all
	reverse bool
	delims  string // "" means "."
}

// parseMacroString reads a macro-string, or with explain set an
// explain-string, which also allows spaces and the letters c, r and t
// (§7.1, §6.2).
func parseMacroString(s string, explain bool) (*MacroString, error) {
	ms := &MacroString{text: s}
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			ms.parts = append(ms.parts, macroPart{lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '%' {
			// macro-literal = %x21-24 / %x26-7E; explain-string adds SP.
			if (c < 0x21 || c > 0x7e) && !(explain && c == ' ') {
				return nil, fmt.Errorf("octet 0x%02x is not allowed in %q", c, s)
			}
			lit.WriteByte(c)
			continue
		}
		if i+1 == len(s) {
			return nil, fmt.Errorf("%q ends in a lone %%", s)
		}
		i++
		switch s[i] {
		case '%', '_', '-':
			flush()
			ms.parts = append(ms.parts, macroPart{escape: true, lit: map[byte]string{'%': "%", '_': " ", '-': "%20"}[s[i]]})
			continue
		case '{':
		default:
			// §7.1: a "%" not followed by "{", "%", "-" or "_" is a
			// syntax error.
			return nil, fmt.Errorf("%q: %%%c is not a macro", s, s[i])
		}
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return nil, fmt.Errorf("%q: macro not closed with }", s)
		}
		p, err := parseMacro(s[i+1:i+end], explain)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", s, err)
		}
		flush()
		ms.parts = append(ms.parts, p)
		i += end
	}
	flush()
	if len(ms.parts) == 0 {
		ms.parts = []macroPart{{}}
	}
	return ms, nil
}

// parseMacro reads macro-letter transformers *delimiter, the inside of
// "%{...}".
func parseMacro(s string, explain bool) (macroPart, error) {
	if s == "" {
		return macroPart{}, fmt.Errorf("empty macro %%{}")
	}
	p := macroPart{letter: s[0] | 0x20, upper: isAlpha(s[0]) && s[0] < 'a'}
	letters := "slodiphv"
	if explain {
		letters += "crt" // §7.1: only in "exp" text
	}
	if !isAlpha(s[0]) || !strings.ContainsRune(letters, rune(p.letter)) {
		return macroPart{}, fmt.Errorf("%%{%s}: %q is not a macro letter here", s, s[0])
	}
	i := 1
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	if i > 1 {
		n, err := strconv.Atoi(s[1:i])
		// §7.3: if a DIGIT is specified, the value MUST be nonzero.
		if err != nil || n == 0 {
			return macroPart{}, fmt.Errorf("%%{%s}: want a nonzero number of parts", s)
		}
		p.digits = n
	}
	if i < len(s) && (s[i] == 'r' || s[i] == 'R') {
		p.reverse = true
		i++
	}
	delimStart := i
	for ; i < len(s); i++ {
		if !strings.ContainsRune(".-+,/_=", rune(s[i])) {
			return macroPart{}, fmt.Errorf("%%{%s}: %q is not a delimiter", s, s[i])
		}
	}
	p.delims = s[delimStart:]
	return p, nil
}

// expand gives the macro-string's value for the evaluation state.
func (m *MacroString) expand(ctx context.Context, e *evaluation, domain string) string {
	var b strings.Builder
	for _, p := range m.parts {
		if p.letter == 0 {
			b.WriteString(p.lit)
			continue
		}
		b.WriteString(transform(e.macroValue(ctx, p.letter, domain), p))
	}
	return b.String()
}

// transform applies a macro's transformers and URL escaping (§7.3).
func transform(v string, p macroPart) string {
	if p.digits > 0 || p.reverse || p.delims != "" {
		delims := p.delims
		if delims == "" {
			delims = "."
		}
		parts := splitAny(v, delims)
		if p.reverse {
			for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
				parts[i], parts[j] = parts[j], parts[i]
			}
		}
		if p.digits > 0 && p.digits < len(parts) {
			parts = parts[len(parts)-p.digits:]
		}
		v = strings.Join(parts, ".")
	}
	if p.upper {
		v = urlEscape(v)
	}
	return v
}

// splitAny splits s at every octet in delims, keeping empty parts.
func splitAny(s, delims string) []string {
	var parts []string
	start := 0
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(delims, s[i]) >= 0 {
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}

// urlEscape escapes every octet outside RFC 3986's unreserved set, as
// upper-case macro letters ask (§7.3).
func urlEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isAlpha(c) || isDigit(c) || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}
