package resolver_test

import (
	"context"
	"errors"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"go.uber.org/goleak"

	"github.com/mailsift/mailsift/internal/clocktest"
	"github.com/mailsift/mailsift/internal/resolver"
	"github.com/mailsift/mailsift/internal/resolver/dnstest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func setup(t *testing.T) (*resolver.Resolver, *dnstest.Server, *clocktest.Clock) {
	t.Helper()
	srv := dnstest.Start(t, "../../testdata/zones/mailsift.test.zone", "../../testdata/zones/127.in-addr.arpa.zone")
	clk := clocktest.New(time.Unix(1_800_000_000, 0))
	r, err := resolver.New(resolver.Config{Servers: []string{srv.Addr}, Timeout: 200 * time.Millisecond, Attempts: 2, CacheSize: 100, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	return r, srv, clk
}

func TestLookups(t *testing.T) {
	r, _, _ := setup(t)
	ctx := context.Background()
	ips, err := r.LookupIP(ctx, "MX.mailsift.test")
	if err != nil || len(ips) != 2 || ips[0] != netip.MustParseAddr("127.0.0.25") || ips[1] != netip.MustParseAddr("::1") {
		t.Fatalf("LookupIP = %v, %v", ips, err)
	}
	names, err := r.LookupAddr(ctx, netip.MustParseAddr("127.0.0.25"))
	if err != nil || len(names) != 1 || names[0] != "mx.mailsift.test" {
		t.Fatalf("LookupAddr = %v, %v", names, err)
	}
	mxs, err := r.LookupMX(ctx, "mailsift.test")
	if err != nil || len(mxs) != 1 || mxs[0] != (resolver.MX{Host: "mx.mailsift.test", Pref: 10}) {
		t.Fatalf("LookupMX = %v, %v", mxs, err)
	}
	txts, err := r.LookupTXT(ctx, "txt.mailsift.test")
	if err != nil || len(txts) != 1 || txts[0] != "v=spf1 -all" {
		t.Fatalf("LookupTXT = %q, %v", txts, err)
	}
	ips, err = r.LookupIP(ctx, "www.mailsift.test") // through the CNAME
	if err != nil || len(ips) != 2 {
		t.Fatalf("LookupIP(www) = %v, %v", ips, err)
	}
}

func TestCacheHitAndExpiry(t *testing.T) {
	r, srv, clk := setup(t)
	ctx := context.Background()
	for range 3 {
		if _, err := r.Query(ctx, "short.mailsift.test", dns.TypeA); err != nil {
			t.Fatal(err)
		}
	}
	if n := srv.Queries("short.mailsift.test", dns.TypeA); n != 1 {
		t.Fatalf("server saw %d queries, want 1 (the rest from cache)", n)
	}
	clk.Add(29 * time.Second)
	r.Query(ctx, "short.mailsift.test", dns.TypeA)
	if n := srv.Queries("short.mailsift.test", dns.TypeA); n != 1 {
		t.Fatalf("after 29s of a 30s TTL: server saw %d queries, want 1", n)
	}
	clk.Add(time.Second)
	r.Query(ctx, "short.mailsift.test", dns.TypeA)
	if n := srv.Queries("short.mailsift.test", dns.TypeA); n != 2 {
		t.Fatalf("after the TTL: server saw %d queries, want 2", n)
	}
}

func TestNegativeCaching(t *testing.T) {
	r, srv, clk := setup(t)
	ctx := context.Background()
	for range 2 {
		_, err := r.Query(ctx, "nope.mailsift.test", dns.TypeA)
		if !resolver.IsNotFound(err) || resolver.IsTemporary(err) {
			t.Fatalf("err = %v, want not found", err)
		}
		_, err = r.Query(ctx, "mx.mailsift.test", dns.TypeMX)
		if !resolver.IsNoData(err) || resolver.IsTemporary(err) {
			t.Fatalf("err = %v, want no data", err)
		}
		_, err = r.Query(ctx, "b.mailsift.test", dns.TypeA)
		if !resolver.IsNoData(err) {
			t.Fatalf("empty non-terminal: err = %v, want no data", err)
		}
	}
	if n := srv.Queries("nope.mailsift.test", dns.TypeA); n != 1 {
		t.Fatalf("NXDOMAIN: server saw %d queries, want 1", n)
	}
	if n := srv.Queries("mx.mailsift.test", dns.TypeMX); n != 1 {
		t.Fatalf("NODATA: server saw %d queries, want 1", n)
	}
	clk.Add(60 * time.Second) // the SOA minimum
	r.Query(ctx, "nope.mailsift.test", dns.TypeA)
	if n := srv.Queries("nope.mailsift.test", dns.TypeA); n != 2 {
		t.Fatalf("after SOA minimum: server saw %d queries, want 2", n)
	}
}

func TestTemporaryFailures(t *testing.T) {
	r, srv, _ := setup(t)
	ctx := context.Background()
	srv.ServFail("mx.mailsift.test")
	_, err := r.Query(ctx, "mx.mailsift.test", dns.TypeA)
	if !resolver.IsTemporary(err) || resolver.IsNotFound(err) {
		t.Fatalf("SERVFAIL: err = %v, want temporary", err)
	}
	if want := "dns: lookup mx.mailsift.test A: temporary DNS failure (SERVFAIL from " + srv.Addr + ")"; err.Error() != want {
		t.Fatalf("err = %q, want %q", err, want)
	}
	r.Query(ctx, "mx.mailsift.test", dns.TypeA)
	if n := srv.Queries("mx.mailsift.test", dns.TypeA); n != 4 {
		t.Fatalf("SERVFAIL is not cached: server saw %d queries, want 4 (2 attempts x 2)", n)
	}
	srv.Clear("mx.mailsift.test")
	if _, err := r.Query(ctx, "mx.mailsift.test", dns.TypeA); err != nil {
		t.Fatalf("after recovery: %v", err)
	}

	srv.Silent("www.mailsift.test")
	_, err = r.Query(ctx, "www.mailsift.test", dns.TypeA)
	if !resolver.IsTemporary(err) {
		t.Fatalf("timeout: err = %v, want temporary", err)
	}

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := r.Query(cctx, "short.mailsift.test", dns.TypeA); !resolver.IsTemporary(err) {
		t.Fatalf("cancelled: err = %v, want temporary", err)
	}
}

func TestTCPFallback(t *testing.T) {
	r, srv, _ := setup(t)
	srv.Truncate("txt.mailsift.test")
	txts, err := r.LookupTXT(context.Background(), "txt.mailsift.test")
	if err != nil || len(txts) != 1 || txts[0] != "v=spf1 -all" {
		t.Fatalf("LookupTXT over TCP = %q, %v", txts, err)
	}
}

func TestSingleFlight(t *testing.T) {
	r, srv, _ := setup(t)
	srv.Delay("mx.mailsift.test", 100*time.Millisecond)
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := r.Query(context.Background(), "mx.mailsift.test", dns.TypeA); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := srv.Queries("mx.mailsift.test", dns.TypeA); n != 1 {
		t.Fatalf("10 concurrent identical questions: server saw %d queries, want 1", n)
	}
}

// TestSingleFlightOwnDeadlines: a caller whose deadline ends first gets a
// temporary error, and the others waiting on the same question still get
// the answer (a session's deadline failed every session asking it, a
// spurious 451).
func TestSingleFlightOwnDeadlines(t *testing.T) {
	_, srv, _ := setup(t)
	r, err := resolver.New(resolver.Config{Servers: []string{srv.Addr}, Timeout: 2 * time.Second, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	srv.Delay("mx.mailsift.test", 150*time.Millisecond)
	short, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	first := make(chan error, 1)
	go func() {
		_, err := r.Query(short, "mx.mailsift.test", dns.TypeA)
		first <- err
	}()
	for srv.Queries("mx.mailsift.test", dns.TypeA) == 0 {
		runtime.Gosched()
	}
	long, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	rrs, err := r.Query(long, "mx.mailsift.test", dns.TypeA)
	if err != nil || len(rrs) != 1 {
		t.Fatalf("caller with 5s left: %v, %v; want the answer", rrs, err)
	}
	err = <-first
	var rerr *resolver.Error
	if !errors.As(err, &rerr) || !errors.Is(rerr.Class, resolver.ErrTemporary) || !strings.Contains(rerr.Detail, "deadline exceeded") {
		t.Fatalf("caller with 30ms: %v, want a temporary error (its own deadline)", err)
	}
	if n := srv.Queries("mx.mailsift.test", dns.TypeA); n != 1 {
		t.Fatalf("server saw %d queries, want 1 (shared)", n)
	}
}

func TestInvalidName(t *testing.T) {
	r, _, _ := setup(t)
	_, err := r.Query(context.Background(), "bad..name", dns.TypeA)
	if !resolver.IsNotFound(err) {
		t.Fatalf("err = %v, want not found", err)
	}
}

// TestTXTBytes: a TXT answer is the record's bytes, the character-strings
// concatenated, never presentation text with its escapes.
func TestTXTBytes(t *testing.T) {
	r, _, _ := setup(t)
	txts, err := r.LookupTXT(context.Background(), "esc.mailsift.test")
	if want := "say \"hi\" \\ caf\u00e9!"; err != nil || len(txts) != 1 || txts[0] != want {
		t.Fatalf("LookupTXT = %q, %v, want [%q]", txts, err, want)
	}
}

// TestIDNLookup: a UTF-8 name is asked for by its A-labels.
func TestIDNLookup(t *testing.T) {
	r, _, _ := setup(t)
	ips, err := r.LookupIP(context.Background(), "B\u00fccher.mailsift.test")
	if err != nil || len(ips) != 1 || ips[0] != netip.MustParseAddr("127.0.0.32") {
		t.Fatalf("LookupIP(bücher) = %v, %v", ips, err)
	}
	if a, err := resolver.ToASCII("_dmarc.b\u00fccher.example"); err != nil || a != "_dmarc.xn--bcher-kva.example" {
		t.Fatalf("ToASCII = %q, %v", a, err)
	}
	if _, err := r.LookupIP(context.Background(), "a\u200d\u0301b.mailsift.test"); !resolver.IsNotFound(err) {
		t.Fatalf("LookupIP(invalid IDN) = %v, want not found", err)
	}
}

// TestTruncatedTCPRefused: a truncated UDP answer whose TCP retry gets no
// answer is a temporary failure, never "not found".
func TestTruncatedTCPRefused(t *testing.T) {
	r, srv, _ := setup(t)
	srv.TruncateNoTCP("txt.mailsift.test")
	if _, err := r.LookupTXT(context.Background(), "txt.mailsift.test"); !resolver.IsTemporary(err) {
		t.Fatalf("LookupTXT = %v, want a temporary error", err)
	}
	if n := srv.Queries("txt.mailsift.test", dns.TypeTXT); n < 2 {
		t.Fatalf("%d queries, want UDP then TCP", n)
	}
}
