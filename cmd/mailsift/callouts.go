package main

import (
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/mailsift/mailsift/checks"
	"github.com/mailsift/mailsift/internal/callout"
	"github.com/mailsift/mailsift/internal/metrics"
	"github.com/mailsift/mailsift/internal/resolver"
	"github.com/mailsift/mailsift/internal/settings"
)

// calloutHolder keeps one callout Verifier across reloads while the
// settings it was made with stay the same, so that a reload forgets
// neither the cache nor the probes under way.
type calloutHolder struct {
	log    *zap.Logger // nil: no log
	v      *callout.Verifier
	key    string
	shared redis.UniversalClient
}

func (h *calloutHolder) get(cfg *settings.Config, res *resolver.Resolver, m *metrics.Metrics) *callout.Verifier {
	co := cfg.Checks.Callout
	co.CheckConfig = checks.CheckConfig{} // actions, replies and exceptions are the check's, not the verifier's
	co.Mode = ""
	key := fmt.Sprintf("%+v|%s|%+v|%+v", co, cfg.Hostname, cfg.DNS, cfg.Greylist.Redis)
	if h.v != nil && h.key == key {
		return h.v
	}
	h.close()
	h.key = key
	log := h.log
	if log == nil {
		log = zap.NewNop()
	}
	var shared *callout.Shared
	if co.Shared {
		r := cfg.Greylist.Redis
		conn, _ := r.Conn(r.Prefix) // the password was checked at validation; an error only costs the shared cache
		h.shared = conn.Client()
		shared = &callout.Shared{Client: h.shared, Prefix: r.Prefix}
	}
	cc := calloutConfig(cfg, res)
	cc.Observe = func(s callout.Status) { m.Callout(string(s)) }
	cc.Refused = func(domain, mx, why string) {
		log.Warn("callout target refused; the sender domain is unverifiable", zap.String("mailsift.callout.domain", domain),
			zap.String("mailsift.callout.mx", mx), zap.String("mailsift.callout.refused", why))
	}
	cc.Shared = shared
	h.v = callout.New(cc)
	return h.v
}

// calloutConfig is the verifier's part of [checks.callout], with its
// safety rules (allow_networks, never our own addresses), for the check
// and for "mailsift doctor".
func calloutConfig(cfg *settings.Config, res *resolver.Resolver) callout.Config {
	co := cfg.Checks.Callout
	var allow []netip.Prefix
	for _, p := range co.AllowNetworks {
		allow = append(allow, p.Prefix)
	}
	return callout.Config{
		Hostname: cfg.Hostname, ProbeSender: co.ProbeSender, Port: co.Port,
		Budget: time.Duration(co.Budget), ProbeTimeout: time.Duration(co.ProbeTimeout),
		PositiveTTL: time.Duration(co.PositiveTTL), NegativeTTL: time.Duration(co.NegativeTTL), TempTTL: time.Duration(co.TempTTL),
		CacheSize: co.CacheSize, MaxPerDomain: co.MaxPerDomain, RatePerMinute: co.RatePerMinute,
		DetectAcceptAll: co.AcceptAll, DNS: res, RatePerTarget: co.RatePerTarget,
		AllowNetworks: allow, OwnAddrs: ownAddrs(),
	}
}

// ownAddrs returns this host's addresses: a probe never connects to them.
func ownAddrs() []netip.Addr {
	as, _ := net.InterfaceAddrs()
	var own []netip.Addr
	for _, a := range as {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			own = append(own, p.Addr().Unmap())
		}
	}
	return own
}

// close cancels the probes under way and waits for them.
func (h *calloutHolder) close() {
	if h.v != nil {
		h.v.Close()
		h.v = nil
	}
	if h.shared != nil {
		h.shared.Close()
		h.shared = nil
	}
}
