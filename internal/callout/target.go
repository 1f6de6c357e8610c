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
)

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
	return ""
}
