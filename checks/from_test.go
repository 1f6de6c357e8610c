package checks

import (
	"strings"
	"testing"
)

// TestFromHeader: RFC 5322's own examples (Appendix A.1, A.5, A.6.1,
// A.6.3), comments, obsolete forms and RFC 6532 UTF-8; the domain is
// given as lowercase A-labels.
func TestFromHeader(t *testing.T) {
	for _, tt := range []struct{ value, domain, why string }{
		{"John Doe <jdoe@machine.example>", "machine.example", ""},                           // A.1.1
		{`"Joe Q. Public" <john.q.public@example.com>`, "example.com", ""},                   // A.1.2
		{"Joe Q. Public <john.q.public@example.com>", "example.com", ""},                     // A.6.1 obs-phrase
		{"Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>", "silly.test", ""}, // A.5
		{"John Doe <jdoe@machine(comment).  example>", "machine.example", ""},                // A.6.3
		{"Mary Smith\r\n  \r\n          <mary@example.net>", "example.net", ""},              // A.6.3, folded
		{"<@node.test:mary@example.net>", "example.net", ""},                                 // A.6.1 obs-route
		{"Mary <@a.test,@b.test:mary@example.net>", "example.net", ""},
		{"jdoe@test  . example", "test.example", ""}, // A.6.1 obs-domain
		{"(Joe) joe@example.com", "example.com", ""},
		{"joe@example.com (Joe)", "example.com", ""},
		{"(nested (comment)) <joe@Example.COM>", "example.com", ""},
		{"joe@example.com.", "", "From header does not parse"},
		{" , joe@example.com, ", "example.com", ""}, // obs-mbox-list: empty elements
		{`"joe@evil.test"@example.com`, "example.com", ""},
		{`"Evil <a@evil.test>" <joe@example.com>`, "example.com", ""},
		{"anna@b\u00fccher.example", "xn--bcher-kva.example", ""}, // RFC 6532
		{"Anna <anna@B\u00dcCHER.example>", "xn--bcher-kva.example", ""},
		{"\u00c1nna \u00d6 <\u00e4nna@xn--bcher-kva.example>", "xn--bcher-kva.example", ""},
		{"=?utf-8?q?J=C3=B6rg?= <j@example.org>", "example.org", ""},
		{"joe@example.com, ann@example.org", "", "From header has 2 addresses"},
		{"Group: joe@example.com;", "", "From header does not parse"},
		{"joe@[192.0.2.1]", "", "From address has an address literal"},
		{"joe", "", "From header does not parse"},
		{"joe@", "", "From header does not parse"},
		{"<joe@example.com", "", "From header does not parse"},
		{"(unclosed joe@example.com", "", "From header does not parse"},
		{`"unclosed joe@example.com`, "", "From header does not parse"},
		{"joe@exa_mple.com", "", "From address has no valid domain"},
		{"joe@\xff.example", "", "From header does not parse"},
		{"", "", "From header does not parse"},
	} {
		d, why := fromDomain([]Header{{"From", tt.value}})
		if d != tt.domain || !strings.HasPrefix(why, tt.why) || (tt.why == "") != (why == "") {
			t.Errorf("fromDomain(%q) = %q, %q; want %q, %q", tt.value, d, why, tt.domain, tt.why)
		}
	}
}

// TestFromMailboxList: the list of A.6.1 reads as two mailboxes.
func TestFromMailboxList(t *testing.T) {
	as, err := parseMailboxList("Mary Smith <@node.test:mary@example.net>, , jdoe@test  . example")
	if err != nil || len(as) != 2 || as[0] != (fromAddress{"mary", "example.net"}) || as[1] != (fromAddress{"jdoe", "test.example"}) {
		t.Fatalf("parseMailboxList = %+v, %v", as, err)
	}
}

// TestOpenDMARCFindDomainVectors: OpenDMARC's From domain vectors. Where
// mailsift says "invalid" the header is not exactly one RFC 5322 mailbox
// (testdata/dmarc/README.md).
func TestOpenDMARCFindDomainVectors(t *testing.T) {
	for i, row := range vectors(t, "opendmarc-finddomain.tsv", 3) {
		d, why := fromDomain([]Header{{"From", row[0]}})
		got := d
		if why != "" {
			got = "invalid"
		}
		if got != row[2] {
			t.Errorf("vector %d %q: got %q (%s), want %q (OpenDMARC: %q)", i+1, row[0], got, why, row[2], row[1])
		}
	}
}

// FuzzFromDomain: any From header gives a domain or a reason, never both;
// a domain is lowercase A-labels of valid hostname syntax.
func FuzzFromDomain(f *testing.F) {
	for _, s := range []string{"a@b.example", "A <a@b.example>", "a@b.example, c@d.example", "", "<>", `"x@y" <a@b.c>`,
		"Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>", "<@node.test:mary@example.net>", "anna@b\u00fccher.example",
		"(a (b) c) x@[1.2.3.4]", "x@y . z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		d, why := fromDomain([]Header{{"From", v}})
		if (d == "") == (why == "") {
			t.Fatalf("fromDomain(%q) = %q, %q", v, d, why)
		}
		if d != "" && (d != strings.ToLower(d) || HostnameSyntaxError(d) != "") {
			t.Fatalf("fromDomain(%q) = %q: not a lowercase A-label hostname", v, d)
		}
	})
}
