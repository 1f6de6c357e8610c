package main

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailsift/mailsift/greylist/redistest"
	"github.com/mailsift/mailsift/internal/dmarcreport"
	"github.com/mailsift/mailsift/internal/resolver/dnstest"
)

const aggregate = "../../testdata/dmarc/aggregate/"

func TestDMARCSummaryFiles(t *testing.T) {
	code, out, errs := runCmd("dmarc", "summary", aggregate+"twilight.eml", aggregate+"addisonfoods.com!example.com!1536105600!1536191999.xml",
		aggregate+"usssa.com!example.com!1538784000!1538870399.xml")
	if code != 0 || errs != "" {
		t.Fatalf("exit %d, stderr %s", code, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if lines[0] != "3 report(s), 4 row(s), policy domains: example.com, twlnet.com" ||
		!strings.HasPrefix(lines[1], "SOURCE IP") || len(lines) != 6 {
		t.Fatalf("output:\n%s", out)
	}
	// Failing sources first.
	if f := strings.Fields(lines[2]); f[0] != "109.203.100.17" || f[1] != "1" || f[2] != "1" || f[4] != "example.com" || f[5] != "addisonfoods.com" {
		t.Errorf("first source %q", lines[2])
	}
	if code, _, errs := runCmd("dmarc", "summary", aggregate+"invalid_xml.xml"); code != 1 || !strings.Contains(errs, "invalid_xml.xml: dmarc report: xml:") {
		t.Errorf("invalid: exit %d, %q", code, errs)
	}
	if code, _, errs := runCmd("dmarc", "summary", "--since", "soon", aggregate+"twilight.eml"); code != 2 || !strings.Contains(errs, `--since: want days such as "7d"`) {
		t.Errorf("bad --since: exit %d, %q", code, errs)
	}
	// Old reports fall outside --since.
	if code, out, _ := runCmd("dmarc", "summary", "--since", "7d", aggregate+"twilight.eml"); code != 0 || !strings.HasPrefix(out, "1 report(s), 0 row(s)") {
		t.Errorf("--since 7d: exit %d, %q", code, out)
	}
}

func dmarcConfig(t *testing.T, redisAddr, dnsAddr string) string {
	p := filepath.Join(t.TempDir(), "mailsift.toml")
	os.WriteFile(p, []byte(fmt.Sprintf(`hostname = "mx.mailsift.test"
[dns]
servers = [%q]
[greylist.redis]
addrs = [%q]
[dmarc]
store = "redis"
prefix = "cmdtest:"
org_name = "mailsift test"
`, dnsAddr, redisAddr)), 0o644)
	return p
}

// A report mailed to our rua address is read (as a Postfix alias pipe
// would), logged row by row, kept in Redis, and shows in the summary.
func TestDMARCReadAndStoreSummary(t *testing.T) {
	rs := redistest.Start(t)
	cfg := dmarcConfig(t, rs.Addr, "127.0.0.1:53")
	msg, _ := os.ReadFile(aggregate + "google.com-borschow.com.eml")
	var out, errb bytes.Buffer
	if code := cmdDMARC([]string{"read", "-c", cfg}, bytes.NewReader(msg), &out, &errb); code != 0 {
		t.Fatalf("read: exit %d\n%s", code, errb.String())
	}
	logs := errb.String()
	for _, k := range []string{`"message":"dmarc aggregate row"`, `"source.ip":"92.53.116.102"`, `"mailsift.dmarc.disposition":"reject"`, `"mailsift.dmarc.dkim":"fail"`, `"mailsift.dmarc.reporter":"google.com"`, `"mailsift.dmarc.policy_domain":"borschow.com"`, `"mailsift.dmarc.count":`} {
		if !strings.Contains(logs, k) {
			t.Errorf("log lacks %s:\n%s", k, logs)
		}
	}
	code, sum, errs := runCmd("dmarc", "summary", "--store", "-c", cfg)
	if code != 0 || !strings.HasPrefix(sum, "1 report(s), ") || !strings.Contains(sum, "borschow.com") || !strings.Contains(sum, "google.com") {
		t.Fatalf("summary --store: exit %d\n%s\n%s", code, sum, errs)
	}
	// Redis down: the pipe says "try again later" (EX_TEMPFAIL).
	rs.Stop()
	errb.Reset()
	if code := cmdDMARC([]string{"read", "-c", cfg}, bytes.NewReader(msg), &out, &errb); code != 75 {
		t.Fatalf("read with Redis down: exit %d\n%s", code, errb.String())
	}
}

func TestDMARCReportDryRun(t *testing.T) {
	rs := redistest.Start(t)
	dns := dnstest.Start(t)
	if err := dns.LoadDir("../../testdata/zones"); err != nil {
		t.Fatal(err)
	}
	cfg := dmarcConfig(t, rs.Addr, dns.Addr)
	st := dmarcreport.NewRedis(dmarcreport.RedisConfig{Addrs: []string{rs.Addr}, Prefix: "cmdtest:"})
	defer st.Close()
	begin, end := dmarcreport.Period(time.Now(), 24*time.Hour)
	r := dmarcreport.Record{Time: begin.Add(time.Hour), SourceIP: netip.MustParseAddr("127.0.1.21"), HeaderFrom: "good.doctor.test", EnvelopeFrom: "good.doctor.test",
		PolicyDomain: "good.doctor.test", Policy: dmarcreport.Published{ADKIM: "r", ASPF: "r", P: "reject", Pct: 100, RUA: []string{"mailto:dmarc@good.doctor.test"}},
		SPF: []dmarcreport.SPFAuth{{Domain: "good.doctor.test", Scope: "mfrom", Result: "pass"}}, SPFAligned: true, Disposition: "none"}
	if err := st.Add(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	code, out, errs := runCmd("dmarc", "report", "--dry-run", dir, "-c", cfg)
	name := fmt.Sprintf("mx.mailsift.test!good.doctor.test!%d!%d.xml.gz", begin.Unix(), end.Unix()-1)
	if code != 0 || !strings.Contains(out, filepath.Join(dir, name)+"\n") || !strings.Contains(out, "1 report(s) for ") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	data, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	fs, err := dmarcreport.ParseReport(data)
	if err != nil || fs[0].Metadata.OrgName != "mailsift test" || fs[0].Metadata.Email != "dmarc-noreply@mx.mailsift.test" || fs[0].Records[0].Row.Count != 1 {
		t.Fatalf("written report: %v %+v", err, fs)
	}
	// A dry run forgets nothing.
	if left, _ := st.Records(context.Background(), begin, end); len(left) != 1 {
		t.Fatalf("%d records left after the dry run", len(left))
	}
}
