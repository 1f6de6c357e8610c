package greylist

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var timing = Timing{Delay: 5 * time.Minute, RetryWindow: 48 * time.Hour, MaxAge: 35 * 24 * time.Hour, AWLCount: 5}

var t0 = time.Unix(1_800_000_000, 0)

type step struct {
	at      time.Duration // since t0
	client  string
	verdict Verdict
	retryIn time.Duration
}

func run(t *testing.T, s Store, triplet func(client string) Key, steps []step) {
	t.Helper()
	for i, st := range steps {
		r, err := s.Check(context.Background(), ClientKey(st.client), triplet(st.client), t0.Add(st.at), timing)
		if err != nil {
			t.Fatal(err)
		}
		if r.Verdict != st.verdict || r.RetryIn != st.retryIn {
			t.Fatalf("step %d (%v): %s retry in %v, want %s retry in %v", i, st.at, r.Verdict, r.RetryIn, st.verdict, st.retryIn)
		}
	}
}

func sameTriplet(client string) Key {
	return TripletKey(client, "alice@example.org", "bob@example.net")
}

func TestTripletLifecycle(t *testing.T) {
	run(t, NewMemory(100), sameTriplet, []step{
		{0, "net:192.0.2.0/24", Greylisted, 5 * time.Minute},
		{time.Minute, "net:192.0.2.0/24", Greylisted, 4 * time.Minute}, // too early: the clock is not reset
		{5 * time.Minute, "net:192.0.2.0/24", FirstPass, 0},
		{time.Hour, "net:192.0.2.0/24", Known, 0},
		{35*24*time.Hour + time.Hour - time.Second, "net:192.0.2.0/24", Known, 0}, // refreshed at 1h
		// a triplet never retried expires after the window
		{0, "net:198.51.100.0/24", Greylisted, 5 * time.Minute},
		{48*time.Hour + time.Second, "net:198.51.100.0/24", Greylisted, 5 * time.Minute},
		{48*time.Hour + 5*time.Minute, "net:198.51.100.0/24", Greylisted, time.Second},
		{48*time.Hour + 5*time.Minute + time.Second, "net:198.51.100.0/24", FirstPass, 0},
	})
}

func TestMaxAge(t *testing.T) {
	run(t, NewMemory(100), sameTriplet, []step{
		{0, "c", Greylisted, 5 * time.Minute},
		{5 * time.Minute, "c", FirstPass, 0},
		{5*time.Minute + 35*24*time.Hour, "c", Greylisted, 5 * time.Minute}, // not used for 35 days: forgotten
	})
}

// A client key that passed 5 times, counted once an hour, is whitelisted:
// a new triplet from it is not delayed.
func TestAutoWhitelist(t *testing.T) {
	m := NewMemory(100)
	client := "org:example.net"
	ctx := context.Background()
	pass := func(name string, at time.Duration, wantPasses int) {
		t.Helper()
		trip := TripletKey(client, "s", name)
		run(t, m, func(string) Key { return trip }, []step{
			{at, client, Greylisted, 5 * time.Minute},
			{at + 5*time.Minute, client, FirstPass, 0},
		})
		if r, _ := m.Check(ctx, ClientKey(client), trip, t0.Add(at+6*time.Minute), timing); r.Passes != wantPasses {
			t.Fatalf("%s: %d counted passes, want %d", name, r.Passes, wantPasses)
		}
	}
	pass("r1", 0, 1)
	pass("r2", 10*time.Minute, 1) // within the hour: not counted
	pass("r3", time.Hour+5*time.Minute, 2)
	pass("r4", 2*time.Hour+10*time.Minute, 3)
	pass("r5", 3*time.Hour+15*time.Minute, 4)
	if r, _ := m.Check(ctx, ClientKey(client), TripletKey(client, "s", "new"), t0.Add(4*time.Hour), timing); r.Verdict != Greylisted {
		t.Fatalf("after 4 counted passes: %+v", r)
	}
	pass("r6", 4*time.Hour+20*time.Minute, 5)
	r, _ := m.Check(ctx, ClientKey(client), TripletKey(client, "s", "another"), t0.Add(5*time.Hour), timing)
	if r.Verdict != Whitelisted || r.Passes != 5 {
		t.Fatalf("after 5 counted passes: %+v", r)
	}
	off := timing
	off.AWLCount = 0
	if r, _ = m.Check(ctx, ClientKey(client), TripletKey(client, "s", "third"), t0.Add(5*time.Hour), off); r.Verdict != Greylisted {
		t.Fatalf("AWL off: %+v", r)
	}
}

// Big senders retry from another address of their pool: with the
// organizational domain of the verified hostname as the client key, the
// retry from another /24 passes; with networks it would be delayed again.
func TestPoolRetry(t *testing.T) {
	m := NewMemory(100)
	first := Client(netip.MustParseAddr("192.0.2.10"), "mail-a.outbound.protection.outlook.com", true, 24, 64)
	retry := Client(netip.MustParseAddr("198.51.100.20"), "mail-b.outbound.protection.outlook.com", true, 24, 64)
	trip := func(c ClientID) Key { return TripletKey(c.Key, "alice@example.org", "bob@example.net") }
	r, _ := m.Check(context.Background(), ClientKey(first.Key), trip(first), t0, timing)
	if r.Verdict != Greylisted {
		t.Fatal(r)
	}
	r, _ = m.Check(context.Background(), ClientKey(retry.Key), trip(retry), t0.Add(6*time.Minute), timing)
	if r.Verdict != FirstPass {
		t.Fatalf("pool retry from another /24: %+v (keys %s, %s)", r, first.Key, retry.Key)
	}
	byNet := Client(netip.MustParseAddr("198.51.100.20"), "", true, 24, 64)
	r, _ = m.Check(context.Background(), ClientKey(byNet.Key), trip(byNet), t0.Add(6*time.Minute), timing)
	if r.Verdict != Greylisted {
		t.Fatalf("unverified retry from another /24: %+v", r)
	}
}

func TestEvictionCounted(t *testing.T) {
	m := NewMemory(4)
	for i := range 10 {
		m.Check(context.Background(), ClientKey("c"), TripletKey("c", "s", string(rune('a'+i))), t0, timing)
	}
	if m.Len() != 4 || m.Evictions() == 0 {
		t.Fatalf("len %d, evictions %d", m.Len(), m.Evictions())
	}
}

// Only the LRU bound's push-outs are evictions: an admin's delete and an
// expired entry dropped on lookup are not, and do not make the store look
// full (the "greylist full" warning at the next snapshot).
func TestDeleteAndExpiryAreNotEvictions(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	p := OpenPersistent(filepath.Join(t.TempDir(), "s"), 100, 0, func() time.Time { return t0 }, zap.New(core))
	ctx := context.Background()
	p.Check(ctx, ClientKey("c"), sameTriplet("c"), t0, timing)
	p.Check(ctx, ClientKey("d"), sameTriplet("d"), t0, timing)
	if err := p.Delete(ctx, sameTriplet("c")); err != nil {
		t.Fatal(err)
	}
	p.Check(ctx, ClientKey("d"), sameTriplet("d"), t0.Add(49*time.Hour), timing) // d expired: dropped, then new
	if n := p.Evictions(); n != 0 {
		t.Fatalf("%d evictions after a delete and an expiry, want 0", n)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if n := logs.FilterMessageSnippet("greylist full").Len(); n != 0 {
		t.Fatalf("%d \"greylist full\" warnings", n)
	}
}

// A snapshot write cut short (SIGKILL) leaves its temporary file: the next
// start removes it, and says so. A file that is not a temporary of this
// snapshot stays.
func TestSnapshotTemporariesRemoved(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "greylist.snapshot")
	for _, f := range []string{"greylist.snapshot.tmp123", "greylist.snapshot.tmp4567", "other.tmp1", "greylist.snapshotX.tmp1"} {
		os.WriteFile(filepath.Join(dir, f), []byte("half"), 0o600)
	}
	core, logs := observer.New(zap.InfoLevel)
	p := OpenPersistent(path, 100, 0, func() time.Time { return t0 }, zap.New(core))
	p.Close()
	var left []string
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		left = append(left, e.Name())
	}
	if got := strings.Join(left, " "); got != "greylist.snapshot greylist.snapshotX.tmp1 other.tmp1" {
		t.Fatalf("files after start: %s", got)
	}
	if n := logs.FilterMessage("removed a greylist snapshot temporary left by an interrupted write").Len(); n != 2 {
		t.Fatalf("%d removals logged, want 2", n)
	}
}

// A first start, with no snapshot file, does not claim to have restored one.
func TestSnapshotMissingLogged(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	path := filepath.Join(t.TempDir(), "greylist.snapshot")
	p := OpenPersistent(path, 100, 0, func() time.Time { return t0 }, zap.New(core))
	defer p.Close()
	if n := logs.FilterMessage("greylist snapshot restored").Len(); n != 0 {
		t.Fatalf("\"greylist snapshot restored\" logged for a missing file")
	}
	if e := logs.FilterMessage("no greylist snapshot yet; starting with an empty greylist").All(); len(e) != 1 || e[0].ContextMap()["file.path"] != path {
		t.Fatalf("missing snapshot: %v", logs.All())
	}
}

func TestSnapshot(t *testing.T) {
	path := filepath.Join(t.TempDir(), "greylist.snapshot")
	log := zap.NewNop()
	p := OpenPersistent(path, 100, 0, func() time.Time { return t0.Add(5 * time.Minute) }, log)
	ctx := context.Background()
	p.Check(ctx, ClientKey("c"), sameTriplet("c"), t0, timing)
	p.Check(ctx, ClientKey("c"), sameTriplet("c"), t0.Add(5*time.Minute), timing) // passed
	p.Check(ctx, ClientKey("d"), sameTriplet("d"), t0.Add(4*time.Minute), timing) // pending
	p.Check(ctx, ClientKey("e"), sameTriplet("e"), t0.Add(-49*time.Hour), timing) // expired by now
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	// A restart: a new store from the file keeps the state.
	q := OpenPersistent(path, 100, 0, func() time.Time { return t0.Add(10 * time.Minute) }, log)
	defer q.Close()
	if r, _ := q.Check(ctx, ClientKey("c"), sameTriplet("c"), t0.Add(10*time.Minute), timing); r.Verdict != Known {
		t.Fatalf("passed triplet after restart: %+v", r)
	}
	if r, _ := q.Check(ctx, ClientKey("d"), sameTriplet("d"), t0.Add(9*time.Minute), timing); r.Verdict != FirstPass {
		t.Fatalf("pending triplet after restart: %+v", r)
	}
	if q.Len() != 4 { // c, d and their client keys; e was past its window
		t.Fatalf("%d entries after restart, want 4", q.Len())
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("files left beside the snapshot: %v", entries)
	}
}

func TestCorruptSnapshot(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	m := NewMemory(10)
	m.Check(context.Background(), ClientKey("c"), sameTriplet("c"), t0, timing)
	if _, err := m.WriteSnapshot(good, t0); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(good)
	for name, bad := range map[string][]byte{
		"truncated": data[:len(data)-7],
		"flipped":   append(append([]byte{}, data[:12]...), append([]byte{data[12] ^ 0xff}, data[13:]...)...),
		"foreign":   []byte("hello, this is not a snapshot at all"),
		"empty":     nil,
	} {
		path := filepath.Join(dir, name)
		os.WriteFile(path, bad, 0o600)
		_, err := NewMemory(10).ReadSnapshot(path, t0)
		if err == nil || !strings.HasPrefix(err.Error(), "greylist snapshot: "+path+": ") {
			t.Errorf("%s: err = %v", name, err)
		}
		// Start-up goes on, empty, with the reason logged.
		p := OpenPersistent(path, 10, 0, func() time.Time { return t0 }, zap.NewNop())
		if p.Len() != 0 {
			t.Errorf("%s: %d entries from a bad snapshot", name, p.Len())
		}
		p.Close()
	}
}

// BenchmarkMemoryCheck reports lookups per second and, at 1,000,000
// entries, the bytes each entry costs (target ≤ 200).
func BenchmarkMemoryCheck(b *testing.B) {
	const n = 1_000_000
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	m := NewMemory(n)
	keys := make([]Key, n)
	for i := range keys {
		keys[i] = TripletKey("net:192.0.2.0/24", "sender", string(rune(i)))
		keys[i][0], keys[i][1], keys[i][2] = byte(i), byte(i>>8), byte(i>>16)
		m.Check(context.Background(), ClientKey("c"), keys[i], t0, timing)
	}
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	perEntry := float64(after.HeapAlloc-before.HeapAlloc-uint64(n*16)) / float64(m.Len())
	i := 0
	for b.Loop() {
		m.Check(context.Background(), ClientKey("c"), keys[i%n], t0.Add(time.Hour), timing)
		i++
	}
	runtime.KeepAlive(keys)
	b.ReportMetric(perEntry, "bytes/entry")
}
