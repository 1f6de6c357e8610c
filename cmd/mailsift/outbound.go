package main

import (
	"fmt"
	"net"
	"net/netip"
	"time"

	"go.uber.org/zap"

	"github.com/mailsift/mailsift/checks"
	"github.com/mailsift/mailsift/greylist"
	"github.com/mailsift/mailsift/internal/dkimsign"
	"github.com/mailsift/mailsift/internal/resolver"
	"github.com/mailsift/mailsift/internal/settings"
	"github.com/mailsift/mailsift/milter"
)

// newOutbound builds the submissions' chain from the outbound checks' one
// list (checks.OutboundTables.List) and loads the DKIM keys. nil when
// [outbound] is off.
func newOutbound(cfg *settings.Config, res *resolver.Resolver, files *listFiles, d *deps, log *zap.Logger) (*milter.Outbound, error) {
	o := &cfg.Outbound
	if !o.Enabled {
		return nil, nil
	}
	if log == nil {
		log = zap.NewNop()
	}
	ob := &milter.Outbound{Domains: cfg.OutboundDomains()}
	od := checks.OutboundDeps{DNS: res, Hostname: cfg.Hostname, Domains: ob.Domains, Delimiter: cfg.Checks.Recipient.Delimiter,
		Logins: files.logins, Mailboxes: files.mailboxes, DailyLimit: o.DailyLimit, Observe: d.metrics.OutboundCount()}
	if o.Logins == "" {
		od.Logins = nil
	}
	if o.Mailboxes == "" {
		od.Mailboxes = nil
	}
	if o.DKIM.Keys != "" {
		keys, errs, err := dkimsign.LoadDir(o.DKIM.Keys)
		if err != nil {
			errs = append(errs, err)
		}
		for _, e := range errs {
			log.Error("DKIM key not loaded: mail of its domain goes unsigned", zap.Error(e))
		}
		ob.Keys = keys
		log.Info("DKIM keys loaded", zap.Strings("mailsift.dkim.domains", keys.Domains()), zap.String("mailsift.dkim.keys", o.DKIM.Keys))
		if keys != nil {
			od.Signer = keys
		}
	}
	var counterErr error
	od.Counter = func() greylist.Counter {
		c, ok := d.greylists.get(cfg, d.metrics).(greylist.Counter)
		if !ok {
			counterErr = fmt.Errorf("outbound.daily_limit: the greylist store keeps no counts")
		}
		return c
	}
	od.Suppression = func() checks.SuppressionList {
		if l := d.bounces.list(cfg, log); l != nil {
			return l
		}
		log.Warn("outbound.suppress is on but [bounces] addresses is empty: no bounce is read, no address suppressed")
		return nil
	}
	if o.Preflight.Mode != "off" {
		addrs, err := cfg.OutboundAddresses(hostAddrs)
		if err != nil {
			return nil, err
		}
		if len(addrs) == 0 {
			log.Warn("outbound: no outbound addresses: the DMARC preflight cannot count on SPF; set [outbound] addresses")
		}
		od.Addresses = addrs
	}
	ob.Chain = o.NewChain(time.Duration(cfg.Checks.Timeout), od)
	if counterErr != nil {
		return nil, counterErr
	}
	return ob, nil
}

// hostAddrs lists the host's interface addresses.
func hostAddrs() ([]netip.Addr, error) {
	as, err := net.InterfaceAddrs()
	if err != nil {
		return nil, err
	}
	var out []netip.Addr
	for _, a := range as {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok {
				out = append(out, ip.Unmap())
			}
		}
	}
	return out, nil
}
