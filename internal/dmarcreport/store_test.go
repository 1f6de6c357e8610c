package dmarcreport

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/mailsift/mailsift/greylist/redistest"
)

// The memory and the Redis store keep the same things: records by time,
// received rows by their report's end, two alike records as two.
func TestStores(t *testing.T) {
	srv := redistest.Start(t)
	rs := NewRedis(RedisConfig{Addrs: []string{srv.Addr}, Prefix: "test:dmarc:", Timeout: time.Second})
	t.Cleanup(func() { rs.Close() })
	for name, st := range map[string]Store{"memory": &Memory{}, "redis": rs} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			rec := func(h int) Record {
				return Record{Time: day.Add(time.Duration(h) * time.Hour), SourceIP: netip.MustParseAddr("192.0.2.1"), HeaderFrom: "a.test", PolicyDomain: "a.test",
					Policy: Published{P: "reject", Pct: 100, RUA: []string{"mailto:d@a.test"}}, SPF: []SPFAuth{{Domain: "a.test", Scope: "mfrom", Result: "pass"}}, Disposition: "none"}
			}
			for _, h := range []int{5, 1, 1, 30} {
				if err := st.Add(ctx, rec(h)); err != nil {
					t.Fatal(err)
				}
			}
			got, err := st.Records(ctx, day, day.Add(24*time.Hour))
			if err != nil || len(got) != 3 || !got[0].Time.Equal(day.Add(time.Hour)) || !got[2].Time.Equal(day.Add(5*time.Hour)) ||
				got[0].SourceIP != netip.MustParseAddr("192.0.2.1") || got[0].Policy.RUA[0] != "mailto:d@a.test" {
				t.Fatalf("records %+v %v", got, err)
			}
			if err := st.Prune(ctx, day.Add(24*time.Hour)); err != nil {
				t.Fatal(err)
			}
			if got, _ := st.Records(ctx, time.Time{}, day.Add(100*time.Hour)); len(got) != 1 || !got[0].Time.Equal(day.Add(30*time.Hour)) {
				t.Fatalf("after prune %+v", got)
			}
			rows := []Row{{Reporter: "google.com", SourceIP: "192.0.2.9", Count: 4, End: day}, {Reporter: "yahoo.com", SourceIP: "192.0.2.9", Count: 1, End: day.Add(48 * time.Hour)}}
			if err := st.AddRows(ctx, rows); err != nil {
				t.Fatal(err)
			}
			if got, err := st.Rows(ctx, day.Add(time.Hour)); err != nil || len(got) != 1 || got[0].Reporter != "yahoo.com" {
				t.Fatalf("rows since %+v %v", got, err)
			}
			st.PruneRows(ctx, day.Add(time.Hour))
			if got, _ := st.Rows(ctx, time.Time{}); len(got) != 1 {
				t.Fatalf("rows after prune %+v", got)
			}
		})
	}
}

// Redis down is an error that names the store, never a silent loss.
func TestRedisDown(t *testing.T) {
	srv := redistest.Start(t)
	rs := NewRedis(RedisConfig{Addrs: []string{srv.Addr}, Prefix: "t:", Timeout: 200 * time.Millisecond})
	t.Cleanup(func() { rs.Close() })
	srv.Stop()
	if err := rs.Add(context.Background(), Record{Time: day}); err == nil {
		t.Fatal("no error with Redis down")
	}
}
