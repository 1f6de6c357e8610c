package checks

import (
	"context"
	"net/netip"
	"strings"
	"testing"
)

// signFor is a Signer that has keys for some domains (and their subdomains).
type signFor []string

func (s signFor) SigningDomain(from string) string {
	for _, d := range s {
		if domainMatch(from, d) {
			return d
		}
	}
	return ""
}

func TestPreflight(t *testing.T) {
	r, srv := testDNS(t)
	srv.ServFail("_dmarc.pftemp.test")
	srv.ServFail("temp.site.test")
	ours := []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")}
	p := &Preflight{DNS: NetResolver{R: r}, SPF: &SPF{DNS: NetResolver{R: r}}, Addresses: ours, Hostname: "mx.site.test",
		Reject: reply(t, PreflightName, "reject"), Quarantine: reply(t, PreflightName, "quarantine"), Temp: reply(t, PreflightName, "temp")}
	const strictReject = "550 5.7.1 strict.test publishes a DMARC policy of reject and this server is not allowed to send as strict.test: " +
		"send from an address at your own domain, or through strict.test's own mail server with SMTP authentication"
	tests := []struct {
		name      string
		mailFrom  string
		from      string
		signer    signFor
		addresses []netip.Addr
		status    Status
		reason    string
		reply     string
		text      string
	}{
		{"spf aligned and authorized", "www@site.test", "noreply@site.test", nil, nil, Pass, "preflight-aligned", "", "SPF: site.test authorizes our addresses"},
		{"spf relaxed: subdomain MAIL FROM", "b@bounces.site.test", "noreply@site.test", nil, nil, Pass, "preflight-aligned", "", ""},
		{"spf must authorize every address", "b@one.site.test", "noreply@site.test", nil, nil, Fail, "preflight-reject",
			strings.ReplaceAll(strictReject, "strict.test", "site.test"), "SPF of one.site.test does not authorize 192.0.2.2 (fail)"},
		{"foreign p=reject, MAIL FROM ours", "www@example.org", "noreply@strict.test", nil, nil, Fail, "preflight-reject", strictReject,
			"MAIL FROM domain example.org is not aligned with strict.test"},
		{"strict aspf: subdomain not aligned", "x@mail.strict.test", "noreply@strict.test", nil, nil, Fail, "preflight-reject", strictReject, ""},
		{"aligned but SPF does not authorize us", "a@reject.test", "a@reject.test", nil, nil, Fail, "preflight-reject",
			strings.ReplaceAll(strictReject, "strict.test", "reject.test"), "SPF of reject.test does not authorize 192.0.2.1 (fail)"},
		{"quarantine", "www@site.test", "x@foreign.test", nil, nil, Fail, "preflight-quarantine",
			"550 5.7.1 foreign.test publishes a DMARC policy of quarantine and this server is not allowed to send as foreign.test: " +
				"send from an address at your own domain, or through foreign.test's own mail server with SMTP authentication", ""},
		{"p=none: tagged, no reply", "www@site.test", "x@none.test", nil, nil, Fail, "preflight-none", "", ""},
		{"dkim aligned", "www@example.org", "noreply@strict.test", signFor{"strict.test"}, nil, Pass, "preflight-aligned", "", "DKIM: we sign for strict.test"},
		{"dkim: our own domain needs no DMARC lookup", "www@example.org", "a@pftemp.test", signFor{"pftemp.test"}, nil, Pass, "preflight-aligned", "", "DKIM: we sign for pftemp.test"},
		{"dkim relaxed: parent key", "www@example.org", "a@news.site.test", signFor{"site.test"}, nil, Pass, "preflight-aligned", "", ""},
		{"dkim strict adkim: parent key not aligned", "www@example.org", "a@sub.strict.test", signFor{"strict.test"}, nil, Fail, "preflight-reject",
			strings.ReplaceAll(strictReject, "strict.test", "sub.strict.test"), "DKIM domain strict.test is not aligned with sub.strict.test"},
		{"org domain fallback", "www@example.org", "a@deep.sub.site.test", nil, nil, Fail, "preflight-reject",
			strings.ReplaceAll(strictReject, "strict.test", "deep.sub.site.test"), ""},
		{"sp= for a subdomain", "www@example.org", "a@sub.reject.test", nil, nil, Fail, "preflight-none", "", ""},
		{"no policy", "www@example.org", "a@nopolicy.test", nil, nil, None, "preflight-no-policy", "", ""},
		{"no addresses known", "www@site.test", "a@site.test", nil, []netip.Addr{}, Fail, "preflight-reject",
			strings.ReplaceAll(strictReject, "strict.test", "site.test"), "no outbound addresses known"},
		{"temperror: DMARC lookup", "www@example.org", "a@pftemp.test", nil, nil, TempError, "preflight-temperror",
			"451 4.7.1 Cannot check the DMARC policy of pftemp.test now, try again later", ""},
		{"temperror: SPF lookup", "x@temp.site.test", "a@site.test", nil, nil, TempError, "preflight-temperror",
			"451 4.7.1 Cannot check the DMARC policy of site.test now, try again later", ""},
		{"null sender: HELO name's SPF", "", "a@site.test", nil, nil, Fail, "preflight-reject", strings.ReplaceAll(strictReject, "strict.test", "site.test"),
			"SPF of mx.site.test does not authorize 192.0.2.1"},
		{"no From", "www@site.test", "", nil, nil, None, "preflight-no-from", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pp := *p
			pp.Signer = tt.signer
			if tt.addresses != nil {
				pp.Addresses = tt.addresses
			}
			env := &Envelope{From: tt.mailFrom}
			if tt.from != "" {
				env.Headers = []Header{{"From", "Someone <" + tt.from + ">"}}
			}
			res := pp.CheckData(context.Background(), env)
			if res.Status != tt.status || res.Reason != tt.reason || res.Reply.String() != replyOrEmpty(tt.reply) {
				t.Fatalf("got %s %s %q (%s), want %s %s %q", res.Status, res.Reason, res.Reply, res.Text, tt.status, tt.reason, tt.reply)
			}
			if !strings.Contains(res.Text, tt.text) {
				t.Fatalf("text %q, want it to contain %q", res.Text, tt.text)
			}
			if tt.reply != "" {
				if err := res.Reply.Validate(); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// replyOrEmpty is how an unset Reply prints.
func replyOrEmpty(s string) string {
	if s == "" {
		return Reply{}.String()
	}
	return s
}

// TestAlignedWith: the preflight compares domains as the dmarc check does,
// so a Unicode From domain aligns with its A-label signing domain.
func TestAlignedWith(t *testing.T) {
	for _, tc := range []struct {
		a, b   string
		strict bool
		want   bool
	}{
		{"mail.example.org", "example.org", false, true},
		{"mail.example.org", "example.org", true, false},
		{"Example.ORG.", "example.org", true, true},
		{"xn--bcher-kva.test", "bücher.test", true, true},
		{"mail.xn--bcher-kva.test", "bücher.test", false, true},
		{"example.net", "example.org", false, false},
		{"", "example.org", false, false},
	} {
		if got := alignedWith(tc.a, tc.b, tc.strict); got != tc.want {
			t.Errorf("alignedWith(%q, %q, strict %v) = %v, want %v", tc.a, tc.b, tc.strict, got, tc.want)
		}
	}
}
