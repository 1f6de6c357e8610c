package checks

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/authres"
)

func TestDMARC(t *testing.T) {
	r, srv := testDNS(t)
	srv.ServFail("_dmarc.dmarctemp.test")
	roll := 0
	d := &DMARC{DNS: NetResolver{R: r}, Rand: func(int) int { return roll }, ListHosts: []string{"lists.example.org"},
		ForwarderNets: []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")},
		Reject:        reply(t, "dmarc", "perm"), Temp: reply(t, "dmarc", "temp"), FromInvalid: reply(t, "dmarc", "from")}
	spfPass := func(domain string) Result {
		return Result{Check: "spf", Status: Pass, SPF: &SPFOutcome{Status: Pass, Identity: "mailfrom", Domain: domain}}
	}
	dkimPass := func(domain string) Result {
		return Result{Check: "dkim", Status: Pass, AuthRes: []authres.Result{&authres.DKIMResult{Value: authres.ResultPass, Domain: domain}},
			DKIM: &DKIMOutcome{Status: Pass, Signatures: []DKIMSignature{{Status: Pass, Domain: domain}}}}
	}
	dkimTemp := func(domain string) Result {
		return Result{Check: "dkim", Status: TempError, AuthRes: []authres.Result{&authres.DKIMResult{Value: authres.ResultTempError, Domain: domain}},
			DKIM: &DKIMOutcome{Status: TempError, Signatures: []DKIMSignature{{Status: TempError, Domain: domain}}}}
	}
	spfTemp := func(sender string) Result {
		return Result{Check: "spf", Status: TempError, AuthRes: []authres.Result{&authres.SPFResult{Value: authres.ResultTempError, From: sender}},
			SPF: &SPFOutcome{Status: TempError, Identity: "mailfrom", Domain: afterAt(sender)}}
	}
	dkimFail := func(domain string) Result {
		return Result{Check: "dkim", Status: Fail, AuthRes: []authres.Result{&authres.DKIMResult{Value: authres.ResultFail, Domain: domain}},
			DKIM: &DKIMOutcome{Status: Fail, Signatures: []DKIMSignature{{Status: Fail, Domain: domain}}}}
	}
	ptrPass := func(name string) Result { return Result{Check: "ptr", Status: Pass, ClientName: name} }
	list := func(from string) []Header {
		return []Header{{"From", from}, {"List-Id", "Users <users.lists.example.org>"}}
	}
	from := func(v ...string) []Header {
		var hs []Header
		for _, x := range v {
			hs = append(hs, Header{"From", x})
		}
		return hs
	}
	tests := []struct {
		name    string
		headers []Header
		results []Result
		roll    int
		client  string
		status  Status
		reason  string
		reply   string
		ar      string // golden Authentication-Results line
	}{
		{"spf aligned", from("<a@reject.test>"), []Result{spfPass("reject.test")}, 0, "", Pass, "dmarc-pass", "",
			"mx.mailsift.test; dmarc=pass header.from=reject.test policy.dmarc=reject"},
		{"spf relaxed alignment", from("A <a@reject.test>"), []Result{spfPass("bounce.reject.test")}, 0, "", Pass, "dmarc-pass", "", ""},
		{"dkim aligned", from("a@reject.test"), []Result{dkimPass("reject.test")}, 0, "", Pass, "dmarc-pass", "", ""},
		{"unaligned", from("a@reject.test"), []Result{spfPass("other.test"), dkimPass("other.test")}, 0, "", Fail, "dmarc-fail-reject",
			"550 5.7.1 Email rejected per DMARC policy for reject.test",
			"mx.mailsift.test; dmarc=fail header.from=reject.test policy.dmarc=reject"},
		{"nothing passed", from("a@reject.test"), nil, 0, "", Fail, "dmarc-fail-reject", "550 5.7.1 Email rejected per DMARC policy for reject.test", ""},
		{"strict spf", from("a@strict.test"), []Result{spfPass("mail.strict.test")}, 0, "", Fail, "dmarc-fail-reject", "550 5.7.1 Email rejected per DMARC policy for strict.test", ""},
		{"strict dkim", from("a@strict.test"), []Result{dkimPass("strict.test")}, 0, "", Pass, "dmarc-pass", "", ""},
		{"subdomain: sp=", from("a@sub.reject.test"), nil, 0, "", Fail, "dmarc-fail-none", "",
			"mx.mailsift.test; dmarc=fail header.from=sub.reject.test policy.dmarc=none"},
		{"quarantine", from("a@quarantine.test"), nil, 0, "", Fail, "dmarc-fail-quarantine", "", ""},
		{"p=none", from("a@none.test"), nil, 0, "", Fail, "dmarc-fail-none", "", ""},
		{"pct=50 in the sample", from("a@pct.test"), nil, 49, "", Fail, "dmarc-fail-reject", "550 5.7.1 Email rejected per DMARC policy for pct.test", ""},
		{"pct=50 outside", from("a@pct.test"), nil, 50, "", Fail, "dmarc-fail-quarantine", "", ""},
		{"pct=0", from("a@zero.pct.test"), nil, 0, "", Fail, "dmarc-fail-quarantine", "", ""},
		{"two records: no policy", from("a@multi.test"), nil, 0, "", None, "dmarc-none", "", "mx.mailsift.test; dmarc=none header.from=multi.test"},
		{"no record", from("a@nopolicy.test"), nil, 0, "", None, "dmarc-none", "", ""},
		{"temperror", from("a@dmarctemp.test"), nil, 0, "", TempError, "dmarc-temperror", "451 4.7.1 Temporary DNS failure evaluating DMARC for dmarctemp.test, try again later", ""},
		{"org domain lookup fails", from("a@sub.dmarctemp.test"), nil, 0, "", TempError, "dmarc-temperror",
			"451 4.7.1 Temporary DNS failure evaluating DMARC for sub.dmarctemp.test, try again later",
			"mx.mailsift.test; dmarc=temperror header.from=sub.dmarctemp.test"},
		{"policy lookup fails, strictly aligned pass", from("a@dmarctemp.test"), []Result{dkimPass("dmarctemp.test")}, 0, "", TempError,
			"dmarc-temperror-unenforced", "451 4.7.1 Temporary DNS failure evaluating DMARC for dmarctemp.test, try again later",
			"mx.mailsift.test; dmarc=temperror header.from=dmarctemp.test"},
		{"policy lookup fails, forwarder", from("a@dmarctemp.test"), nil, 0, "203.0.113.5", TempError,
			"dmarc-temperror-unenforced", "451 4.7.1 Temporary DNS failure evaluating DMARC for dmarctemp.test, try again later", ""},
		{"policy lookup fails, relaxed pass only", from("a@dmarctemp.test"), []Result{spfPass("bounce.dmarctemp.test")}, 0, "", TempError,
			"dmarc-temperror", "451 4.7.1 Temporary DNS failure evaluating DMARC for dmarctemp.test, try again later", ""},
		{"aligned dkim temperror", from("a@reject.test"), []Result{dkimTemp("reject.test")}, 0, "", TempError, "dmarc-temperror",
			"451 4.7.1 Temporary DNS failure evaluating DMARC for reject.test, try again later",
			"mx.mailsift.test; dmarc=temperror header.from=reject.test policy.dmarc=reject"},
		{"relaxed-aligned dkim temperror", from("a@reject.test"), []Result{dkimTemp("k.reject.test")}, 0, "", TempError, "dmarc-temperror",
			"451 4.7.1 Temporary DNS failure evaluating DMARC for reject.test, try again later", ""},
		{"aligned dkim temperror, quarantine", from("a@quarantine.test"), []Result{dkimTemp("quarantine.test")}, 0, "", TempError, "dmarc-temperror",
			"451 4.7.1 Temporary DNS failure evaluating DMARC for quarantine.test, try again later", ""},
		{"aligned dkim temperror, p=none", from("a@none.test"), []Result{dkimTemp("none.test")}, 0, "", TempError, "dmarc-temperror-unenforced",
			"451 4.7.1 Temporary DNS failure evaluating DMARC for none.test, try again later", ""},
		{"aligned dkim temperror, forged List-Id", append(from("a@reject.test"), Header{"List-Id", "<users.lists.example.org>"}),
			[]Result{dkimTemp("reject.test")}, 0, "", TempError, "dmarc-temperror",
			"451 4.7.1 Temporary DNS failure evaluating DMARC for reject.test, try again later", ""},
		{"aligned dkim temperror, mailing list", append(from("a@reject.test"), Header{"List-Id", "<users.lists.example.org>"}),
			[]Result{spfPass("bounces.lists.example.org"), dkimTemp("reject.test")}, 0, "", TempError, "dmarc-temperror-unenforced",
			"451 4.7.1 Temporary DNS failure evaluating DMARC for reject.test, try again later", ""},
		{"policy lookup fails, forged List-Id", list("a@dmarctemp.test"), nil, 0, "", TempError, "dmarc-temperror",
			"451 4.7.1 Temporary DNS failure evaluating DMARC for dmarctemp.test, try again later", ""},
		{"policy lookup fails, mailing list", list("a@dmarctemp.test"), []Result{dkimPass("lists.example.org")}, 0, "", TempError,
			"dmarc-temperror-unenforced", "451 4.7.1 Temporary DNS failure evaluating DMARC for dmarctemp.test, try again later", ""},
		{"unaligned dkim temperror", from("a@reject.test"), []Result{dkimTemp("other.test")}, 0, "", Fail, "dmarc-fail-reject",
			"550 5.7.1 Email rejected per DMARC policy for reject.test", ""},
		{"strict: unaligned dkim temperror", from("a@strict.test"), []Result{dkimTemp("k.strict.test")}, 0, "", Fail, "dmarc-fail-reject",
			"550 5.7.1 Email rejected per DMARC policy for strict.test", ""},
		{"dkim temperror but an aligned pass", from("a@reject.test"), []Result{dkimTemp("reject.test"), spfPass("reject.test")}, 0, "", Pass, "dmarc-pass", "", ""},
		{"dkim did not finish", from("a@reject.test"), []Result{{Check: "dkim", Status: TempError, Text: "verification did not finish in time",
			DKIM: &DKIMOutcome{Status: TempError, Text: "verification did not finish in time"}}}, 0, "",
			TempError, "dmarc-temperror", "451 4.7.1 Temporary DNS failure evaluating DMARC for reject.test, try again later", ""},
		{"aligned spf temperror", from("a@reject.test"), []Result{spfTemp("b@bounce.reject.test")}, 0, "", TempError, "dmarc-temperror",
			"451 4.7.1 Temporary DNS failure evaluating DMARC for reject.test, try again later", ""},
		{"unaligned spf temperror", from("a@reject.test"), []Result{spfTemp("b@other.test")}, 0, "", Fail, "dmarc-fail-reject",
			"550 5.7.1 Email rejected per DMARC policy for reject.test", ""},
		{"UTF-8 From domain", from("anna@bücher.test"), nil, 0, "", Fail, "dmarc-fail-reject",
			"550 5.7.1 Email rejected per DMARC policy for xn--bcher-kva.test", "mx.mailsift.test; dmarc=fail header.from=xn--bcher-kva.test policy.dmarc=reject"},
		{"record spelled in capitals", from("a@caps.test"), nil, 0, "", Fail, "dmarc-fail-reject",
			"550 5.7.1 Email rejected per DMARC policy for caps.test", ""},
		{"no From", nil, nil, 0, "", PermError, "dmarc-from-invalid", "550 5.7.1 Message must have exactly one From address", ""},
		{"two From", from("a@reject.test", "b@reject.test"), nil, 0, "", PermError, "dmarc-from-invalid", "550 5.7.1 Message must have exactly one From address", ""},
		{"two addresses", from("a@reject.test, b@none.test"), nil, 0, "", PermError, "dmarc-from-invalid", "550 5.7.1 Message must have exactly one From address", ""},
		{"forged List-Id", list("a@reject.test"), nil, 0, "", Fail, "dmarc-fail-reject", "550 5.7.1 Email rejected per DMARC policy for reject.test",
			"mx.mailsift.test; dmarc=fail header.from=reject.test policy.dmarc=reject"},
		{"mailing list: spf pass for its bounce domain", list("a@reject.test"), []Result{spfPass("bounces.lists.example.org")}, 0, "", Fail, "dmarc-override", "550 5.7.1 Email rejected per DMARC policy for reject.test",
			"mx.mailsift.test; dmarc=fail header.from=reject.test policy.dmarc=reject"},
		{"mailing list: spf pass for its org domain", list("a@reject.test"), []Result{spfPass("example.org")}, 0, "", Fail, "dmarc-override", "550 5.7.1 Email rejected per DMARC policy for reject.test", ""},
		{"mailing list: dkim pass", list("a@reject.test"), []Result{dkimPass("lists.example.org")}, 0, "", Fail, "dmarc-override", "550 5.7.1 Email rejected per DMARC policy for reject.test", ""},
		{"mailing list: verified client name", list("a@reject.test"), []Result{ptrPass("mail.Example.ORG.")}, 0, "", Fail, "dmarc-override", "550 5.7.1 Email rejected per DMARC policy for reject.test", ""},
		{"List-Id: spf pass for another domain", list("a@reject.test"), []Result{spfPass("lists.example.net")}, 0, "", Fail, "dmarc-fail-reject", "550 5.7.1 Email rejected per DMARC policy for reject.test", ""},
		{"List-Id: spf pass for a name that ends like it", list("a@reject.test"), []Result{spfPass("lists.example.org.attacker.test")}, 0, "", Fail, "dmarc-fail-reject", "550 5.7.1 Email rejected per DMARC policy for reject.test", ""},
		{"List-Id: dkim fail for the list", list("a@reject.test"), []Result{dkimFail("lists.example.org")}, 0, "", Fail, "dmarc-fail-reject", "550 5.7.1 Email rejected per DMARC policy for reject.test", ""},
		{"List-Id: client name elsewhere", list("a@reject.test"), []Result{ptrPass("lists.example.org.attacker.test")}, 0, "", Fail, "dmarc-fail-reject", "550 5.7.1 Email rejected per DMARC policy for reject.test", ""},
		{"List-Id: list's spf temperror", list("a@reject.test"), []Result{spfTemp("list-bounces@lists.example.org")}, 0, "", Fail, "dmarc-fail-reject", "550 5.7.1 Email rejected per DMARC policy for reject.test", ""},
		{"List-Id of an unlisted host", append(from("a@reject.test"), Header{"List-Id", "<users.lists.example.net>"}), []Result{spfPass("lists.example.net")}, 0, "",
			Fail, "dmarc-fail-reject", "550 5.7.1 Email rejected per DMARC policy for reject.test", ""},
		{"forged List-Id, quarantine", list("a@quarantine.test"), nil, 0, "", Fail, "dmarc-fail-quarantine", "", ""},
		{"forwarder", from("a@reject.test"), nil, 0, "203.0.113.5", Fail, "dmarc-override", "550 5.7.1 Email rejected per DMARC policy for reject.test", ""},
	}
	// What the log says, for some of the cases.
	const forged = "List-Id names lists.example.org but neither SPF, DKIM nor the client's name authenticate it"
	texts := map[string]string{
		"forged List-Id":                         "reject.test: neither SPF nor DKIM aligned; policy reject; " + forged,
		"forged List-Id, quarantine":             "quarantine.test: neither SPF nor DKIM aligned; policy quarantine; " + forged,
		"aligned dkim temperror, forged List-Id": "reject.test: no aligned pass; DKIM temperror for d=reject.test; " + forged,
		"policy lookup fails, forged List-Id":    "; " + forged,
		"List-Id of an unlisted host":            "reject.test: neither SPF nor DKIM aligned; policy reject",
		"List-Id: spf pass for another domain":   "reject.test: neither SPF nor DKIM aligned; policy reject; " + forged,
		"mailing list: spf pass for its bounce domain": "reject.test: neither SPF nor DKIM aligned; policy reject; " +
			"not enforced: mailing list lists.example.org (SPF pass for bounces.lists.example.org)",
		"mailing list: dkim pass":            "; not enforced: mailing list lists.example.org (DKIM pass for d=lists.example.org)",
		"mailing list: verified client name": "; not enforced: mailing list lists.example.org (client mail.example.org)",
		"aligned dkim temperror, mailing list": "reject.test: no aligned pass; DKIM temperror for d=reject.test; " +
			"not enforced: mailing list lists.example.org (SPF pass for bounces.lists.example.org)",
		"policy lookup fails, mailing list": "; not enforced: mailing list lists.example.org (DKIM pass for d=lists.example.org)",
	}
	var written arHeaders
	defer written.check(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			roll = tt.roll
			env := &Envelope{Headers: tt.headers}
			if tt.client != "" {
				env.ClientIP = netip.MustParseAddr(tt.client)
			}
			for _, r := range tt.results {
				env.Take(r)
			}
			res := d.CheckData(context.Background(), env)
			if res.Status != tt.status || res.Reason != tt.reason || replyString(res.Reply) != tt.reply {
				t.Fatalf("= %s/%s %q (%s), want %s/%s %q", res.Status, res.Reason, replyString(res.Reply), res.Text, tt.status, tt.reason, tt.reply)
			}
			if want, ok := texts[tt.name]; ok {
				delete(texts, tt.name)
				if !strings.HasSuffix(res.Text, want) {
					t.Fatalf("text %q, want it to end in %q", res.Text, want)
				}
			}
			written.add(res.AuthRes)
			if tt.ar != "" {
				if got := FormatAuthRes("mx.mailsift.test", res.AuthRes); got != tt.ar {
					t.Fatalf("Authentication-Results = %q, want %q", got, tt.ar)
				}
			}
		})
	}
	for name := range texts {
		t.Errorf("text for %q: no such case", name)
	}
}

// TestEnforcingDMARC: DMARC takes a failing sender from SPF when its domain
// enforces, and when the policy cannot be known now: a temporary error
// must not let SPF refuse for good what DMARC would defer.
func TestEnforcingDMARC(t *testing.T) {
	r, srv := testDNS(t)
	srv.ServFail("_dmarc.dmarctemp.test")
	for domain, want := range map[string]bool{
		"reject.test": true, "quarantine.test": true, "sub.reject.test": false, "none.test": false, "nopolicy.test": false,
		"dmarctemp.test": true, "sub.dmarctemp.test": true, "CAPS.test": true, "b\u00fccher.test": true,
	} {
		if got := enforcingDMARC(context.Background(), NetResolver{R: r}, domain); got != want {
			t.Errorf("enforcingDMARC(%q) = %v, want %v", domain, got, want)
		}
	}
}
