package checks

import (
	"context"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
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
