package dmarcreport

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const samples = "../../testdata/dmarc/aggregate"

// Every public sample parses (testdata/dmarc/SOURCE says whence), except
// the one that is not XML; each gives its rows.
func TestParseSamples(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(samples, "*"))
	if err != nil || len(files) < 20 {
		t.Fatalf("%d samples, %v", len(files), err)
	}
	want := map[string]struct {
		reports, rows int
		first         string // the first row, formatted
	}{
		"!example.com!1538204542!1538463818.xml":                 {1, 1, ""},
		"addisonfoods.com!example.com!1536105600!1536191999.xml": {1, 1, "addisonfoods.com example.com 109.203.100.17 n=1 none dkim=fail spf=fail from=example.com"},
		"empty_reason.xml": {1, 1, ""},
		"estadocuenta1.infonacot.gob.mx!example.com!1536853302!1536939702!2940.xml.zip": {1, 1, ""},
		"example.net!example.com!1529366400!1529452799.xml":                             {1, 1, ""},
		"extract_report-changed-input.xml":                                              {1, 20, ""},
		"extract_report-nice-input.xml":                                                 {1, 20, ""},
		"extract_report-nice-input.xml.gz":                                              {1, 20, ""},
		"extract_report-nice-input.xml.zip":                                             {1, 20, ""},
		"fastmail.com!example.com!1516060800!1516147199!102675056.xml.gz":               {1, 1, ""},
		"google.com-borschow.com.eml":                                                   {1, 0, ""},
		"ikea.com!example.de!1538690400!1538776800.xml":                                 {1, 1, ""},
		"invalid_utf_8.xml":                                                             {1, 1, ""},
		"mimecast-weird-gzip.eml":                                                       {1, 0, ""},
		"old_draft_from_wiki.xml":                                                       {1, 1, ""},
		"protection.outlook.com!example.com!1711756800!1711843200.xml":                  {1, 1, ""},
		"rfc9990-example.net!example.com!1700000000!1700086399.xml":                     {1, 2, ""},
		"rfc9990-sample.xml":                                                            {1, 1, ""},
		"twilight.eml":                                                                  {1, 0, ""},
		"usssa.com!example.com!1538784000!1538870399.xml":                               {1, 2, ""},
		"veeam.com!example.com!1530133200!1530219600.xml":                               {1, 1, ""},
	}
	for _, f := range files {
		name := filepath.Base(f)
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var fs []*Feedback
		if strings.HasSuffix(name, ".eml") {
			fs, err = ParseMessage(bytes.NewReader(data))
		} else {
			fs, err = ParseReport(data)
		}
		if name == "invalid_xml.xml" {
			if err == nil || !strings.Contains(err.Error(), "dmarc report: xml:") {
				t.Errorf("%s: err %v, want an XML error", name, err)
			}
			continue
		}
		w, ok := want[name]
		if !ok {
			t.Errorf("%s: no expectation", name)
			continue
		}
		if err != nil || len(fs) != w.reports {
			t.Errorf("%s: %d reports, %v", name, len(fs), err)
			continue
		}
		rows := Rows(fs[0])
		if len(rows) == 0 {
			t.Errorf("%s: no rows", name)
			continue
		}
		if w.rows > 0 && len(rows) != w.rows {
			t.Errorf("%s: %d rows, want %d", name, len(rows), w.rows)
		}
		for _, r := range rows {
			if r.SourceIP == "" || r.Count < 1 || r.PolicyDomain == "" || r.Reporter == "" {
				t.Errorf("%s: incomplete row %+v", name, r)
			}
		}
		if w.first != "" {
			if got := rowString(rows[0]); got != w.first {
				t.Errorf("%s: first row %q, want %q", name, got, w.first)
			}
		}
	}
}

func rowString(r Row) string {
	return r.Reporter + " " + r.PolicyDomain + " " + r.SourceIP + " n=" + strconv.FormatInt(r.Count, 10) + " " + r.Disposition +
		" dkim=" + r.DKIM + " spf=" + r.SPF + " from=" + r.HeaderFrom
}

// The reports inside the emails: Google's zip and Mimecast's gzip.
func TestParseMessages(t *testing.T) {
	for _, tt := range []struct {
		file, reporter, domain, first string
	}{
		{"twilight.eml", "google.com", "twlnet.com", ""},
		{"google.com-borschow.com.eml", "google.com", "borschow.com", ""},
		{"mimecast-weird-gzip.eml", "Mimecast", "ab.id.au", ""},
	} {
		data, _ := os.ReadFile(filepath.Join(samples, tt.file))
		fs, err := ParseMessage(bytes.NewReader(data))
		if err != nil || len(fs) != 1 {
			t.Fatalf("%s: %d reports, %v", tt.file, len(fs), err)
		}
		if fs[0].Metadata.OrgName != tt.reporter || fs[0].Policy.Domain != tt.domain {
			t.Errorf("%s: reporter %q domain %q, want %q %q", tt.file, fs[0].Metadata.OrgName, fs[0].Policy.Domain, tt.reporter, tt.domain)
		}
	}
	if _, err := ParseMessage(strings.NewReader("From: a@b\r\nSubject: hi\r\n\r\nno report here\r\n")); !errors.Is(err, ErrNoReport) {
		t.Errorf("plain mail: %v, want ErrNoReport", err)
	}
}

func TestSummarize(t *testing.T) {
	rows := []Row{
		{Reporter: "google.com", SourceIP: "192.0.2.1", Count: 10, DKIM: "pass", SPF: "pass", Disposition: "none", HeaderFrom: "example.org"},
		{Reporter: "google.com", SourceIP: "198.51.100.7", Count: 3, DKIM: "fail", SPF: "fail", Disposition: "reject", HeaderFrom: "example.org"},
		{Reporter: "yahoo.com", SourceIP: "198.51.100.7", Count: 2, DKIM: "fail", SPF: "fail", Disposition: "none", HeaderFrom: "mail.example.org"},
		{Reporter: "yahoo.com", SourceIP: "192.0.2.1", Count: 1, DKIM: "fail", SPF: "pass", Disposition: "none", HeaderFrom: "example.org"},
	}
	s := Summarize(rows)
	if len(s) != 2 || s[0].IP != "198.51.100.7" || s[0].Messages != 5 || s[0].Failing != 5 || s[0].Rejected != 3 ||
		strings.Join(s[0].Reporters, ",") != "google.com,yahoo.com" || strings.Join(s[0].HeaderFroms, ",") != "example.org,mail.example.org" ||
		s[1].IP != "192.0.2.1" || s[1].Messages != 11 || s[1].Failing != 0 {
		t.Fatalf("%+v", s)
	}
}

func FuzzParseReport(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(samples, "*"))
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil && len(b) < 4000 { // small seeds: minimizing big ones stalls a short fuzz run
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fs, err := ParseReport(data)
		if err == nil {
			for _, fb := range fs {
				Rows(fb)
			}
		}
		ms, err := ParseMessage(bytes.NewReader(data))
		if err == nil && len(ms) == 0 {
			t.Fatal("no error and no report")
		}
	})
}

func TestParseURI(t *testing.T) {
	for _, tt := range []struct {
		in, addr, domain string
		max              int64
		err              string
	}{
		{"mailto:dmarc@Example.ORG", "dmarc@Example.ORG", "example.org", 0, ""},
		{"mailto:dmarc@example.org!10m", "dmarc@example.org", "example.org", 10 << 20, ""},
		{" mailto:d@example.org!500 ", "d@example.org", "example.org", 500, ""},
		{"https://example.org/dmarc", "", "", 0, `dmarc uri "https://example.org/dmarc": want mailto:ADDRESS`},
		{"mailto:dmarc@example.org!x", "", "", 0, `dmarc uri "mailto:dmarc@example.org!x": size limit: want digits and an optional unit k, m, g or t, got "x"`},
		{"mailto:nobody", "", "", 0, `dmarc uri "mailto:nobody": mail: missing '@' or angle-addr`},
	} {
		d, err := ParseURI(tt.in)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("%q: err %v, want %s", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || d.Address != tt.addr || d.Domain != tt.domain || d.MaxSize != tt.max {
			t.Errorf("%q: %+v %v", tt.in, d, err)
		}
	}
}

func FuzzParseURI(f *testing.F) {
	for _, s := range []string{"mailto:a@b.test", "mailto:a@b.test!10m", "mailto:\"x y\"@b.test?subject=x", "https://x/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseURI(s)
		if err == nil && (d.Address == "" || d.Domain == "" || d.MaxSize < 0) {
			t.Fatalf("%q: %+v", s, d)
		}
	})
}
