package main

import (
	"fmt"
	"time"

	"github.com/mailsift/mailsift/callout"
	"github.com/mailsift/mailsift/config"
	"github.com/mailsift/mailsift/metrics"
	"github.com/mailsift/mailsift/resolver"
)

// calloutHolder keeps one callout Verifier across reloads while the
// settings it was made with stay the same, so that a reload forgets
// neither the cache nor the probes under way.
type calloutHolder struct {
	v   *callout.Verifier
	key string
}

func (h *calloutHolder) get(cfg *config.Config, res *resolver.Resolver, m *metrics.Metrics) *callout.Verifier {
	co := cfg.Checks.Callout
	co.CheckConfig = config.CheckConfig{} // actions, replies and exceptions are the check's, not the verifier's
	co.Mode = ""
	key := fmt.Sprintf("%+v|%s|%+v", co, cfg.Hostname, cfg.DNS)
	if h.v != nil && h.key == key {
		return h.v
	}
	h.close()
	h.key = key
	h.v = callout.New(callout.Config{
		Hostname: cfg.Hostname, ProbeSender: co.ProbeSender, Port: co.Port,
		Budget: time.Duration(co.Budget), ProbeTimeout: time.Duration(co.ProbeTimeout),
		PositiveTTL: time.Duration(co.PositiveTTL), NegativeTTL: time.Duration(co.NegativeTTL), TempTTL: time.Duration(co.TempTTL),
		CacheSize: co.CacheSize, MaxPerDomain: co.MaxPerDomain, RatePerMinute: co.RatePerMinute,
		DetectAcceptAll: co.AcceptAll, DNS: res,
		Observe: func(s callout.Status) { m.Callout(string(s)) },
	})
	return h.v
}

// close cancels the probes under way and waits for them.
func (h *calloutHolder) close() {
	if h.v != nil {
		h.v.Close()
		h.v = nil
	}
}
