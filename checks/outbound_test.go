package checks

import (
	"strings"
	"testing"
	"time"

	"github.com/mailsift/mailsift/greylist"
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

// The outbound chain follows the list: in its order, each check whose
// table is on and whose input is there.
func TestOutboundNewChain(t *testing.T) {
	tables := DefaultOutboundTables()
	names := func(c *Chain) string {
		var n []string
		for _, ch := range c.Checks() {
			n = append(n, ch.Name())
		}
		return strings.Join(n, " ")
	}
	// No logins, no mailboxes, no limit, no suppression list: the checks
	// that need them are not built.
	if got := names(tables.NewChain(time.Second, OutboundDeps{})); got != "preflight standards" {
		t.Errorf("chain without inputs = %q, want %q", got, "preflight standards")
	}
	d := OutboundDeps{Logins: &LoginMap{}, Mailboxes: &RecipientList{}, DailyLimit: 5,
		Counter:     func() greylist.Counter { return greylist.NewMemory(10) },
		Suppression: func() SuppressionList { return nil }}
	if got, want := names(tables.NewChain(time.Second, d)), "login mailbox limit preflight standards"; got != want {
		t.Errorf("chain = %q, want %q", got, want)
	}
	tables.Preflight.Mode = "off"
	tables.Login.Mode = "off"
	if got, want := names(tables.NewChain(time.Second, d)), "mailbox limit standards"; got != want {
		t.Errorf("chain with login and preflight off = %q, want %q", got, want)
	}
}
