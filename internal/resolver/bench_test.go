package resolver_test

import (
	"context"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/mailsift/mailsift/internal/resolver"
	"github.com/mailsift/mailsift/internal/resolver/dnstest"
)

// BenchmarkQuery compares a cached answer with a query that goes to the
// (loopback) server every time.
func BenchmarkQuery(b *testing.B) {
	srv := dnstest.Start(b, "../../testdata/zones/mailsift.test.zone")
	for _, bc := range []struct {
		name  string
		cache int
	}{{"cached", 100}, {"uncached", 0}} {
		b.Run(bc.name, func(b *testing.B) {
			r, err := resolver.New(resolver.Config{Servers: []string{srv.Addr}, Timeout: time.Second, CacheSize: bc.cache})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := r.Query(context.Background(), "mx.mailsift.test", dns.TypeA); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
