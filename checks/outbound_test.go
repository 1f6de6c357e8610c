package checks

import (
	"strings"
	"testing"
)

func TestAuthorDomain(t *testing.T) {
	for _, c := range []struct {
		from []string
		want string
		why  string
	}{
		{[]string{"Web <www@Site.Test>"}, "site.test", ""},
		{[]string{"www@site.test (Web)"}, "site.test", ""},
		{[]string{`"a@b.test" <x@real.test>`}, "real.test", ""},
		{nil, "", "0 From header fields"},
		{[]string{"a@x.test", "b@y.test"}, "", "2 From header fields"},
		{[]string{"a@x.test, b@y.test"}, "", "From header has 2 addresses"},
		{[]string{"nobody"}, "", "From header does not parse"},
		{[]string{"a@-bad-.test"}, "", "From address has no valid domain"},
	} {
		var hs []Header
		for _, f := range c.from {
			hs = append(hs, Header{"From", f})
		}
		got, why := AuthorDomain(hs)
		if got != c.want || !strings.HasPrefix(why, c.why) || (c.why == "") != (why == "") {
			t.Errorf("%q: %q %q, want %q %q", c.from, got, why, c.want, c.why)
		}
	}
}

func FuzzAuthorDomain(f *testing.F) {
	f.Add("Web <www@site.test>")
	f.Add("=?utf-8?q?x?= <a@b.test>, c@d.test")
	f.Fuzz(func(t *testing.T, v string) {
		d, why := AuthorDomain([]Header{{"From", v}})
		if (d == "") == (why == "") {
			t.Fatalf("%q: domain %q, why %q", v, d, why)
		}
		if d != "" && (d != strings.ToLower(d) || HostnameSyntaxError(d) != "") {
			t.Fatalf("%q: domain %q", v, d)
		}
	})
}
