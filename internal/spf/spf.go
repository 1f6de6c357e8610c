// Package spf evaluates Sender Policy Framework records (RFC 7208):
// check_host() on mailsift's resolver, with strict parsing of the whole
// record before evaluation (§4.6), the lookup and void-lookup limits
// (§4.6.4), macro expansion including %{p} (§7), and the explanation of
// a fail (exp=, §6.2).
//
// It passes every case of the OpenSPF test suites for RFC 7208 and RFC
// 4408 (testdata/spf), run through mailsift's resolver against a real
// DNS server.
package spf

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/net/idna"

	"github.com/mailsift/mailsift/internal/resolver"
)

// Status is a check_host() result, spelled as RFC 7208 §2.6 spells it.
type Status string

// The results of check_host() (§2.6).
const (
	None      Status = "none"
	Neutral   Status = "neutral"
	Pass      Status = "pass"
	Fail      Status = "fail"
	SoftFail  Status = "softfail"
	TempError Status = "temperror"
	PermError Status = "permerror"
)

// The processing limits of §4.6.4.
const (
	MaxLookups    = 10 // terms that cause DNS queries, per check_host()
	MaxVoid       = 2  // lookups that return no answer or NXDOMAIN
	MaxMXNames    = 10 // MX names of one "mx" mechanism
	MaxPTRNames   = 10 // PTR names one "ptr" mechanism or %{p} looks at
	maxDomainName = 253
)

// Resolver is what the evaluator asks of DNS: the records of one type
// at a name, or an error that resolver.IsNotFound, resolver.IsNoData
// or resolver.IsTemporary classifies. *resolver.Resolver is one.
type Resolver interface {
	Query(ctx context.Context, name string, qtype uint16) ([]dns.RR, error)
}

// Args are check_host()'s inputs (§4.1) and the values only macros use.
type Args struct {
	IP       netip.Addr // the SMTP client; IPv4-mapped IPv6 counts as IPv4 (§5)
	Sender   string     // MAIL FROM without brackets; "" for the null sender
	Helo     string     // the HELO/EHLO name
	Receiver string     // %{r}: the receiving host's domain; "" is "unknown"
	// Now is the clock for %{t}; nil is time.Now.
	Now func() time.Time
}

// Result is what check_host() found.
type Result struct {
	Status Status
	// Identity is "mailfrom", or "helo" for the null sender (§2.4).
	Identity string
	// Domain is the <domain> checked; Sender is <sender> as evaluated
	// ("postmaster@" the HELO name for the null sender).
	Domain, Sender string
	// Mechanism is the term that decided ("-all", "include:x"), or
	// "default" when none matched.
	Mechanism string
	// Matched is the name of the innermost mechanism that matched, through
	// include: and redirect= ("ip4", "a", "all", ...); "" when none did.
	// The greylist keys a client by its SPF domain only when the match
	// names the client's address (ip4, ip6, a, mx).
	Matched string
	// Explanation is the domain's explanation of a fail (exp=, §6.2),
	// "" when it gives none or gives one that cannot be used.
	Explanation string
	// Err says why the result is temperror or permerror.
	Err error
}

// evaluation is the state of one check_host() and its recursions.
type evaluation struct {
	r              Resolver
	ip             netip.Addr
	sender, local  string
	senderDomain   string
	helo, receiver string
	now            func() time.Time
	lookups, voids int
	ptrDone        bool
	matched        string   // innermost mechanism that matched, see Result.Matched
	ptrNames       []string // validated names of ip, for %{p}
}

// evalError is a lookup or syntax problem that ends the evaluation with
// temperror or permerror.
type evalError struct {
	status Status
	err    error
}

func (e *evalError) Error() string { return e.err.Error() }
func (e *evalError) Unwrap() error { return e.err }

func permErr(format string, a ...any) *evalError {
	return &evalError{PermError, fmt.Errorf(format, a...)}
}

// Check evaluates the SPF policy for the MAIL FROM identity, or for the
// HELO identity when the sender is null (§2.4), and the explanation of a
// fail.
func Check(ctx context.Context, r Resolver, a Args) Result {
	e := &evaluation{r: r, ip: a.IP.Unmap(), helo: strings.TrimSuffix(a.Helo, "."), receiver: a.Receiver, now: a.Now}
	if e.receiver == "" {
		e.receiver = "unknown"
	}
	if e.now == nil {
		e.now = time.Now
	}
	res := Result{Identity: "mailfrom"}
	sender := a.Sender
	if sender == "" {
		// §2.4: the null sender is checked as postmaster@ the HELO name.
		sender, res.Identity = "postmaster@"+e.helo, "helo"
	}
	at := strings.LastIndexByte(sender, '@')
	e.local, e.senderDomain = sender[:max(at, 0)], sender[at+1:]
	if e.local == "" {
		// §4.3: a sender without local-part is postmaster at its domain.
		e.local = "postmaster"
	}
	e.senderDomain = aLabels(strings.TrimSuffix(e.senderDomain, "."))
	e.helo = aLabels(e.helo)
	e.sender = e.local + "@" + e.senderDomain
	res.Domain, res.Sender = e.senderDomain, e.sender
	if !e.ip.IsValid() {
		res.Status, res.Err = PermError, errors.New("spf: no client address")
		return res
	}
	// §4.3: a malformed or single-label domain is "none", before any
	// lookup.
	if why := domainSyntax(e.senderDomain); why != "" {
		res.Status, res.Mechanism = None, "default"
		res.Err = fmt.Errorf("spf: %q is not a domain to check: %s", e.senderDomain, why)
		return res
	}
	o := e.checkHost(ctx, e.senderDomain)
	res.Status, res.Mechanism, res.Err = o.status, o.mech, o.err
	if o.mech != "default" {
		res.Matched = e.matched
	}
	if o.status == Fail && o.exp != nil {
		res.Explanation = e.explain(ctx, o.exp, o.domain)
	}
	return res
}

// aLabels gives an internationalized domain name (SMTPUTF8) in A-labels,
// the form DNS is asked in (RFC 8616 §4); a name that cannot be converted
// is returned as it is, and fails the checks that follow.
func aLabels(d string) string {
	for i := 0; i < len(d); i++ {
		if d[i] >= 0x80 {
			if a, err := idna.Lookup.ToASCII(d); err == nil {
				return a
			}
			return d
		}
	}
	return d
}

// domainSyntax says why d cannot be an SPF <domain> (§4.3), or "".
func domainSyntax(d string) string {
	switch {
	case d == "":
		return "empty"
	case strings.HasPrefix(d, "["):
		return "an address literal"
	case len(d) > maxDomainName:
		return "longer than 253 octets"
	}
	for i := 0; i < len(d); i++ {
		if d[i] >= 0x80 {
			return "not a valid internationalized name"
		}
	}
	labels := strings.Split(d, ".")
	if len(labels) < 2 {
		return "not a multi-label name"
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 {
			return "a label is empty or longer than 63 octets"
		}
	}
	return ""
}

// outcome is one check_host()'s result: the status, the term that gave
// it, and the exp= of the record that gave it with the domain it was
// found at (for %{d} in the explanation).
type outcome struct {
	status Status
	mech   string
	exp    *MacroString
	domain string
	err    error
}

func errOutcome(err error, mech string) outcome {
	var ee *evalError
	if errors.As(err, &ee) {
		return outcome{status: ee.status, mech: mech, err: ee.err}
	}
	return outcome{status: TempError, mech: mech, err: err}
}

// checkHost is check_host() for domain (§4).
func (e *evaluation) checkHost(ctx context.Context, domain string) outcome {
	rec, err := e.record(ctx, domain)
	if err != nil {
		return errOutcome(err, "")
	}
	if rec == nil {
		return outcome{status: None, mech: "default", err: fmt.Errorf("spf: %s publishes no SPF record", domain)}
	}
	// §4.6.2: the first directive that matches gives the result.
	for _, d := range rec.Directives {
		ok, err := e.match(ctx, d, domain)
		if err != nil {
			return errOutcome(err, d.text)
		}
		if ok {
			if d.Mechanism != "include" {
				e.matched = d.Mechanism
			}
			return outcome{status: qualified(d.Qualifier), mech: d.text, exp: rec.Exp, domain: domain}
		}
	}
	// §6.1: redirect= is followed when nothing matched, and ignored when
	// there is an "all" anywhere.
	if rec.Redirect != nil && !rec.hasAll {
		if err := e.count(); err != nil {
			return errOutcome(err, "redirect")
		}
		target := e.target(ctx, rec.Redirect, domain)
		o := e.checkHost(ctx, target)
		if o.status == None {
			return outcome{status: PermError, mech: "redirect=" + rec.Redirect.text,
				err: fmt.Errorf("spf: redirect=%s: %s publishes no SPF record", rec.Redirect.text, target)}
		}
		return o
	}
	// §4.7: no match and no redirect is neutral.
	return outcome{status: Neutral, mech: "default"}
}

func qualified(q byte) Status {
	switch q {
	case '-':
		return Fail
	case '~':
		return SoftFail
	case '?':
		return Neutral
	}
	return Pass
}

// record finds domain's one SPF record (§4.4, §4.5): nil when there is
// none, an *evalError when the lookup fails (temperror) or when there are
// several or the one does not parse (permerror).
func (e *evaluation) record(ctx context.Context, domain string) (*Record, error) {
	rrs, err := e.query(ctx, domain, dns.TypeTXT)
	if err != nil {
		if resolver.IsTemporary(err) {
			return nil, &evalError{TempError, fmt.Errorf("spf: looking up the SPF record of %s: %w", domain, err)}
		}
		return nil, nil
	}
	var recs []string
	for _, t := range txtStrings(rrs) {
		if IsRecord(t) {
			recs = append(recs, t)
		}
	}
	switch len(recs) {
	case 0:
		return nil, nil
	case 1:
	default:
		return nil, permErr("spf: %s publishes %d SPF records", domain, len(recs))
	}
	rec, err := Parse(recs[0])
	if err != nil {
		return nil, &evalError{PermError, fmt.Errorf("spf: record of %s: %w", domain, err)}
	}
	return rec, nil
}

// count counts one term that causes DNS lookups (§4.6.4).
func (e *evaluation) count() error {
	e.lookups++
	if e.lookups > MaxLookups {
		return permErr("spf: more than %d DNS lookups", MaxLookups)
	}
	return nil
}

// void counts a lookup that found nothing (§4.6.4).
func (e *evaluation) void() error {
	e.voids++
	if e.voids > MaxVoid {
		return permErr("spf: more than %d void DNS lookups", MaxVoid)
	}
	return nil
}

// match evaluates one mechanism (§5).
func (e *evaluation) match(ctx context.Context, d Directive, domain string) (bool, error) {
	switch d.Mechanism {
	case "all": // §5.1
		return true, nil
	case "ip4", "ip6": // §5.6: an address matches its own family only
		return d.Net.Addr().Is4() == e.ip.Is4() && d.Net.Contains(e.ip), nil
	}
	if err := e.count(); err != nil {
		return false, err
	}
	target := domain
	if d.Domain != nil {
		target = e.target(ctx, d.Domain, domain)
	}
	switch d.Mechanism {
	case "include": // §5.2
		o := e.checkHost(ctx, target)
		switch o.status {
		case Pass:
			return true, nil
		case Fail, SoftFail, Neutral:
			return false, nil
		case TempError:
			return false, &evalError{TempError, o.err}
		default: // permerror, none
			return false, &evalError{PermError, fmt.Errorf("spf: include:%s: %v", target, o.err)}
		}
	case "a": // §5.3
		addrs, err := e.addrs(ctx, target, e.ip.Is4())
		if err != nil {
			return false, e.lookupErr(err, d)
		}
		return e.inAny(addrs, d), nil
	case "mx": // §5.4
		rrs, err := e.query(ctx, target, dns.TypeMX)
		if err != nil {
			return false, e.lookupErr(err, d)
		}
		if len(rrs) > MaxMXNames {
			// §4.6.4: more than 10 MX names is a permerror.
			return false, permErr("spf: %s: %s has %d MX records, more than %d", d.text, target, len(rrs), MaxMXNames)
		}
		for _, rr := range rrs {
			host := strings.TrimSuffix(rr.(*dns.MX).Mx, ".")
			if host == "" {
				continue // a null MX (RFC 7505) has no address
			}
			addrs, err := e.addrs(ctx, host, e.ip.Is4())
			if resolver.IsTemporary(err) {
				return false, &evalError{TempError, fmt.Errorf("spf: %s: %w", d.text, err)}
			}
			if e.inAny(addrs, d) {
				return true, nil
			}
		}
		return false, nil
	case "ptr": // §5.5
		names, err := e.ptrCandidates(ctx)
		if err != nil {
			return false, err
		}
		for _, n := range names {
			if !isSubdomain(n, target) {
				continue
			}
			if e.validates(ctx, n) {
				return true, nil
			}
		}
		return false, nil
	case "exists": // §5.7: an A lookup whatever the client's family
		_, err := e.addrs(ctx, target, true)
		if err != nil {
			return false, e.lookupErr(err, d)
		}
		return true, nil
	}
	return false, permErr("spf: unknown mechanism %q", d.text)
}

// lookupErr turns a failed lookup into temperror, or counts it as void
// (NXDOMAIN or no records) and then it is no match.
func (e *evaluation) lookupErr(err error, d Directive) error {
	if resolver.IsTemporary(err) {
		return &evalError{TempError, fmt.Errorf("spf: %s: %w", d.text, err)}
	}
	if err := e.void(); err != nil {
		return err
	}
	return nil
}

// inAny reports whether the client is in the network of one of addrs
// with the directive's prefix lengths.
func (e *evaluation) inAny(addrs []netip.Addr, d Directive) bool {
	bits := d.CIDR4
	if !e.ip.Is4() {
		bits = d.CIDR6
	}
	for _, a := range addrs {
		if a.Is4() != e.ip.Is4() {
			continue
		}
		if p, err := a.Prefix(bits); err == nil && p.Contains(e.ip) {
			return true
		}
	}
	return false
}

// addrs looks up name's A (v4) or AAAA records.
func (e *evaluation) addrs(ctx context.Context, name string, v4 bool) ([]netip.Addr, error) {
	qtype := dns.TypeAAAA
	if v4 {
		qtype = dns.TypeA
	}
	rrs, err := e.query(ctx, name, qtype)
	if err != nil {
		return nil, err
	}
	var out []netip.Addr
	for _, rr := range rrs {
		var a netip.Addr
		switch v := rr.(type) {
		case *dns.A:
			a, _ = netip.AddrFromSlice(v.A)
		case *dns.AAAA:
			a, _ = netip.AddrFromSlice(v.AAAA)
		}
		if a.IsValid() {
			out = append(out, a.Unmap())
		}
	}
	return out, nil
}

// ptrCandidates looks up the client's PTR names, at most 10 (§4.6.4). A
// failed PTR lookup is no match, not an error (§5.5); an empty one is a
// void lookup.
func (e *evaluation) ptrCandidates(ctx context.Context) ([]string, error) {
	rev, err := dns.ReverseAddr(e.ip.String())
	if err != nil {
		return nil, nil
	}
	rrs, err := e.r.Query(ctx, rev, dns.TypePTR)
	if err != nil {
		if !resolver.IsTemporary(err) {
			return nil, e.void()
		}
		return nil, nil
	}
	var names []string
	for _, rr := range rrs {
		if len(names) == MaxPTRNames {
			break
		}
		names = append(names, strings.ToLower(strings.TrimSuffix(rr.(*dns.PTR).Ptr, ".")))
	}
	return names, nil
}

// validates reports whether name has an address that is the client's:
// a lookup that fails or finds nothing skips the name (§5.5).
func (e *evaluation) validates(ctx context.Context, name string) bool {
	addrs, _ := e.addrs(ctx, name, e.ip.Is4())
	for _, a := range addrs {
		if a == e.ip {
			return true
		}
	}
	return false
}

// isSubdomain reports whether name is domain or below it, ignoring case.
func isSubdomain(name, domain string) bool {
	name, domain = strings.ToLower(strings.TrimSuffix(name, ".")), strings.ToLower(strings.TrimSuffix(domain, "."))
	return name == domain || strings.HasSuffix(name, "."+domain)
}

// target expands a domain-spec into a name to look up: without a final
// dot, and cut from the left at a label boundary to at most 253 octets
// (§7.3).
func (e *evaluation) target(ctx context.Context, ms *MacroString, domain string) string {
	s := strings.TrimSuffix(ms.expand(ctx, e, domain), ".")
	for len(s) > maxDomainName {
		i := strings.IndexByte(s, '.')
		if i < 0 {
			break
		}
		s = s[i+1:]
	}
	return s
}

// query asks the resolver, with name in the presentation form it takes:
// a backslash from a macro's value is an octet, not an escape.
func (e *evaluation) query(ctx context.Context, name string, qtype uint16) ([]dns.RR, error) {
	return e.r.Query(ctx, strings.ReplaceAll(name, `\`, `\\`), qtype)
}

// macroValue gives one macro letter's value (§7.3).
func (e *evaluation) macroValue(ctx context.Context, letter byte, domain string) string {
	switch letter {
	case 's':
		return e.sender
	case 'l':
		return e.local
	case 'o':
		return e.senderDomain
	case 'd':
		return domain
	case 'i':
		if e.ip.Is4() {
			return e.ip.String()
		}
		// §7.3: dot-format, one nibble a label. Upper-case hex, as the
		// OpenSPF suite's explanations expect; DNS ignores the case.
		var b strings.Builder
		for i, c := range strings.ToUpper(fmt.Sprintf("%x", e.ip.As16())) {
			if i > 0 {
				b.WriteByte('.')
			}
			b.WriteRune(c)
		}
		return b.String()
	case 'p':
		return e.validatedName(ctx, domain)
	case 'v':
		if e.ip.Is4() {
			return "in-addr"
		}
		return "ip6"
	case 'h':
		return e.helo
	case 'c':
		return e.ip.String()
	case 'r':
		return e.receiver
	case 't':
		return strconv.FormatInt(e.now().Unix(), 10)
	}
	return ""
}

// validatedName is %{p}: a validated name of the client (§7.3): domain
// itself if it validates, else one of its subdomains, else any; or
// "unknown". The PTR lookups are done once per evaluation and do not
// count against the lookup limit.
func (e *evaluation) validatedName(ctx context.Context, domain string) string {
	if !e.ptrDone {
		e.ptrDone = true
		rev, err := dns.ReverseAddr(e.ip.String())
		if err == nil {
			rrs, _ := e.r.Query(ctx, rev, dns.TypePTR)
			for i, rr := range rrs {
				if i == MaxPTRNames {
					break
				}
				n := strings.ToLower(strings.TrimSuffix(rr.(*dns.PTR).Ptr, "."))
				if e.validates(ctx, n) {
					e.ptrNames = append(e.ptrNames, n)
				}
			}
		}
	}
	if len(e.ptrNames) == 0 {
		return "unknown"
	}
	for _, n := range e.ptrNames {
		if strings.EqualFold(n, domain) {
			return n
		}
	}
	for _, n := range e.ptrNames {
		if isSubdomain(n, domain) {
			return n
		}
	}
	return e.ptrNames[0]
}

// explain gives the explanation of a fail from exp= (§6.2): "" when the
// lookup fails, finds no record or several, or the text is not ASCII or
// not a valid explain-string. It is looked up once, after the result is
// known, and counts against no limit.
func (e *evaluation) explain(ctx context.Context, spec *MacroString, domain string) string {
	name := e.target(ctx, spec, domain)
	if name == "" {
		return ""
	}
	rrs, err := e.query(ctx, name, dns.TypeTXT)
	if err != nil || len(rrs) != 1 {
		return ""
	}
	txt := txtStrings(rrs)[0]
	ms, err := parseMacroString(txt, true)
	if err != nil {
		return ""
	}
	return ms.expand(ctx, e, domain)
}

// txtStrings gives each TXT record's text: its strings joined (§3.3), as
// octets. miekg/dns holds them in presentation form ("\"", "\195").
func txtStrings(rrs []dns.RR) []string {
	var out []string
	for _, rr := range rrs {
		t, ok := rr.(*dns.TXT)
		if !ok {
			continue
		}
		var b strings.Builder
		for _, s := range t.Txt {
			b.WriteString(unescapeTXT(s))
		}
		out = append(out, b.String())
	}
	return out
}

// unescapeTXT turns miekg/dns' presentation form of a character-string
// back into its octets: "\DDD" is the octet DDD, "\X" is X.
func unescapeTXT(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		if i+3 < len(s) && isDigit(s[i+1]) && isDigit(s[i+2]) && isDigit(s[i+3]) {
			n, _ := strconv.Atoi(s[i+1 : i+4])
			b.WriteByte(byte(n))
			i += 3
			continue
		}
		b.WriteByte(s[i+1])
		i++
	}
	return b.String()
}
