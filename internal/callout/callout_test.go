package callout_test

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/mailsift/mailsift/greylist/redistest"
	"github.com/mailsift/mailsift/internal/callout"
	"github.com/mailsift/mailsift/internal/callout/callouttest"
	"github.com/mailsift/mailsift/internal/clocktest"
	"github.com/mailsift/mailsift/internal/resolver"
	"github.com/mailsift/mailsift/internal/resolver/dnstest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type world struct {
	servers map[string]*callouttest.Server // by behaviour name
	port    int
	clk     *clocktest.Clock
	dns     *resolver.Resolver
}

// setup starts the scripted servers of testdata/zones/callout.test.zone on
// one port and a DNS server for the zone.
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
	w := &world{servers: map[string]*callouttest.Server{}, clk: clocktest.New(time.Unix(1_800_000_000, 0)), dns: res}
	w.servers["accept"] = callouttest.Start(t, "127.0.1.1", 0, callouttest.Accept, "alice", "bob")
	_, port, _ := net.SplitHostPort(w.servers["accept"].Addr)
	w.port, _ = strconv.Atoi(port)
	for name, s := range map[string]struct {
		ip string
		b  callouttest.Behaviour
	}{
		"hang": {"127.0.1.3", callouttest.Hang}, "temp": {"127.0.1.4", callouttest.TempFail},
		"nonull": {"127.0.1.5", callouttest.RefuseNull}, "catchall": {"127.0.1.6", callouttest.AcceptAll},
		"drop": {"127.0.1.7", callouttest.Drop},
	} {
		w.servers[name] = callouttest.Start(t, s.ip, w.port, s.b, "alice")
	}
	return w
}

func (w *world) verifier(t *testing.T, mod func(*callout.Config)) *callout.Verifier {
	// The test servers are on loopback, which probes never reach unless
	// allowed (TestRefusedTargets).
	cfg := callout.Config{Hostname: "mx.mailsift.test", Port: w.port, Budget: 2 * time.Second, ProbeTimeout: 3 * time.Second,
		DialTimeout: time.Second, DNS: w.dns, Now: w.clk.Now, AllowNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	if mod != nil {
		mod(&cfg)
	}
	v := callout.New(cfg)
	t.Cleanup(v.Close)
	return v
}

func TestOutcomes(t *testing.T) {
	w := setup(t)
	v := w.verifier(t, func(c *callout.Config) { c.Budget = 5 * time.Second; c.ProbeTimeout = 500 * time.Millisecond })
	tests := []struct {
		local, domain string
		status        callout.Status
		mx, reply     string
	}{
		{"alice", "ok.callout.test", callout.Deliverable, "mx1.callout.test [127.0.1.1]", "250"},
		{"nobody", "ok.callout.test", callout.Undeliverable, "mx1.callout.test [127.0.1.1]", "550 5.1.1 <nobody@ok.callout.test>: Recipient address rejected: User unknown"},
		{"alice", "down1.callout.test", callout.Deliverable, "mx1.callout.test [127.0.1.1]", "250"},
		{"alice", "alldown.callout.test", callout.Unknown, "dropsrv.callout.test [127.0.1.7]", ""},
		{"alice", "temp.callout.test", callout.Unknown, "tempsrv.callout.test [127.0.1.4]", "450 4.2.0 Try again later"},
		{"alice", "temp2.callout.test", callout.Deliverable, "mx1.callout.test [127.0.1.1]", "250"},
		{"alice", "hang.callout.test", callout.Unknown, "hanger.callout.test [127.0.1.3]", ""},
		{"alice", "nonull.callout.test", callout.Unverifiable, "nonullsrv.callout.test [127.0.1.5]", "550 5.7.1 Null sender not accepted here"},
		{"alice", "aonly.callout.test", callout.Deliverable, "aonly.callout.test [127.0.1.1]", "250"},
		{"alice", "nullmx.callout.test", callout.NoProbe, "", ""},
		{"alice", "nowhere.callout.test", callout.NoProbe, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.local+"@"+tt.domain, func(t *testing.T) {
			o := v.Verify(context.Background(), tt.local, tt.domain)
			if o.Status != tt.status || o.MX != tt.mx || o.Reply != tt.reply || o.Cached {
				t.Fatalf("= %+v, want %s from %q with reply %q", o, tt.status, tt.mx, tt.reply)
			}
		})
	}
	// A domain that refuses the null sender is not asked again, for any address.
	before := w.servers["nonull"].Conns.Load()
	if o := v.Verify(context.Background(), "bob", "nonull.callout.test"); o.Status != callout.Unverifiable || !o.Cached {
		t.Fatalf("second address at nonull: %+v", o)
	}
	if n := w.servers["nonull"].Conns.Load(); n != before {
		t.Fatalf("nonull was probed again (%d connections, was %d)", n, before)
	}
}

func TestAcceptAll(t *testing.T) {
	w := setup(t)
	v := w.verifier(t, func(c *callout.Config) { c.DetectAcceptAll = true })
	if o := v.Verify(context.Background(), "alice", "catchall.callout.test"); o.Status != callout.AcceptAll {
		t.Fatalf("catchall: %+v", o)
	}
	if o := v.Verify(context.Background(), "alice", "ok.callout.test"); o.Status != callout.Deliverable {
		t.Fatalf("ok: %+v", o)
	}
}

func TestCacheAndExpiry(t *testing.T) {
	w := setup(t)
	v := w.verifier(t, nil)
	s := w.servers["accept"]
	ctx := context.Background()
	for i := range 3 {
		o := v.Verify(ctx, "alice", "ok.callout.test")
		if o.Status != callout.Deliverable || o.Cached != (i > 0) {
			t.Fatalf("call %d: %+v", i, o)
		}
	}
	if n := s.Conns.Load(); n != 1 {
		t.Fatalf("%d probes for one address, want 1", n)
	}
	w.clk.Add(31*24*time.Hour - time.Second)
	v.Verify(ctx, "alice", "ok.callout.test")
	if n := s.Conns.Load(); n != 1 {
		t.Fatalf("probed again before the positive TTL: %d", n)
	}
	w.clk.Add(time.Second)
	if o := v.Verify(ctx, "alice", "ok.callout.test"); o.Cached {
		t.Fatalf("still cached after 31 days: %+v", o)
	}
	if n := s.Conns.Load(); n != 2 {
		t.Fatalf("after the positive TTL: %d probes, want 2", n)
	}
	// Negative answers are kept 3 hours.
	v.Verify(ctx, "nobody", "ok.callout.test")
	w.clk.Add(3*time.Hour - time.Second)
	if o := v.Verify(ctx, "nobody", "ok.callout.test"); !o.Cached || o.Status != callout.Undeliverable {
		t.Fatalf("negative answer within 3h: %+v", o)
	}
	w.clk.Add(time.Second)
	if o := v.Verify(ctx, "nobody", "ok.callout.test"); o.Cached {
		t.Fatalf("negative answer after 3h still cached: %+v", o)
	}
	// The cache key keeps the local part's case and folds the domain's.
	if o := v.Verify(ctx, "Alice", "ok.callout.test"); o.Cached || o.Status != callout.Undeliverable {
		t.Fatalf("Alice is another local part: %+v", o)
	}
}

// Past the budget the client is told "in progress"; the probe finishes in
// the background and the retry is answered from the cache.
func TestBudgetThenCache(t *testing.T) {
	w := setup(t)
	slow := callouttest.Start(t, "127.0.1.8", w.port, callouttest.Slow, "alice")
	v := w.verifier(t, func(c *callout.Config) {
		c.Budget = 50 * time.Millisecond
	})
	ctx := context.Background()
	if o := v.Verify(ctx, "alice", "slow.callout.test"); o.Status != callout.InProgress {
		t.Fatalf("first call: %+v, want in progress", o)
	}
	var o callout.Outcome
	for o = v.Verify(ctx, "alice", "slow.callout.test"); o.Status == callout.InProgress; o = v.Verify(ctx, "alice", "slow.callout.test") {
	}
	if o.Status != callout.Deliverable {
		t.Fatalf("after the probe: %+v", o)
	}
	if o = v.Verify(ctx, "alice", "slow.callout.test"); !o.Cached || o.Status != callout.Deliverable {
		t.Fatalf("retry: %+v, want deliverable from the cache", o)
	}
	if n := slow.Conns.Load(); n != 1 {
		t.Fatalf("%d probes, want 1 (the retries waited for it)", n)
	}
}

// Many sessions at once: identical questions share one probe, and one
// domain never gets more than its limit of probes at a time.
func TestLimits(t *testing.T) {
	w := setup(t)
	slow := callouttest.Start(t, "127.0.1.8", w.port, callouttest.Slow, "alice", "bob")
	v := w.verifier(t, func(c *callout.Config) {
		c.Budget = 5 * time.Second
		c.MaxPerDomain = 2
	})
	var wg sync.WaitGroup
	var mu sync.Mutex
	counts := map[callout.Status]int{}
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := []string{"alice", "bob", "carol", "dave"}[i%4]
			o := v.Verify(context.Background(), local, "slow.callout.test")
			mu.Lock()
			counts[o.Status]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if n := slow.Conns.Load(); n > 2 {
		t.Fatalf("%d probes to one domain, limit 2", n)
	}
	if counts[callout.Limited] == 0 || counts[callout.Deliverable]+counts[callout.Undeliverable]+counts[callout.Limited] != 20 {
		t.Fatalf("outcomes %v", counts)
	}

	// The rate limit: 3 probes a minute per domain.
	r := w.verifier(t, func(c *callout.Config) { c.RatePerMinute = 3 })
	for i, local := range []string{"a1", "a2", "a3"} {
		if o := r.Verify(context.Background(), local, "ok.callout.test"); o.Status != callout.Undeliverable {
			t.Fatalf("probe %d: %+v", i, o)
		}
	}
	if o := r.Verify(context.Background(), "a4", "ok.callout.test"); o.Status != callout.Limited {
		t.Fatalf("fourth probe in a minute: %+v", o)
	}
	w.clk.Add(time.Minute)
	if o := r.Verify(context.Background(), "a4", "ok.callout.test"); o.Status != callout.Undeliverable {
		t.Fatalf("after a minute: %+v", o)
	}
}

// Two MX hosts share their callout results through Redis: the second
// host answers from the shared cache without probing.
func TestSharedCache(t *testing.T) {
	w := setup(t)
	srv := redistest.Start(t)
	client := func() *callout.Shared {
		c := redis.NewClient(&redis.Options{Addr: srv.Addr})
		t.Cleanup(func() { c.Close() })
		return &callout.Shared{Client: c, Prefix: "test:"}
	}
	a := w.verifier(t, func(c *callout.Config) { c.Shared = client() })
	b := w.verifier(t, func(c *callout.Config) { c.Shared = client() })
	ctx := context.Background()
	if o := a.Verify(ctx, "nobody", "ok.callout.test"); o.Status != callout.Undeliverable || o.Cached {
		t.Fatalf("host a: %+v", o)
	}
	if o := a.Verify(ctx, "x", "nonull.callout.test"); o.Status != callout.Unverifiable {
		t.Fatalf("host a, nonull: %+v", o)
	}
	a.Close() // its writes to Redis are done
	probes := w.servers["accept"].Conns.Load()
	o := b.Verify(ctx, "nobody", "ok.callout.test")
	if o.Status != callout.Undeliverable || !o.Cached || o.Reply != "550 5.1.1 <nobody@ok.callout.test>: Recipient address rejected: User unknown" {
		t.Fatalf("host b: %+v", o)
	}
	if o := b.Verify(ctx, "y", "nonull.callout.test"); o.Status != callout.Unverifiable || !o.Cached {
		t.Fatalf("host b, nonull: %+v", o)
	}
	if n := w.servers["accept"].Conns.Load(); n != probes {
		t.Fatalf("host b probed (%d connections, was %d)", n, probes)
	}
}

// An attacker's MX records may name internal servers: with the default
// configuration no probe reaches them, each refusal is reported, and the
// domain is remembered as unverifiable.
func TestRefusedTargets(t *testing.T) {
	w := setup(t)
	type refusal struct{ domain, mx, why string }
	var mu sync.Mutex
	var refused []refusal
	v := w.verifier(t, func(c *callout.Config) {
		c.AllowNetworks = nil
		c.OwnAddrs = []netip.Addr{netip.MustParseAddr("192.0.2.25")}
		c.Refused = func(domain, mx, why string) {
			mu.Lock()
			refused = append(refused, refusal{domain, mx, why})
			mu.Unlock()
		}
	})
	tests := []struct{ domain, mx, why string }{
		{"ok.callout.test", "mx1.callout.test [127.0.1.1]", "loopback address"},
		{"loop.callout.test", "loopsrv.callout.test [127.0.0.1]", "loopback address"},
		{"private.callout.test", "privsrv.callout.test [10.1.2.3]", "private address"},
		{"cgnat.callout.test", "cgnatsrv.callout.test [100.64.0.1]", "shared address space (RFC 6598)"},
		{"ula.callout.test", "ulasrv.callout.test [fd00::25]", "private address"},
		{"linklocal.callout.test", "llsrv.callout.test [169.254.169.254]", "link-local address"},
		{"mcast.callout.test", "mcastsrv.callout.test [224.0.0.1]", "multicast address"},
		{"zero.callout.test", "zerosrv.callout.test [0.0.0.0]", "unspecified address"},
		{"mapped.callout.test", "mappedsrv.callout.test [10.0.0.1]", "private address"},
		{"ownhost.callout.test", "ownsrv.callout.test [192.0.2.25]", "one of our own addresses"},
	}
	for _, tt := range tests {
		t.Run(tt.domain, func(t *testing.T) {
			o := v.Verify(context.Background(), "alice", tt.domain)
			want := tt.mx + ": " + tt.why + ", not probed"
			if o.Status != callout.Unverifiable || o.MX != tt.mx || o.Detail != want || o.Reply != "" {
				t.Fatalf("= %+v, want unverifiable from %q: %q", o, tt.mx, want)
			}
			mu.Lock()
			last := refused[len(refused)-1]
			mu.Unlock()
			if last != (refusal{tt.domain, tt.mx, tt.why}) {
				t.Fatalf("refusal reported as %+v", last)
			}
			if o := v.Verify(context.Background(), "bob", tt.domain); o.Status != callout.Unverifiable || !o.Cached {
				t.Fatalf("second address: %+v, want unverifiable from the cache", o)
			}
		})
	}
	if n := w.servers["accept"].Conns.Load(); n != 0 {
		t.Fatalf("the loopback server got %d connections", n)
	}
}

// Thirty domains naming one server do not give it thirty probes: each
// server address has its own rate limit beside the domain's.
func TestTargetRateLimit(t *testing.T) {
	w := setup(t)
	v := w.verifier(t, func(c *callout.Config) { c.RatePerTarget = 2 })
	ctx := context.Background()
	for _, d := range []string{"many1.callout.test", "many2.callout.test"} {
		if o := v.Verify(ctx, "alice", d); o.Status != callout.Deliverable {
			t.Fatalf("%s: %+v", d, o)
		}
	}
	o := v.Verify(ctx, "alice", "many3.callout.test")
	if o.Status != callout.Limited || o.Detail != "probes to mx1.callout.test [127.0.1.1] at the rate limit" {
		t.Fatalf("third domain on one server: %+v, want limited", o)
	}
	if n := w.servers["accept"].Conns.Load(); n != 2 {
		t.Fatalf("%d connections to the server, want 2", n)
	}
	w.clk.Add(time.Minute)
	if o := v.Verify(ctx, "bob", "many3.callout.test"); o.Status != callout.Deliverable {
		t.Fatalf("a minute later: %+v", o)
	}
}
