package checks

import (
	"time"

	"github.com/mailsift/mailsift/greylist"
	"github.com/mailsift/mailsift/internal/callout"
	"github.com/mailsift/mailsift/internal/config"
	"github.com/mailsift/mailsift/internal/resolver"
)

// Config is [checks]: what the inbound checks share, and one table per
// check. Each table's type, defaults and validation sit beside its check;
// Inbound lists them in their one order.
type Config struct {
	Timeout   config.Duration `toml:"timeout"`
	PTR       PTRConfig       `toml:"ptr"`
	Helo      HeloConfig      `toml:"helo"`
	Sender    SenderConfig    `toml:"sender"`
	Recipient RecipientConfig `toml:"recipient"`
	Relay     RelayConfig     `toml:"relay"`
	Callout   CalloutConfig   `toml:"callout"`
	SPF       SPFConfig       `toml:"spf"`
	DKIM      DKIMConfig      `toml:"dkim"`
	DMARC     DMARCConfig     `toml:"dmarc"`
}

// DefaultConfig is [checks] as it is when the file says nothing.
func DefaultConfig() Config {
	return Config{
		Timeout:   config.Duration(10 * time.Second),
		PTR:       defaultPTRConfig(),
		Helo:      defaultHeloConfig(),
		Sender:    defaultSenderConfig(),
		Recipient: defaultRecipientConfig(),
		Callout:   defaultCalloutConfig(),
		SPF:       defaultSPFConfig(),
		DKIM:      defaultDKIMConfig(),
		DMARC:     defaultDMARCConfig(),
	}
}

// Deps is what the checks are built with besides their tables.
type Deps struct {
	DNS      *resolver.Resolver
	Hostname string // this host's name: HELO "ours", SPF's %{r}, never probed
	// Verifier gives the callout's prober; called only when the callout
	// check runs.
	Verifier func() *callout.Verifier
	// Store gives the greylist store; called only when the greylist runs.
	Store      func() greylist.Store
	Recipients *RecipientList // checks.recipient.list, loaded; nil for none
	Whitelist  []*LineFile    // greylist.whitelist.files, loaded
	// Outbound is what the outbound checks are built with.
	Outbound OutboundDeps
}

// Entry is one check in the list: its name, its table, whether it runs,
// and its constructor.
type Entry struct {
	Name  string
	Mode  CheckMode // the table's policy mode, "" to follow the global one
	On    bool      // the check runs
	Table *CheckConfig
	// Prefix is where the table is in the file ("checks.helo").
	Prefix string
	// AtStage names the stage the check runs at when the sender and
	// recipients are not known yet ("connect", "HELO"); "" after.
	AtStage string
	// Own is the whole table (&Config.PTR, ...): its Validate, if it has
	// one, checks the check's own keys.
	Own any
	// New builds the check; an outbound one (OutboundTables.List) returns
	// nil when its input is missing.
	New func(Deps) Check
}

// Inbound is the one ordered list of the inbound checks, as coredns's
// plugin.cfg: the order of the chain, of the log fields, and of the replies
// when several checks refuse at one stage. A new check is one line here
// and its table in Config (see docs/flow.md, "Adding a check"). g is the
// [greylist] table.
func Inbound(c *Config, g *GreylistConfig) []Entry {
	// e is the row of a check whose table, own, is [checks.<name>]; it
	// runs unless its mode is "off".
	e := func(name string, mode CheckMode, own any, cc *CheckConfig, stage string, build func(Deps) Check) Entry {
		return Entry{Name: name, Mode: mode, On: mode != "off", Table: cc, Prefix: "checks." + name, AtStage: stage, Own: own, New: build}
	}
	return []Entry{
		// The ptr mode is the check's strength, not a policy mode.
		{Name: PTRName, On: c.PTR.Mode != "off", Table: &c.PTR.CheckConfig, Prefix: "checks.ptr", AtStage: "connect", Own: &c.PTR,
			New: func(d Deps) Check { return newPTR(&c.PTR, d) }},
		e(HeloName, c.Helo.Mode, &c.Helo, &c.Helo.CheckConfig, "HELO",
			func(d Deps) Check { return newHelo(&c.Helo, d) }),
		e(SenderName, c.Sender.Mode, &c.Sender, &c.Sender.CheckConfig, "",
			func(d Deps) Check { return newSender(&c.Sender, d) }),
		e(RecipientName, c.Recipient.Mode, &c.Recipient, &c.Recipient.CheckConfig, "",
			func(d Deps) Check { return newRecipient(&c.Recipient, d) }),
		e(CalloutName, c.Callout.Mode, &c.Callout, &c.Callout.CheckConfig, "",
			func(d Deps) Check { return newCallout(&c.Callout, d, c.Recipient.Domains) }),
		e(SPFName, c.SPF.Mode, &c.SPF, &c.SPF.CheckConfig, "",
			func(d Deps) Check { return newSPF(&c.SPF, d) }),
		e(DKIMName, c.DKIM.Mode, &c.DKIM, &c.DKIM.CheckConfig, "",
			func(d Deps) Check { return newDKIM(&c.DKIM, d) }),
		e(DMARCName, c.DMARC.Mode, &c.DMARC, &c.DMARC.CheckConfig, "",
			func(d Deps) Check { return newDMARC(&c.DMARC, d) }),
		e(RelayName, c.Relay.Mode, &c.Relay, &c.Relay.CheckConfig, "",
			func(Deps) Check { return newRelay(&c.Relay, c.Recipient.Domains) }),
		// [greylist] is a table of its own, with its enabled switch.
		{Name: GreylistName, Mode: g.Mode, On: g.On(), Table: &g.CheckConfig, Prefix: "greylist", Own: g,
			New: func(d Deps) Check { return newGreylist(g, d, c.Recipient.Delimiter) }},
	}
}

// Validate checks [checks] and [greylist], g: each table's own keys, then
// what every table has.
func (c *Config) Validate(g *GreylistConfig) error {
	if c.Timeout <= 0 {
		return config.Errorf("checks.timeout", "want a positive duration")
	}
	for _, e := range Inbound(c, g) {
		if v, ok := e.Own.(interface{ Validate() error }); ok {
			if err := v.Validate(); err != nil {
				return err
			}
		}
	}
	if c.Callout.Shared && g.Store != "redis" {
		return config.Errorf("checks.callout.shared", `the shared cache uses the greylist's Redis: set [greylist] store = "redis" and [greylist.redis] addrs`)
	}
	for _, e := range Inbound(c, g) {
		if err := e.Table.Validate(e.Prefix, e.Name, e.AtStage); err != nil {
			return err
		}
	}
	return nil
}

// NewChain builds the inbound chain from the list: each check that runs,
// with its exceptions.
func (c *Config) NewChain(g *GreylistConfig, d Deps) *Chain {
	return chainOf(time.Duration(c.Timeout), Inbound(c, g), d)
}

// chainOf builds a chain of the listed checks that run and are built (an
// outbound one is not when its input is missing), each with its
// exceptions.
func chainOf(timeout time.Duration, list []Entry, d Deps) *Chain {
	chain := NewChain(timeout, time.Now)
	for _, e := range list {
		if !e.On {
			continue
		}
		ch := e.New(d)
		if ch == nil {
			continue
		}
		chain.Add(ch)
		if x := e.Table.Exceptions(); x != nil {
			chain.Except(ch.Name(), x)
		}
	}
	return chain
}
