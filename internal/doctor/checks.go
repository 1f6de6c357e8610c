package doctor

import (
	"context"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/emersion/go-msgauth/dmarc"
	"github.com/miekg/dns"

	"github.com/mailsift/mailsift/checks"
	"github.com/mailsift/mailsift/internal/callout"
	"github.com/mailsift/mailsift/internal/dmarcreport"
	"github.com/mailsift/mailsift/internal/resolver"
)

// mx: the domain has MX records whose targets are host names with
// addresses, never IP literals (RFC 5321 §5.1) nor aliases (RFC 2181
// §10.3); a null MX (RFC 7505) is noted.
func (d *doctor) mx(ctx context.Context) {
	mxs, err := d.DNS.LookupMX(ctx, d.Domain)
	switch {
	case resolver.IsNotFound(err):
		d.add("mx", Fail, d.Domain+" does not exist (NXDOMAIN)", "register the domain or fix its delegation; nothing can mail it")
		return
	case resolver.IsNoData(err):
		if addrs, err := d.DNS.LookupIP(ctx, d.Domain); err == nil && len(addrs) > 0 {
			d.add("mx", Warn, "no MX records: mail goes to the domain's own address (implicit MX, RFC 5321 §5.1)",
				"publish an MX record naming the host that receives mail")
			return
		}
		d.add("mx", Fail, "no MX records and no address: the domain cannot receive mail, bounces to it are lost",
			"publish an MX record naming the host that receives mail")
		return
	case err != nil:
		d.temp("mx", err)
		return
	}
	if len(mxs) == 1 && mxs[0].Host == "" {
		d.add("mx", Warn, "null MX (RFC 7505): the domain receives no mail, so replies and bounces to it are refused",
			"if the domain sends mail, publish a real MX so bounces reach you; otherwise nothing to do")
		return
	}
	var hosts []string
	for _, mx := range mxs {
		if mx.Host == "" {
			d.add("mx", Fail, "a null MX (\".\") mixed with other MX records (RFC 7505 §3)", "remove the \"MX 0 .\" record or the others")
			return
		}
		hosts = append(hosts, fmt.Sprintf("%d %s", mx.Pref, mx.Host))
	}
	d.add("mx", Pass, strings.Join(hosts, ", "), "")
	for _, mx := range mxs {
		name := "mx-host:" + mx.Host
		if _, err := netip.ParseAddr(mx.Host); err == nil {
			d.add(name, Fail, "the MX target is an IP address, not a host name (RFC 5321 §5.1)",
				"name a host (mx1."+d.Domain+") in the MX record and give that host the A record")
			continue
		}
		if rrs, err := d.DNS.Query(ctx, mx.Host, dns.TypeCNAME); err == nil && len(rrs) > 0 {
			d.add(name, Fail, fmt.Sprintf("the MX target is an alias (CNAME to %s); RFC 2181 §10.3 forbids it", strings.TrimSuffix(rrs[0].(*dns.CNAME).Target, ".")),
				"point the MX record at the canonical name, or give "+mx.Host+" its own A record")
			continue
		} else if err != nil && resolver.IsTemporary(err) {
			d.temp(name, err)
			continue
		}
		addrs, err := d.DNS.LookupIP(ctx, mx.Host)
		if err != nil {
			if resolver.IsTemporary(err) {
				d.temp(name, err)
				continue
			}
			d.add(name, Fail, "the MX host has no A or AAAA record", "publish an A (or AAAA) record for "+mx.Host)
			continue
		}
		var s []string
		for _, a := range addrs {
			s = append(s, a.String())
			d.mxAddrs = append(d.mxAddrs, hostAddr{mx.Host, a})
		}
		d.add(name, Pass, strings.Join(s, ", "), "")
	}
}

// ptrs: each MX host's address and each --ip has a PTR name whose
// addresses include it (forward-confirmed reverse DNS, RFC 8601 §3 "iprev").
func (d *doctor) ptrs(ctx context.Context) {
	seen := map[netip.Addr]bool{}
	for _, ha := range d.mxAddrs {
		if !seen[ha.ip] {
			seen[ha.ip] = true
			d.ptr(ctx, ha.ip, ha.host)
		}
	}
	for _, ip := range d.IPs {
		if !seen[ip] {
			seen[ip] = true
			d.ptr(ctx, ip, "")
		}
	}
}

func (d *doctor) ptr(ctx context.Context, ip netip.Addr, host string) {
	name := "ptr:" + ip.String()
	names, err := d.DNS.LookupAddr(ctx, ip)
	if err != nil {
		if resolver.IsTemporary(err) {
			d.temp(name, err)
			return
		}
		fix := "ask whoever runs " + ip.String() + " (the hosting provider) to set its PTR"
		if host != "" {
			fix += " to " + host
		}
		d.add(name, Fail, "no PTR record: receivers refuse or distrust mail from it", fix)
		return
	}
	var tempErr error
	for _, n := range names {
		addrs, err := d.DNS.LookupIP(ctx, n)
		if err != nil && resolver.IsTemporary(err) {
			tempErr = err
		}
		if slices.Contains(addrs, ip) {
			d.add(name, Pass, n+" resolves back to "+ip.String(), "")
			return
		}
	}
	if tempErr != nil {
		d.temp(name, tempErr)
		return
	}
	d.add(name, Fail, fmt.Sprintf("PTR %s does not resolve back to %s (not forward-confirmed)", strings.Join(names, ", "), ip),
		"give "+names[0]+" an A/AAAA record of "+ip.String()+", or set the PTR to a name that has it")
}

// helo: the HELO name is a host name with an A or MX record and, with
// --ip, resolves to one of the sending addresses.
func (d *doctor) helo(ctx context.Context) {
	if d.Helo == "" {
		return
	}
	h := strings.ToLower(strings.TrimSuffix(d.Helo, "."))
	if why := checks.HostnameSyntaxError(h); why != "" || !checks.IsFQDN(h) {
		d.add("helo", Fail, fmt.Sprintf("%q is not a fully qualified host name", d.Helo), "set the server's HELO name (Postfix: smtp_helo_name) to its FQDN")
		return
	}
	addrs, err := d.DNS.LookupIP(ctx, h)
	if err != nil && resolver.IsTemporary(err) {
		d.temp("helo", err)
		return
	}
	if err != nil {
		if _, mxErr := d.DNS.LookupMX(ctx, h); mxErr == nil {
			d.add("helo", Warn, h+" has an MX record but no address", "publish an A record for "+h+" with the server's address")
			return
		}
		d.add("helo", Fail, h+" has no A, AAAA or MX record: receivers refuse unknown HELO names", "publish an A record for "+h+" with the server's address")
		return
	}
	if len(d.IPs) == 0 {
		d.add("helo", Pass, h+" resolves", "")
		return
	}
	for _, ip := range d.IPs {
		if slices.Contains(addrs, ip) {
			d.add("helo", Pass, h+" resolves to "+ip.String(), "")
			return
		}
	}
	var s []string
	for _, a := range addrs {
		s = append(s, a.String())
	}
	d.add("helo", Warn, fmt.Sprintf("%s resolves to %s, none of the sending addresses", h, strings.Join(s, ", ")),
		"make the HELO name the server's own name, with an A record of its sending address")
}

// spf: one record, that parses, within the lookup limits, authorizing
// each sending address, ending in -all or ~all.
func (d *doctor) spf(ctx context.Context) {
	recs, err := spfRecords(ctx, d.DNS, d.Domain)
	switch {
	case err != nil && resolver.IsTemporary(err):
		d.temp("spf", err)
		return
	case len(recs) == 0:
		d.add("spf", Fail, "no SPF record: receivers cannot tell your servers from forgers",
			`publish TXT "v=spf1 mx -all" at `+d.Domain+` (naming your sending servers)`)
		return
	case len(recs) > 1:
		d.add("spf", Fail, fmt.Sprintf("%d SPF records: that is a permerror for every message (RFC 7208 §4.5)", len(recs)),
			"merge them into one TXT record starting with v=spf1")
		return
	}
	w := walkSPF(ctx, d.DNS, d.Domain, recs[0])
	// The check's own evaluator decides whether the record works.
	probe := netip.MustParseAddr("192.0.2.1") // TEST-NET-1: no network is asked, only DNS
	if len(d.IPs) > 0 {
		probe = d.IPs[0]
	}
	res := d.evalSPF(ctx, probe)
	switch {
	case len(w.temp) > 0:
		d.add("spf", Warn, recs[0]+"; could not follow all of it: "+w.temp[0], "run again; if it persists, check the name servers of the included domains")
	case len(w.errs) > 0:
		d.add("spf", Fail, recs[0]+": "+strings.Join(w.errs, "; "), "fix the record: every include/redirect target must publish one SPF record, every term must be valid")
	case res.Status == checks.PermError:
		d.add("spf", Fail, recs[0]+": the evaluator says permerror: "+res.Text, "fix the record's syntax (RFC 7208 §12 has the grammar)")
	default:
		d.add("spf", Pass, recs[0], "")
	}
	if w.lookups > maxLookups {
		d.add("spf-lookups", Fail, fmt.Sprintf("%d DNS-querying terms (include, a, mx, ptr, exists, redirect); more than %d is a permerror (RFC 7208 §4.6.4)", w.lookups, maxLookups),
			"replace includes and a/mx terms with ip4:/ip6: ranges, or drop services that no longer send")
	} else {
		d.add("spf-lookups", Pass, fmt.Sprintf("%d of %d DNS lookups", w.lookups, maxLookups), "")
	}
	if w.void > maxVoidLookups {
		d.add("spf-void", Fail, fmt.Sprintf("%d lookups find nothing (%s); more than %d is a permerror (RFC 7208 §4.6.4)", w.void, strings.Join(w.voids, ", "), maxVoidLookups),
			"remove the terms that name domains or hosts which no longer exist")
	} else if w.void > 0 {
		d.add("spf-void", Warn, fmt.Sprintf("%d lookup(s) find nothing (%s); %d is the limit", w.void, strings.Join(w.voids, ", "), maxVoidLookups),
			"remove the terms that name domains or hosts which no longer exist")
	} else {
		d.add("spf-void", Pass, "no void lookups", "")
	}
	switch {
	case strings.HasSuffix(w.last, "-all"), strings.HasSuffix(w.last, "~all"):
		d.add("spf-all", Pass, "ends in "+w.last, "")
	case strings.HasSuffix(w.last, "+all"):
		d.add("spf-all", Fail, "ends in +all: anyone may send as "+d.Domain, "end the record with -all (or ~all while testing)")
	case strings.HasSuffix(w.last, "?all"):
		d.add("spf-all", Warn, "ends in ?all: unlisted senders are neutral, not refused", "end the record with -all (or ~all while testing)")
	default:
		d.add("spf-all", Warn, "no all term: unlisted senders are neutral (RFC 7208 §4.7)", "end the record with -all (or ~all while testing)")
	}
	for _, ip := range d.IPs {
		name := "spf-ip:" + ip.String()
		r := d.evalSPF(ctx, ip)
		switch r.Status {
		case checks.Pass:
			d.add(name, Pass, "spf pass", "")
		case checks.TempError:
			d.add(name, Warn, "spf temperror: "+r.Text, "run again; if it persists, check the name servers of the included domains")
		default:
			fix := "add ip4:" + ip.String() + " to the SPF record of " + d.Domain
			if ip.Is6() {
				fix = "add ip6:" + ip.String() + " to the SPF record of " + d.Domain
			}
			d.add(name, Fail, fmt.Sprintf("spf %s for %s: receivers may refuse its mail", r.Status, ip), fix)
		}
	}
}

// evalSPF runs the spf check, as the milter does, for mail from
// postmaster@domain sent by ip.
func (d *doctor) evalSPF(ctx context.Context, ip netip.Addr) checks.Result {
	helo := d.Helo
	if helo == "" {
		helo = d.Domain
	}
	c := &checks.SPF{DNS: checks.NetResolver{R: d.DNS}}
	return c.CheckMail(ctx, &checks.Envelope{ClientIP: ip, Helo: helo, From: "postmaster@" + d.Domain})
}

// dkim: each selector publishes a usable key (RFC 6376 §3.6.1): RSA of
// 1024 bits at least (RFC 8301 §3.2), 2048 recommended, or Ed25519 (RFC
// 8463); t=y is noted.
func (d *doctor) dkim(ctx context.Context) {
	if len(d.Selectors) == 0 {
		d.add("dkim", Warn, "not checked: no --selector given", "name the selector(s) your signer uses: --selector NAME")
		return
	}
	for _, sel := range d.Selectors {
		d.dkimKey(ctx, sel)
	}
}

func (d *doctor) dkimKey(ctx context.Context, sel string) {
	name := "dkim:" + sel
	owner := sel + "._domainkey." + d.Domain
	txts, err := d.DNS.LookupTXT(ctx, owner)
	if err != nil {
		if resolver.IsTemporary(err) {
			d.temp(name, err)
			return
		}
		d.add(name, Fail, "no key at "+owner, "publish the public key of selector "+sel+" as TXT at "+owner)
		return
	}
	if len(txts) > 1 {
		d.add(name, Fail, fmt.Sprintf("%d TXT records at %s: verifiers take one at random", len(txts), owner), "keep one key record per selector")
		return
	}
	tags := map[string]string{}
	for _, kv := range strings.Split(txts[0], ";") {
		k, v, ok := strings.Cut(kv, "=")
		if ok {
			tags[strings.TrimSpace(k)] = strings.Join(strings.Fields(v), "")
		}
	}
	if v, ok := tags["v"]; ok && v != "DKIM1" {
		d.add(name, Fail, fmt.Sprintf("v=%s: not a DKIM key record", v), "start the record with v=DKIM1")
		return
	}
	p, ok := tags["p"]
	if !ok {
		d.add(name, Fail, "the record has no p= (public key)", "publish the public key as p=BASE64")
		return
	}
	if p == "" {
		d.add(name, Fail, "the key is revoked (empty p=)", "sign with a current selector, or publish its key")
		return
	}
	der, err := base64.StdEncoding.DecodeString(p)
	if err != nil {
		d.add(name, Fail, "p= is not valid base64", "publish the public key as p=BASE64, without line breaks inside")
		return
	}
	var detail string
	status, fix := Pass, ""
	switch k := tags["k"]; k {
	case "", "rsa":
		pub, err := x509.ParsePKIXPublicKey(der)
		var rk *rsa.PublicKey
		if err == nil {
			rk, _ = pub.(*rsa.PublicKey)
		} else {
			rk, _ = x509.ParsePKCS1PublicKey(der)
		}
		if rk == nil {
			d.add(name, Fail, "p= is not an RSA public key", "publish the DER SubjectPublicKeyInfo of the key, base64")
			return
		}
		bits := rk.N.BitLen()
		detail = fmt.Sprintf("RSA %d bits", bits)
		switch {
		case bits < 1024:
			d.add(name, Fail, detail+": under 1024 bits, verifiers ignore the signature (RFC 8301 §3.2)", "make a 2048-bit key and a new selector (mailsift dkim keygen)")
			return
		case bits < 2048:
			status, fix = Warn, "make a 2048-bit key and a new selector (RFC 8301 §3.2 recommends 2048)"
			detail += ": under the recommended 2048"
		}
	case "ed25519":
		if len(der) != ed25519.PublicKeySize {
			d.add(name, Fail, fmt.Sprintf("an Ed25519 key is %d bytes, this one %d", ed25519.PublicKeySize, len(der)), "publish the 32-byte raw public key, base64 (RFC 8463 §4.2)")
			return
		}
		detail = "Ed25519"
	default:
		d.add(name, Fail, fmt.Sprintf("unknown key type k=%s", k), "use k=rsa or k=ed25519")
		return
	}
	if slices.Contains(strings.Split(tags["t"], ":"), "y") {
		detail += "; t=y: testing mode, verifiers treat failures as unsigned"
		if status == Pass {
			status, fix = Warn, "remove t=y once signing works"
		}
	}
	d.add(name, status, detail, fix)
}

// dmarc: a policy that parses, its policy and pct, and report
// destinations that are valid and, when external, authorized (RFC 7489
// §7.1).
func (d *doctor) dmarc(ctx context.Context) {
	owner := "_dmarc." + d.Domain
	txts, err := d.DNS.LookupTXT(ctx, owner)
	if err != nil && resolver.IsTemporary(err) {
		d.temp("dmarc", err)
		return
	}
	var recs []string
	for _, t := range txts {
		if strings.HasPrefix(strings.TrimSpace(t), "v=DMARC1") {
			recs = append(recs, t)
		}
	}
	policyDomain := d.Domain
	if len(recs) == 0 {
		if org := dmarcreport.OrgDomain(d.Domain); org != d.Domain {
			if t2, err := d.DNS.LookupTXT(ctx, "_dmarc."+org); err == nil {
				for _, t := range t2 {
					if strings.HasPrefix(strings.TrimSpace(t), "v=DMARC1") {
						recs, policyDomain = append(recs, t), org
					}
				}
			}
		}
	}
	switch {
	case len(recs) == 0:
		d.add("dmarc", Fail, "no DMARC record at "+owner+": large receivers refuse or junk unauthenticated bulk mail",
			`publish TXT "v=DMARC1; p=none; rua=mailto:dmarc@`+d.Domain+`" at `+owner+` and tighten p= once reports look clean`)
		return
	case len(recs) > 1:
		d.add("dmarc", Fail, fmt.Sprintf("%d DMARC records at _dmarc.%s: receivers then apply none (RFC 7489 §6.6.3)", len(recs), policyDomain), "keep one v=DMARC1 record")
		return
	}
	rec, err := dmarc.Parse(recs[0])
	if err != nil {
		d.add("dmarc", Fail, recs[0]+": "+err.Error(), "fix the record: v=DMARC1; p=none|quarantine|reject; ... (RFC 7489 §6.4)")
		return
	}
	p := rec.Policy
	at := ""
	if policyDomain != d.Domain {
		at = " (inherited from " + policyDomain + ")"
		if rec.SubdomainPolicy != "" {
			p = rec.SubdomainPolicy
		}
	}
	if p == dmarc.PolicyNone {
		d.add("dmarc", Warn, "p=none"+at+": monitoring only, receivers do not act on failures",
			"once aggregate reports show only your own servers, move to p=quarantine, then p=reject")
	} else {
		d.add("dmarc", Pass, "p="+string(p)+at, "")
	}
	if rec.Percent != nil && *rec.Percent < 100 {
		d.add("dmarc-pct", Warn, fmt.Sprintf("pct=%d: the policy applies to %d%% of failing mail", *rec.Percent, *rec.Percent), "raise pct to 100 (or remove it) once reports look clean")
	} else {
		d.add("dmarc-pct", Pass, "pct=100", "")
	}
	d.dmarcURIs(ctx, "dmarc-rua", policyDomain, rec.ReportURIAggregate, true)
	d.dmarcURIs(ctx, "dmarc-ruf", policyDomain, rec.ReportURIFailure, false)
}

func (d *doctor) dmarcURIs(ctx context.Context, name, policyDomain string, uris []string, wanted bool) {
	if len(uris) == 0 {
		if wanted {
			d.add(name, Warn, "no rua=: nobody tells you who sends as "+policyDomain, "add rua=mailto:dmarc@"+policyDomain+" to the DMARC record")
		}
		return
	}
	var ok []string
	for _, u := range uris {
		dest, err := dmarcreport.ParseURI(u)
		if err != nil {
			d.add(name, Fail, err.Error(), "write each destination as mailto:ADDRESS, comma-separated")
			return
		}
		auth, err := dmarcreport.Authorized(ctx, d.DNS, policyDomain, dest)
		if err != nil {
			d.temp(name, err)
			return
		}
		if !auth {
			d.add(name, Fail, fmt.Sprintf("%s is outside %s and does not accept its reports: receivers send none there (RFC 7489 §7.1)", dest.Address, policyDomain),
				fmt.Sprintf(`%s must publish TXT "v=DMARC1" at %s`, dest.Domain, dmarcreport.VerificationName(policyDomain, dest)))
			return
		}
		ok = append(ok, dest.Address)
	}
	d.add(name, Pass, strings.Join(ok, ", "), "")
}

// returnAddress: the --from address exists and takes mail, asked of its
// domain's own servers with the callout prober.
func (d *doctor) returnAddress(ctx context.Context) {
	if d.From == "" || d.Verify == nil {
		return
	}
	a, err := checks.ParseAddress(d.From)
	if err != nil || a.Domain == "" || a.Literal.IsValid() {
		d.add("return-address", Fail, fmt.Sprintf("%q is not an address with a domain", d.From), "use an address such as bounces@"+d.Domain)
		return
	}
	if why := noMail(ctx, d.DNS, a.Domain); why != "" {
		d.add("return-address", Fail, why, "send from an address whose domain receives mail: bounces and replies to it are lost")
		return
	}
	o := d.Verify(ctx, a.Local, a.Domain)
	at := ""
	if o.MX != "" {
		at = " (" + o.MX + ")"
	}
	switch o.Status {
	case callout.Deliverable:
		d.add("return-address", Pass, d.From+" is accepted"+at, "")
	case callout.AcceptAll:
		d.add("return-address", Pass, d.From+" is accepted"+at+"; the server accepts any address, so this proves little", "")
	case callout.Undeliverable:
		d.add("return-address", Fail, d.From+" is refused"+at+": "+o.Reply, "create the mailbox or an alias for "+d.From+": bounces and replies to it are lost")
	case callout.NoProbe:
		d.add("return-address", Fail, o.Detail, "send from an address whose domain receives mail")
	case callout.Unverifiable:
		if o.Reply == "" {
			// Not probed: the MX names an address callouts never reach
			// (loopback, private, our own) unless [checks.callout]
			// allow_networks lists it.
			d.add("return-address", Warn, "could not check: "+o.Detail, "an MX that names a private or loopback address cannot receive mail from the Internet; list the network in [checks.callout] allow_networks only if it is yours")
			return
		}
		d.add("return-address", Warn, "the server refuses the null sender"+at+": "+o.Reply, "accept MAIL FROM:<> (RFC 5321 §4.5.5): bounces use it")
	default:
		d.add("return-address", Warn, "could not check: "+o.Detail+at, "run again; check that the MX hosts answer on port 25")
	}
}

// noMail says why domain cannot receive mail, or "" when it may: it does
// not exist, publishes a null MX, or has neither MX nor address.
func noMail(ctx context.Context, r *resolver.Resolver, domain string) string {
	mxs, err := r.LookupMX(ctx, domain)
	switch {
	case resolver.IsNotFound(err):
		return domain + " does not exist"
	case resolver.IsNoData(err):
		if _, err := r.LookupIP(ctx, domain); err != nil && !resolver.IsTemporary(err) {
			return domain + " has no MX record and no address: it receives no mail"
		}
	case err == nil && len(mxs) == 1 && mxs[0].Host == "":
		return domain + " publishes a null MX (RFC 7505): it receives no mail"
	}
	return ""
}

// mtaSTS and tlsRPT: presence, as information (RFC 8461 §3.1, RFC 8460
// §3): they never fail the domain.
func (d *doctor) mtaSTS(ctx context.Context) {
	d.info(ctx, "mta-sts", "_mta-sts."+d.Domain, "v=STSv1", func(t string) string {
		if !strings.Contains(t, "id=") {
			return "the record has no id="
		}
		return ""
	}, `to ask senders for TLS, publish TXT "v=STSv1; id=1" at _mta-sts.`+d.Domain+` and the policy at https://mta-sts.`+d.Domain+`/.well-known/mta-sts.txt`)
}

func (d *doctor) tlsRPT(ctx context.Context) {
	d.info(ctx, "tls-rpt", "_smtp._tls."+d.Domain, "v=TLSRPTv1", func(t string) string {
		if !strings.Contains(t, "rua=") {
			return "the record has no rua="
		}
		return ""
	}, `to hear about TLS failures, publish TXT "v=TLSRPTv1; rua=mailto:tls-reports@`+d.Domain+`" at _smtp._tls.`+d.Domain)
}

func (d *doctor) info(ctx context.Context, name, owner, version string, bad func(string) string, howto string) {
	txts, err := d.DNS.LookupTXT(ctx, owner)
	if err != nil && resolver.IsTemporary(err) {
		d.temp(name, err)
		return
	}
	var recs []string
	for _, t := range txts {
		if v, _, _ := strings.Cut(t, ";"); strings.TrimSpace(v) == version {
			recs = append(recs, t)
		}
	}
	switch {
	case len(recs) == 0:
		d.add(name, Pass, "not published (optional; information only)", howto)
	case len(recs) > 1:
		d.add(name, Warn, fmt.Sprintf("%d %s records at %s: senders ignore them all", len(recs), version, owner), "keep one")
	case bad(recs[0]) != "":
		d.add(name, Warn, recs[0]+": "+bad(recs[0]), howto)
	default:
		d.add(name, Pass, recs[0], "")
	}
}
