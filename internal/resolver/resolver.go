// Package resolver is the one DNS resolver every mailsift check uses: a stub
// resolver on github.com/miekg/dns with a TTL-respecting cache, negative
// caching (RFC 2308), single flight for identical concurrent questions, and
// errors that tell "does not exist" from "could not find out".
package resolver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/miekg/dns"
	"golang.org/x/net/idna"
	"golang.org/x/sync/singleflight"
)

// Config configures a Resolver.
type Config struct {
	// Servers are "host:port" addresses; empty means /etc/resolv.conf.
	Servers []string
	// Timeout bounds one query to one server.
	Timeout time.Duration
	// Attempts is how many queries are sent in all before giving up, going
	// round the servers.
	Attempts int
	// CacheSize bounds the cache in entries (questions); 0 disables it.
	CacheSize int
	// MaxTTL caps how long any answer is cached.
	MaxTTL time.Duration
	// Now is the clock for cache expiry; nil means time.Now.
	Now func() time.Time
	// Observe, if set, is told "hit" or "miss" for each cache lookup and
	// "answer", "nxdomain", "nodata" or "error" for each question sent.
	Observe func(event string)
}

// Resolver answers DNS questions. It is safe for concurrent use.
type Resolver struct {
	servers  []string
	timeout  time.Duration
	attempts int
	maxTTL   time.Duration
	now      func() time.Time
	observe  func(string)
	cache    *lru.Cache[key, entry]
	flight   singleflight.Group
}

type key struct {
	name  string
	qtype uint16
}

type entry struct {
	rrs     []dns.RR
	err     error // ErrNotFound or ErrNoData for a cached negative answer
	expires time.Time
}

// New returns a Resolver for cfg.
func New(cfg Config) (*Resolver, error) {
	r := &Resolver{servers: cfg.Servers, timeout: cfg.Timeout, attempts: cfg.Attempts, maxTTL: cfg.MaxTTL, now: cfg.Now}
	if len(r.servers) == 0 {
		cc, err := dns.ClientConfigFromFile("/etc/resolv.conf")
		if err != nil {
			return nil, fmt.Errorf("resolver: no servers configured and /etc/resolv.conf unreadable: %w", err)
		}
		for _, s := range cc.Servers {
			r.servers = append(r.servers, net.JoinHostPort(s, cc.Port))
		}
		if len(r.servers) == 0 {
			return nil, errors.New("resolver: no servers configured and none in /etc/resolv.conf")
		}
	}
	if r.timeout <= 0 {
		r.timeout = 2 * time.Second
	}
	if r.attempts <= 0 {
		r.attempts = 2
	}
	if r.maxTTL <= 0 {
		r.maxTTL = 24 * time.Hour
	}
	if r.now == nil {
		r.now = time.Now
	}
	r.observe = cfg.Observe
	if r.observe == nil {
		r.observe = func(string) {}
	}
	if cfg.CacheSize > 0 {
		c, err := lru.New[key, entry](cfg.CacheSize)
		if err != nil {
			return nil, fmt.Errorf("resolver: cache: %w", err)
		}
		r.cache = c
	}
	return r, nil
}

// Query returns the records of type qtype at name (following CNAMEs that the
// server included), or an *Error.
//
// A name with non-ASCII labels (RFC 6532 mail, IDN) is asked for by its
// A-labels (RFC 5890): "bücher.example" is "xn--bcher-kva.example".
func (r *Resolver) Query(ctx context.Context, name string, qtype uint16) ([]dns.RR, error) {
	ascii, err := ToASCII(name)
	if err != nil {
		return nil, &Error{Name: name, Type: dns.TypeToString[qtype], Class: ErrNotFound, Detail: err.Error()}
	}
	k := key{strings.ToLower(dns.Fqdn(ascii)), qtype}
	if _, ok := dns.IsDomainName(k.name); !ok || len(k.name) > 255 {
		return nil, &Error{Name: name, Type: dns.TypeToString[qtype], Class: ErrNotFound, Detail: "not a valid domain name"}
	}
	if rrs, err, ok := r.cached(k); ok {
		r.observe("hit")
		return rrs, err
	}
	r.observe("miss")
	if err := ctx.Err(); err != nil {
		// Nobody would wait for the answer; and a fast answer must not
		// race the ended ctx in the select below.
		return nil, &Error{Name: strings.TrimSuffix(k.name, "."), Type: dns.TypeToString[qtype], Class: ErrTemporary, Detail: err.Error()}
	}
	// The exchange is shared by every caller asking the same question, so
	// it runs under none of their deadlines (one session's expiring would
	// fail the others') but under the resolver's own bound; each caller
	// still returns when its own ctx ends.
	ch := r.flight.DoChan(k.name+"/"+dns.TypeToString[qtype], func() (any, error) {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Duration(r.attempts)*r.timeout)
		defer cancel()
		return r.exchange(fctx, k)
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err
		}
		return res.Val.([]dns.RR), nil
	case <-ctx.Done():
		return nil, &Error{Name: strings.TrimSuffix(k.name, "."), Type: dns.TypeToString[qtype], Class: ErrTemporary, Detail: ctx.Err().Error()}
	}
}

func (r *Resolver) cached(k key) ([]dns.RR, error, bool) {
	if r.cache == nil {
		return nil, nil, false
	}
	e, ok := r.cache.Get(k)
	if !ok {
		return nil, nil, false
	}
	if !r.now().Before(e.expires) {
		r.cache.Remove(k)
		return nil, nil, false
	}
	if e.err != nil {
		return nil, &Error{Name: strings.TrimSuffix(k.name, "."), Type: dns.TypeToString[k.qtype], Class: e.err, Detail: "cached"}, true
	}
	return e.rrs, nil, true
}

func (r *Resolver) store(k key, rrs []dns.RR, class error, ttl uint32) {
	if r.cache == nil {
		return
	}
	d := min(time.Duration(ttl)*time.Second, r.maxTTL)
	if d <= 0 {
		return
	}
	r.cache.Add(k, entry{rrs: rrs, err: class, expires: r.now().Add(d)})
}

func (r *Resolver) exchange(ctx context.Context, k key) ([]dns.RR, error) {
	q := new(dns.Msg)
	q.SetQuestion(k.name, k.qtype)
	q.RecursionDesired = true
	q.SetEdns0(1232, false) // the DNS flag day 2020 buffer size
	fail := func(class error, detail string) *Error {
		return &Error{Name: strings.TrimSuffix(k.name, "."), Type: dns.TypeToString[k.qtype], Class: class, Detail: detail}
	}
	var last string
	for i := 0; i < r.attempts; i++ {
		if err := ctx.Err(); err != nil {
			return nil, fail(ErrTemporary, err.Error())
		}
		server := r.servers[i%len(r.servers)]
		resp, err := r.exchangeOne(ctx, q, server)
		if err != nil {
			last = err.Error()
			continue
		}
		switch resp.Rcode {
		case dns.RcodeSuccess:
		case dns.RcodeNameError:
			r.observe("nxdomain")
			r.store(k, nil, ErrNotFound, negativeTTL(resp))
			return nil, fail(ErrNotFound, "")
		default:
			last = dns.RcodeToString[resp.Rcode] + " from " + server
			continue
		}
		var rrs []dns.RR
		ttl := uint32(1<<32 - 1)
		for _, rr := range resp.Answer {
			if rr.Header().Rrtype == k.qtype || rr.Header().Rrtype == dns.TypeCNAME {
				ttl = min(ttl, rr.Header().Ttl)
			}
			if rr.Header().Rrtype == k.qtype {
				rrs = append(rrs, rr)
			}
		}
		if len(rrs) == 0 {
			r.observe("nodata")
			r.store(k, nil, ErrNoData, negativeTTL(resp))
			return nil, fail(ErrNoData, "")
		}
		r.observe("answer")
		r.store(k, rrs, nil, ttl)
		return rrs, nil
	}
	r.observe("error")
	return nil, fail(ErrTemporary, last)
}

// exchangeOne asks one server, over UDP and again over TCP when the answer
// was truncated (RFC 7766 §5).
func (r *Resolver) exchangeOne(ctx context.Context, q *dns.Msg, server string) (*dns.Msg, error) {
	c := &dns.Client{Net: "udp", Timeout: r.timeout, UDPSize: 1232}
	resp, _, err := c.ExchangeContext(ctx, q, server)
	if err == nil && resp.Truncated {
		c.Net = "tcp"
		resp, _, err = c.ExchangeContext(ctx, q, server)
	}
	if err != nil {
		return nil, err
	}
	if len(resp.Question) != 1 || !strings.EqualFold(resp.Question[0].Name, wireName(q)) || resp.Question[0].Qtype != q.Question[0].Qtype {
		return nil, fmt.Errorf("answer from %s does not match the question", server)
	}
	return resp, nil
}

// wireName is the question's name as it reads back from the wire, with
// the escapes miekg/dns writes for unusual octets (a space is "\\ "), so
// that an answer's question compares equal to ours.
func wireName(q *dns.Msg) string {
	b, err := q.Pack()
	var m dns.Msg
	if err != nil || m.Unpack(b) != nil || len(m.Question) != 1 {
		return q.Question[0].Name
	}
	return m.Question[0].Name
}

// negativeTTL is how long a negative answer may be cached: the lesser of the
// SOA's TTL and its MINIMUM field (RFC 2308 §5). Without a SOA it is not
// cached at all (RFC 2308 §5, last paragraph).
func negativeTTL(m *dns.Msg) uint32 {
	for _, rr := range m.Ns {
		if soa, ok := rr.(*dns.SOA); ok {
			return min(soa.Hdr.Ttl, soa.Minttl)
		}
	}
	return 0
}

// LookupAddr returns the PTR names of ip, lowercased, without the final dot.
func (r *Resolver) LookupAddr(ctx context.Context, ip netip.Addr) ([]string, error) {
	name, err := dns.ReverseAddr(ip.Unmap().String())
	if err != nil {
		return nil, &Error{Name: ip.String(), Type: "PTR", Class: ErrNotFound, Detail: err.Error()}
	}
	rrs, err := r.Query(ctx, name, dns.TypePTR)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, rr := range rrs {
		names = append(names, strings.TrimSuffix(strings.ToLower(rr.(*dns.PTR).Ptr), "."))
	}
	return names, nil
}

// LookupIP returns the A and AAAA addresses of host. It fails only when
// neither lookup gave addresses; a temporary failure of either one makes
// the whole lookup temporary unless the other gave addresses.
func (r *Resolver) LookupIP(ctx context.Context, host string) ([]netip.Addr, error) {
	var addrs []netip.Addr
	var errs []error
	for _, t := range []uint16{dns.TypeA, dns.TypeAAAA} {
		rrs, err := r.Query(ctx, host, t)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, rr := range rrs {
			var ip net.IP
			switch v := rr.(type) {
			case *dns.A:
				ip = v.A
			case *dns.AAAA:
				ip = v.AAAA
			}
			if a, ok := netip.AddrFromSlice(ip); ok {
				addrs = append(addrs, a.Unmap())
			}
		}
	}
	if len(addrs) > 0 {
		return addrs, nil
	}
	for _, err := range errs {
		if IsTemporary(err) {
			return nil, err
		}
	}
	for _, err := range errs {
		if IsNotFound(err) {
			return nil, err
		}
	}
	return nil, &Error{Name: host, Type: "A/AAAA", Class: ErrNoData}
}

// MX is a mail exchanger.
type MX struct {
	Host string // lowercased, without the final dot; "" for a null MX's "."
	Pref uint16
}

// LookupMX returns the MX records of domain, in the server's order.
func (r *Resolver) LookupMX(ctx context.Context, domain string) ([]MX, error) {
	rrs, err := r.Query(ctx, domain, dns.TypeMX)
	if err != nil {
		return nil, err
	}
	mxs := make([]MX, 0, len(rrs))
	for _, rr := range rrs {
		mx := rr.(*dns.MX)
		mxs = append(mxs, MX{Host: strings.TrimSuffix(strings.ToLower(mx.Mx), "."), Pref: mx.Preference})
	}
	return mxs, nil
}

// LookupTXT returns the TXT records of name, each one's character-strings
// joined (RFC 7208 §3.3, RFC 6376 §3.6.2.2): the record's bytes as they
// were on the wire, not the DNS presentation format.
func (r *Resolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	rrs, err := r.Query(ctx, name, dns.TypeTXT)
	if err != nil {
		return nil, err
	}
	var txts []string
	for _, rr := range rrs {
		var b strings.Builder
		for _, s := range rr.(*dns.TXT).Txt {
			b.WriteString(unescapeTXT(s))
		}
		txts = append(txts, b.String())
	}
	return txts, nil
}

// unescapeTXT turns one character-string as miekg/dns holds it (in
// presentation format: `\"` for a quote, `\\` for a backslash, `\DDD` for
// an octet outside printable ASCII; RFC 1035 §5.1) back into its bytes.
func unescapeTXT(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 == len(s) {
			b = append(b, c)
			continue
		}
		if i+3 < len(s) && isDigit(s[i+1]) && isDigit(s[i+2]) && isDigit(s[i+3]) {
			if n := int(s[i+1]-'0')*100 + int(s[i+2]-'0')*10 + int(s[i+3]-'0'); n <= 255 {
				b = append(b, byte(n))
				i += 3
				continue
			}
		}
		b = append(b, s[i+1])
		i++
	}
	return string(b)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// ToASCII returns name with each label that is not ASCII turned into its
// A-label (IDNA2008 as UTS #46 maps it for lookups); ASCII labels, such as
// "_dmarc" or "_domainkey", stay as they are. The error names the label.
func ToASCII(name string) (string, error) {
	if isASCII(name) {
		return name, nil
	}
	labels := strings.Split(name, ".")
	for i, l := range labels {
		if isASCII(l) {
			continue
		}
		a, err := idna.Lookup.ToASCII(l)
		if err != nil {
			return "", fmt.Errorf("label %q is not a valid internationalized name: %v", l, err)
		}
		labels[i] = a
	}
	return strings.Join(labels, "."), nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
