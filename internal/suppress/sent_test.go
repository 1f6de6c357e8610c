package suppress

import (
	"context"
	"testing"
	"time"

	"github.com/mailsift/mailsift/greylist/redistest"
	"github.com/mailsift/mailsift/internal/clocktest"
)

// sent drives a Sent as the milter does: an accepted submission recorded,
// bounces asking about it.
func sent(t *testing.T, s Sent, clock *clocktest.Clock, expires bool) {
	t.Helper()
	ctx := context.Background()
	if err := s.RecordSent(ctx, " <x@Ours.example> ", []string{"<Alice@Example.ORG>", "carol@example.org"}, clock.Now(), time.Hour); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		id, rcpt string
		want     bool
	}{
		{"<x@Ours.example>", "alice@example.org", true},
		{"x@Ours.example", "ALICE@example.org", true}, // brackets and the address's case do not matter
		{"<x@Ours.example>", "carol@example.org", true},
		{"<x@Ours.example>", "bob@example.org", false},     // not a recipient of x
		{"<forged@elsewhere>", "alice@example.org", false}, // not a message we sent
		{"<x@ours.example>", "alice@example.org", false},   // the Message-ID is compared as it is
		{"", "alice@example.org", false},
	} {
		if got, err := s.WasSent(ctx, tc.id, tc.rcpt, clock.Now()); got != tc.want || err != nil {
			t.Errorf("WasSent(%q, %q) = %v, %v; want %v", tc.id, tc.rcpt, got, err, tc.want)
		}
	}
	if err := s.RecordSent(ctx, "<>", []string{"a@example.org"}, clock.Now(), time.Hour); err == nil {
		t.Error("an empty Message-ID was recorded")
	}
	if !expires {
		return
	}
	clock.Add(59 * time.Minute)
	if ok, _ := s.WasSent(ctx, "<x@Ours.example>", "alice@example.org", clock.Now()); !ok {
		t.Error("forgotten within the window")
	}
	clock.Add(time.Minute)
	if ok, _ := s.WasSent(ctx, "<x@Ours.example>", "alice@example.org", clock.Now()); ok {
		t.Error("remembered past the window")
	}
}

func TestSentMemory(t *testing.T) {
	clock := clocktest.New(time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC))
	sent(t, NewSentMemory(0), clock, true)
}

// TestSentMemoryBounded: past Max messages the oldest is dropped; a
// message recorded again takes a new place.
func TestSentMemoryBounded(t *testing.T) {
	ctx := context.Background()
	clock := clocktest.New(time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC))
	m := NewSentMemory(3)
	for _, id := range []string{"a@x", "b@x", "c@x", "a@x", "d@x"} {
		if err := m.RecordSent(ctx, id, []string{"r@example.org"}, clock.Now(), time.Hour); err != nil {
			t.Fatal(err)
		}
		clock.Add(time.Second)
	}
	if m.Len() != 3 {
		t.Fatalf("%d messages kept, want 3", m.Len())
	}
	for id, want := range map[string]bool{"a@x": true, "b@x": false, "c@x": true, "d@x": true} {
		if ok, _ := m.WasSent(ctx, id, "r@example.org", clock.Now()); ok != want {
			t.Errorf("%s kept: %v, want %v", id, ok, want)
		}
	}
	// Expired messages are dropped as new ones come.
	clock.Add(2 * time.Hour)
	m.RecordSent(ctx, "e@x", []string{"r@example.org"}, clock.Now(), time.Hour)
	if m.Len() != 1 {
		t.Fatalf("%d messages kept after the window, want 1", m.Len())
	}
	// Many records of one message stay bounded.
	for range 100 {
		m.RecordSent(ctx, "e@x", []string{"r@example.org"}, clock.Now(), time.Hour)
	}
	if len(m.order) > 6 {
		t.Fatalf("%d places for one message", len(m.order))
	}
}

func TestSentRedis(t *testing.T) {
	srv := redistest.Start(t)
	r := NewRedis(RedisConfig{Addrs: []string{srv.Addr}, Prefix: "test:bounces:"})
	defer r.Close()
	clock := clocktest.New(time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC))
	sent(t, r, clock, false)
	// One set per Message-ID under the prefix, expiring with the window
	// (Redis keeps the time: its TTL is checked, not waited for).
	ctx := context.Background()
	members, err := r.Client().SMembers(ctx, "test:bounces:sent:x@Ours.example").Result()
	if err != nil || len(members) != 2 {
		t.Fatalf("set: %v %v", members, err)
	}
	ttl, err := r.Client().PTTL(ctx, "test:bounces:sent:x@Ours.example").Result()
	if err != nil || ttl <= 59*time.Minute || ttl > time.Hour {
		t.Fatalf("TTL %v %v, want about 1h", ttl, err)
	}
	srv.Stop()
	if _, err := r.WasSent(ctx, "<x@Ours.example>", "alice@example.org", clock.Now()); err == nil {
		t.Fatal("Redis down: no error")
	}
}
