package callout

import (
	"net/netip"
	"testing"
)

// TestRefusalEmbeddedIPv4: an IPv6 address that carries an IPv4 address
// (NAT64, 6to4, IPv4-compatible) is refused as that IPv4 address would be;
// allow_networks lists either.
func TestRefusalEmbeddedIPv4(t *testing.T) {
	v := New(Config{OwnAddrs: []netip.Addr{netip.MustParseAddr("192.0.2.25")}})
	defer v.Close()
	allowed := New(Config{AllowNetworks: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("64:ff9b:1::/48")}})
	defer allowed.Close()
	tests := []struct {
		ip, why, allowedWhy string
	}{
		{"64:ff9b::10.0.0.1", "private address 10.0.0.1 in 64:ff9b::/96", ""},
		{"64:ff9b::127.0.0.1", "loopback address 127.0.0.1 in 64:ff9b::/96", "loopback address 127.0.0.1 in 64:ff9b::/96"},
		{"64:ff9b::169.254.169.254", "link-local address 169.254.169.254 in 64:ff9b::/96", "link-local address 169.254.169.254 in 64:ff9b::/96"},
		{"64:ff9b::100.64.0.1", "shared address space (RFC 6598) 100.64.0.1 in 64:ff9b::/96", "shared address space (RFC 6598) 100.64.0.1 in 64:ff9b::/96"},
		{"64:ff9b::192.0.2.25", "one of our own addresses 192.0.2.25 in 64:ff9b::/96", ""},
		{"64:ff9b::8.8.8.8", "", ""},
		{"64:ff9b:1::a00:1", "local-use NAT64 address (RFC 8215)", ""},
		{"64:ff9b:1:ffff::", "local-use NAT64 address (RFC 8215)", ""},
		{"2002:a00:1::1", "private address 10.0.0.1 in 2002::/16", ""},
		{"2002:7f00:1::", "loopback address 127.0.0.1 in 2002::/16", "loopback address 127.0.0.1 in 2002::/16"},
		{"2002:c0a8:101::1", "private address 192.168.1.1 in 2002::/16", "private address 192.168.1.1 in 2002::/16"},
		{"2002:808:808::1", "", ""},
		{"::10.0.0.1", "private address 10.0.0.1 in ::/96", ""},
		{"::1", "loopback address", "loopback address"},
		{"::", "unspecified address", "unspecified address"},
		{"::ffff:10.0.0.1", "private address", ""},
		{"2001:db8::1", "", ""},
	}
	for _, tt := range tests {
		ip := netip.MustParseAddr(tt.ip)
		if got := v.refusal(ip); got != tt.why {
			t.Errorf("refusal(%s) = %q, want %q", tt.ip, got, tt.why)
		}
		if got := allowed.refusal(ip); got != tt.allowedWhy {
			t.Errorf("with allow_networks 10.0.0.0/8, 64:ff9b:1::/48: refusal(%s) = %q, want %q", tt.ip, got, tt.allowedWhy)
		}
	}
}
