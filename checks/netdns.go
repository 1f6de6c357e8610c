package checks

import (
	"context"
	"net"

	"github.com/mailsift/mailsift/internal/resolver"
)

// dnsErr presents a resolver error as *net.DNSError, for go-msgauth's
// DKIM key lookups: "not found" for NXDOMAIN and NODATA alike, as the
// standard library reports them, and "temporary" for a failure to get an
// answer.
func dnsErr(name string, err error) error {
	if err == nil {
		return nil
	}
	return &net.DNSError{Err: err.Error(), Name: name, IsNotFound: !resolver.IsTemporary(err),
		IsTemporary: resolver.IsTemporary(err), IsTimeout: false}
}

// NetResolver is mailsift's resolver for the checks that look up TXT
// records (SPF, DKIM keys, DMARC policies).
type NetResolver struct{ R *resolver.Resolver }

// LookupTXT looks up name's TXT records, its error a *net.DNSError.
func (n NetResolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	txts, err := n.R.LookupTXT(ctx, name)
	return txts, dnsErr(name, err)
}
