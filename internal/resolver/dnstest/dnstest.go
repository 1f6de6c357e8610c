// Package dnstest runs an in-process authoritative DNS server on 127.0.0.1
// for tests. It serves zone files in RFC 1035 master-file syntax (parsed
// with miekg/dns' zone parser) over UDP and TCP on one port, and can be
// told to answer SERVFAIL, stay silent, or truncate UDP answers (and
// refuse TCP) for chosen names, so tests see real DNS failures rather than a mocked interface.
package dnstest

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// Server is a running test DNS server.
type Server struct {
	// Addr is "127.0.0.1:PORT", the same port for UDP and TCP.
	Addr string

	udp, tcp *dns.Server

	mu      sync.Mutex
	zones   map[string]*dns.SOA // origin -> SOA
	records map[string][]dns.RR // owner name -> records
	faults  map[string]string   // name -> "servfail" | "silent" | "truncate" | "truncate-notcp"
	delays  map[string]time.Duration
	queries map[string]int // "name/TYPE" -> count
}

// Start starts a server on 127.0.0.1 that serves the given zone files and
// stops it when the test ends. Each file must set $ORIGIN or use absolute
// names, and each zone must have a SOA record.
func Start(t testing.TB, zoneFiles ...string) *Server {
	t.Helper()
	s, err := New("127.0.0.1:0", zoneFiles...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// New starts a server on addr (a port of 0 picks a free one).
func New(addr string, zoneFiles ...string) (*Server, error) {
	s := &Server{zones: map[string]*dns.SOA{}, records: map[string][]dns.RR{}, faults: map[string]string{}, delays: map[string]time.Duration{}, queries: map[string]int{}}
	for _, f := range zoneFiles {
		if err := s.load(f); err != nil {
			return nil, err
		}
	}
	if err := s.listen(addr); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Server) load(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("dnstest: %w", err)
	}
	defer f.Close()
	zp := dns.NewZoneParser(f, "", path)
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		s.AddRR(rr)
	}
	if err := zp.Err(); err != nil {
		return fmt.Errorf("dnstest: %w", err)
	}
	return nil
}

// LoadDir loads every *.zone file in dir.
func (s *Server) LoadDir(dir string) error {
	files, err := filepath.Glob(filepath.Join(dir, "*.zone"))
	if err != nil {
		return err
	}
	for _, f := range files {
		if err := s.load(f); err != nil {
			return err
		}
	}
	return nil
}

// AddRR adds one record; a SOA record makes its owner a zone.
func (s *Server) AddRR(rr dns.RR) {
	s.mu.Lock()
	defer s.mu.Unlock()
	name := strings.ToLower(rr.Header().Name)
	if soa, ok := rr.(*dns.SOA); ok {
		s.zones[name] = soa
	}
	s.records[name] = append(s.records[name], rr)
}

func (s *Server) listen(addr string) error {
	// UDP and TCP on the same port: pick the UDP port first, then try TCP
	// on it; retry on the rare clash.
	for try := 0; try < 20; try++ {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return fmt.Errorf("dnstest: %w", err)
		}
		l, err := net.Listen("tcp", pc.LocalAddr().String())
		if err != nil {
			pc.Close()
			if strings.HasSuffix(addr, ":0") {
				continue
			}
			return fmt.Errorf("dnstest: %w", err)
		}
		s.Addr = pc.LocalAddr().String()
		h := dns.HandlerFunc(s.serve)
		s.udp = &dns.Server{PacketConn: pc, Handler: h}
		s.tcp = &dns.Server{Listener: l, Handler: h}
		started := make(chan struct{}, 2)
		s.udp.NotifyStartedFunc = func() { started <- struct{}{} }
		s.tcp.NotifyStartedFunc = func() { started <- struct{}{} }
		go s.udp.ActivateAndServe()
		go s.tcp.ActivateAndServe()
		<-started
		<-started
		return nil
	}
	return fmt.Errorf("dnstest: no port free for both UDP and TCP on %s", addr)
}

// Close stops the server.
func (s *Server) Close() {
	s.udp.Shutdown()
	s.tcp.Shutdown()
}

// ServFail makes the server answer SERVFAIL for name (any type, or the
// one type of "NAME/TYPE").
func (s *Server) ServFail(name string) { s.fault(name, "servfail") }

// Silent makes the server drop questions for name, so clients time out.
func (s *Server) Silent(name string) { s.fault(name, "silent") }

// Truncate makes the server answer questions for name over UDP with the TC
// bit and no records, so clients must retry over TCP.
func (s *Server) Truncate(name string) { s.fault(name, "truncate") }

// TruncateNoTCP makes the server answer questions for name over UDP with
// the TC bit and no records, and close TCP connections that ask for it
// without an answer: a server whose TCP service is refused or broken.
func (s *Server) TruncateNoTCP(name string) { s.fault(name, "truncate-notcp") }

// Delay makes the server wait d before answering questions for name.
func (s *Server) Delay(name string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delays[strings.ToLower(dns.Fqdn(name))] = d
}

// Clear removes the fault set for name.
func (s *Server) Clear(name string) { s.fault(name, "") }

// A fault's name may be "NAME/TYPE" (e.g. "example.org/MX"): then only
// questions of that type fail, and other types at the name are answered.
func (s *Server) fault(name, f string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	name, qtype, typed := strings.Cut(name, "/")
	name = strings.ToLower(dns.Fqdn(name))
	if typed {
		name += "/" + strings.ToUpper(qtype)
	}
	if f == "" {
		delete(s.faults, name)
		return
	}
	s.faults[name] = f
}

// Queries returns how many questions for name and type reached the server.
func (s *Server) Queries(name string, qtype uint16) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queries[strings.ToLower(dns.Fqdn(name))+"/"+dns.TypeToString[qtype]]
}

func (s *Server) serve(w dns.ResponseWriter, req *dns.Msg) {
	if len(req.Question) != 1 {
		m := new(dns.Msg)
		m.SetRcode(req, dns.RcodeFormatError)
		w.WriteMsg(m)
		return
	}
	q := req.Question[0]
	name := strings.ToLower(q.Name)
	_, isUDP := w.RemoteAddr().(*net.UDPAddr)

	s.mu.Lock()
	s.queries[name+"/"+dns.TypeToString[q.Qtype]]++
	fault := s.faults[name+"/"+dns.TypeToString[q.Qtype]]
	if fault == "" {
		fault = s.faults[name]
	}
	delay := s.delays[name]
	m := s.answer(req, name, q.Qtype)
	s.mu.Unlock()

	time.Sleep(delay)
	switch fault {
	case "silent":
		return
	case "servfail":
		m = new(dns.Msg)
		m.SetRcode(req, dns.RcodeServerFailure)
	case "truncate-notcp":
		if !isUDP {
			w.Close()
			return
		}
		m = new(dns.Msg)
		m.SetReply(req)
		m.Truncated = true
	case "truncate":
		if isUDP {
			m = new(dns.Msg)
			m.SetReply(req)
			m.Truncated = true
		}
	}
	w.WriteMsg(m)
}

// answer builds an authoritative answer; s.mu is held.
func (s *Server) answer(req *dns.Msg, name string, qtype uint16) *dns.Msg {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	soa := s.zoneOf(name)
	if soa == nil {
		m.Rcode = dns.RcodeRefused
		return m
	}
	for hops := 0; hops < 8; hops++ {
		rrs, exists := s.records[name]
		var cname *dns.CNAME
		found := false
		for _, rr := range rrs {
			if rr.Header().Rrtype == qtype {
				m.Answer = append(m.Answer, rr)
				found = true
			} else if c, ok := rr.(*dns.CNAME); ok {
				cname = c
			}
		}
		if found {
			return m
		}
		if cname != nil && qtype != dns.TypeCNAME {
			m.Answer = append(m.Answer, cname)
			name = strings.ToLower(cname.Target)
			if s.zoneOf(name) == nil {
				return m
			}
			continue
		}
		if !exists && !s.hasChildren(name) && len(m.Answer) == 0 {
			m.Rcode = dns.RcodeNameError
		}
		break
	}
	if z := s.zoneOf(name); z != nil {
		m.Ns = append(m.Ns, z)
	}
	return m
}

func (s *Server) zoneOf(name string) *dns.SOA {
	for n := name; ; {
		if soa, ok := s.zones[n]; ok {
			return soa
		}
		i := strings.IndexByte(n, '.')
		if i < 0 || i == len(n)-1 {
			return s.zones["."] // a root zone serves every name
		}
		n = n[i+1:]
	}
}

// Reset forgets every record, zone and fault.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.zones, s.records = map[string]*dns.SOA{}, map[string][]dns.RR{}
	s.faults, s.delays = map[string]string{}, map[string]time.Duration{}
}

// hasChildren reports whether name is an empty non-terminal: it has no
// records but names below it do, so it exists (RFC 8020).
func (s *Server) hasChildren(name string) bool {
	for n := range s.records {
		if strings.HasSuffix(n, "."+name) {
			return true
		}
	}
	return false
}
