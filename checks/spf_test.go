package checks

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailsift/mailsift/internal/resolver"
	"github.com/mailsift/mailsift/internal/resolver/dnstest"
)

func spfCheck(t *testing.T, r *resolver.Resolver) *SPF {
	return &SPF{DNS: NetResolver{R: r}, Fail: reply(t, "spf", "perm"), Temp: reply(t, "spf", "temp"),
		Receiver: "mx.mailsift.test", Now: func() time.Time { return time.Unix(1700000000, 0) }}
}

// A refused SPF fail carries the domain's explanation (RFC 7208 §6.2),
// sanitized for the reply line.
func TestSPFReplyExplanation(t *testing.T) {
	r, _ := testDNS(t)
	s := spfCheck(t, r)
	for _, tc := range []struct {
		from, want string
	}{
		// exp= with macros, %{S} URL-escaped; "%" is shown as "?" (Sendmail
		// takes it as a format), the rest as the domain wrote it.
		{"anna@explained.spf.test", `550 5.7.23 SPF validation failed for <anna@explained.spf.test>: 192.0.2.11 is not a mail server of explained.spf.test (anna); see https://spf.test/why?s=anna?40explained.spf.test&r=mx.mailsift.test`},
		// A local part the client chose: non-ASCII and control octets are
		// shown as "?".
		{"j\u00f6rg\x01@explained.spf.test", "550 5.7.23 SPF validation failed for <j?rg?@explained.spf.test>: 192.0.2.11 is not a mail server of explained.spf.test (j??rg?); see https://spf.test/why?s=j?C3?B6rg?01?40explained.spf.test&r=mx.mailsift.test"},
		// Bounded at 200 octets.
		{"bob@long.spf.test", "550 5.7.23 SPF validation failed for <bob@long.spf.test>: This explanation is far too long for a reply line, so mailsift cuts it at two hundred octets and says so with three dots at the end. The rest, which nobody reads, goes on and on and on and on and on a..."},
		// No exp=: the table's reply as it is.
		{"bob@plain.spf.test", "550 5.7.23 SPF validation failed for <bob@plain.spf.test>"},
	} {
		res := s.CheckMail(context.Background(), &Envelope{ClientIP: netip.MustParseAddr("192.0.2.11"), Helo: "mail.example.test", From: tc.from})
		if res.Status != Fail || res.Reason != "spf-fail" {
			t.Errorf("%s: %s %s (%s), want fail spf-fail", tc.from, res.Status, res.Reason, res.Text)
		}
		if got := res.Reply.String(); got != tc.want {
			t.Errorf("%s: reply\n%s\nwant\n%s", tc.from, got, tc.want)
		}
		if err := res.Reply.Validate(); err != nil {
			t.Errorf("%s: %v", tc.from, err)
		}
	}
}

// Every lookup SPF makes that cannot be answered now gives temperror and
// the 451 reply, never fail, permerror or neutral (RFC 7208 §2.6.6, §5),
// whatever the fault: SERVFAIL, no answer, or a truncated UDP answer
// whose retry over TCP is refused. The PTR lookups are the RFC's
// exception: a failed one is no match (§5.5), and exp= is only left out
// (§6.2).
func TestSPFTempErrors(t *testing.T) {
	srv := dnstest.Start(t)
	if err := srv.LoadDir("../testdata/zones"); err != nil {
		t.Fatal(err)
	}
	// Questions go through a relay that speaks UDP only: a truncated
	// answer's retry over TCP finds the port closed.
	r, err := resolver.New(resolver.Config{Servers: []string{udpOnly(t, srv.Addr)}, Timeout: 100 * time.Millisecond, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	s := spfCheck(t, r)
	faults := map[string]func(string){"servfail": srv.ServFail, "timeout": srv.Silent, "truncated, TCP refused": srv.Truncate}
	for _, tc := range []struct {
		lookup, domain, faulted string
		want                    Status // under the fault; pass when healthy
	}{
		{"the record", "record", "record", TempError},
		{"include", "include", "target.include", TempError},
		{"include in an include", "nested", "target.include", TempError},
		{"redirect", "redirect", "target.redirect", TempError},
		{"a", "a", "target.a", TempError},
		{"mx", "mx", "target.mx", TempError},
		{"mx host address", "mxhost", "host.mxhost", TempError},
		{"exists", "exists", "target.exists", TempError},
		{"ptr (§5.5: no match)", "ptr", "10.2.0.192.in-addr.arpa", Fail},
	} {
		from := "anna@" + tc.domain + ".spf.test"
		env := &Envelope{ClientIP: netip.MustParseAddr("192.0.2.10"), Helo: "mail.example.test", From: from}
		if res := s.CheckMail(context.Background(), env); res.Status != Pass {
			t.Fatalf("%s healthy: %s (%s), want pass", tc.lookup, res.Status, res.Text)
		}
		for name, fault := range faults {
			fault(tc.faulted + ".spf.test")
			if strings.HasSuffix(tc.faulted, ".arpa") {
				srv.Clear(tc.faulted + ".spf.test")
				fault(tc.faulted)
			}
			res := s.CheckMail(context.Background(), env)
			srv.Clear(tc.faulted + ".spf.test")
			srv.Clear(tc.faulted)
			if res.Status != tc.want {
				t.Errorf("%s, %s: %s (%s), want %s", tc.lookup, name, res.Status, res.Text, tc.want)
				continue
			}
			if tc.want == TempError {
				want := "451 4.7.24 SPF temporary error for <" + from + ">, try again later"
				if res.Reason != "spf-temperror" || res.Reply.String() != want {
					t.Errorf("%s, %s: %s %q, want spf-temperror %q", tc.lookup, name, res.Reason, res.Reply, want)
				}
			}
		}
	}
	// exp= that cannot be looked up: still fail, the table's reply alone.
	srv.ServFail("target.exp.spf.test")
	res := s.CheckMail(context.Background(), &Envelope{ClientIP: netip.MustParseAddr("192.0.2.10"), Helo: "mail.example.test", From: "anna@exp.spf.test"})
	if want := "550 5.7.23 SPF validation failed for <anna@exp.spf.test>"; res.Status != Fail || res.Reply.String() != want {
		t.Errorf("exp= SERVFAIL: %s %q, want fail %q", res.Status, res.Reply, want)
	}
}

// udpOnly relays UDP questions to the DNS server at addr from a port on
// which nothing listens for TCP, and returns the relay's address.
func udpOnly(t *testing.T, addr string) string {
	t.Helper()
	var pc net.PacketConn
	for try := 0; ; try++ {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		tc, err := net.DialTimeout("tcp", c.LocalAddr().String(), time.Second)
		if err != nil {
			pc = c
			break
		}
		tc.Close()
		c.Close()
		if try == 10 {
			t.Fatal("no UDP port without a TCP listener")
		}
	}
	// The cleanup closes the relay and every question in flight, and
	// waits for their goroutines.
	var (
		mu     sync.Mutex
		closed bool
		conns  = map[net.Conn]bool{}
		wg     sync.WaitGroup
	)
	t.Cleanup(func() {
		pc.Close()
		mu.Lock()
		closed = true
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 65535)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			c, err := net.Dial("udp", addr)
			if err != nil {
				continue
			}
			mu.Lock()
			if closed {
				mu.Unlock()
				c.Close()
				return
			}
			conns[c] = true
			mu.Unlock()
			wg.Add(1)
			go func(q []byte) {
				defer wg.Done()
				defer func() {
					mu.Lock()
					delete(conns, c)
					mu.Unlock()
					c.Close()
				}()
				if _, err := c.Write(q); err != nil {
					return
				}
				resp := make([]byte, 65535)
				m, err := c.Read(resp)
				if err != nil {
					return
				}
				pc.WriteTo(resp[:m], from)
			}(append([]byte(nil), buf[:n]...))
		}
	}()
	return pc.LocalAddr().String()
}
