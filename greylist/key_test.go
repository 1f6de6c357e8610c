package greylist

import (
	"net/netip"
	"testing"
)

func TestNormalizeSender(t *testing.T) {
	for in, want := range map[string]string{
		"":                                           "<>",
		"Alice@Example.ORG":                          "Alice@example.org",
		"alice+news@example.org":                     "alice@example.org",
		"prvs=1234abcdef=alice@example.org":          "alice@example.org",
		"prvs=9876fedcba=alice@example.org":          "alice@example.org",
		"btv1==123==alice@example.org":               "alice@example.org",
		"SRS0=HHH=TT=orig.example=alice@fwd.example": "srs0=#=orig.example=alice@fwd.example",
		"SRS0=XyZ=QQ=orig.example=alice@fwd.example": "srs0=#=orig.example=alice@fwd.example",
		"bounce-12345-67@lists.example.org":          "bounce-#-#@lists.example.org",
		"bounce-12346-67@lists.example.org":          "bounce-#-#@lists.example.org",
		"user2000@example.org":                       "user2000@example.org",
		"unqualified":                                "unqualified",
	} {
		if got := NormalizeSender(in, "+"); got != want {
			t.Errorf("NormalizeSender(%q) = %q, want %q", in, got, want)
		}
	}
	if got := NormalizeSender("a+b@x.example", ""); got != "a+b@x.example" {
		t.Errorf("no delimiter: %q", got)
	}
}

func TestClient(t *testing.T) {
	for _, tt := range []struct {
		ip, verified string
		org          bool
		want, kind   string
	}{
		{"192.0.2.77", "", true, "net:192.0.2.0/24", "network"},
		{"2001:db8:1:2:3::4", "", true, "net:2001:db8:1:2::/64", "network"},
		{"192.0.2.77", "mail-am6eur05.outbound.protection.outlook.com", true, "org:outlook.com", "org-domain"},
		{"198.51.100.9", "mail-xyz.outbound.protection.OUTLOOK.com.", true, "org:outlook.com", "org-domain"},
		{"192.0.2.77", "mail.example.co.uk", true, "org:example.co.uk", "org-domain"},
		{"192.0.2.77", "mail.example.co.uk", false, "net:192.0.2.0/24", "network"},
		{"192.0.2.77", "co.uk", true, "net:192.0.2.0/24", "network"},
	} {
		got := Client(netip.MustParseAddr(tt.ip), tt.verified, tt.org, 24, 64)
		if got.Key != tt.want || got.Kind != tt.kind {
			t.Errorf("Client(%s, %q) = %+v, want %s %s", tt.ip, tt.verified, got, tt.want, tt.kind)
		}
	}
}
