package e2e

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/mailsift/mailsift/greylist/redistest"
	"github.com/mailsift/mailsift/internal/dmarcreport"
)

// DMARC aggregate reports through the milter, both ways, with a real
// Postfix: mail for reports.test (p=reject, rua=mailto:dmarc@reports.test)
// goes through smtpd_milters to mailsift with [dmarc] reports on, which
// keeps each evaluation in Redis, a refused spoof too; "mailsift dmarc
// report" builds the report and hands it to Postfix's sendmail command;
// Postfix runs it through non_smtpd_milters, where mailsift reads it as
// mail to its rua address, and delivers it; its gzipped XML validates
// against the schema of RFC 7489 Appendix C. A real report from Google
// mailed to the rua address over SMTP is read the same way, and both show
// in "mailsift dmarc summary --store".
func TestPostfixDMARCReportsThroughMilter(t *testing.T) {
	_, err := exec.LookPath("xmllint")
	need(t, err == nil, "xmllint is not installed (apt-get install libxml2-utils)")
	rs := redistest.Start(t)
	dmarcCfg := fmt.Sprintf("[greylist.redis]\naddrs = [%q]\n[dmarc]\nreports = true\nstore = \"redis\"\nprefix = \"e2e:wire:\"\norg_name = \"mailsift e2e\"\nrua_addresses = [\"dmarc@reports.test\"]\n", rs.Addr)
	m := startMailsift(t, "[trust]\nnetworks = [\"127.0.0.0/8\"]\n[checks.recipient]\ndomains = [\"example.test\", \"reports.test\"]\n"+dmarcCfg)
	p := startPostfixEdited(t, m.addr, func(s string) string {
		return s + "\nvirtual_mailbox_domains = example.test, reports.test\n"
	})
	m.waitLog(t, "dmarc aggregate reports on")

	c := p.xclient(t, "192.0.2.10", "good.checks.test", "mail.checks.test")
	for i := 1; i <= 2; i++ {
		c.expect("250", "MAIL FROM:<alice@reports.test>")
		c.expect("250", "RCPT TO:<bob@example.test>")
		if got := c.data(message("alice@reports.test", "bob@example.test", fmt.Sprintf("aligned%d@reports.test", i), "")); !strings.HasPrefix(got, "250 ") {
			t.Fatalf("aligned message %d: %q", i, got)
		}
	}
	c.expect("250", "MAIL FROM:<x@checks.test>")
	c.expect("250", "RCPT TO:<bob@example.test>")
	const refused = "550 5.7.1 Email rejected per DMARC policy for reports.test"
	if got := c.data("From: CEO <ceo@reports.test>\nTo: <bob@example.test>\nSubject: pay now\nMessage-Id: <spoof@checks.test>\n\nPay.\n"); got != refused {
		t.Fatalf("spoof: %q, want %q", got, refused)
	}
	c.expect("221", "QUIT")

	// The report leaves by Postfix's sendmail command, pointed at the
	// test instance.
	sendmail := filepath.Join(p.base, "sendmail")
	os.WriteFile(sendmail, []byte(fmt.Sprintf("#!/bin/sh\nexec /usr/sbin/sendmail -C %s \"$@\"\n", p.conf)), 0o755)
	reportCfg := filepath.Join(p.base, "report.toml")
	os.WriteFile(reportCfg, []byte(fmt.Sprintf("hostname = \"mx.mailsift.test\"\n[dns]\nservers = [%q]\n%ssendmail = %q\n", m.dns.Addr, dmarcCfg, sendmail)), 0o644)
	if out, err := exec.Command(binary, "dmarc", "report", "--end", "now", "-c", reportCfg).CombinedOutput(); err != nil || !strings.Contains(string(out), `"message":"dmarc report sent"`) {
		t.Fatalf("dmarc report: %v\n%s", err, out)
	}

	msg := waitMessage(t, p, "Report Domain: reports.test Submitter: mx.mailsift.test")
	if got := msg.Header.Get("From"); got != `"mailsift e2e" <dmarc-noreply@mx.mailsift.test>` {
		t.Errorf("report From: %q", got)
	}
	gz := gzipAttachment(t, msg)
	fbs, err := dmarcreport.ParseReport(gz)
	if err != nil || len(fbs) != 1 {
		t.Fatalf("the delivered report: %v", err)
	}
	xmlDoc := fbs[0]
	validateReport(t, gunzip(t, gz))
	if xmlDoc.Metadata.OrgName != "mailsift e2e" || xmlDoc.Policy.Domain != "reports.test" || xmlDoc.Policy.P != "reject" {
		t.Errorf("report metadata/policy: %+v %+v", xmlDoc.Metadata, xmlDoc.Policy)
	}
	var rows []string
	for _, r := range xmlDoc.Records {
		rows = append(rows, fmt.Sprintf("%s count=%d disposition=%s dkim=%s spf=%s from=%s envfrom=%s spfauth=%s:%s",
			r.Row.SourceIP, r.Row.Count, r.Row.PolicyEvaluated.Disposition, r.Row.PolicyEvaluated.DKIM, r.Row.PolicyEvaluated.SPF,
			r.Identifiers.HeaderFrom, r.Identifiers.EnvelopeFrom, r.AuthResults.SPF[0].Domain, r.AuthResults.SPF[0].Result))
	}
	sort.Strings(rows) // records of the same second come in any order
	want := []string{
		"192.0.2.10 count=1 disposition=reject dkim=fail spf=fail from=reports.test envfrom=checks.test spfauth=checks.test:none",
		"192.0.2.10 count=2 disposition=none dkim=fail spf=pass from=reports.test envfrom=reports.test spfauth=reports.test:pass",
	}
	if strings.Join(rows, "\n") != strings.Join(want, "\n") {
		t.Fatalf("report rows:\n%s\nwant:\n%s", strings.Join(rows, "\n"), strings.Join(want, "\n"))
	}
	// The report went through the milter as mail to our rua address: read.
	wantFields(t, m.waitLog(t, "dmarc aggregate report"), map[string]any{
		"mailsift.dmarc.reporter": "mailsift e2e", "mailsift.dmarc.policy_domain": "reports.test", "mailsift.dmarc.rows": float64(2),
	})

	// A real report, Google's, mailed to the rua address over SMTP.
	report, err := os.ReadFile("../testdata/dmarc/aggregate/twilight.eml")
	if err != nil {
		t.Fatal(err)
	}
	c = dialSMTP(t, p.addr, "")
	c.expect("250", "EHLO reporter.test")
	c.expect("250", "MAIL FROM:<noreply-dmarc-support@google.com>")
	c.expect("250", "RCPT TO:<dmarc@reports.test>")
	if got := c.data(strings.ReplaceAll(string(report), "\r\n", "\n")); !strings.HasPrefix(got, "250 ") {
		t.Fatalf("DATA: %q", got)
	}
	c.expect("221", "QUIT")
	m.waitLogN(t, "dmarc aggregate report", 2)

	out, err := exec.Command(binary, "dmarc", "summary", "--store", "-c", reportCfg).CombinedOutput()
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if err != nil || lines[0] != "2 report(s), 3 row(s), policy domains: reports.test, twlnet.com" {
		t.Fatalf("summary: %v\n%s", err, out)
	}
	// Our own report's failing source: 3 messages, 1 failing, 1 rejected.
	if !regexp.MustCompile(`(?m)^192\.0\.2\.10 +3 +1 +1  reports\.test +mailsift e2e$`).MatchString(string(out)) {
		t.Fatalf("summary lacks 192.0.2.10's row:\n%s", out)
	}
	if !strings.Contains(string(out), "google.com") {
		t.Fatalf("summary lacks Google's report:\n%s", out)
	}
}

// waitMessage waits for a delivered message whose Subject starts with
// subject.
func waitMessage(t *testing.T, p *postfix, subject string) *mail.Message {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		files, _ := filepath.Glob(filepath.Join(p.base, "mail", "sink", "new", "*"))
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				continue
			}
			m, err := mail.ReadMessage(bytes.NewReader(data))
			if err == nil && strings.HasPrefix(m.Header.Get("Subject"), subject) {
				return m
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no message %q delivered within 30s", subject)
	return nil
}

// gzipAttachment returns the report's application/gzip part, decoded.
func gzipAttachment(t *testing.T, m *mail.Message) []byte {
	t.Helper()
	_, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		part, err := mr.NextPart()
		if err != nil {
			t.Fatalf("no application/gzip part: %v", err)
		}
		if ct, _, _ := mime.ParseMediaType(part.Header.Get("Content-Type")); ct == "application/gzip" {
			if !strings.HasSuffix(part.FileName(), ".xml.gz") || !strings.HasPrefix(part.FileName(), "mx.mailsift.test!reports.test!") {
				t.Errorf("attachment name %q", part.FileName())
			}
			b, err := io.ReadAll(base64.NewDecoder(base64.StdEncoding, part))
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
}

func gunzip(t *testing.T, gz []byte) []byte {
	t.Helper()
	cmd := exec.Command("gzip", "-dc")
	cmd.Stdin = bytes.NewReader(gz)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("gzip -dc: %v", err)
	}
	return out
}

// validateReport runs xmllint against the schema of RFC 7489 Appendix C,
// made loadable as internal/dmarcreport's tests do (testdata/dmarc/SOURCE).
func validateReport(t *testing.T, doc []byte) {
	t.Helper()
	xsd, err := os.ReadFile("../testdata/dmarc/rfc7489-appendix-c.xsd")
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(xsd), "\n  targetNamespace=\"http://dmarc.org/dmarc-xml/0.1\"", "", 1)
	re := regexp.MustCompile(`<xs:pattern value="([^"]*)"/>`)
	s = re.ReplaceAllStringFunc(s, func(m string) string { return strings.Join(strings.Fields(m[:len(m)-3]), "") + `"/>` })
	s = strings.Replace(s, `<xs:patternvalue=`, `<xs:pattern value=`, 1)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "schema.xsd"), []byte(s), 0o644)
	os.WriteFile(filepath.Join(dir, "report.xml"), doc, 0o644)
	out, err := exec.Command("xmllint", "--noout", "--schema", filepath.Join(dir, "schema.xsd"), filepath.Join(dir, "report.xml")).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "report.xml validates") {
		t.Fatalf("xmllint: %v\n%s\n%s", err, out, doc)
	}
}
