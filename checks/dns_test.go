package checks

import (
	"testing"
	"time"

	"github.com/mailsift/mailsift/internal/resolver"
	"github.com/mailsift/mailsift/internal/resolver/dnstest"
)

// testDNS serves testdata/zones and returns a resolver asking it, with a
// short timeout so that a silent name times out quickly.
func testDNS(t testing.TB) (*resolver.Resolver, *dnstest.Server) {
	t.Helper()
	srv := dnstest.Start(t)
	if err := srv.LoadDir("../testdata/zones"); err != nil {
		t.Fatal(err)
	}
	r, err := resolver.New(resolver.Config{Servers: []string{srv.Addr}, Timeout: 100 * time.Millisecond, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	return r, srv
}

func reply(t *testing.T, check, key string) Reply {
	t.Helper()
	r, ok := DefaultReply(check, key)
	if !ok {
		t.Fatalf("no reply %s.%s in the table", check, key)
	}
	return r
}
