package spf

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// FuzzRecord feeds the record parser and the macro expander with records
// and explanation texts, as a domain may publish them: neither may panic,
// a record that parses holds only printable ASCII and spaces, and every
// domain-spec of it expands to a name of at most 253 octets.
func FuzzRecord(f *testing.F) {
	for _, s := range []string{
		"v=spf1 -all",
		"v=spf1 a:foo:bar/baz.example.com/24//64 mx//0 ptr:%{d2} ~all",
		"v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 include:_spf.example.com ?all",
		"v=spf1 exists:%{ir}.%{v}._spf.%{d2} redirect=%{d}.d.spf.example.com. exp=%{l1r+-}.%{o}",
		"v=spf1 a:macro%%percent%_%_space%-url-space.example.com moo.cow-far_out=man:dog/cat",
		"v=spf1 exp=foobar.%{o}.%{o}.%{o}.%{o}.%{o}.%{o}.%{o}.%{o}.example.com -all",
		"v=spf1 a:%{H}.bar %{S} -all.",
		"%{c} is queried as %{ir}.%{v}.arpa at %{t} by %{r}",
		"v=spf1 \x80a:example.net \x96all\r\n",
	} {
		f.Add(s)
	}
	e := &evaluation{ip: netip.MustParseAddr("2001:db8::cb01"), sender: "strong-bad@email.example.com", local: "strong-bad",
		senderDomain: "email.example.com", helo: "mx.example.org", receiver: "mx.example.net",
		now: func() time.Time { return time.Unix(1700000000, 0) }, ptrDone: true, ptrNames: []string{"mx.example.org"}}
	f.Fuzz(func(t *testing.T, s string) {
		ctx := context.Background()
		if ms, err := parseMacroString(s, true); err == nil {
			ms.expand(ctx, e, "email.example.com")
		}
		rec, err := Parse(s)
		if err != nil {
			return
		}
		for i := 0; i < len(s); i++ {
			if c := s[i]; c != ' ' && (c < 0x21 || c > 0x7e) {
				t.Fatalf("Parse(%q) accepted octet 0x%02x", s, c)
			}
		}
		specs := []*MacroString{rec.Redirect, rec.Exp}
		for _, d := range rec.Directives {
			if !strings.Contains(s, d.text) {
				t.Fatalf("Parse(%q): directive %q is not in the record", s, d.text)
			}
			specs = append(specs, d.Domain)
		}
		for _, ms := range specs {
			if ms == nil {
				continue
			}
			if name := e.target(ctx, ms, "email.example.com"); len(name) > maxDomainName && strings.Contains(name, ".") {
				t.Fatalf("Parse(%q): %q expands to %d octets", s, ms.text, len(name))
			}
		}
	})
}
