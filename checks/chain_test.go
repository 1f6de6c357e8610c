package checks

import (
	"context"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap"

	"github.com/mailsift/mailsift/greylist"
	"github.com/mailsift/mailsift/internal/resolver"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type fakeHelo struct {
	name string
	fn   func(context.Context, *Envelope) Result
}

func (f fakeHelo) Name() string                                      { return f.name }
func (f fakeHelo) CheckHelo(ctx context.Context, e *Envelope) Result { return f.fn(ctx, e) }

func TestChainRunsStageConcurrentlyInOrder(t *testing.T) {
	release := make(chan struct{})
	slow := fakeHelo{"slow", func(ctx context.Context, _ *Envelope) Result {
		<-release // held until the fast one has run: proves concurrency
		return Result{Status: Pass}
	}}
	fast := fakeHelo{"fast", func(context.Context, *Envelope) Result {
		close(release)
		return Result{Status: Fail, Reason: "x"}
	}}
	var mu sync.Mutex
	tick := time.Unix(0, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); tick = tick.Add(time.Millisecond); return tick }
	c := NewChain(time.Second, clock, slow, fast, &Helo{})
	if c.Has(StageRcpt) || !c.Has(StageHelo) {
		t.Fatalf("Has: wrong stages")
	}
	rs := c.Run(context.Background(), StageHelo, &Envelope{Helo: "a.example"})
	if len(rs) != 3 || rs[0].Check != "slow" || rs[1].Check != "fast" || rs[2].Check != "helo" {
		t.Fatalf("results = %+v", rs)
	}
	if rs[1].Status != Fail || rs[2].Status != Pass || rs[0].Duration <= 0 {
		t.Fatalf("results = %+v", rs)
	}
}

func TestChainPanicIsTempError(t *testing.T) {
	boom := fakeHelo{"boom", func(context.Context, *Envelope) Result { panic("bad input") }}
	c := NewChain(time.Second, time.Now, boom)
	rs := c.Run(context.Background(), StageHelo, &Envelope{})
	if rs[0].Status != TempError || rs[0].Reason != "internal-error" || rs[0].Reply.String() != "451 4.3.0 Temporary internal error, try again later" {
		t.Fatalf("result = %+v", rs[0])
	}
}

func TestChainTimeout(t *testing.T) {
	wait := fakeHelo{"wait", func(ctx context.Context, _ *Envelope) Result {
		<-ctx.Done()
		return Result{Status: TempError, Reason: "timeout"}
	}}
	c := NewChain(10*time.Millisecond, time.Now, wait)
	if rs := c.Run(context.Background(), StageHelo, &Envelope{}); rs[0].Reason != "timeout" {
		t.Fatalf("result = %+v", rs[0])
	}
}

// localHelo is a fakeHelo that says it never waits on the network.
type localHelo struct{ fakeHelo }

func (localHelo) Local() bool { return true }

// goid is the calling goroutine's id, from its stack header.
func goid() string {
	b := make([]byte, 64)
	b = b[:runtime.Stack(b, false)]
	f := strings.Fields(string(b))
	return f[1]
}

func TestChainLocalChecksRunInline(t *testing.T) {
	caller := goid()
	var netDeadline time.Time
	ranLocal := make(chan struct{})
	var localG, localG2 string
	var localHasDeadline bool
	c := NewChain(time.Minute, time.Now,
		fakeHelo{"net1", func(ctx context.Context, _ *Envelope) Result {
			netDeadline, _ = ctx.Deadline()
			return Result{Status: Pass}
		}},
		localHelo{fakeHelo{"local", func(ctx context.Context, _ *Envelope) Result {
			localG = goid()
			_, localHasDeadline = ctx.Deadline()
			close(ranLocal)
			return Result{Status: Pass}
		}}},
		fakeHelo{"net2", func(ctx context.Context, _ *Envelope) Result {
			<-ranLocal // the local check runs while the network checks wait
			return Result{Status: Fail, Reason: "x"}
		}},
		localHelo{fakeHelo{"local2", func(context.Context, *Envelope) Result {
			localG2 = goid()
			return Result{} // nothing to say: left out
		}}},
	)
	rs := c.Run(context.Background(), StageHelo, &Envelope{})
	if len(rs) != 3 || rs[0].Check != "net1" || rs[1].Check != "local" || rs[2].Check != "net2" || rs[2].Status != Fail {
		t.Fatalf("results = %+v", rs)
	}
	if localG != caller || localG2 != caller {
		t.Errorf("local checks ran in goroutines %s and %s, want the caller's %s", localG, localG2, caller)
	}
	if localHasDeadline {
		t.Errorf("a local check got a timer")
	}
	if netDeadline.IsZero() {
		t.Errorf("a network check ran without the stage deadline")
	}
}

func TestChainLocalPanicIsTempError(t *testing.T) {
	c := NewChain(time.Second, time.Now, localHelo{fakeHelo{"boom", func(context.Context, *Envelope) Result { panic("bad input") }}},
		&Helo{})
	rs := c.Run(context.Background(), StageHelo, &Envelope{Helo: "a.example"})
	if len(rs) != 2 || rs[0].Check != "boom" || rs[0].Status != TempError || rs[0].Reason != "internal-error" ||
		rs[0].Reply.String() != "451 4.3.0 Temporary internal error, try again later" || rs[1].Status != Pass {
		t.Fatalf("results = %+v", rs)
	}
}

// Network checks of one stage share one deadline, the chain's timeout:
// each still gets at most that long, and a slow one times out alone.
func TestChainStageDeadline(t *testing.T) {
	var mu sync.Mutex
	deadlines := map[string]time.Time{}
	wait := func(name string) fakeHelo {
		return fakeHelo{name, func(ctx context.Context, _ *Envelope) Result {
			d, _ := ctx.Deadline()
			mu.Lock()
			deadlines[name] = d
			mu.Unlock()
			<-ctx.Done()
			return Result{Status: TempError, Reason: "timeout"}
		}}
	}
	quick := fakeHelo{"quick", func(context.Context, *Envelope) Result { return Result{Status: Pass} }}
	start := time.Now()
	c := NewChain(20*time.Millisecond, time.Now, wait("a"), quick, wait("b"))
	rs := c.Run(context.Background(), StageHelo, &Envelope{})
	if len(rs) != 3 || rs[0].Reason != "timeout" || rs[1].Status != Pass || rs[2].Reason != "timeout" {
		t.Fatalf("results = %+v", rs)
	}
	if !deadlines["a"].Equal(deadlines["b"]) || deadlines["a"].Before(start.Add(20*time.Millisecond)) {
		t.Fatalf("deadlines = %v, started %v", deadlines, start)
	}
}

func TestLocalByConfig(t *testing.T) {
	for _, tt := range []struct {
		c    Local
		want bool
	}{
		{&Helo{}, true},
		{&Helo{RequireDNS: true}, false},
		{&Sender{}, true},
		{&Sender{RequireDomain: true}, false},
		{&Recipient{}, true},
		{&Relay{}, true},
		{&Greylist{Store: greylist.NewMemory(10)}, true},
		{&Greylist{Store: greylist.OpenPersistent("", 10, time.Hour, time.Now, zap.NewNop())}, true},
		{&Greylist{Store: &greylist.Redis{}}, false},
	} {
		if got := tt.c.Local(); got != tt.want {
			t.Errorf("%T %+v: Local() = %v, want %v", tt.c, tt.c, got, tt.want)
		}
	}
	for _, c := range []Check{&PTR{}, &SPF{}, &DKIM{}, &DMARC{}, &Callout{}} {
		if _, ok := c.(Local); ok {
			t.Errorf("%s says it is local; it waits on the network", c.Name())
		}
	}
}

// benchChain is the full chain of bench/compare.sh (dkim without a
// message stream) over the test zones, the resolver's cache warm.
func benchChain(b *testing.B) (*Chain, func() *Envelope) {
	_, srv := testDNS(b)
	r, err := resolver.New(resolver.Config{Servers: []string{srv.Addr}, Timeout: time.Second, Attempts: 1, CacheSize: 1000})
	if err != nil {
		b.Fatal(err)
	}
	net := NetResolver{R: r}
	c := NewChain(10*time.Second, time.Now,
		&PTR{Mode: PTRFCrDNS, DNS: r},
		&Helo{RequireFQDN: true, RequireDNS: true, DNS: r},
		&Sender{RequireFQDN: true, RequireDomain: true, DNS: r},
		&Recipient{RequireFQDN: true, Domains: []string{"example.test"}},
		&SPF{DNS: net},
		&DKIM{DNS: net, Max: 5},
		&DMARC{DNS: net, Rand: func(int) int { return 0 }},
		&Relay{Domains: []string{"example.test"}},
		&Greylist{Store: greylist.NewMemory(1000), Now: time.Now, Timing: greylist.Timing{RetryWindow: time.Hour, MaxAge: time.Hour},
			IPv4: 24, IPv6: 64, Whitelist: &GreyWhitelist{}},
	)
	env := func() *Envelope {
		return &Envelope{ClientIP: netip.MustParseAddr("192.0.2.10"), Helo: "mail.checks.test",
			From: "alice@checks.test", Rcpt: "bob@example.test", Rcpts: []string{"bob@example.test"},
			Headers: []Header{{"From", "<alice@checks.test>"}, {"Subject", "bench"}}}
	}
	return c, env
}

// runMessage runs every stage of one message as the milter does.
func runMessage(c *Chain, e *Envelope) int {
	ctx := context.Background()
	n := 0
	for _, s := range []Stage{StageConnect, StageHelo, StageMail, StageRcpt, StageData} {
		for _, r := range c.Run(ctx, s, e) {
			e.Take(r)
			n++
		}
		for _, r := range c.RunAfter(ctx, s, e) {
			e.Take(r)
			n++
		}
	}
	return n
}

// BenchmarkChainMessage is one message through the full chain's stages.
func BenchmarkChainMessage(b *testing.B) {
	c, env := benchChain(b)
	if n := runMessage(c, env()); n != 9 {
		b.Fatalf("%d results, want 9", n)
	}
	b.ReportAllocs()
	for b.Loop() {
		runMessage(c, env())
	}
}

// BenchmarkChainLocal is the chain's own cost: the stages whose checks
// never wait on the network (helo syntax, recipient, relay).
func BenchmarkChainLocal(b *testing.B) {
	c := NewChain(10*time.Second, time.Now, &Helo{RequireFQDN: true},
		&Recipient{RequireFQDN: true, Domains: []string{"example.test"}}, &Relay{Domains: []string{"example.test"}})
	e := &Envelope{Helo: "mail.checks.test", Rcpt: "bob@example.test"}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		c.Run(ctx, StageHelo, e)
		c.Run(ctx, StageRcpt, e)
	}
}

// Waits tells the session which phases need a progress timer: only those
// with a check that may wait on the network.
func TestChainWaits(t *testing.T) {
	pass := func(context.Context, *Envelope) Result { return Result{Status: Pass} }
	c := NewChain(time.Minute, time.Now,
		localHelo{fakeHelo{"local", pass}},
		&Greylist{Store: greylist.NewMemory(16)}, // local, runs after the others
		&Recipient{Domains: []string{"example.test"}},
	)
	for _, tt := range []struct {
		stage Stage
		after bool
		want  bool
	}{
		{StageHelo, false, false},
		{StageRcpt, false, false},
		{StageRcpt, true, false},
		{StageData, false, false},
		{Stage(-1), false, false},
	} {
		if got := c.Waits(tt.stage, tt.after); got != tt.want {
			t.Errorf("Waits(%v, %v) = %v, want %v", tt.stage, tt.after, got, tt.want)
		}
	}
	c = NewChain(time.Minute, time.Now, localHelo{fakeHelo{"local", pass}}, fakeHelo{"net", pass})
	if !c.Waits(StageHelo, false) || c.Waits(StageHelo, true) || c.Waits(StageMail, false) {
		t.Errorf("a network check at HELO: Waits(helo) = %v, Waits(helo, after) = %v, Waits(mail) = %v",
			c.Waits(StageHelo, false), c.Waits(StageHelo, true), c.Waits(StageMail, false))
	}
}
