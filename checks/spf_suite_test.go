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

	"github.com/mailsift/mailsift/internal/resolver"
	"github.com/mailsift/mailsift/internal/resolver/dnstest"
)

// The OpenSPF test suites for RFC 7208 and RFC 4408, as pyspf publishes
// them (testdata/spf/README.md), run through the spf check, mailsift's
// resolver and the in-process DNS server serving each scenario's zone
// data. Every case must pass: there is no skip list. Where a case allows
// several results any of them passes; where it gives an explanation, the
// check's must be the same ("DEFAULT" is pyspf's stand-in for "the
// domain gave none").

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
	Explanation *string
}

// spfRecord is one entry of a name's zone data: a record, or TIMEOUT
// (the name does not answer for the types not listed before it).
type spfRecord struct {
	A, AAAA, SPF, TXT, PTR strs
	MX                     *struct {
		Pref uint16
		Host string
	}
	CNAME   string
	TIMEOUT bool
}

// strs takes a string or a list of strings.
type strs []string

func (s *strs) UnmarshalYAML(v *yaml.Node) error {
	var l []string
	if err := v.Decode(&l); err == nil {
		*s = l
		if l == nil {
			*s = strs{}
		}
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
	if v.Kind == yaml.ScalarNode {
		if v.Value != "TIMEOUT" {
			return errors.New("zone data: unknown entry " + v.Value)
		}
		r.TIMEOUT = true
		return nil
	}
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
		default:
			err = errors.New("zone data: unknown record type " + k)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func TestSPFSuiteRFC7208(t *testing.T) { runSPFSuite(t, "../testdata/spf/rfc7208-tests.yml", 203) }
func TestSPFSuiteRFC4408(t *testing.T) { runSPFSuite(t, "../testdata/spf/rfc4408-tests.yml", 191) }

func runSPFSuite(t *testing.T, file string, want int) {
	f, err := os.Open(file)
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
	check := &SPF{DNS: NetResolver{R: res}, Fail: Reply{550, "5.7.23", "SPF validation failed for <{sender}>"}}
	var ran, failed int
	for _, suite := range suites {
		answering := load(t, srv, suite.ZoneData)
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
			before := answering.count(srv)
			r := check.CheckMail(context.Background(), &Envelope{ClientIP: ip.Unmap(), Helo: tc.Helo, From: tc.MailFrom})
			ran++
			if q := answering.count(srv); q != before {
				t.Errorf("%s: asked a TIMEOUT name for a type the suite does not answer (%d questions): the case needs a per-type timeout", name, q-before)
			}
			ok := false
			for _, want := range tc.Result {
				ok = ok || string(r.Status) == want
			}
			if !ok {
				t.Errorf("%s (%s): %s (%s), want one of %v", name, suite.Description, r.Status, r.Text, tc.Result)
			}
			if tc.Explanation != nil {
				want := *tc.Explanation
				if want == "DEFAULT" {
					want = ""
				}
				if got := r.Details["explanation"]; got != want {
					t.Errorf("%s (%s): explanation %q, want %q", name, suite.Description, got, want)
				}
			}
			if t.Failed() && !ok {
				failed++
			}
		}
	}
	if ran != want {
		t.Errorf("ran %d cases of %s, want %d", ran, file, want)
	}
	t.Logf("%s: %d cases run", file, ran)
}

// answeringTimeouts are names listed with records before TIMEOUT: the
// suite's driver answers them for the types listed and times out for the
// others. dnstest's faults are per name, so these names are served
// normally, and the test fails if a question of another type reaches
// one of them.
type answeringTimeouts map[string]map[uint16]bool

func (a answeringTimeouts) count(srv *dnstest.Server) int {
	n := 0
	for name, types := range a {
		for _, qt := range []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeMX, dns.TypeTXT, dns.TypePTR} {
			if !types[qt] {
				n += srv.Queries(name, qt)
			}
		}
	}
	return n
}

// load serves one scenario's zone data as pyspf's test driver does: an
// SPF entry is also served as TXT unless the name lists TXT records
// ("TXT: NONE" lists none), and TIMEOUT makes the name silent.
func load(t *testing.T, srv *dnstest.Server, zone map[string][]spfRecord) answeringTimeouts {
	srv.Reset()
	answering := answeringTimeouts{}
	rr, err := dns.NewRR(". 300 IN SOA ns. hostmaster. 1 3600 600 86400 60")
	if err != nil {
		t.Fatal(err)
	}
	srv.AddRR(rr)
	for domain, recs := range zone {
		// Names are kept as miekg/dns writes them: a space is "\\ ".
		name := strings.ReplaceAll(dns.Fqdn(domain), " ", `\ `)
		hasTXT := false
		for _, r := range recs {
			hasTXT = hasTXT || r.TXT != nil
		}
		listed := map[uint16]bool{}
		for _, r := range recs {
			hdr := func(t uint16) dns.RR_Header {
				listed[t] = true
				return dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET, Ttl: 300}
			}
			for _, a := range r.A {
				srv.AddRR(&dns.A{Hdr: hdr(dns.TypeA), A: net.ParseIP(a)})
			}
			for _, a := range r.AAAA {
				srv.AddRR(&dns.AAAA{Hdr: hdr(dns.TypeAAAA), AAAA: net.ParseIP(a)})
			}
			var txts []strs
			if r.TXT != nil {
				txts = append(txts, r.TXT)
			} else if !hasTXT && r.SPF != nil {
				txts = append(txts, r.SPF)
			}
			for _, txt := range txts {
				if len(txt) == 1 && txt[0] == "NONE" {
					continue // no record, but no generated one either
				}
				srv.AddRR(&dns.TXT{Hdr: hdr(dns.TypeTXT), Txt: txtStrings(txt)})
			}
			for _, p := range r.PTR {
				srv.AddRR(&dns.PTR{Hdr: hdr(dns.TypePTR), Ptr: dns.Fqdn(p)})
			}
			if r.MX != nil {
				srv.AddRR(&dns.MX{Hdr: hdr(dns.TypeMX), Preference: r.MX.Pref, Mx: dns.Fqdn(r.MX.Host)})
			}
			if r.CNAME != "" {
				srv.AddRR(&dns.CNAME{Hdr: hdr(dns.TypeCNAME), Target: dns.Fqdn(r.CNAME)})
			}
			if r.TIMEOUT {
				if len(listed) == 0 {
					srv.Silent(name)
				} else {
					answering[name] = listed
				}
			}
		}
	}
	return answering
}

// txtStrings gives a TXT record's character-strings in miekg/dns'
// presentation form: the suite's strings cut into 255-octet pieces, with
// "\" escaped (any other octet is taken as is).
func txtStrings(ss []string) []string {
	var out []string
	for _, s := range ss {
		for {
			n := min(len(s), 255)
			out = append(out, strings.ReplaceAll(s[:n], `\`, `\\`))
			s = s[n:]
			if s == "" {
				break
			}
		}
	}
	return out
}
