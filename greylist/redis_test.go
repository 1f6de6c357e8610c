package greylist

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/mailsift/mailsift/greylist/redistest"
)

// Two stores on one Redis are two MX hosts: the retry that lands on the
// second one passes, and the policy is the memory store's.
func TestRedisSharedAndOutage(t *testing.T) {
	srv := redistest.Start(t)
	core, logs := observer.New(zap.InfoLevel)
	log := zap.New(core)
	a := NewRedis(RedisConfig{Addrs: []string{srv.Addr}, Prefix: "test:", Timeout: 300 * time.Millisecond}, log)
	b := NewRedis(RedisConfig{Addrs: []string{srv.Addr}, Prefix: "test:", Timeout: 300 * time.Millisecond}, log)
	defer a.Close()
	defer b.Close()
	ctx := context.Background()
	c, trip := ClientKey("net:192.0.2.0/24"), sameTriplet("net:192.0.2.0/24")
	for i, st := range []struct {
		s       Store
		at      time.Duration
		verdict Verdict
		retry   time.Duration
	}{
		{a, 0, Greylisted, 5 * time.Minute},
		{b, time.Minute, Greylisted, 4 * time.Minute},
		{b, 5 * time.Minute, FirstPass, 0},
		{a, time.Hour, Known, 0},
	} {
		r, err := st.s.Check(ctx, c, trip, t0.Add(st.at), timing)
		if err != nil || r.Verdict != st.verdict || r.RetryIn != st.retry {
			t.Fatalf("step %d: %+v %v, want %s in %v", i, r, err, st.verdict, st.retry)
		}
	}
	// The same steps as the memory store's tests give the same verdicts.
	run(t, a, func(client string) Key { return TripletKey(client, "x", "y") }, []step{
		{0, "net:198.51.100.0/24", Greylisted, 5 * time.Minute},
		{48*time.Hour + time.Second, "net:198.51.100.0/24", Greylisted, 5 * time.Minute},
		{48*time.Hour + 5*time.Minute + time.Second, "net:198.51.100.0/24", FirstPass, 0},
	})

	// Outage: errors, logged once; then recovery without a restart.
	srv.Stop()
	for range 3 {
		if _, err := a.Check(ctx, c, sameTriplet("other"), t0, timing); err == nil {
			t.Fatal("no error with Redis down")
		}
	}
	if n := logs.FilterMessage("greylist store unreachable").Len(); n != 1 || a.Outages() != 1 {
		t.Fatalf("outage logged %d times, counted %d; want once", n, a.Outages())
	}
	srv.Restart()
	r, err := a.Check(ctx, c, sameTriplet("other"), t0, timing)
	if err != nil || r.Verdict != Greylisted {
		t.Fatalf("after Redis came back: %+v %v", r, err)
	}
	if logs.FilterMessage("greylist store reachable again").Len() != 1 {
		t.Fatalf("recovery not logged: %v", logs.All())
	}
	if e, _ := logs.FilterMessage("greylist store unreachable").All()[0].ContextMap()["error"].(string); !strings.Contains(e, "connect: connection refused") {
		t.Fatalf("outage record error = %q, want the cause", e)
	}
}

// BenchmarkRedisCheck reports lookups per second against a real Redis on
// loopback, for the side-by-side figure with BenchmarkMemoryCheck.
func BenchmarkRedisCheck(b *testing.B) {
	srv := redistest.Start(b)
	r := NewRedis(RedisConfig{Addrs: []string{srv.Addr}, Prefix: "bench:"}, zap.NewNop())
	defer r.Close()
	c := ClientKey("c")
	i := 0
	for b.Loop() {
		if _, err := r.Check(context.Background(), c, TripletKey("c", "s", string(rune(i%50000))), t0, timing); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
