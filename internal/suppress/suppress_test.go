package suppress

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailsift/mailsift/greylist/redistest"
	"github.com/mailsift/mailsift/internal/clocktest"
)

var policy = Policy{HardLimit: 3, SoftLimit: 5, Window: 168 * time.Hour}

// bounces drives a list as the milter does: bounces recorded as they come,
// the check asking whether an address is suppressed, an admin deleting.
func bounces(t *testing.T, store Store) {
	t.Helper()
	ctx := context.Background()
	clock := clocktest.New(time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC))
	export := filepath.Join(t.TempDir(), "suppressed.json")
	l := &List{Store: store, Policy: policy, Now: clock.Now, Export: export}
	hard := Bounce{Status: "5.1.1", Class: "user-unknown", Hard: true}
	soft := Bounce{Status: "5.2.2", Class: "mailbox-full"}

	// Two hard bounces, then one leaves the window: not suppressed.
	for range 2 {
		if e, newly, err := l.Record(ctx, "dead@Example.ORG.", hard); err != nil || e.Suppressed || newly {
			t.Fatalf("hard bounce: %+v %v %v", e, newly, err)
		}
		clock.Add(100 * time.Hour)
	}
	e, ok, err := l.Lookup(ctx, "<dead@example.org>")
	if err != nil || !ok || e.Hard != 1 || e.Suppressed {
		t.Fatalf("after 200h: %+v %v %v", e, ok, err)
	}
	if _, err := os.Stat(export); !os.IsNotExist(err) {
		t.Fatalf("export written before anything was suppressed: %v", err)
	}
	// Two more within the window: three hard bounces suppress.
	l.Record(ctx, "dead@example.org", hard)
	clock.Add(time.Hour)
	e, newly, err := l.Record(ctx, "dead@example.org", hard)
	if err != nil || !e.Suppressed || !newly || e.Bounces != 3 || !e.Since.Equal(clock.Now()) {
		t.Fatalf("third hard bounce: %+v %v %v", e, newly, err)
	}
	if got, want := e.LastText(), "5.1.1 user unknown, 2026-12-07"; got != want {
		t.Fatalf("LastText = %q, want %q", got, want)
	}
	// Suppression is kept after the window, whatever comes next.
	clock.Add(1000 * time.Hour)
	if e, newly, _ := l.Record(ctx, "dead@example.org", soft); !e.Suppressed || newly || e.Last.Class != "user-unknown" {
		t.Fatalf("bounce after suppression: %+v", e)
	}
	if e, ok, err := l.Suppressed(ctx, "dead@example.org"); !ok || err != nil || e.Bounces != 3 {
		t.Fatalf("still suppressed: %+v %v %v", e, ok, err)
	}
	// The local part keeps its case.
	if _, ok, _ := l.Suppressed(ctx, "Dead@example.org"); ok {
		t.Fatal("Dead@example.org is another address")
	}

	// Soft bounces: five are not enough, the sixth is over the limit.
	for i := range 6 {
		e, _, err := l.Record(ctx, "full@example.org", soft)
		if err != nil || e.Suppressed != (i == 5) || (i < 5 && e.Soft != i+1) {
			t.Fatalf("soft bounce %d: %+v %v", i+1, e, err)
		}
		clock.Add(time.Hour)
	}
	all, err := l.All(ctx)
	if err != nil || len(all) != 2 || all[0].Address != "dead@example.org" || all[1].Address != "full@example.org" || all[1].Bounces != 6 {
		t.Fatalf("All: %+v %v", all, err)
	}
	x, err := ReadExport(export)
	if err != nil || len(x) != 2 || x[1].Last.Status != "5.2.2" {
		t.Fatalf("export: %+v %v", x, err)
	}

	// Delete: the address and its counts are forgotten, the export too.
	if ok, err := l.Delete(ctx, "dead@example.org"); !ok || err != nil {
		t.Fatalf("delete: %v %v", ok, err)
	}
	if ok, err := l.Delete(ctx, "dead@example.org"); ok || err != nil {
		t.Fatalf("second delete: %v %v", ok, err)
	}
	if _, ok, _ := l.Lookup(ctx, "dead@example.org"); ok {
		t.Fatal("deleted address still known")
	}
	if x, _ := ReadExport(export); len(x) != 1 || x[0].Address != "full@example.org" {
		t.Fatalf("export after delete: %+v", x)
	}
	if e, _, _ := l.Record(ctx, "dead@example.org", hard); e.Suppressed || e.Hard != 1 {
		t.Fatalf("bounce after delete counts from one: %+v", e)
	}
	// Unknown addresses.
	if e, ok, err := l.Lookup(ctx, "nobody@example.org"); ok || err != nil || e.Suppressed {
		t.Fatalf("unknown: %+v %v %v", e, ok, err)
	}
}

func TestMemory(t *testing.T) { bounces(t, NewMemory(nil)) }

func TestRedis(t *testing.T) {
	srv := redistest.Start(t)
	r := NewRedis(RedisConfig{Addrs: []string{srv.Addr}, Prefix: "test:bounces:"})
	defer r.Close()
	bounces(t, r)
}

// TestMemoryFromExport: a restarted process starts with the list it wrote.
func TestMemoryFromExport(t *testing.T) {
	ctx := context.Background()
	clock := clocktest.New(time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC))
	export := filepath.Join(t.TempDir(), "suppressed.json")
	l := &List{Store: NewMemory(nil), Policy: policy, Now: clock.Now, Export: export}
	for range 3 {
		l.Record(ctx, "dead@example.org", Bounce{Status: "5.1.1", Class: "user-unknown", Hard: true})
	}
	es, err := ReadExport(export)
	if err != nil {
		t.Fatal(err)
	}
	l2 := &List{Store: NewMemory(es), Policy: policy, Now: clock.Now}
	if e, ok, _ := l2.Suppressed(ctx, "dead@example.org"); !ok || e.LastText() != "5.1.1 user unknown, 2026-11-29" {
		t.Fatalf("after restart: %+v %v", e, ok)
	}
}

func TestExportUnwritable(t *testing.T) {
	ctx := context.Background()
	l := &List{Store: NewMemory(nil), Policy: Policy{HardLimit: 1}, Now: time.Now, Export: "/nonexistent/dir/x.json"}
	e, newly, err := l.Record(ctx, "a@example.org", Bounce{Hard: true})
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/dir/x.json") {
		t.Fatalf("want an error naming the export file, got %v", err)
	}
	if !e.Suppressed || !newly || e.Address != "a@example.org" {
		t.Fatalf("the bounce is recorded all the same: %+v %v", e, newly)
	}
}
