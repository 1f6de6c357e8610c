package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/mailsift/mailsift/internal/callout"
	"github.com/mailsift/mailsift/internal/doctor"
	"github.com/mailsift/mailsift/internal/resolver"
	"github.com/mailsift/mailsift/internal/settings"
)

const doctorUsage = `usage: mailsift doctor DOMAIN [--ip ADDR]... [--helo NAME] [--selector S]... [--from ADDR] [--dns HOST:PORT] [--json] [-c FILE]

Checks what receivers check of a sending domain: MX, reverse DNS of its
servers, the HELO name, SPF, DKIM keys, DMARC and its report destinations,
the return address (a callout to the domain's own MX, with the callout
check's settings from -c), MTA-STS and TLS-RPT. Exit status: 0 when every
row passes, 1 with warnings, 2 with failures.
`

// listFlag is a flag that may be given more than once (--ip, --rcpt).
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

// cmdDoctor is "mailsift doctor".
func cmdDoctor(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("doctor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, doctorUsage) }
	var ips, selectors listFlag
	fs.Var(&ips, "ip", "an address the domain's mail leaves from (repeat for more)")
	fs.Var(&selectors, "selector", "a DKIM selector the domain signs with (repeat for more)")
	helo := fs.String("helo", "", "the HELO name the domain's servers use")
	from := fs.String("from", "", "a return address to verify with a callout")
	dnsAddr := fs.String("dns", "", "ask this DNS server (HOST:PORT) instead of the configured ones")
	asJSON := fs.Bool("json", false, "print JSON")
	path := fs.String("c", "", "config `FILE` for [dns] and [checks.callout] (default: the built-in configuration)")
	// The domain may come before, between or after the flags.
	rest, code, ok := parseInterspersed(fs, args)
	if !ok {
		return code
	}
	if len(rest) != 1 {
		fmt.Fprint(stderr, doctorUsage)
		return 2
	}
	o := doctor.Options{Domain: rest[0], Helo: *helo, Selectors: selectors, From: *from}
	for _, s := range ips {
		ip, err := netip.ParseAddr(s)
		if err != nil {
			fmt.Fprintf(stderr, "mailsift doctor: --ip: want an IP address, got %q\n", s)
			return 2
		}
		o.IPs = append(o.IPs, ip.Unmap())
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	servers := cfg.DNS.Servers
	if *dnsAddr != "" {
		servers = []string{*dnsAddr}
	}
	res, err := resolver.New(resolver.Config{Servers: servers, Timeout: time.Duration(cfg.DNS.Timeout), Attempts: cfg.DNS.Attempts, CacheSize: 1000})
	if err != nil {
		fmt.Fprintln(stderr, "mailsift doctor:", err)
		return 2
	}
	o.DNS = res
	if o.From != "" {
		v := doctorVerifier(cfg, res)
		defer v.Close()
		o.Verify = v.Verify
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep := doctor.Run(ctx, o)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(rep)
	} else {
		printDoctor(stdout, rep)
	}
	return rep.Exit()
}

// doctorVerifier is the callout check's prober with its settings and
// safety rules (one probe per address, the null sender, never DATA), told
// to wait for the whole probe: a person is waiting, not a client.
func doctorVerifier(cfg *settings.Config, res *resolver.Resolver) *callout.Verifier {
	cc := calloutConfig(cfg, res)
	cc.Budget, cc.CacheSize = cc.ProbeTimeout, 100
	return callout.New(cc)
}

func printDoctor(w io.Writer, rep *doctor.Report) {
	width := 0
	for _, c := range rep.Checks {
		width = max(width, len(c.Name))
	}
	fmt.Fprintf(w, "mailsift doctor %s\n", rep.Domain)
	counts := map[doctor.Status]int{}
	for _, c := range rep.Checks {
		counts[c.Status]++
		fmt.Fprintf(w, "%-4s  %-*s  %s\n", c.Status, width, c.Name, c.Detail)
		if c.Status != doctor.Pass && c.Fix != "" {
			fmt.Fprintf(w, "      %-*s  fix: %s\n", width, "", c.Fix)
		}
	}
	fmt.Fprintf(w, "%d pass, %d warn, %d fail\n", counts[doctor.Pass], counts[doctor.Warn], counts[doctor.Fail])
}

// parseInterspersed parses flags that may stand before, between or after
// the positional arguments, which it returns. When parsing stops, ok is
// false and code is the exit status: 0 for -h, 2 for a bad flag.
func parseInterspersed(fs *flag.FlagSet, args []string) (rest []string, code int, ok bool) {
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, 0, false
			}
			return nil, 2, false
		}
		if fs.NArg() == 0 {
			return rest, 0, true
		}
		rest = append(rest, fs.Arg(0))
		args = fs.Args()[1:]
	}
}
