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
	"github.com/mailsift/mailsift/greylist"
	"github.com/mailsift/mailsift/internal/callout"
	"github.com/mailsift/mailsift/internal/metrics"
	"github.com/mailsift/mailsift/internal/resolver"
	"github.com/mailsift/mailsift/internal/settings"
	"github.com/mailsift/mailsift/milter"
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
func loadConfig(path string) (*settings.Config, error) {
	if path == "" {
		return settings.Default(), nil
	}
	return settings.Load(path)
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
func setup(name string, args []string, stderr io.Writer) (string, *settings.Config, *listFiles, int) {
	path, ok := flags(name, args, stderr)
	if !ok {
		return "", nil, nil, 2
	}
	cfg, files, err := loadAll(path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return "", nil, nil, 1
	}
	return path, cfg, files, 0
}

// loadAll loads the configuration at path and the files it names.
func loadAll(path string) (*settings.Config, *listFiles, error) {
	cfg, err := loadConfig(path)
	if err != nil {
		return nil, nil, err
	}
	files, err := loadFiles(path, cfg)
	if err != nil {
		return nil, nil, err
	}
	return cfg, files, nil
}

func cmdConfigCheck(args []string, stdout, stderr io.Writer) int {
	path, cfg, _, code := setup("config check", args, stderr)
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

// newRuntime builds what sessions run with from a configuration and the
// files it names: the resolver, the inbound chain (built from the one list,
// checks.Inbound), the policy and the outbound chain.
func newRuntime(cfg *settings.Config, files *listFiles, d *deps) (*milter.Runtime, error) {
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
	if files.recipients != nil {
		files.recipients.Report = listReporter(d.log(), cfg.Checks.Recipient.List)
	}
	chain := cfg.Checks.NewChain(&cfg.Greylist, checks.Deps{DNS: res, Hostname: cfg.Hostname,
		Verifier:   func() *callout.Verifier { return d.callouts.get(cfg, res, d.metrics) },
		Store:      func() greylist.Store { return d.greylists.get(cfg, d.metrics) },
		Recipients: files.recipients, Whitelist: files.whitelist})
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
	if rt.Outbound, err = newOutbound(cfg, res, files, d, d.greylists.log); err != nil {
		return nil, err
	}
	if d.dmarc != nil {
		rt.DMARC = d.dmarc.runtime(cfg, res)
	}
	rt.Bounces = newBounces(cfg, d)
	return rt, nil
}

func levelOf(cfg *settings.Config) zapcore.Level {
	l, err := zapcore.ParseLevel(string(cfg.Log.Level))
	if err != nil {
		return zapcore.InfoLevel
	}
	return l
}

func cmdRun(args []string, stderr io.Writer) int {
	path, cfg, files, code := setup("run", args, stderr)
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
	rt, err := newRuntime(cfg, files, d)
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
	var current atomic.Pointer[settings.Config]
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
		zap.String("mailsift.mode", string(cfg.Mode)))

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
func reload(path string, cur *settings.Config, srv *milter.Server, d *deps, level zap.AtomicLevel, log *zap.Logger) *settings.Config {
	cfg, files, err := loadAll(path)
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
	rt, err := newRuntime(cfg, files, d)
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
	log.Info("configuration reloaded", zap.String("mailsift.config", configName(path)), zap.String("mailsift.mode", string(cfg.Mode)))
	return cfg
}

func shutdown(srv *milter.Server, cfg *settings.Config, log *zap.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(cfg.ShutdownGrace))
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil && !errors.Is(err, context.Canceled) {
		log.Warn("shutdown", zap.Error(err))
	}
}
