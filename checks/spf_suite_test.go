package checks

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"gopkg.in/yaml.v3"

	"github.com/mailsift/mailsift/resolver"
	"github.com/mailsift/mailsift/resolver/dnstest"
)

// The OpenSPF RFC 7208 test suite (testdata/spf/rfc7208-tests.yml, BSD
// licensed, as shipped with blitiri.com.ar/go/spf) run through the spf
// check, mailsift's resolver and the in-process DNS server: this proves
// that the adapter maps NXDOMAIN, NODATA, SERVFAIL and timeouts the way
// the library expects.

type spfSuite struct {
	Description string
	Tests       map[string]spfTest
	ZoneData    map[string][]spfRecord `yaml:"zonedata"`
}

type spfTest struct {
	Description string
	Host        string
	Helo        string
	MailFrom    string `yaml:"mailfrom"`
	Result      strs
	Skip        string // the library's documented gap for this case
}

type spfRecord struct {
	A, AAAA, SPF, TXT, PTR strs
	MX                     *struct {
		Pref uint16
		Host string
	}
	CNAME             string
	TIMEOUT, SERVFAIL bool
	CNAMELOOP         bool `yaml:"CNAMELOOP"`
}

// strs takes a string or a list of strings.
type strs []string

func (s *strs) UnmarshalYAML(v *yaml.Node) error {
	var l []string
	if err := v.Decode(&l); err == nil {
		*s = l
		return nil
	}
	var one string
	if err := v.Decode(&one); err != nil {
		return err
	}
	*s = strs{one}
	return nil
}

func (r *spfRecord) UnmarshalYAML(v *yaml.Node) error {
	var m map[string]yaml.Node
	if err := v.Decode(&m); err != nil {
		return err
	}
	for k, n := range m {
		var err error
		switch k {
		case "A":
			err = n.Decode(&r.A)
		case "AAAA":
			err = n.Decode(&r.AAAA)
		case "SPF":
			err = n.Decode(&r.SPF)
		case "TXT":
			err = n.Decode(&r.TXT)
		case "PTR":
			err = n.Decode(&r.PTR)
		case "CNAME":
			err = n.Decode(&r.CNAME)
		case "MX":
			var l []any
			if err = n.Decode(&l); err == nil && len(l) == 2 {
				r.MX = &struct {
					Pref uint16
					Host string
				}{uint16(l[0].(int)), l[1].(string)}
			}
		case "TIMEOUT":
			r.TIMEOUT = true
		case "SERVFAIL":
			r.SERVFAIL = true
		case "CNAMELOOP":
			r.CNAMELOOP = true
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// spfKnown lists the suite's cases that do not pass, and why. The test
// fails if one of them starts passing, so the list stays true.
var spfKnown = map[string]string{}

func TestSPFSuite(t *testing.T) {
	f, err := os.Open("../testdata/spf/rfc7208-tests.yml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var suites []spfSuite
	dec := yaml.NewDecoder(f)
	for {
		var s spfSuite
		if err := dec.Decode(&s); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		suites = append(suites, s)
	}
	srv := dnstest.Start(t)
	res, err := resolver.New(resolver.Config{Servers: []string{srv.Addr}, Timeout: 50 * time.Millisecond, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	check := &SPF{DNS: NetResolver{R: res}}
	var ran int
	var failed, skipped []string
	for _, suite := range suites {
		load(t, srv, suite.ZoneData)
		names := make([]string, 0, len(suite.Tests))
		for n := range suite.Tests {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, name := range names {
			tc := suite.Tests[name]
			ip, err := netip.ParseAddr(tc.Host)
			if err != nil {
				t.Fatalf("%s: host %q", name, tc.Host)
			}
			r := check.CheckMail(context.Background(), &Envelope{ClientIP: ip.Unmap(), Helo: tc.Helo, From: tc.MailFrom})
			ran++
			ok := false
			for _, want := range tc.Result {
				ok = ok || string(r.Status) == want
			}
			why, known := spfKnown[name]
			if tc.Skip != "" {
				why, known = "blitiri.com.ar/go/spf: "+tc.Skip, true
			}
			switch {
			case !ok && !known:
				failed = append(failed, name)
				t.Errorf("%s (%s): %s (%s), want one of %v", name, suite.Description, r.Status, r.Text, tc.Result)
			case ok && known && tc.Skip == "":
				t.Errorf("%s passes now; remove it from spfKnown (%s)", name, why)
			case !ok && known:
				skipped = append(skipped, name+": "+why)
			}
		}
	}
	t.Logf("ran %d cases of the RFC 7208 suite: %d failed, %d known failures:\n%s", ran, len(failed), len(skipped), strings.Join(skipped, "\n"))
}

// load serves one suite's zone data.
func load(t *testing.T, srv *dnstest.Server, zone map[string][]spfRecord) {
	srv.Reset()
	add := func(s string) {
		rr, err := dns.NewRR(s)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		srv.AddRR(rr)
	}
	add(". 300 IN SOA ns. hostmaster. 1 3600 600 86400 60")
	for domain, recs := range zone {
		// Names are kept as miekg/dns writes them: a space is "\\ ".
		name := strings.ReplaceAll(dns.Fqdn(domain), " ", `\ `)
		hasTXT := false
		for _, r := range recs {
			hasTXT = hasTXT || len(r.TXT) > 0
		}
		for _, r := range recs {
			hdr := func(t uint16) dns.RR_Header {
				return dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET, Ttl: 300}
			}
			for _, a := range r.A {
				srv.AddRR(&dns.A{Hdr: hdr(dns.TypeA), A: net.ParseIP(a)})
			}
			for _, a := range r.AAAA {
				srv.AddRR(&dns.AAAA{Hdr: hdr(dns.TypeAAAA), AAAA: net.ParseIP(a)})
			}
			txt := r.TXT
			if !hasTXT && len(r.SPF) > 0 {
				txt = strs{strings.Join(r.SPF, "")}
			}
			for _, s := range txt {
				srv.AddRR(&dns.TXT{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 300}, Txt: chunk(s)})
			}
			for _, p := range r.PTR {
				srv.AddRR(&dns.PTR{Hdr: hdr(dns.TypePTR), Ptr: dns.Fqdn(p)})
			}
			if r.MX != nil {
				srv.AddRR(&dns.MX{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeMX, Class: dns.ClassINET, Ttl: 300},
					Preference: r.MX.Pref, Mx: dns.Fqdn(r.MX.Host)})
			}
			if r.CNAME != "" {
				srv.AddRR(&dns.CNAME{Hdr: hdr(dns.TypeCNAME), Target: dns.Fqdn(r.CNAME)})
			}
			if r.CNAMELOOP {
				srv.AddRR(&dns.CNAME{Hdr: hdr(dns.TypeCNAME), Target: name})
			}
			if r.TIMEOUT {
				srv.Silent(name)
			}
			if r.SERVFAIL {
				srv.ServFail(name)
			}
		}
	}
}

// chunk splits a TXT string into the 255-octet strings DNS carries.
func chunk(s string) []string {
	var out []string
	for len(s) > 255 {
		out = append(out, s[:255])
		s = s[255:]
	}
	return append(out, s)
}
