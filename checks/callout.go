package checks

import (
	"context"

	"github.com/mailsift/mailsift/internal/callout"
	"github.com/mailsift/mailsift/internal/config"
)

// Callout verifies the sender address with the sender domain's own mail
// servers (Postfix's reject_unverified_sender). It runs at MAIL FROM and,
// like every refusal, answers at RCPT TO. Trusted and authenticated
// clients never reach it; the null sender and our own domains are never
// probed.
type Callout struct {
	Verifier   *callout.Verifier
	OwnDomains []string // never probed: we know our own users
	// The replies; see Table for the defaults. {remote} in Fail is the
	// remote server's reply.
	Fail, Temp, InProgress Reply
}

// Name implements Check.
func (*Callout) Name() string { return CalloutName }

// CheckMail implements MailChecker.
func (c *Callout) CheckMail(ctx context.Context, env *Envelope) Result {
	if env.From == "" {
		return Result{Status: None, Reason: ReasonCalloutNullSender, Text: "the null sender is never probed"}
	}
	a, err := ParseAddress(env.From)
	if err != nil || a.Domain == "" || a.Literal.IsValid() {
		return Result{Status: None, Reason: ReasonCalloutNotProbed, Text: "no domain to ask (the sender check judges the address)"}
	}
	for _, d := range c.OwnDomains {
		if domainMatch(a.Domain, d) {
			return Result{Status: None, Reason: ReasonCalloutOwnDomain, Text: a.Domain + " is ours"}
		}
	}
	o := c.Verifier.Verify(ctx, a.Local, a.Domain)
	vars := map[string]string{"sender": env.From, "remote": o.Reply}
	r := Result{Text: o.Detail, Details: map[string]string{"mx": o.MX, "remote_reply": o.Reply}}
	if o.Cached {
		r.Details["cached"] = "true"
	}
	switch o.Status {
	case callout.Deliverable:
		r.Status, r.Reason = Pass, ReasonCalloutDeliverable
	case callout.AcceptAll:
		r.Status, r.Reason = Neutral, ReasonCalloutAcceptAll
	case callout.Undeliverable:
		r.Status, r.Reason, r.Reply = Fail, ReasonCalloutUndeliverable, c.Fail.Expand(vars)
	case callout.NoProbe:
		r.Status, r.Reason = None, ReasonCalloutNotProbed
	case callout.InProgress:
		r.Status, r.Reason, r.Reply = TempError, ReasonCalloutInProgress, c.InProgress.Expand(vars)
	case callout.Unverifiable:
		// No evidence against the sender: temperror, never fail.
		r.Status, r.Reason, r.Reply = TempError, ReasonCalloutUnverifiable, c.Temp.Expand(vars)
	case callout.Limited:
		r.Status, r.Reason, r.Reply = TempError, ReasonCalloutLimited, c.Temp.Expand(vars)
	default:
		r.Status, r.Reason, r.Reply = TempError, ReasonCalloutTempError, c.Temp.Expand(vars)
	}
	return r
}

// The callout check's name and reasons (its log's mailsift.checks.callout.reason, and keys of its actions).
const (
	CalloutName                = "callout"
	ReasonCalloutDeliverable   = "callout-deliverable"
	ReasonCalloutAcceptAll     = "callout-accept-all"
	ReasonCalloutUndeliverable = "callout-undeliverable"
	ReasonCalloutNotProbed     = "callout-not-probed"
	ReasonCalloutNullSender    = "callout-null-sender"
	ReasonCalloutOwnDomain     = "callout-own-domain"
	ReasonCalloutInProgress    = "callout-in-progress"
	ReasonCalloutUnverifiable  = "callout-unverifiable"
	ReasonCalloutLimited       = "callout-limited"
	ReasonCalloutTempError     = "callout-temperror"
)

func calloutReasons() []string {
	return []string{ReasonCalloutDeliverable, ReasonCalloutAcceptAll, ReasonCalloutUndeliverable, ReasonCalloutNotProbed, ReasonCalloutNullSender, ReasonCalloutOwnDomain, ReasonCalloutInProgress, ReasonCalloutUnverifiable, ReasonCalloutLimited, ReasonCalloutTempError}
}

// calloutRows are the callout check's default replies (keys of [checks.callout.replies]).
func calloutRows() []Row {
	return []Row{
		{CalloutName, "temp", Reply{450, "4.1.7", "<{sender}>: Sender address rejected: unverified address"}},
		{CalloutName, "in_progress", Reply{450, "4.1.7", "<{sender}>: Sender address rejected: address verification in progress"}},
		{CalloutName, "perm", Reply{550, "5.1.7", "<{sender}>: Sender address rejected: undeliverable address ({remote})"}},
	}
}

// CalloutConfig is [checks.callout]: sender verification with the sender
// domain's own servers. Off by default; its defaults are the callout
// package's (callout.Defaults).
type CalloutConfig struct {
	Mode          CheckMode       `toml:"mode"`
	Port          int             `toml:"port"`
	ProbeSender   string          `toml:"probe_sender"`
	Budget        config.Duration `toml:"budget"`
	ProbeTimeout  config.Duration `toml:"probe_timeout"`
	PositiveTTL   config.Duration `toml:"positive_ttl"`
	NegativeTTL   config.Duration `toml:"negative_ttl"`
	TempTTL       config.Duration `toml:"temp_ttl"`
	CacheSize     int             `toml:"cache_size"`
	MaxPerDomain  int             `toml:"max_per_domain"`
	RatePerMinute int             `toml:"rate_per_minute"`
	AcceptAll     bool            `toml:"detect_accept_all"`
	Shared        bool            `toml:"shared"`
	// RatePerTarget limits probes to one server address, whatever the
	// domain; AllowNetworks lists the loopback, private or own networks a
	// probe may reach (none by default).
	RatePerTarget int             `toml:"rate_per_target"`
	AllowNetworks []config.Prefix `toml:"allow_networks"`
	CheckConfig
}

func defaultCalloutConfig() CalloutConfig {
	co := callout.Defaults()
	return CalloutConfig{Mode: "off", Port: co.Port, Budget: config.Duration(co.Budget), ProbeTimeout: config.Duration(co.ProbeTimeout),
		PositiveTTL: config.Duration(co.PositiveTTL), NegativeTTL: config.Duration(co.NegativeTTL), TempTTL: config.Duration(co.TempTTL),
		CacheSize: co.CacheSize, MaxPerDomain: co.MaxPerDomain, RatePerMinute: co.RatePerMinute, RatePerTarget: co.RatePerTarget,
		AllowNetworks: []config.Prefix{},
		// A domain that refuses <> or a limit reached is no evidence
		// against the sender: accept, and log it.
		CheckConfig: CheckConfig{Actions: map[string]Action{ReasonCalloutUnverifiable: ActionLog, ReasonCalloutLimited: ActionLog}}}
}

// Validate checks the table. (Whether the shared cache has the
// greylist's Redis is checked with [greylist], in Config.Validate.)
func (co *CalloutConfig) Validate() error {
	if co.Port < 1 || co.Port > 65535 {
		return config.Errorf("checks.callout.port", "want a port from 1 to 65535, got %d", co.Port)
	}
	if co.ProbeSender != "" {
		if a, err := ParseAddress(co.ProbeSender); err != nil || a.Domain == "" {
			return config.Errorf("checks.callout.probe_sender", "want an address such as \"verify@example.org\", or \"\" for the null sender, got %q", co.ProbeSender)
		}
	}
	for _, d := range []struct {
		key string
		v   config.Duration
	}{{"budget", co.Budget}, {"probe_timeout", co.ProbeTimeout}, {"positive_ttl", co.PositiveTTL}, {"negative_ttl", co.NegativeTTL}, {"temp_ttl", co.TempTTL}} {
		if d.v <= 0 {
			return config.Errorf("checks.callout."+d.key, "want a positive duration")
		}
	}
	if co.Budget > co.ProbeTimeout {
		return config.Errorf("checks.callout.budget", "want at most probe_timeout: the budget is how long a session waits for a probe")
	}
	for _, n := range []struct {
		key string
		v   int
	}{{"cache_size", co.CacheSize}, {"max_per_domain", co.MaxPerDomain}, {"rate_per_minute", co.RatePerMinute}, {"rate_per_target", co.RatePerTarget}} {
		if n.v < 1 {
			return config.Errorf("checks.callout."+n.key, "want 1 or more, got %d", n.v)
		}
	}
	return nil
}

// newCallout builds the callout check from its table; our own domains
// (the hostname, [checks.recipient] domains) are never probed.
func newCallout(t *CalloutConfig, d Deps, domains []string) Check {
	r := func(key string) Reply { return t.Reply(CalloutName, key) }
	return &Callout{Verifier: d.Verifier(), OwnDomains: append([]string{d.Hostname}, domains...),
		Fail: r("perm"), Temp: r("temp"), InProgress: r("in_progress")}
}
