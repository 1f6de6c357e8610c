// Command mailsift is a mail filter (milter) for Postfix and Sendmail.
//
//	mailsift run [-c FILE]            serve the milter
//	mailsift config check [-c FILE]   validate a config, print the effective one
//	mailsift version                  print the version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/mailsift/mailsift/checks"
	"github.com/mailsift/mailsift/config"
	"github.com/mailsift/mailsift/greylist"
	"github.com/mailsift/mailsift/metrics"
	"github.com/mailsift/mailsift/milter"
	"github.com/mailsift/mailsift/resolver"
)

// version is set at build time: -ldflags "-X main.version=$(git describe)".
var version = ""

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage:
  mailsift run [-c FILE]            serve the milter (default config when no -c)
  mailsift config check [-c FILE]   validate a config and print the effective one
  mailsift doctor DOMAIN [flags]    check a sending domain's DNS and mailboxes
  mailsift dmarc report|read|summary  DMARC aggregate reports (mailsift dmarc help)
  mailsift check [-c FILE] --ip ADDR --helo NAME --from ADDR --rcpt ADDR... MESSAGE.eml
                                    replay one decision (see mailsift check -h)
  mailsift version                  print the version
  mailsift dsn FILE...|-            read bounces: one JSON line per failed recipient
  mailsift explain [--json] TEXT    explain an SMTP reply or a bounce (or FILE, or stdin)
  mailsift trace [flags] [LOG...]   find a message in Postfix's log and say what happened to it
`

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch {
	case args[0] == "dkim":
		return cmdDKIM(args[1:], stdout, stderr)
	case args[0] == "run":
		return cmdRun(args[1:], stderr)
	case args[0] == "check":
		return cmdCheck(args[1:], stdout, stderr)
	case args[0] == "config" && len(args) > 1 && args[1] == "check":
		return cmdConfigCheck(args[2:], stdout, stderr)
	case args[0] == "dsn":
		return cmdDSN(args[1:], os.Stdin, stdout, stderr)
	case args[0] == "explain":
		return cmdExplain(args[1:], os.Stdin, stdout, stderr)
	case args[0] == "trace":
		return cmdTrace(args[1:], os.Stdin, stdout, stderr)
	case args[0] == "doctor":
		return cmdDoctor(args[1:], stdout, stderr)
	case args[0] == "dmarc":
		return cmdDMARC(args[1:], os.Stdin, stdout, stderr)
	case args[0] == "version" || args[0] == "-version" || args[0] == "--version":
		fmt.Fprintln(stdout, "mailsift", getVersion())
		return 0
	case args[0] == "help" || args[0] == "-h" || args[0] == "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "mailsift: unknown command %q\n%s", args[0], usage)
	return 2
}

func getVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

// loadConfig reads path, or gives the built-in default when path is "".
func loadConfig(path string) (*config.Config, error) {
	if path == "" {
		return config.Default(), nil
	}
	return config.Load(path)
}

func flags(name string, args []string, stderr io.Writer) (string, bool) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("c", "", "config `FILE` (default: the built-in configuration)")
	if err := fs.Parse(args); err != nil {
		return "", false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "mailsift %s: unexpected argument %q\n", name, fs.Arg(0))
		return "", false
	}
	return *path, true
}

// setup parses a subcommand's flags and loads its config; a non-zero code
// is the exit status when that fails.
func setup(name string, args []string, stderr io.Writer) (string, *config.Config, int) {
	path, ok := flags(name, args, stderr)
	if !ok {
		return "", nil, 2
	}
	cfg, err := loadConfig(path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return "", nil, 1
	}
	return path, cfg, 0
}

func cmdConfigCheck(args []string, stdout, stderr io.Writer) int {
	path, cfg, code := setup("config check", args, stderr)
	if code != 0 {
		return code
	}
	b, err := cfg.Effective().Encode()
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	for _, w := range cfg.Warnings() {
		fmt.Fprintf(stderr, "%s: warning: %s\n", configName(path), w)
	}
	fmt.Fprintf(stdout, "# %s: valid; the effective configuration:\n%s", configName(path), b)
	return 0
}

// newRuntime builds what sessions run with from a configuration: the
// resolver, the checks, constructed explicitly in their one order (connect,
// HELO, MAIL, RCPT), and the policy.
func newRuntime(cfg *config.Config, d *deps) (*milter.Runtime, error) {
	callouts, greylists := d.callouts, d.greylists
	res, err := resolver.New(resolver.Config{
		Servers:   cfg.DNS.Servers,
		Timeout:   time.Duration(cfg.DNS.Timeout),
		Attempts:  cfg.DNS.Attempts,
		CacheSize: cfg.DNS.CacheSize,
		Observe:   d.metrics.DNS,
	})
	if err != nil {
		return nil, err
	}
	ck := &cfg.Checks
	chain := checks.NewChain(time.Duration(ck.Timeout), time.Now)
	add := func(c checks.Check, cc *config.CheckConfig) {
		chain.Add(c)
		if x := cc.Exceptions(); x != nil {
			chain.Except(c.Name(), x)
		}
	}
	if ck.PTR.Mode != "off" {
		add(&checks.PTR{Mode: checks.PTRMode(ck.PTR.Mode), DNS: res,
			Temp: ck.PTR.Reply("ptr", "temp"), Perm: ck.PTR.Reply("ptr", "perm")}, &ck.PTR.CheckConfig)
	}
	if ck.Helo.Mode != "off" {
		h := &ck.Helo
		add(&checks.Helo{RequireFQDN: h.NonFQDN, RequireDNS: h.Unknown, OurNames: []string{cfg.Hostname}, DNS: res,
			Syntax: h.Reply("helo", "syntax"), NonFQDN: h.Reply("helo", "non_fqdn"), Literal: h.Reply("helo", "literal"),
			Ours: h.Reply("helo", "ours"), Unknown: h.Reply("helo", "unknown"), Temp: h.Reply("helo", "temp")}, &h.CheckConfig)
	}
	if ck.Sender.Mode != "off" {
		s := &ck.Sender
		add(&checks.Sender{RequireFQDN: s.NonFQDN, RequireDomain: s.UnknownDomain, DNS: res,
			Syntax: s.Reply("sender", "syntax"), NonFQDN: s.Reply("sender", "non_fqdn"), UnknownDomain: s.Reply("sender", "unknown_domain"),
			NullMX: s.Reply("sender", "null_mx"), Temp: s.Reply("sender", "temp")}, &s.CheckConfig)
	}
	if r := &ck.Recipient; r.Mode != "off" {
		var list *checks.RecipientList
		if r.List != "" {
			if list, err = checks.LoadRecipientList(r.List, r.Delimiter, time.Now); err != nil {
				return nil, err
			}
			list.Report = listReporter(d.log(), r.List)
		}
		add(&checks.Recipient{RequireFQDN: r.NonFQDN, Domains: r.Domains, List: list,
			Syntax: r.Reply("recipient", "syntax"), NonFQDN: r.Reply("recipient", "non_fqdn"),
			Unlisted: r.Reply("recipient", "unlisted"), Temp: r.Reply("recipient", "temp")}, &r.CheckConfig)
	}
	if co := &ck.Callout; co.Mode != "off" {
		add(&checks.Callout{Verifier: callouts.get(cfg, res, d.metrics), OwnDomains: append([]string{cfg.Hostname}, ck.Recipient.Domains...),
			Fail: co.Reply("callout", "perm"), Temp: co.Reply("callout", "temp"), InProgress: co.Reply("callout", "in_progress")}, &co.CheckConfig)
	}
	dmarcOn := ck.DMARC.Mode != "off"
	if ck.SPF.Mode != "off" {
		add(&checks.SPF{DNS: checks.NetResolver{R: res}, DMARC: dmarcOn, Receiver: cfg.Hostname,
			Fail: ck.SPF.Reply("spf", "perm"), Temp: ck.SPF.Reply("spf", "temp")}, &ck.SPF.CheckConfig)
	}
	if ck.DKIM.Mode != "off" {
		add(&checks.DKIM{DNS: checks.NetResolver{R: res}, Max: ck.DKIM.MaxSignatures}, &ck.DKIM.CheckConfig)
	}
	if dmarcOn {
		d := &checks.DMARC{DNS: checks.NetResolver{R: res}, ListHosts: ck.DMARC.ListHosts,
			Reject: ck.DMARC.Reply("dmarc", "perm"), Temp: ck.DMARC.Reply("dmarc", "temp"), FromInvalid: ck.DMARC.Reply("dmarc", "from")}
		for _, f := range ck.DMARC.Forwarders {
			p, name, _ := config.ParseForwarder(f)
			if name != "" {
				d.ForwarderNames = append(d.ForwarderNames, name)
			} else {
				d.ForwarderNets = append(d.ForwarderNets, p)
			}
		}
		add(d, &ck.DMARC.CheckConfig)
	}
	if ck.Relay.Mode != "off" { // without domains: sender-specified routing only
		add(&checks.Relay{Domains: ck.Recipient.Domains, Denied: ck.Relay.Reply("relay", "perm")}, &ck.Relay.CheckConfig)
	}
	if g := &cfg.Greylist; g.Enabled && g.Mode != "off" {
		wl := &checks.GreyWhitelist{Exceptions: checks.Exceptions{
			Hostnames: g.Whitelist.Hostnames, Senders: g.Whitelist.Senders, Recipients: g.Whitelist.Recipients}}
		for _, p := range g.Whitelist.Networks {
			wl.Networks = append(wl.Networks, p.Prefix)
		}
		for _, f := range g.Whitelist.Files {
			lf, err := checks.LoadLineFile(f, checks.ParseWhitelistEntry, time.Now)
			if err != nil {
				return nil, err
			}
			wl.Files = append(wl.Files, lf)
		}
		add(&checks.Greylist{Store: greylists.get(cfg, d.metrics), Now: time.Now,
			Timing: greylist.Timing{Delay: time.Duration(g.Delay), RetryWindow: time.Duration(g.RetryWindow),
				MaxAge: time.Duration(g.MaxAge), AWLCount: g.AutoWhitelist},
			OrgDomain: g.OrgDomain, SPFSkip: g.SPFSkip, IPv4: g.IPv4Prefix, IPv6: g.IPv6Prefix, Delimiter: ck.Recipient.Delimiter, Whitelist: wl,
			Greylisted: g.Reply("greylist", "temp"), StoreError: g.Reply("greylist", "store")}, &g.CheckConfig)
	}
	rt := &milter.Runtime{
		Hostname:         cfg.Hostname,
		Chain:            chain,
		Policy:           cfg.Policy(),
		TrustAuthed:      cfg.Trust.Authenticated,
		ProgressInterval: time.Duration(cfg.ProgressInterval),
		Limits: milter.Limits{MaxSessions: cfg.Limits.MaxSessions, IdleTimeout: time.Duration(cfg.Limits.IdleTimeout),
			MaxHeaderBytes: cfg.Limits.MaxHeaderBytes},
	}
	for _, p := range cfg.Trust.Networks {
		rt.TrustedNets = append(rt.TrustedNets, p.Prefix)
	}
	if rt.Outbound, err = newOutbound(cfg, res, d, d.greylists.log); err != nil {
		return nil, err
	}
	if d.dmarc != nil {
		rt.DMARC = d.dmarc.runtime(cfg, res)
	}
	rt.Bounces = newBounces(cfg, d)
	return rt, nil
}

func levelOf(cfg *config.Config) zapcore.Level {
	l, err := zapcore.ParseLevel(string(cfg.Log.Level))
	if err != nil {
		return zapcore.InfoLevel
	}
	return l
}

func cmdRun(args []string, stderr io.Writer) int {
	path, cfg, code := setup("run", args, stderr)
	if code != 0 {
		return code
	}
	level := zap.NewAtomicLevelAt(levelOf(cfg))
	log := milter.NewLogger(zapcore.Lock(zapcore.AddSync(stderr)), level)
	defer log.Sync()
	// go-milter reports connection errors through the standard logger.
	undo, _ := zap.RedirectStdLogAt(log.Named("go-milter"), zapcore.DebugLevel)
	defer undo()

	ln, err := milter.Listen(cfg.Listen.Network, cfg.Listen.Address)
	if err != nil {
		log.Error("cannot listen", zap.String("mailsift.listen", cfg.Listen.String()), zap.Error(err))
		return 1
	}
	d := &deps{callouts: &calloutHolder{log: log}, greylists: &greylistHolder{log: log}, metrics: metrics.New(getVersion())}
	defer d.callouts.close()
	defer d.greylists.close()
	d.dmarc = &dmarcHolder{log: log}
	defer d.dmarc.close() // after the server's shutdown: no session records any more
	defer d.bounces.close()
	rt, err := newRuntime(cfg, d)
	if err != nil {
		ln.Close()
		log.Error("cannot start", zap.String("mailsift.config", configName(path)), zap.Error(err))
		return 1
	}
	for _, w := range cfg.Warnings() {
		log.Warn(w, zap.String("mailsift.config", configName(path)))
	}
	srv := milter.NewServer(rt, log, time.Now)
	srv.Observe(d.metrics)
	var current atomic.Pointer[config.Config]
	current.Store(cfg)
	stopAdmin, err := startAdmin(cfg, d, &current, log)
	if err != nil {
		ln.Close()
		log.Error("cannot start the admin endpoint", zap.String("mailsift.admin.listen", cfg.Admin.Listen), zap.Error(err))
		return 1
	}
	defer stopAdmin()

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sigs)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("mailsift started", zap.String("mailsift.listen", cfg.Listen.String()),
		zap.String("mailsift.version", getVersion()), zap.String("mailsift.config", configName(path)),
		zap.String("mailsift.mode", string(cfg.Mode.Mode)))

	for {
		select {
		case err := <-served:
			log.Error("listener failed", zap.Error(err))
			shutdown(srv, cfg, log)
			return 1
		case sig := <-sigs:
			if sig != syscall.SIGHUP {
				log.Info("stopping", zap.String("signal", sig.String()), zap.String("mailsift.shutdown_grace", time.Duration(cfg.ShutdownGrace).String()))
				shutdown(srv, cfg, log)
				<-served
				log.Info("mailsift stopped")
				return 0
			}
			cfg = reload(path, cfg, srv, d, level, log)
			current.Store(cfg)
		}
	}
}

func configName(path string) string {
	if path == "" {
		return "built-in default"
	}
	return path
}

// reload re-reads the configuration. An invalid file changes nothing: the
// running configuration stays, and the error is logged.
func reload(path string, cur *config.Config, srv *milter.Server, d *deps, level zap.AtomicLevel, log *zap.Logger) *config.Config {
	cfg, err := loadConfig(path)
	if err != nil {
		log.Error("reload failed; keeping the running configuration", zap.String("mailsift.config", configName(path)), zap.Error(err))
		d.metrics.Reload(false)
		return cur
	}
	if cfg.Listen != cur.Listen {
		log.Warn("listen changed; it takes effect at the next restart", zap.String("mailsift.listen", cur.Listen.String()))
		cfg.Listen = cur.Listen
	}
	if cfg.Admin != cur.Admin {
		log.Warn("admin.listen changed; it takes effect at the next restart")
		cfg.Admin = cur.Admin
	}
	rt, err := newRuntime(cfg, d)
	if err != nil {
		log.Error("reload failed; keeping the running configuration", zap.String("mailsift.config", configName(path)), zap.Error(err))
		d.metrics.Reload(false)
		return cur
	}
	srv.SetRuntime(rt)
	for _, w := range cfg.Warnings() {
		log.Warn(w, zap.String("mailsift.config", configName(path)))
	}
	level.SetLevel(levelOf(cfg))
	d.metrics.Reload(true)
	log.Info("configuration reloaded", zap.String("mailsift.config", configName(path)), zap.String("mailsift.mode", string(cfg.Mode.Mode)))
	return cfg
}

func shutdown(srv *milter.Server, cfg *config.Config, log *zap.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(cfg.ShutdownGrace))
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil && !errors.Is(err, context.Canceled) {
		log.Warn("shutdown", zap.Error(err))
	}
}
