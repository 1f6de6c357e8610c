package doctor

import (
	"context"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mailsift/mailsift/internal/callout"
	"github.com/mailsift/mailsift/internal/callout/callouttest"
	"github.com/mailsift/mailsift/internal/resolver"
	"github.com/mailsift/mailsift/internal/resolver/dnstest"
)

type world struct {
	dns *resolver.Resolver
	srv *dnstest.Server
	v   *callout.Verifier
}

// setup serves testdata/zones and starts the MX host of the test domains,
// mx.good.doctor.test on 127.0.1.21, which has the mailbox "bounces".
func setup(t *testing.T) *world {
	t.Helper()
	srv := dnstest.Start(t)
	if err := srv.LoadDir("../../testdata/zones"); err != nil {
		t.Fatal(err)
	}
	res, err := resolver.New(resolver.Config{Servers: []string{srv.Addr}, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	mx := callouttest.Start(t, "127.0.1.21", 0, callouttest.Accept, "bounces")
	_, port, _ := net.SplitHostPort(mx.Addr)
	p, _ := strconv.Atoi(port)
	v := callout.New(callout.Config{Hostname: "doctor.mailsift.test", Port: p, Budget: 3 * time.Second, ProbeTimeout: 3 * time.Second,
		DialTimeout: time.Second, DNS: res, AllowNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	t.Cleanup(v.Close)
	return &world{dns: res, srv: srv, v: v}
}

func (w *world) run(domain string, mod func(*Options)) *Report {
	o := Options{Domain: domain, IPs: []netip.Addr{netip.MustParseAddr("127.0.1.21")}, Helo: "mx.good.doctor.test",
		Selectors: []string{"sel1"}, DNS: w.dns, Verify: w.v.Verify}
	if mod != nil {
		mod(&o)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return Run(ctx, o)
}

// notPassing lists the rows that do not pass, as "name=status".
func notPassing(r *Report) []string {
	var s []string
	for _, c := range r.Checks {
		if c.Status != Pass {
			s = append(s, c.Name+"="+string(c.Status))
		}
	}
	sort.Strings(s)
	return s
}

func TestGoodDomainPasses(t *testing.T) {
	w := setup(t)
	r := w.run("good.doctor.test", func(o *Options) {
		o.Selectors = []string{"sel1", "sel2"}
		o.From = "bounces@good.doctor.test"
	})
	if got := notPassing(r); len(got) != 0 || r.Exit() != 0 {
		for _, c := range r.Checks {
			t.Logf("%-22s %-4s %s | %s", c.Name, c.Status, c.Detail, c.Fix)
		}
		t.Fatalf("good.doctor.test: rows not passing %v, exit %d", got, r.Exit())
	}
	want := map[string]string{
		"mx":                          "10 mx.good.doctor.test",
		"mx-host:mx.good.doctor.test": "127.0.1.21",
		"ptr:127.0.1.21":              "mx.good.doctor.test resolves back to 127.0.1.21",
		"helo":                        "mx.good.doctor.test resolves to 127.0.1.21",
		"spf":                         "v=spf1 ip4:127.0.1.21 include:_spf.good.doctor.test -all",
		"spf-lookups":                 "2 of 10 DNS lookups",
		"spf-void":                    "no void lookups",
		"spf-all":                     "ends in -all",
		"spf-ip:127.0.1.21":           "spf pass",
		"dkim:sel1":                   "RSA 2048 bits",
		"dkim:sel2":                   "Ed25519",
		"dmarc":                       "p=reject",
		"dmarc-pct":                   "pct=100",
		"dmarc-rua":                   "dmarc@good.doctor.test, reports@dmarc-service.test",
		"dmarc-ruf":                   "dmarc@good.doctor.test",
		"return-address":              "bounces@good.doctor.test is accepted (mx.good.doctor.test [127.0.1.21])",
		"mta-sts":                     "v=STSv1; id=20260101T000000",
		"tls-rpt":                     "v=TLSRPTv1; rua=mailto:tls-reports@good.doctor.test",
	}
	if len(r.Checks) != len(want) {
		t.Errorf("%d rows, want %d: %+v", len(r.Checks), len(want), r.Checks)
	}
	for name, detail := range want {
		row := r.Row(name)
		if row == nil {
			t.Errorf("no row %s", name)
			continue
		}
		if row.Detail != detail || row.Fix != "" {
			t.Errorf("%s: detail %q fix %q, want %q and no fix", name, row.Detail, row.Fix, detail)
		}
	}
}

// Each broken domain is good.doctor.test with one thing wrong: the row
// that says so, and only that row, does not pass, with the fix for it.
func TestBrokenDomains(t *testing.T) {
	w := setup(t)
	tests := []struct {
		domain string
		mod    func(*Options)
		rows   []string // the rows not passing, sorted
		row    string   // the row whose detail and fix are checked
		detail string   // a part of its detail
		fix    string   // a part of its fix
		exit   int
	}{
		{"mx-none", nil, []string{"mx=fail"}, "mx", "no MX records and no address", "publish an MX record", 2},
		{"mx-ip", nil, []string{"mx-host:127.0.1.21=fail"}, "mx-host:127.0.1.21", "is an IP address", "name a host (mx1.mx-ip.doctor.test)", 2},
		{"mx-cname", nil, []string{"mx-host:alias.mx-cname.doctor.test=fail"}, "mx-host:alias.mx-cname.doctor.test", "alias (CNAME to mx.good.doctor.test)", "point the MX record at the canonical name", 2},
		{"mx-noaddr", nil, []string{"mx-host:mx.mx-noaddr.doctor.test=fail"}, "mx-host:mx.mx-noaddr.doctor.test", "no A or AAAA record", "publish an A (or AAAA) record for mx.mx-noaddr.doctor.test", 2},
		{"ptr-none", nil, []string{"ptr:127.0.1.23=fail"}, "ptr:127.0.1.23", "no PTR record", "set its PTR to mx.ptr-none.doctor.test", 2},
		{"ptr-mismatch", nil, []string{"ptr:127.0.1.24=fail"}, "ptr:127.0.1.24", "PTR elsewhere.doctor.test does not resolve back to 127.0.1.24", "give elsewhere.doctor.test an A/AAAA record of 127.0.1.24", 2},
		{"good", func(o *Options) { o.Helo = "nohost.good.doctor.test" }, []string{"helo=fail"}, "helo", "nohost.good.doctor.test has no A, AAAA or MX record", "publish an A record for nohost.good.doctor.test", 2},
		{"good", func(o *Options) { o.Helo = "elsewhere.doctor.test" }, []string{"helo=warn"}, "helo", "resolves to 127.0.1.99, none of the sending addresses", "make the HELO name the server's own name", 1},
		{"good", func(o *Options) { o.Helo = "localhost" }, []string{"helo=fail"}, "helo", `"localhost" is not a fully qualified host name`, "smtp_helo_name", 2},
		{"spf-none", nil, []string{"spf=fail"}, "spf", "no SPF record", `publish TXT "v=spf1 mx -all" at spf-none.doctor.test`, 2},
		{"spf-two", nil, []string{"spf=fail"}, "spf", "2 SPF records", "merge them into one", 2},
		{"spf-syntax", nil, []string{"spf-ip:127.0.1.21=fail", "spf=fail"}, "spf", `unknown mechanism "foo:bar"`, "fix the record", 2},
		{"spf-lookups", nil, []string{"spf-lookups=fail"}, "spf-lookups", "11 DNS-querying terms", "replace includes and a/mx terms with ip4:/ip6: ranges", 2},
		{"spf-void", nil, []string{"spf-void=fail"}, "spf-void", "3 lookups find nothing (gone1.spf-void.doctor.test, gone2.spf-void.doctor.test, gone3.spf-void.doctor.test)", "remove the terms", 2},
		{"spf-all", nil, []string{"spf-all=fail"}, "spf-all", "ends in +all", "end the record with -all", 2},
		{"spf-neutral", nil, []string{"spf-all=warn"}, "spf-all", "ends in ?all", "end the record with -all", 1},
		{"spf-ip", nil, []string{"spf-ip:127.0.1.21=fail"}, "spf-ip:127.0.1.21", "spf fail for 127.0.1.21", "add ip4:127.0.1.21 to the SPF record of spf-ip.doctor.test", 2},
		{"dkim-none", nil, []string{"dkim:sel1=fail"}, "dkim:sel1", "no key at sel1._domainkey.dkim-none.doctor.test", "publish the public key of selector sel1", 2},
		{"dkim-512", nil, []string{"dkim:sel1=fail"}, "dkim:sel1", "RSA 512 bits: under 1024 bits", "make a 2048-bit key", 2},
		{"dkim-1024", nil, []string{"dkim:sel1=warn"}, "dkim:sel1", "RSA 1024 bits: under the recommended 2048", "make a 2048-bit key", 1},
		{"dkim-revoked", nil, []string{"dkim:sel1=fail"}, "dkim:sel1", "revoked", "sign with a current selector", 2},
		{"dkim-testing", nil, []string{"dkim:sel1=warn"}, "dkim:sel1", "t=y: testing mode", "remove t=y", 1},
		{"good", func(o *Options) { o.Selectors = nil }, []string{"dkim=warn"}, "dkim", "no --selector given", "--selector NAME", 1},
		{"dmarc-none", nil, []string{"dmarc=fail"}, "dmarc", "no DMARC record at _dmarc.dmarc-none.doctor.test", `"v=DMARC1; p=none; rua=mailto:dmarc@dmarc-none.doctor.test"`, 2},
		{"dmarc-syntax", nil, []string{"dmarc=fail"}, "dmarc", "invalid policy for parameter 'p'", "fix the record", 2},
		{"dmarc-pnone", nil, []string{"dmarc=warn"}, "dmarc", "p=none: monitoring only", "move to p=quarantine", 1},
		{"dmarc-pct", nil, []string{"dmarc-pct=warn"}, "dmarc-pct", "pct=50", "raise pct to 100", 1},
		{"dmarc-norua", nil, []string{"dmarc-rua=warn"}, "dmarc-rua", "no rua=", "add rua=mailto:dmarc@dmarc-norua.doctor.test", 1},
		{"dmarc-external", nil, []string{"dmarc-rua=fail"}, "dmarc-rua", "reports@dmarc-service.test is outside dmarc-external.doctor.test and does not accept its reports",
			`dmarc-service.test must publish TXT "v=DMARC1" at dmarc-external.doctor.test._report._dmarc.dmarc-service.test`, 2},
		{"dmarc-badrua", nil, []string{"dmarc-rua=fail"}, "dmarc-rua", `want mailto:ADDRESS`, "mailto:ADDRESS", 2},
		{"good", func(o *Options) { o.From = "nobody@good.doctor.test" }, []string{"return-address=fail"}, "return-address",
			"nobody@good.doctor.test is refused (mx.good.doctor.test [127.0.1.21]): 550 5.1.1", "create the mailbox or an alias for nobody@good.doctor.test", 2},
		{"good", func(o *Options) { o.From = "x@mx-none.doctor.test" }, []string{"return-address=fail"}, "return-address",
			"mx-none.doctor.test has no MX record and no address", "send from an address whose domain receives mail", 2},
		{"sts-bad", nil, []string{"mta-sts=warn", "tls-rpt=warn"}, "mta-sts", "the record has no id=", "_mta-sts.sts-bad.doctor.test", 1},
	}
	for _, tt := range tests {
		domain := tt.domain + ".doctor.test"
		t.Run(tt.domain+"/"+tt.row, func(t *testing.T) {
			r := w.run(domain, tt.mod)
			got := notPassing(r)
			if strings.Join(got, " ") != strings.Join(tt.rows, " ") || r.Exit() != tt.exit {
				for _, c := range r.Checks {
					t.Logf("%-22s %-4s %s | %s", c.Name, c.Status, c.Detail, c.Fix)
				}
				t.Fatalf("%s: rows not passing %v exit %d, want %v exit %d", domain, got, r.Exit(), tt.rows, tt.exit)
			}
			row := r.Row(tt.row)
			if row == nil {
				t.Fatalf("no row %s", tt.row)
			}
			if !strings.Contains(row.Detail, tt.detail) || !strings.Contains(row.Fix, tt.fix) || (row.Status != Pass && row.Fix == "") {
				t.Errorf("%s: detail %q, fix %q; want %q and %q in them", tt.row, row.Detail, row.Fix, tt.detail, tt.fix)
			}
		})
	}
}

// A name server that does not answer makes rows warn ("could not
// check"), never pass or fail.
func TestTemporaryFailureWarns(t *testing.T) {
	w := setup(t)
	w.srv.ServFail("_dmarc.good.doctor.test")
	w.srv.ServFail("sel1._domainkey.good.doctor.test")
	r := w.run("good.doctor.test", nil)
	if got := strings.Join(notPassing(r), " "); got != "dkim:sel1=warn dmarc=warn" {
		t.Fatalf("rows not passing %q", got)
	}
	if row := r.Row("dmarc"); !strings.HasPrefix(row.Detail, "could not check: dns: lookup _dmarc.good.doctor.test TXT: temporary DNS failure") {
		t.Errorf("dmarc detail %q", row.Detail)
	}
}
