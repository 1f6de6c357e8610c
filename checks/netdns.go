package checks

import (
	"context"
	"net"
	"net/netip"
	"strings"

	"github.com/mailsift/mailsift/resolver"
)

// netDNS presents mailsift's resolver in the shape of *net.Resolver, with
// its errors as *net.DNSError, for the libraries that take one (SPF, DKIM
// key lookups): "not found" for NXDOMAIN and NODATA alike, as the standard
// library reports them, and "temporary" for a failure to get an answer.
func dnsErr(name string, err error) error {
	if err == nil {
		return nil
	}
	return &net.DNSError{Err: err.Error(), Name: name, IsNotFound: !resolver.IsTemporary(err),
		IsTemporary: resolver.IsTemporary(err), IsTimeout: false}
}

// NetResolver adapts r.
type NetResolver struct{ R *resolver.Resolver }

// LookupTXT implements the SPF library's resolver.
func (n NetResolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	txts, err := n.R.LookupTXT(ctx, name)
	return txts, dnsErr(name, err)
}

// LookupMX implements the SPF library's resolver.
func (n NetResolver) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	mxs, err := n.R.LookupMX(ctx, name)
	if err != nil {
		return nil, dnsErr(name, err)
	}
	out := make([]*net.MX, len(mxs))
	for i, mx := range mxs {
		out[i] = &net.MX{Host: mx.Host + ".", Pref: mx.Pref}
	}
	return out, nil
}

// LookupIPAddr implements the SPF library's resolver.
func (n NetResolver) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	addrs, err := n.R.LookupIP(ctx, host)
	if err != nil {
		return nil, dnsErr(host, err)
	}
	out := make([]net.IPAddr, len(addrs))
	for i, a := range addrs {
		out[i] = net.IPAddr{IP: a.AsSlice()}
	}
	return out, nil
}

// LookupAddr implements the SPF library's resolver.
func (n NetResolver) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return nil, &net.DNSError{Err: "invalid address", Name: addr, IsNotFound: true}
	}
	names, err := n.R.LookupAddr(ctx, ip)
	if err != nil {
		return nil, dnsErr(addr, err)
	}
	for i := range names {
		names[i] = strings.TrimSuffix(names[i], ".") + "."
	}
	return names, nil
}
