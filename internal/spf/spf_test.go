package spf

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/mailsift/mailsift/internal/resolver"
	"github.com/mailsift/mailsift/internal/resolver/dnstest"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		record string
		err    string // "" for a valid record; else a part of the error
	}{
		{"v=spf1", ""},
		{"V=SPF1 -ALL", ""},
		{"v=spf1  a  mx -all ", ""},
		{"v=spf1 a:foo:bar/baz.example.com/24//64 ~all", ""},
		{"v=spf1 a//0 mx/0 ptr ptr:%{d} exists:%{ir}.%{v}._spf.%{d2} include:_spf.example.com ?all", ""},
		{"v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 ip6:::ffff:1.2.3.4 -all", ""},
		{"v=spf1 a:foo.example.xn--zckzah", ""},
		{"v=spf1 moo.cow-far_out=man:dog/cat redirect=%{d}.example.com exp=explain._spf.%{d}", ""},
		{"v=spf1 a:macro%%percent%_%_space%-url-space.example.com", ""},
		{"v=spf1 exists:%{l1r+-}.%{o}.%{h}.%{s}.%{p}", ""},

		{"v=spf10", "does not start"},
		{"spf1 -all", "does not start"},
		{"v=spf1 -all moo", "unknown mechanism"},
		{"v=spf1 -all.", "unknown mechanism"},
		{"v=spf1 -all:foo", "takes no argument"},
		{"v=spf1 -all/8", "takes no argument"},
		{"v=spf1 a:ctrl.example.com\rptr", "0x0d"},
		{"v=spf1 \x80a:example.net", "0x80"},
		{"v=spf1 a:example.net \x96all", "0x96"},
		{"v=spf1 ip4:1.2.3.4\n include:x.example.com", "0x0a"},
		{"v=spf1 a:foo.example.com\x00", "0x00"},
		{"v=spf1 include", "needs"},
		{"v=spf1 include:", "empty domain"},
		{"v=spf1 include:ip5.example.com/24", "top-level"},
		{"v=spf1 exists", "needs"},
		{"v=spf1 a:", "empty domain"},
		{"v=spf1 a:museum", "top-level"},
		{"v=spf1 a:museum.", "top-level"},
		{"v=spf1 a:abc.123", "top-level"},
		{"v=spf1 a:111.222.33.44", "top-level"},
		{"v=spf1 a:example.-com", "top-level"},
		{"v=spf1 a:example.com:8080", "top-level"},
		{"v=spf1 a:foo-bar", "top-level"},
		{"v=spf1 a/33", "over 32"},
		{"v=spf1 a//129", "over 128"},
		{"v=spf1 a/24/64", "over 32"},
		{"v=spf1 ip4:1.2.3.4/032", "leading zeros"},
		{"v=spf1 ip4:1.2.3", "not an IPv4"},
		{"v=spf1 ip4:1.2.3.4:8080", "not an IPv4"},
		{"v=spf1 ip4:1.2.3.4//32", "leading zeros"},
		{"v=spf1 ip4", "needs"},
		{"v=spf1 ip6::CAFE::BABE", "not an IPv6"},
		{"v=spf1 ip6:1.2.3.4", "not an IPv6"},
		{"v=spf1 ip6:fe80::1%eth0", "not an IPv6"},
		{"v=spf1 ptr/0", "no prefix length"},
		{"v=spf1 ptr:", "empty domain"},
		{"v=spf1 redirect:t2.example.com", "unknown mechanism"},
		{"v=spf1 redirect=", "empty domain"},
		{"v=spf1 redirect=-all", "top-level"},
		{"v=spf1 exp=", "empty domain"},
		{"v=spf1 exp=%{r}.example.com", "not a macro letter"},
		{"v=spf1 exp=a.example.com exp=b.example.com", "more than once"},
		{"v=spf1 redirect=a.example.com REDIRECT=b.example.com", "more than once"},
		{"v=spf1 1up=foo", "starts with a letter"},
		{"v=spf1 =all", "starts with a letter"},
		{"v=spf1 foo=%abc", "not a macro"},
		{"v=spf1 moo.cow/far_out=man:dog/cat", "unknown mechanism"},
		{"v=spf1 exists:foo%.sbl.example.com", "not a macro"},
		{"v=spf1 exists:foo%(ir).sbl.example.com", "not a macro"},
		{"v=spf1 exists:foo.example.com%", "lone %"},
		{"v=spf1 a:%{a}.example.com", "not a macro letter"},
		{"v=spf1 a:%{d0}.example.com", "nonzero"},
		{"v=spf1 a:%{d2x}.example.com", "not a delimiter"},
		{"v=spf1 a:%{d.example.com", "not closed"},
	} {
		_, err := Parse(tc.record)
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("Parse(%q): %v", tc.record, err)
		case tc.err != "" && err == nil:
			t.Errorf("Parse(%q): no error, want one saying %q", tc.record, tc.err)
		case tc.err != "" && !strings.Contains(err.Error(), tc.err):
			t.Errorf("Parse(%q): %v, want an error saying %q", tc.record, err, tc.err)
		}
		var se *SyntaxError
		if err != nil && !errors.As(err, &se) {
			t.Errorf("Parse(%q): %T, want *SyntaxError", tc.record, err)
		}
	}
}

// The examples of RFC 7208 §7.4.
func TestMacroExamples(t *testing.T) {
	e := &evaluation{sender: "strong-bad@email.example.com", local: "strong-bad", senderDomain: "email.example.com",
		helo: "mx.example.org", receiver: "mx.example.net", now: func() time.Time { return time.Unix(1700000000, 0) },
		ptrDone: true, ptrNames: []string{"mx.example.org"}}
	for _, tc := range []struct {
		ip, macro, want string
	}{
		{"192.0.2.3", "%{s}", "strong-bad@email.example.com"},
		{"192.0.2.3", "%{o}", "email.example.com"},
		{"192.0.2.3", "%{d}", "email.example.com"},
		{"192.0.2.3", "%{d4}", "email.example.com"},
		{"192.0.2.3", "%{d3}", "email.example.com"},
		{"192.0.2.3", "%{d2}", "example.com"},
		{"192.0.2.3", "%{d1}", "com"},
		{"192.0.2.3", "%{dr}", "com.example.email"},
		{"192.0.2.3", "%{d2r}", "example.email"},
		{"192.0.2.3", "%{l}", "strong-bad"},
		{"192.0.2.3", "%{l-}", "strong.bad"},
		{"192.0.2.3", "%{lr}", "strong-bad"},
		{"192.0.2.3", "%{lr-}", "bad.strong"},
		{"192.0.2.3", "%{l1r-}", "strong"},
		{"192.0.2.3", "%{ir}.%{v}._spf.%{d2}", "3.2.0.192.in-addr._spf.example.com"},
		{"192.0.2.3", "%{lr-}.lp._spf.%{d2}", "bad.strong.lp._spf.example.com"},
		{"192.0.2.3", "%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", "bad.strong.lp.3.2.0.192.in-addr._spf.example.com"},
		{"192.0.2.3", "%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", "3.2.0.192.in-addr.strong.lp._spf.example.com"},
		{"192.0.2.3", "%{d2}.trusted-domains.example.net", "example.com.trusted-domains.example.net"},
		// The RFC writes the nibbles in lower case, the OpenSPF suite's
		// explanations in upper case; DNS does not mind.
		{"2001:db8::cb01", "%{ir}.%{v}._spf.%{d2}", "1.0.B.C.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.B.D.0.1.0.0.2.ip6._spf.example.com"},
		// Beyond the RFC's table: the explanation-only letters, escapes,
		// URL escaping, %{p}.
		{"2001:db8::cb01", "%{c} %{r} %{t} %{h} %{p}", "2001:db8::cb01 mx.example.net 1700000000 mx.example.org mx.example.org"},
		{"192.0.2.3", "%%%_%-", "% %20"},
		{"192.0.2.3", "%{S}", "strong-bad%40email.example.com"},
		{"192.0.2.3", "%{d9}", "email.example.com"},
		{"192.0.2.3", "%{d2r-.}", "example.email"},
	} {
		e.ip = netip.MustParseAddr(tc.ip)
		ms, err := parseMacroString(tc.macro, true)
		if err != nil {
			t.Fatalf("%s: %v", tc.macro, err)
		}
		if got := ms.expand(context.Background(), e, "email.example.com"); got != tc.want {
			t.Errorf("%s with %s: %q, want %q", tc.macro, tc.ip, got, tc.want)
		}
	}
}

// The limits of §4.6.4, the domain checks of §4.3 and the explanation,
// end to end on the resolver and the test DNS server.
func TestCheck(t *testing.T) {
	srv := dnstest.Start(t)
	zone := `
$ORIGIN example.test.
@            IN SOA ns hostmaster 1 3600 600 86400 60
ten          IN TXT "v=spf1 a a a a a a a a a a ip4:192.0.2.10 -all"
eleven       IN TXT "v=spf1 a a a a a a a a a a a ip4:192.0.2.10 -all"
ten          IN A 192.0.2.99
eleven       IN A 192.0.2.99
void2        IN TXT "v=spf1 a:n1.example.test a:n2.example.test ip4:192.0.2.10 -all"
void3        IN TXT "v=spf1 a:n1.example.test a:n2.example.test a:n3.example.test ip4:192.0.2.10 -all"
loop         IN TXT "v=spf1 include:loop.example.test -all"
explained    IN TXT "v=spf1 -all exp=why.example.test"
why          IN TXT "%{c} may not send for %{o} at %{t} (asked %{r})"
helo         IN TXT "v=spf1 ip4:192.0.2.10 -all"
xn--bcher-kva IN TXT "v=spf1 ip4:192.0.2.10 -all"
two          IN TXT "v=spf1 -all"
two          IN TXT "v=spf1 +all"
`
	for _, line := range strings.Split(zone, "\n") {
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "$ORIGIN") {
			continue
		}
		rr, err := dns.NewRR("$ORIGIN example.test.\n" + line)
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		srv.AddRR(rr)
	}
	r, err := resolver.New(resolver.Config{Servers: []string{srv.Addr}, Timeout: 100 * time.Millisecond, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	now := func() time.Time { return time.Unix(1700000000, 0) }
	for _, tc := range []struct {
		ip, sender, helo string
		want             Status
		identity, exp    string
	}{
		{"192.0.2.10", "a@ten.example.test", "h.example.test", Pass, "mailfrom", ""},
		{"192.0.2.10", "a@eleven.example.test", "h.example.test", PermError, "mailfrom", ""},
		{"192.0.2.10", "a@void2.example.test", "h.example.test", Pass, "mailfrom", ""},
		{"192.0.2.10", "a@void3.example.test", "h.example.test", PermError, "mailfrom", ""},
		{"192.0.2.10", "a@loop.example.test", "h.example.test", PermError, "mailfrom", ""},
		{"192.0.2.10", "a@two.example.test", "h.example.test", PermError, "mailfrom", ""},
		{"192.0.2.11", "a@explained.example.test", "h.example.test", Fail, "mailfrom",
			"192.0.2.11 may not send for explained.example.test at 1700000000 (asked mx.example.test)"},
		{"2001:db8::1", "a@explained.example.test", "h.example.test", Fail, "mailfrom",
			"2001:db8::1 may not send for explained.example.test at 1700000000 (asked mx.example.test)"},
		{"192.0.2.10", "", "helo.example.test", Pass, "helo", ""},
		{"192.0.2.10", "", "helo", None, "helo", ""},
		{"192.0.2.10", "", "[192.0.2.10]", None, "helo", ""},
		{"192.0.2.10", "a@b..example.test", "h.example.test", None, "mailfrom", ""},
		{"::ffff:192.0.2.10", "a@ten.example.test", "h.example.test", Pass, "mailfrom", ""},
		// RFC 8616 §4: a UTF-8 domain is looked up in A-labels.
		{"192.0.2.10", "j\u00f6rg@b\u00fccher.example.test", "h.example.test", Pass, "mailfrom", ""},
		{"192.0.2.10", "", "b\u00fccher.example.test", Pass, "helo", ""},
		{"192.0.2.10", "a@b\u00fc\u00ff\u0000.example.test", "h.example.test", None, "mailfrom", ""},
	} {
		res := Check(context.Background(), r, Args{IP: netip.MustParseAddr(tc.ip), Sender: tc.sender, Helo: tc.helo,
			Receiver: "mx.example.test", Now: now})
		if res.Status != tc.want || res.Identity != tc.identity || res.Explanation != tc.exp {
			t.Errorf("%s from %s (helo %s): %s %s %q (%v), want %s %s %q",
				tc.sender, tc.ip, tc.helo, res.Status, res.Identity, res.Explanation, res.Err, tc.want, tc.identity, tc.exp)
		}
		if (res.Status == PermError || res.Status == TempError) && res.Err == nil {
			t.Errorf("%s: %s without an error", tc.sender, res.Status)
		}
	}
}

func TestUnescapeTXT(t *testing.T) {
	for in, want := range map[string]string{
		`plain`:             "plain",
		`a\"b\\c`:           `a"b\c`,
		`\195\169t\195\169`: "\u00e9t\u00e9",
		`\000\013x`:         "\x00\rx",
		`trailing\`:         `trailing\`,
		`\12`:               "12",
	} {
		if got := unescapeTXT(in); got != want {
			t.Errorf("unescapeTXT(%q) = %q, want %q", in, got, want)
		}
	}
}
