package main

import (
	"time"

	"github.com/mailsift/mailsift/checks"
	"github.com/mailsift/mailsift/config"
	"github.com/mailsift/mailsift/greylist"
	"github.com/mailsift/mailsift/resolver"
)

// inbound is the one ordered list of the inbound checks, as coredns's
// plugin.cfg: the order of the chain, of the log fields, and of the
// replies when several checks refuse at one stage. A new check is one
// line here (see docs/flow.md, "Adding a check").
func inbound() []entry {
	return []entry{
		{checks.PTRName, buildPTR},
		{checks.HeloName, buildHelo},
		{checks.SenderName, buildSender},
		{checks.RecipientName, buildRecipient},
		{checks.CalloutName, buildCallout},
		{checks.SPFName, buildSPF},
		{checks.DKIMName, buildDKIM},
		{checks.DMARCName, buildDMARC},
		{checks.RelayName, buildRelay},
		{checks.GreylistName, buildGreylist},
	}
}

// entry builds one check from the configuration: nil when it is off, and
// the check's table (its actions, replies and exceptions).
type entry struct {
	name  string
	build func(b *builder) (checks.Check, *config.CheckConfig)
}

// builder is what the checks are built from.
type builder struct {
	cfg   *config.Config
	files *listFiles
	d     *deps
	res   *resolver.Resolver
}

// newChain builds the inbound chain from the list.
func newChain(b *builder) *checks.Chain {
	chain := checks.NewChain(time.Duration(b.cfg.Checks.Timeout), time.Now)
	for _, e := range inbound() {
		c, cc := e.build(b)
		if c == nil {
			continue
		}
		chain.Add(c)
		if x := cc.Exceptions(); x != nil {
			chain.Except(c.Name(), x)
		}
	}
	return chain
}

func buildPTR(b *builder) (checks.Check, *config.CheckConfig) {
	t := &b.cfg.Checks.PTR
	if t.Mode == "off" {
		return nil, nil
	}
	return &checks.PTR{Mode: checks.PTRMode(t.Mode), DNS: b.res,
		Temp: t.Reply(checks.PTRName, "temp"), Perm: t.Reply(checks.PTRName, "perm")}, &t.CheckConfig
}

func buildHelo(b *builder) (checks.Check, *config.CheckConfig) {
	t := &b.cfg.Checks.Helo
	if t.Mode == "off" {
		return nil, nil
	}
	r := func(key string) checks.Reply { return t.Reply(checks.HeloName, key) }
	return &checks.Helo{RequireFQDN: t.NonFQDN, RequireDNS: t.Unknown, OurNames: []string{b.cfg.Hostname}, DNS: b.res,
		Syntax: r("syntax"), NonFQDN: r("non_fqdn"), Literal: r("literal"), Ours: r("ours"), Unknown: r("unknown"), Temp: r("temp")}, &t.CheckConfig
}

func buildSender(b *builder) (checks.Check, *config.CheckConfig) {
	t := &b.cfg.Checks.Sender
	if t.Mode == "off" {
		return nil, nil
	}
	r := func(key string) checks.Reply { return t.Reply(checks.SenderName, key) }
	return &checks.Sender{RequireFQDN: t.NonFQDN, RequireDomain: t.UnknownDomain, DNS: b.res,
		Syntax: r("syntax"), NonFQDN: r("non_fqdn"), UnknownDomain: r("unknown_domain"), NullMX: r("null_mx"), Temp: r("temp")}, &t.CheckConfig
}

func buildRecipient(b *builder) (checks.Check, *config.CheckConfig) {
	t := &b.cfg.Checks.Recipient
	if t.Mode == "off" {
		return nil, nil
	}
	list := b.files.recipients
	if list != nil {
		list.Report = listReporter(b.d.log(), t.List)
	}
	r := func(key string) checks.Reply { return t.Reply(checks.RecipientName, key) }
	return &checks.Recipient{RequireFQDN: t.NonFQDN, Domains: t.Domains, List: list,
		Syntax: r("syntax"), NonFQDN: r("non_fqdn"), Unlisted: r("unlisted"), Temp: r("temp")}, &t.CheckConfig
}

func buildCallout(b *builder) (checks.Check, *config.CheckConfig) {
	t := &b.cfg.Checks.Callout
	if t.Mode == "off" {
		return nil, nil
	}
	r := func(key string) checks.Reply { return t.Reply(checks.CalloutName, key) }
	return &checks.Callout{Verifier: b.d.callouts.get(b.cfg, b.res, b.d.metrics),
		OwnDomains: append([]string{b.cfg.Hostname}, b.cfg.Checks.Recipient.Domains...),
		Fail:       r("perm"), Temp: r("temp"), InProgress: r("in_progress")}, &t.CheckConfig
}

func buildSPF(b *builder) (checks.Check, *config.CheckConfig) {
	t := &b.cfg.Checks.SPF
	if t.Mode == "off" {
		return nil, nil
	}
	return &checks.SPF{DNS: checks.NetResolver{R: b.res}, Receiver: b.cfg.Hostname,
		Fail: t.Reply(checks.SPFName, "perm"), Temp: t.Reply(checks.SPFName, "temp")}, &t.CheckConfig
}

func buildDKIM(b *builder) (checks.Check, *config.CheckConfig) {
	t := &b.cfg.Checks.DKIM
	if t.Mode == "off" {
		return nil, nil
	}
	return &checks.DKIM{DNS: checks.NetResolver{R: b.res}, Max: t.MaxSignatures}, &t.CheckConfig
}

func buildDMARC(b *builder) (checks.Check, *config.CheckConfig) {
	t := &b.cfg.Checks.DMARC
	if t.Mode == "off" {
		return nil, nil
	}
	r := func(key string) checks.Reply { return t.Reply(checks.DMARCName, key) }
	c := &checks.DMARC{DNS: checks.NetResolver{R: b.res}, ListHosts: t.ListHosts, Reject: r("perm"), Temp: r("temp"), FromInvalid: r("from")}
	for _, f := range t.Forwarders {
		p, name, _ := config.ParseForwarder(f)
		if name != "" {
			c.ForwarderNames = append(c.ForwarderNames, name)
		} else {
			c.ForwarderNets = append(c.ForwarderNets, p)
		}
	}
	return c, &t.CheckConfig
}

// buildRelay: without domains, sender-specified routing only.
func buildRelay(b *builder) (checks.Check, *config.CheckConfig) {
	t := &b.cfg.Checks.Relay
	if t.Mode == "off" {
		return nil, nil
	}
	return &checks.Relay{Domains: b.cfg.Checks.Recipient.Domains, Denied: t.Reply(checks.RelayName, "perm")}, &t.CheckConfig
}

func buildGreylist(b *builder) (checks.Check, *config.CheckConfig) {
	g := &b.cfg.Greylist
	if !g.Enabled || g.Mode == "off" {
		return nil, nil
	}
	wl := &checks.GreyWhitelist{Exceptions: checks.Exceptions{
		Hostnames: g.Whitelist.Hostnames, Senders: g.Whitelist.Senders, Recipients: g.Whitelist.Recipients}}
	for _, p := range g.Whitelist.Networks {
		wl.Networks = append(wl.Networks, p.Prefix)
	}
	wl.Files = b.files.whitelist
	return &checks.Greylist{Store: b.d.greylists.get(b.cfg, b.d.metrics), Now: time.Now,
		Timing: greylist.Timing{Delay: time.Duration(g.Delay), RetryWindow: time.Duration(g.RetryWindow),
			MaxAge: time.Duration(g.MaxAge), AWLCount: g.AutoWhitelist},
		OrgDomain: g.OrgDomain, SPFSkip: g.SPFSkip, IPv4: g.IPv4Prefix, IPv6: g.IPv6Prefix, Delimiter: b.cfg.Checks.Recipient.Delimiter,
		Whitelist:  wl,
		Greylisted: g.Reply(checks.GreylistName, "temp"), StoreError: g.Reply(checks.GreylistName, "store")}, &g.CheckConfig
}
