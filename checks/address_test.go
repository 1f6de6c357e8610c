package checks

import (
	"errors"
	"testing"
)

func TestParseAddress(t *testing.T) {
	tests := []struct {
		in, local, domain, err string
	}{
		{"alice@Example.ORG", "alice", "example.org", ""},
		{"<Alice.B+tag@example.org.>", "Alice.B+tag", "example.org", ""},
		{`"john doe"@example.org`, `"john doe"`, "example.org", ""},
		{`"a\"b"@example.org`, `"a\"b"`, "example.org", ""},
		{"user@[192.0.2.1]", "user", "[192.0.2.1]", ""},
		{"user@[IPv6:2001:db8::1]", "user", "[IPv6:2001:db8::1]", ""},
		{"@relay.example:user@example.org", "user", "example.org", ""},
		{"postmaster", "postmaster", "", ""},
		{"jörg@bücher.example", "jörg", "xn--bcher-kva.example", ""},
		{"a@b@example.org", "", "", `malformed address "a@b@example.org": character '@' not allowed in the local part`},
		{".alice@example.org", "", "", `malformed address ".alice@example.org": empty atom in the local part (a leading, trailing or double dot)`},
		{"alice@", "", "", `malformed address "alice@": empty domain`},
		{"alice@exa_mple.org", "", "", `malformed address "alice@exa_mple.org": invalid domain: idna: disallowed rune U+005F`},
		{"alice@[300.1.1.1]", "", "", `malformed address "alice@[300.1.1.1]": invalid IPv4 address literal`},
		{`"unterminated@example.org`, "", "", `malformed address "\"unterminated@example.org": unterminated quoted local part`},
		{"", "", "", `malformed address "": empty`},
		{"sp ace@example.org", "", "", `malformed address "sp ace@example.org": character ' ' not allowed in the local part`},
	}
	for _, tt := range tests {
		a, err := ParseAddress(tt.in)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err || !errors.Is(err, ErrAddress) {
				t.Errorf("ParseAddress(%q) error = %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || a.Local != tt.local || a.Domain != tt.domain {
			t.Errorf("ParseAddress(%q) = %q %q %v, want %q %q", tt.in, a.Local, a.Domain, err, tt.local, tt.domain)
		}
	}
}

func TestIsFQDN(t *testing.T) {
	for in, want := range map[string]bool{
		"example.org": true, "mail.example.org.": true, "[192.0.2.1]": true,
		"localhost": false, "": false, "bad..org": false, "192.0.2.1": false,
	} {
		if got := IsFQDN(in); got != want {
			t.Errorf("IsFQDN(%q) = %v", in, got)
		}
	}
}

// FuzzParseAddress: any input parses or gives an ErrAddress; what parses
// prints back to something that parses the same.
func FuzzParseAddress(f *testing.F) {
	for _, s := range []string{"alice@example.org", `"a b"@x.example`, "u@[IPv6:::1]", "@a:b@c.d", "postmaster", "ü@ü.example", "a@b@c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAddress(s)
		if err != nil {
			if !errors.Is(err, ErrAddress) {
				t.Fatalf("error does not wrap ErrAddress: %v", err)
			}
			return
		}
		b, err := ParseAddress(a.String())
		if err != nil || b != a {
			t.Fatalf("ParseAddress(%q) = %+v, but its String %q parses to %+v, %v", s, a, a.String(), b, err)
		}
	})
}

// FuzzHostname: the syntax check never panics and accepts only what a
// resolver can ask for.
func FuzzHostname(f *testing.F) {
	for _, s := range []string{"mail.example.org", "a..b", "-x.example", "1.2.3.4", "x."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if HostnameSyntaxError(s) == "" && len(s) > 254 {
			t.Fatalf("accepted %d octets", len(s))
		}
		IsFQDN(s)
	})
}
