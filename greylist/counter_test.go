package greylist

import (
	"context"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/mailsift/mailsift/greylist/redistest"
)

// rollingDay runs the 24-hour edge against a Counter: an event counts
// until exactly 24 hours after it, and not from then on.
func rollingDay(t *testing.T, c Counter) {
	t.Helper()
	ctx := context.Background()
	day := 24 * time.Hour
	alice, bob := CountKey("alice"), CountKey("bob")
	for i, st := range []struct {
		add  bool
		key  Key
		at   time.Duration
		want int
	}{
		{false, alice, 0, 0},
		{true, alice, 0, 1},
		{true, alice, 0, 2}, // same instant: both count
		{true, alice, time.Hour, 3},
		{true, bob, time.Hour, 1},
		{false, alice, day - time.Millisecond, 3},
		{false, alice, day, 1}, // the two at 0 have left the window
		{false, alice, day + time.Hour - time.Millisecond, 1},
		{false, alice, day + time.Hour, 0},
		{true, alice, day + time.Hour, 1},
		{false, bob, day + time.Hour, 0},
	} {
		var n int
		var err error
		if st.add {
			n, err = c.Add(ctx, st.key, t0.Add(st.at), day)
		} else {
			n, err = c.Count(ctx, st.key, t0.Add(st.at), day)
		}
		if err != nil || n != st.want {
			t.Fatalf("step %d (add %v at %v): %d %v, want %d", i, st.add, st.at, n, err, st.want)
		}
	}
}

func TestCounterMemory(t *testing.T) { rollingDay(t, NewMemory(1000)) }

func TestCounterRedis(t *testing.T) {
	srv := redistest.Start(t)
	r := NewRedis(RedisConfig{Addrs: []string{srv.Addr}, Prefix: "test:", Timeout: time.Second}, zap.NewNop())
	defer r.Close()
	rollingDay(t, r)
	// A second host on the same Redis sees the same count.
	r2 := NewRedis(RedisConfig{Addrs: []string{srv.Addr}, Prefix: "test:", Timeout: time.Second}, zap.NewNop())
	defer r2.Close()
	if n, err := r2.Count(context.Background(), CountKey("alice"), t0.Add(25*time.Hour), 24*time.Hour); err != nil || n != 1 {
		t.Fatalf("other host: %d %v, want 1", n, err)
	}
	srv.Stop()
	if _, err := r2.Add(context.Background(), CountKey("alice"), t0, time.Hour); err == nil {
		t.Fatal("Add with Redis down: no error")
	}
}

func TestCounterMemorySweeps(t *testing.T) {
	m := NewMemory(1000)
	ctx := context.Background()
	for i := range sweepEvery - 1 {
		m.Add(ctx, CountKey(string(rune('a'+i%26))+string(rune(i))), t0, time.Hour)
	}
	m.Add(ctx, CountKey("late"), t0.Add(2*time.Hour), time.Hour)
	if n := len(m.counts.events); n != 1 {
		t.Fatalf("%d keys kept after the sweep, want 1", n)
	}
}
