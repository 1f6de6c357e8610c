package callout

import (
	"net/netip"
	"slices"
)

// Addresses a probe never reaches unless the operator lists them in
// AllowNetworks: an attacker's MX records name whatever they like, and a
// callout to an internal server would make mailsift its proxy (and quote
// its reply back to the client).
var (
	sharedNAT  = netip.MustParsePrefix("100.64.0.0/10") // RFC 6598 carrier-grade NAT
	thisNet    = netip.MustParsePrefix("0.0.0.0/8")     // RFC 791 "this network"
	reserved4  = netip.MustParsePrefix("240.0.0.0/4")   // RFC 1112 reserved, and broadcast
	benchmark  = netip.MustParsePrefix("198.18.0.0/15") // RFC 2544 benchmarking
	discardV6  = netip.MustParsePrefix("100::/64")      // RFC 6666 discard-only
	siteLocal6 = netip.MustParsePrefix("fec0::/10")     // RFC 3879 deprecated site-local

	// IPv6 prefixes that carry an IPv4 address: a probe there reaches the
	// IPv4 address (through a NAT64 gateway or a 6to4 relay), so it is
	// checked as that address.
	nat64      = netip.MustParsePrefix("64:ff9b::/96")   // RFC 6052 well-known prefix, IPv4 in the last 32 bits
	nat64Local = netip.MustParsePrefix("64:ff9b:1::/48") // RFC 8215 local-use: the site picks the layout
	sixToFour  = netip.MustParsePrefix("2002::/16")      // RFC 3056 6to4, IPv4 in bits 16-47
	compat4    = netip.MustParsePrefix("::/96")          // RFC 4291 §2.5.5.1 deprecated IPv4-compatible
)

// embeddedIPv4 returns the IPv4 address an IPv6 address carries and the
// prefix that says so; ok is false when it carries none. A local-use
// NAT64 address, whose layout only its site knows, returns an invalid
// address.
func embeddedIPv4(ip netip.Addr) (v4 netip.Addr, prefix netip.Prefix, ok bool) {
	if !ip.Is6() {
		return netip.Addr{}, netip.Prefix{}, false
	}
	b := ip.As16()
	switch {
	case nat64.Contains(ip):
		return netip.AddrFrom4([4]byte(b[12:16])), nat64, true
	case nat64Local.Contains(ip):
		return netip.Addr{}, nat64Local, true
	case sixToFour.Contains(ip):
		return netip.AddrFrom4([4]byte(b[2:6])), sixToFour, true
	case compat4.Contains(ip) && ip != netip.IPv6Unspecified() && ip != netip.IPv6Loopback():
		return netip.AddrFrom4([4]byte(b[12:16])), compat4, true
	}
	return netip.Addr{}, netip.Prefix{}, false
}

// refusal says why ip must not be probed, or "" when it may be.
func (v *Verifier) refusal(ip netip.Addr) string {
	ip = ip.Unmap()
	for _, p := range v.cfg.AllowNetworks {
		if p.Contains(ip) {
			return ""
		}
	}
	switch {
	case !ip.IsValid():
		return "not an address"
	case ip.IsUnspecified():
		return "unspecified address"
	case ip.IsLoopback():
		return "loopback address"
	case ip.IsPrivate(): // RFC 1918, RFC 4193
		return "private address"
	case sharedNAT.Contains(ip):
		return "shared address space (RFC 6598)"
	case ip.IsLinkLocalUnicast():
		return "link-local address"
	case ip.IsMulticast():
		return "multicast address"
	case thisNet.Contains(ip), reserved4.Contains(ip), benchmark.Contains(ip), discardV6.Contains(ip), siteLocal6.Contains(ip):
		return "reserved address"
	case slices.Contains(v.own, ip):
		return "one of our own addresses"
	}
	if v4, prefix, ok := embeddedIPv4(ip); ok {
		if !v4.IsValid() {
			return "local-use NAT64 address (RFC 8215)"
		}
		if why := v.refusal(v4); why != "" {
			return why + " " + v4.String() + " in " + prefix.String()
		}
	}
	return ""
}
