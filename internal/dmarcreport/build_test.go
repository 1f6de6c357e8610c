package dmarcreport

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/authres"
	"github.com/emersion/go-smtp"

	"github.com/mailsift/mailsift/checks"
	"github.com/mailsift/mailsift/internal/resolver"
	"github.com/mailsift/mailsift/internal/resolver/dnstest"
)

var day = time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)

func testDNS(t *testing.T) *resolver.Resolver {
	t.Helper()
	srv := dnstest.Start(t)
	if err := srv.LoadDir("../../testdata/zones"); err != nil {
		t.Fatal(err)
	}
	res, err := resolver.New(resolver.Config{Servers: []string{srv.Addr}, Timeout: time.Second, CacheSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// message is the input the milter would give for one message.
func message(at time.Duration, ip, from, mailFrom string, spf checks.Status, dkimDomain string, dkim checks.Status, dmarcStatus checks.Status, applied string) Input {
	dr := checks.Result{Check: "dmarc", Status: dmarcStatus, Details: map[string]string{"policy_domain": from},
		AuthRes: []authres.Result{&authres.GenericResult{Method: "dmarc", Value: authres.ResultValue(dmarcStatus), Params: map[string]string{"header.from": from}}}}
	if applied != "" {
		dr.Details["applied"] = applied
	}
	sr := checks.Result{Check: "spf", Status: spf, SPF: &checks.SPFOutcome{Status: spf, Identity: "mailfrom", Domain: domainOf(mailFrom)}}
	kr := checks.Result{Check: "dkim", Status: dkim}
	if dkimDomain != "" {
		kr.AuthRes = []authres.Result{&authres.DKIMResult{Value: authres.ResultValue(dkim), Domain: dkimDomain}}
	}
	return Input{Time: day.Add(at), ClientIP: netip.MustParseAddr(ip), Helo: "client.example", MailFrom: mailFrom,
		Rcpts: []string{"someone@mailsift.test"}, Results: map[string]checks.Result{"spf": sr, "dkim": kr, "dmarc": dr}}
}

// fill records a day of mail: good.doctor.test's own server (3 alike, and
// one over IPv6), a forger twice, a domain whose external destination did
// not agree to reports, and one with no DMARC policy.
func fill(t *testing.T, res *resolver.Resolver, st Store) {
	t.Helper()
	ctx := context.Background()
	ins := []Input{
		message(time.Hour, "127.0.1.21", "good.doctor.test", "bounces@good.doctor.test", checks.Pass, "good.doctor.test", checks.Pass, checks.Pass, ""),
		message(2*time.Hour, "127.0.1.21", "good.doctor.test", "bounces@good.doctor.test", checks.Pass, "good.doctor.test", checks.Pass, checks.Pass, ""),
		message(3*time.Hour, "127.0.1.21", "good.doctor.test", "bounces@good.doctor.test", checks.Pass, "good.doctor.test", checks.Pass, checks.Pass, ""),
		message(4*time.Hour, "2001:db8::25", "good.doctor.test", "bounces@good.doctor.test", checks.Pass, "", checks.None, checks.Pass, ""),
		message(5*time.Hour, "198.51.100.7", "good.doctor.test", "x@forger.example", checks.Fail, "forger.example", checks.Pass, checks.Fail, "reject"),
		message(6*time.Hour, "198.51.100.7", "good.doctor.test", "x@forger.example", checks.Fail, "forger.example", checks.Pass, checks.Fail, "reject"),
		message(7*time.Hour, "127.0.1.21", "dmarc-external.doctor.test", "a@dmarc-external.doctor.test", checks.Pass, "", checks.None, checks.Pass, ""),
		message(8*time.Hour, "127.0.1.21", "dmarc-small.doctor.test", "a@dmarc-small.doctor.test", checks.Pass, "", checks.None, checks.Pass, ""),
		message(25*time.Hour, "127.0.1.21", "good.doctor.test", "bounces@good.doctor.test", checks.Pass, "", checks.None, checks.Pass, ""), // tomorrow
	}
	for i, in := range ins {
		r, ok := RecordFromResult(ctx, res, in)
		if !ok {
			t.Fatalf("message %d: no record", i)
		}
		if err := st.Add(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := RecordFromResult(ctx, res, message(time.Hour, "127.0.1.21", "dmarc-none.doctor.test", "a@dmarc-none.doctor.test", checks.Pass, "", checks.None, checks.None, "")); ok {
		t.Fatal("a domain without DMARC gave a record")
	}
	if _, ok := RecordFromResult(ctx, res, message(time.Hour, "127.0.1.21", "dmarc-norua.doctor.test", "a@dmarc-norua.doctor.test", checks.Pass, "", checks.None, checks.Pass, "")); ok {
		t.Fatal("a domain without rua gave a record")
	}
}

func TestBuildReport(t *testing.T) {
	res := testDNS(t)
	st := &Memory{}
	fill(t, res, st)
	b := &Builder{Store: st, DNS: res, OrgName: "mailsift test", ReportFrom: "dmarc-reports@mx.mailsift.test", Now: func() time.Time { return day.Add(24*time.Hour + time.Minute) }}
	begin, end := Period(b.Now(), 24*time.Hour)
	if !begin.Equal(day) || !end.Equal(day.Add(24*time.Hour)) {
		t.Fatalf("period %v %v", begin, end)
	}
	reps, err := b.Build(context.Background(), begin, end)
	if err != nil || len(reps) != 1 {
		t.Fatalf("%d reports, %v", len(reps), err)
	}
	rep := reps[0]
	if rep.Filename != "mx.mailsift.test!good.doctor.test!1795737600!1795823999.xml.gz" ||
		strings.Join(rep.To, " ") != "dmarc@good.doctor.test reports@dmarc-service.test" {
		t.Errorf("file %q to %v", rep.Filename, rep.To)
	}
	validate(t, rep.XML)

	// The attachment is the XML, gzipped; the email carries it.
	zr, err := gzip.NewReader(bytes.NewReader(rep.Gzip))
	if err != nil {
		t.Fatal(err)
	}
	unz, _ := io.ReadAll(zr)
	if !bytes.Equal(unz, rep.XML) || zr.Name != "mx.mailsift.test!good.doctor.test!1795737600!1795823999.xml" {
		t.Errorf("gzip name %q, same content %v", zr.Name, bytes.Equal(unz, rep.XML))
	}
	for _, h := range []string{
		"From: \"mailsift test\" <dmarc-reports@mx.mailsift.test>\r\n",
		"To: dmarc@good.doctor.test, reports@dmarc-service.test\r\n",
		"Subject: Report Domain: good.doctor.test Submitter: mx.mailsift.test Report-ID: <" + rep.ID + ">\r\n",
		"Content-Type: application/gzip; name=\"mx.mailsift.test!good.doctor.test!1795737600!1795823999.xml.gz\"\r\n",
	} {
		if !bytes.Contains(rep.Message, []byte(h)) {
			t.Errorf("message lacks %q", h)
		}
	}
	fs, err := ParseMessage(bytes.NewReader(rep.Message))
	if err != nil || len(fs) != 1 {
		t.Fatalf("reading our own report: %d, %v", len(fs), err)
	}
	var got []string
	for _, r := range Rows(fs[0]) {
		got = append(got, rowString(r))
	}
	want := []string{
		"mailsift test good.doctor.test 127.0.1.21 n=3 none dkim=pass spf=pass from=good.doctor.test",
		"mailsift test good.doctor.test 2001:db8::25 n=1 none dkim=fail spf=pass from=good.doctor.test",
		"mailsift test good.doctor.test 198.51.100.7 n=2 reject dkim=fail spf=fail from=good.doctor.test",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("rows:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, frag := range []string{"<source_ip>2001:0db8:0000:0000:0000:0000:0000:0025</source_ip>", "<p>reject</p>", "<sp>reject</sp>", "<pct>100</pct>",
		"<envelope_from>forger.example</envelope_from>", "<dkim><domain>forger.example</domain><result>pass</result></dkim><spf><domain>forger.example</domain><scope>mfrom</scope><result>fail</result></spf>"} {
		if !strings.Contains(strings.Join(strings.Fields(string(rep.XML)), ""), strings.Join(strings.Fields(frag), "")) {
			t.Errorf("XML lacks %q:\n%s", frag, rep.XML)
		}
	}

	// The dry run writes the file and the email.
	dir := t.TempDir()
	files, err := WriteDir(dir, reps)
	if err != nil || len(files) != 2 || filepath.Base(files[1]) != "mx.mailsift.test!good.doctor.test!1795737600!1795823999.eml" {
		t.Fatalf("%v %v", files, err)
	}
}

// validate runs xmllint against the schema of RFC 7489 Appendix C, with
// the two corrections it needs to load (testdata/dmarc/SOURCE says which).
func validate(t *testing.T, doc []byte) {
	t.Helper()
	if _, err := exec.LookPath("xmllint"); err != nil {
		if os.Getenv("MAILSIFT_E2E") == "require" {
			t.Fatal("xmllint is not installed (apt-get install libxml2-utils)")
		}
		t.Skip("xmllint is not installed (apt-get install libxml2-utils)")
	}
	xsd, err := os.ReadFile("../../testdata/dmarc/rfc7489-appendix-c.xsd")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	fixed := schemaForValidation(xsd)
	os.WriteFile(filepath.Join(dir, "schema.xsd"), fixed, 0o644)
	os.WriteFile(filepath.Join(dir, "report.xml"), doc, 0o644)
	out, err := exec.Command("xmllint", "--noout", "--schema", filepath.Join(dir, "schema.xsd"), filepath.Join(dir, "report.xml")).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "report.xml validates") {
		t.Fatalf("xmllint: %v\n%s\n%s", err, out, doc)
	}
}

// schemaForValidation makes RFC 7489's schema loadable: its types are
// referred to without a prefix, so it cannot have a target namespace (and
// reports in the wild have none); and the IPAddress pattern was wrapped
// over three lines in the RFC text, which put spaces into the regular
// expression.
func schemaForValidation(xsd []byte) []byte {
	s := strings.Replace(string(xsd), "\n  targetNamespace=\"http://dmarc.org/dmarc-xml/0.1\"", "", 1)
	re := regexp.MustCompile(`<xs:pattern value="([^"]*)"/>`)
	s = re.ReplaceAllStringFunc(s, func(m string) string { return strings.Join(strings.Fields(m[:len(m)-3]), "") + `"/>` })
	s = strings.Replace(s, `<xs:patternvalue=`, `<xs:pattern value=`, 1)
	return []byte(s)
}

func TestDestinations(t *testing.T) {
	res := testDNS(t)
	st := &Memory{}
	fill(t, res, st)
	b := &Builder{Store: st, DNS: res, OrgName: "t", ReportFrom: "r@mx.mailsift.test"}
	reps, _ := b.Build(context.Background(), day, day.Add(24*time.Hour))
	for _, r := range reps {
		if r.PolicyDomain != "good.doctor.test" {
			t.Errorf("a report for %s", r.PolicyDomain)
		}
	}
	// Built again per domain to see the refusals.
	for _, tt := range []struct{ domain, why string }{
		{"dmarc-external.doctor.test", "reports@dmarc-service.test: external destination not authorized (no v=DMARC1 at dmarc-external.doctor.test._report._dmarc.dmarc-service.test)"},
		{"dmarc-small.doctor.test", "dmarc@dmarc-small.doctor.test: the report ("},
	} {
		one := &Memory{}
		recs, _ := st.Records(context.Background(), day, day.Add(24*time.Hour))
		for _, r := range recs {
			if r.PolicyDomain == tt.domain {
				one.Add(context.Background(), r)
			}
		}
		var logged []string
		b := &Builder{Store: one, DNS: res, OrgName: "t", ReportFrom: "r@mx.mailsift.test"}
		reps, err := b.buildAll(context.Background(), day, day.Add(24*time.Hour), func(r *Report) { logged = append(logged, r.Refused...) })
		if err != nil || len(reps) != 0 || len(logged) != 1 || !strings.HasPrefix(logged[0], tt.why) {
			t.Errorf("%s: %d reports, refused %q, want %q", tt.domain, len(reps), logged, tt.why)
		}
	}
}

// smtpSink is a real SMTP server on loopback that keeps what it gets.
type smtpSink struct {
	mu   sync.Mutex
	from string
	to   []string
	data []byte
}

func (s *smtpSink) NewSession(*smtp.Conn) (smtp.Session, error) { return &sinkSession{s: s}, nil }

type sinkSession struct{ s *smtpSink }

func (x *sinkSession) Reset()        {}
func (x *sinkSession) Logout() error { return nil }
func (x *sinkSession) Mail(from string, _ *smtp.MailOptions) error {
	x.s.mu.Lock()
	defer x.s.mu.Unlock()
	x.s.from = from
	return nil
}
func (x *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	x.s.mu.Lock()
	defer x.s.mu.Unlock()
	x.s.to = append(x.s.to, to)
	return nil
}
func (x *sinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	x.s.mu.Lock()
	defer x.s.mu.Unlock()
	x.s.data = b
	return err
}

func TestRunSendsThroughRelayAndPrunes(t *testing.T) {
	res := testDNS(t)
	st := &Memory{}
	fill(t, res, st)
	sink := &smtpSink{}
	srv := smtp.NewServer(sink)
	srv.Domain = "relay.test"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	b := &Builder{Store: st, DNS: res, OrgName: "t", ReportFrom: "dmarc-reports@mx.mailsift.test",
		Send: Relay{Addr: ln.Addr().String(), Helo: "mx.mailsift.test"}}
	if err := b.Run(context.Background(), day, day.Add(24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	sink.mu.Lock()
	from, to, data := sink.from, sink.to, sink.data
	sink.mu.Unlock()
	if from != "dmarc-reports@mx.mailsift.test" || strings.Join(to, " ") != "dmarc@good.doctor.test reports@dmarc-service.test" {
		t.Fatalf("relay got MAIL FROM %q RCPT TO %v", from, to)
	}
	if fs, err := ParseMessage(bytes.NewReader(data)); err != nil || len(fs) != 1 || fs[0].Policy.Domain != "good.doctor.test" {
		t.Fatalf("relayed message: %v", err)
	}
	left, _ := st.Records(context.Background(), time.Time{}, day.Add(72*time.Hour))
	if len(left) != 1 || !left[0].Time.Equal(day.Add(25*time.Hour)) {
		t.Fatalf("after the run %d records left, want tomorrow's one", len(left))
	}
}

func TestSendmail(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "sendmail")
	os.WriteFile(script, []byte("#!/bin/sh\necho \"$@\" > "+dir+"/args\ncat > "+dir+"/stdin\n"), 0o755)
	if err := (Sendmail{Path: script}).Send(context.Background(), "r@mx.mailsift.test", []string{"a@b.test", "c@d.test"}, []byte("Subject: x\r\n\r\nhi\r\n")); err != nil {
		t.Fatal(err)
	}
	args, _ := os.ReadFile(filepath.Join(dir, "args"))
	stdin, _ := os.ReadFile(filepath.Join(dir, "stdin"))
	if string(args) != "-i -f r@mx.mailsift.test -- a@b.test c@d.test\n" || string(stdin) != "Subject: x\r\n\r\nhi\r\n" {
		t.Fatalf("args %q stdin %q", args, stdin)
	}
	fail := filepath.Join(dir, "fail")
	os.WriteFile(fail, []byte("#!/bin/sh\necho 'sendmail: fatal: no queue' >&2\nexit 75\n"), 0o755)
	err := (Sendmail{Path: fail}).Send(context.Background(), "r@x.test", []string{"a@b.test"}, nil)
	if err == nil || !strings.Contains(err.Error(), "exit status 75: sendmail: fatal: no queue") {
		t.Fatalf("err %v", err)
	}
}

// The schema check can fail: a report without the required <fo> and with
// a compressed IPv6 address does not validate.
func TestSchemaRejects(t *testing.T) {
	if _, err := exec.LookPath("xmllint"); err != nil {
		t.Skip("xmllint is not installed")
	}
	xsd, _ := os.ReadFile("../../testdata/dmarc/rfc7489-appendix-c.xsd")
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "schema.xsd"), schemaForValidation(xsd), 0o644)
	for name, doc := range map[string]string{
		"no-fo": `<feedback><version>1.0</version><report_metadata><org_name>o</org_name><email>e</email><report_id>i</report_id><date_range><begin>1</begin><end>2</end></date_range></report_metadata>` +
			`<policy_published><domain>d</domain><p>none</p><sp>none</sp><pct>100</pct></policy_published><record><row><source_ip>192.0.2.1</source_ip><count>1</count><policy_evaluated><disposition>none</disposition><dkim>pass</dkim><spf>pass</spf></policy_evaluated></row>` +
			`<identifiers><envelope_from>d</envelope_from><header_from>d</header_from></identifiers><auth_results><spf><domain>d</domain><scope>mfrom</scope><result>pass</result></spf></auth_results></record></feedback>`,
		"short-ipv6": `<feedback><version>1.0</version><report_metadata><org_name>o</org_name><email>e</email><report_id>i</report_id><date_range><begin>1</begin><end>2</end></date_range></report_metadata>` +
			`<policy_published><domain>d</domain><p>none</p><sp>none</sp><pct>100</pct><fo>0</fo></policy_published><record><row><source_ip>2001:db8::1</source_ip><count>1</count><policy_evaluated><disposition>none</disposition><dkim>pass</dkim><spf>pass</spf></policy_evaluated></row>` +
			`<identifiers><envelope_from>d</envelope_from><header_from>d</header_from></identifiers><auth_results><spf><domain>d</domain><scope>mfrom</scope><result>pass</result></spf></auth_results></record></feedback>`,
	} {
		p := filepath.Join(dir, name+".xml")
		os.WriteFile(p, []byte(doc), 0o644)
		out, err := exec.Command("xmllint", "--noout", "--schema", filepath.Join(dir, "schema.xsd"), p).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "fails to validate") {
			t.Errorf("%s: %v\n%s", name, err, out)
		}
	}
}
