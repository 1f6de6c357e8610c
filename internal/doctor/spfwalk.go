package doctor

import (
	"context"
	"fmt"
	"net/netip"
	"strings"

	"github.com/miekg/dns"

	"github.com/mailsift/mailsift/internal/resolver"
)

// This file counts what an SPF record costs a receiver: the terms that
// cause DNS lookups (RFC 7208 §4.6.4: at most 10) and the lookups that
// come back empty (at most 2 "void" lookups). It walks the record and its
// include: and redirect= targets; it does not evaluate anything, which is
// the spf check's job.

const (
	maxLookups     = 10 // RFC 7208 §4.6.4
	maxVoidLookups = 2  // RFC 7208 §4.6.4
)

// spfWalk is what the walk found.
type spfWalk struct {
	lookups int      // terms that query DNS: include, a, mx, ptr, exists, redirect
	void    int      // of those, the ones whose target had no records
	voids   []string // the names looked up in vain
	macros  int      // domain-specs with macros, not followed
	errs    []string // syntax errors and missing included records, by domain
	temp    []string // temporary DNS failures
	// last is how the top record ends: "-all", "~all", "?all", "+all",
	// "redirect=DOMAIN" followed to its end, or "" when no all.
	last string
}

type txtLookup interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
	Query(ctx context.Context, name string, qtype uint16) ([]dns.RR, error)
}

// spfRecords returns the "v=spf1" TXT records of domain (RFC 7208 §4.5).
func spfRecords(ctx context.Context, r txtLookup, domain string) ([]string, error) {
	txts, err := r.LookupTXT(ctx, domain)
	if err != nil {
		return nil, err
	}
	var recs []string
	for _, t := range txts {
		if t == "v=spf1" || strings.HasPrefix(strings.ToLower(t), "v=spf1 ") {
			recs = append(recs, t)
		}
	}
	return recs, nil
}

// walkSPF walks the record of domain.
func walkSPF(ctx context.Context, r txtLookup, domain, record string) *spfWalk {
	w := &spfWalk{}
	w.last = w.walk(ctx, r, domain, record, map[string]bool{strings.ToLower(domain): true}, 0)
	return w
}

func (w *spfWalk) walk(ctx context.Context, r txtLookup, domain, record string, seen map[string]bool, depth int) string {
	if depth > 20 || w.lookups > 4*maxLookups {
		return ""
	}
	terms := strings.Fields(record)[1:]
	last, redirect := "", ""
	for _, t := range terms {
		if name, val, ok := strings.Cut(t, "="); ok && !strings.ContainsAny(name, ":/") {
			switch strings.ToLower(name) {
			case "redirect":
				redirect = val
			case "exp":
			default:
				if !validModifierName(name) {
					w.errs = append(w.errs, fmt.Sprintf("%s: bad term %q", domain, t))
				}
			}
			continue
		}
		q := "+"
		if strings.ContainsAny(t[:1], "+-~?") {
			q, t = t[:1], t[1:]
		}
		mech, arg, _ := strings.Cut(t, ":")
		if i := strings.IndexByte(mech, '/'); i >= 0 {
			mech = mech[:i]
		}
		if i := strings.IndexByte(arg, '/'); i >= 0 {
			arg = arg[:i]
		}
		switch strings.ToLower(mech) {
		case "all":
			last = q + "all"
		case "ip4", "ip6":
			if _, err := netip.ParseAddr(arg); err != nil {
				w.errs = append(w.errs, fmt.Sprintf("%s: bad address in %q", domain, t))
			}
		case "include":
			w.lookups++
			if arg == "" {
				w.errs = append(w.errs, fmt.Sprintf("%s: include without a domain", domain))
				continue
			}
			w.follow(ctx, r, domain, arg, seen, depth, "include")
		case "a", "mx":
			w.lookups++
			target := domain
			if arg != "" {
				target = arg
			}
			if hasMacro(target) {
				w.macros++
				continue
			}
			qt := dns.TypeA
			if strings.EqualFold(mech, "mx") {
				qt = dns.TypeMX
			}
			w.probe(ctx, r, target, qt)
		case "ptr":
			w.lookups++
		case "exists":
			w.lookups++
			if hasMacro(arg) {
				w.macros++
			} else if arg != "" {
				w.probe(ctx, r, arg, dns.TypeA)
			}
		default:
			w.errs = append(w.errs, fmt.Sprintf("%s: unknown mechanism %q", domain, t))
		}
	}
	if redirect != "" && last == "" { // RFC 7208 §6.1: redirect is ignored when all is present
		w.lookups++
		if end := w.follow(ctx, r, domain, redirect, seen, depth, "redirect"); end != "" {
			return end
		}
		return "redirect=" + redirect
	}
	return last
}

// follow walks the record of an include: or redirect= target and returns
// how it ends.
func (w *spfWalk) follow(ctx context.Context, r txtLookup, from, target string, seen map[string]bool, depth int, how string) string {
	if hasMacro(target) {
		w.macros++
		return ""
	}
	t := strings.ToLower(strings.TrimSuffix(target, "."))
	if seen[t] {
		w.errs = append(w.errs, fmt.Sprintf("%s: %s:%s loops back", from, how, target))
		return ""
	}
	recs, err := spfRecords(ctx, r, t)
	switch {
	case err != nil && resolver.IsTemporary(err):
		w.temp = append(w.temp, err.Error())
		return ""
	case err != nil || len(recs) == 0:
		// §5.2 and §6.1: a target without a record is a permerror, and
		// its lookup is void.
		w.void++
		w.voids = append(w.voids, t)
		w.errs = append(w.errs, fmt.Sprintf("%s: %s:%s has no SPF record", from, how, target))
		return ""
	case len(recs) > 1:
		w.errs = append(w.errs, fmt.Sprintf("%s: %s:%s has %d SPF records", from, how, target, len(recs)))
		return ""
	}
	seen[t] = true
	defer delete(seen, t)
	return w.walk(ctx, r, t, recs[0], seen, depth+1)
}

// probe looks a name up to see whether it is void.
func (w *spfWalk) probe(ctx context.Context, r txtLookup, name string, qtype uint16) {
	_, err := r.Query(ctx, name, qtype)
	switch {
	case err == nil:
	case resolver.IsTemporary(err):
		w.temp = append(w.temp, err.Error())
	default:
		if qtype == dns.TypeA { // an "a" with only AAAA is not void
			if _, err6 := r.Query(ctx, name, dns.TypeAAAA); err6 == nil {
				return
			}
		}
		w.void++
		w.voids = append(w.voids, strings.ToLower(strings.TrimSuffix(name, ".")))
	}
}

func hasMacro(s string) bool { return strings.Contains(s, "%{") }

func validModifierName(s string) bool {
	if s == "" || !('a' <= s[0]|0x20 && s[0]|0x20 <= 'z') {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}
