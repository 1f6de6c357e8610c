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

// newOutbound builds the submissions' checks, in their one order (MAIL
// FROM: login, mailbox, limit; end of message: preflight, standards), and
// loads the DKIM keys. nil when [outbound] is off.
func newOutbound(cfg *settings.Config, res *resolver.Resolver, files *listFiles, d *deps, log *zap.Logger) (*milter.Outbound, error) {
	o := &cfg.Outbound
	if !o.Enabled {
		return nil, nil
	}
	if log == nil {
		log = zap.NewNop()
	}
	ob := &milter.Outbound{Chain: checks.NewChain(time.Duration(cfg.Checks.Timeout), time.Now), Domains: cfg.OutboundDomains()}
	add := func(c checks.Check, cc *checks.CheckConfig) {
		ob.Chain.Add(c)
		if x := cc.Exceptions(); x != nil {
			ob.Chain.Except(c.Name(), x)
		}
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
	}
	delimiter := cfg.Checks.Recipient.Delimiter
	if l := &o.Login; o.Logins != "" && l.Mode != "off" {
		add(checks.NewLogin(l, files.logins, delimiter), &l.CheckConfig)
	}
	if mb := &o.Mailbox; o.Mailboxes != "" && mb.Mode != "off" {
		add(checks.NewMailbox(mb, cfg.OutboundDomains(), files.mailboxes), &mb.CheckConfig)
	}
	if l := &o.Limit; o.DailyLimit > 0 && l.Mode != "off" {
		counter, ok := d.greylists.get(cfg, d.metrics).(greylist.Counter)
		if !ok {
			return nil, fmt.Errorf("outbound.daily_limit: the greylist store keeps no counts")
		}
		add(checks.NewLimit(l, counter, o.DailyLimit, d.metrics.OutboundCount()), &l.CheckConfig)
	}
	if c := newSuppress(cfg, d, log); c != nil {
		add(c, &o.Suppress.CheckConfig)
	}
	if p := &o.Preflight; p.Mode != "off" {
		addrs, err := cfg.OutboundAddresses(hostAddrs)
		if err != nil {
			return nil, err
		}
		if len(addrs) == 0 {
			log.Warn("outbound: no outbound addresses: the DMARC preflight cannot count on SPF; set [outbound] addresses")
		}
		pf := checks.NewPreflight(p, res, addrs, cfg.Hostname, nil)
		if ob.Keys != nil {
			pf.Signer = ob.Keys
		}
		add(pf, &p.CheckConfig)
	}
	if s := &o.Standards; s.Mode != "off" {
		add(checks.NewStandards(s), &s.CheckConfig)
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
