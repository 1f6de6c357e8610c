package doctor

import (
	"context"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/mailsift/mailsift/internal/resolver"
)

// zoneOf answers the walker from a map, for fuzzing the record walk alone:
// every SPF record of the walk comes from the fuzzer.
type zoneOf map[string]string

func (z zoneOf) LookupTXT(_ context.Context, name string) ([]string, error) {
	if t, ok := z[strings.ToLower(strings.TrimSuffix(name, "."))]; ok {
		return []string{t}, nil
	}
	return nil, &resolver.Error{Name: name, Type: "TXT", Class: resolver.ErrNotFound}
}

func (z zoneOf) Query(_ context.Context, name string, qtype uint16) ([]dns.RR, error) {
	return nil, &resolver.Error{Name: name, Type: dns.TypeToString[qtype], Class: resolver.ErrNoData}
}

func FuzzSPFWalk(f *testing.F) {
	for _, s := range []string{
		"v=spf1 ip4:192.0.2.0/24 include:a.test -all",
		"v=spf1 a mx:b.test/24 ptr exists:%{i}.x.test redirect=a.test",
		"v=spf1 include:a.test include:a.test ~all",
		"v=spf1 ip6:2001:db8::/32 ?all exp=explain.test",
		"v=spf1 +all foo:bar 9x=1",
	} {
		f.Add(s, "v=spf1 include:top.test -all")
	}
	f.Fuzz(func(t *testing.T, top, inc string) {
		z := zoneOf{"top.test": top, "a.test": inc, "b.test": "v=spf1 -all"}
		w := walkSPF(context.Background(), z, "top.test", "v=spf1 "+top)
		if w.lookups < 0 || w.void < 0 || w.void > w.lookups+len(w.errs) {
			t.Fatalf("lookups %d void %d", w.lookups, w.void)
		}
	})
}
