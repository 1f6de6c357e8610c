package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/mailsift/mailsift/internal/dmarcreport"
	"github.com/mailsift/mailsift/internal/resolver"
	"github.com/mailsift/mailsift/internal/settings"
	"github.com/mailsift/mailsift/milter"
)

const dmarcUsage = `usage:
  mailsift dmarc report [--dry-run DIR] [--end TIME] [-c FILE]
        build the DMARC aggregate reports of the last period from the store
        ([dmarc] store = "redis") and send them, or write them into DIR;
        --end (RFC 3339, or "now") reports the interval that ends then
  mailsift dmarc read [-c FILE] < MESSAGE
        read an email sent to your rua address: log each row, keep the rows
        in the store (for a Postfix alias: "|/usr/bin/mailsift dmarc read")
  mailsift dmarc summary [--since 7d] [--json] [-c FILE] FILE...|--store
        per source IP, who sends as your domains and fails, from report
        files (XML, gzip, zip or whole emails) or the store
`

// cmdDMARC is "mailsift dmarc ...".
func cmdDMARC(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, dmarcUsage)
		return 2
	}
	switch args[0] {
	case "report":
		return cmdDMARCReport(args[1:], stdout, stderr)
	case "read":
		return cmdDMARCRead(args[1:], stdin, stderr)
	case "summary":
		return cmdDMARCSummary(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, dmarcUsage)
		return 0
	}
	fmt.Fprintf(stderr, "mailsift dmarc: unknown command %q\n%s", args[0], dmarcUsage)
	return 2
}

// dmarcStore opens the store [dmarc] names; close releases it.
func dmarcStore(cfg *settings.Config) (st dmarcreport.Store, close func()) {
	if cfg.DMARC.Store == "redis" {
		r := cfg.Greylist.Redis
		conn, _ := r.Conn(cfg.DMARC.Prefix) // the password was read at validation; gone since: Redis will refuse, and say so
		rs := dmarcreport.NewRedis(conn)
		return rs, func() { rs.Close() }
	}
	return &dmarcreport.Memory{}, func() {}
}

// dmarcBuilder is the report builder [dmarc] describes: the milter's
// runtime runs its Loop when reports are on.
func dmarcBuilder(cfg *settings.Config, st dmarcreport.Store, res *resolver.Resolver, log *zap.Logger) *dmarcreport.Builder {
	d := cfg.DMARC
	from, org := d.ReportFrom, d.OrgName
	if from == "" {
		from = "dmarc-noreply@" + cfg.Hostname
	}
	if org == "" {
		org = cfg.Hostname
	}
	b := &dmarcreport.Builder{Store: st, DNS: res, OrgName: org, ReportFrom: from, Receiver: cfg.Hostname, Log: log}
	switch {
	case d.Relay != "":
		b.Send = dmarcreport.Relay{Addr: d.Relay, Helo: cfg.Hostname}
	case d.Sendmail != "":
		b.Send = dmarcreport.Sendmail{Path: d.Sendmail}
	}
	return b
}

func dmarcFlags(name string, stderr io.Writer) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet("dmarc "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, dmarcUsage) }
	return fs, fs.String("c", "", "config `FILE` (default: the built-in configuration)")
}

func cmdDMARCReport(args []string, stdout, stderr io.Writer) int {
	fs, path := dmarcFlags("report", stderr)
	dir := fs.String("dry-run", "", "write the reports into `DIR` instead of sending them")
	endFlag := fs.String("end", "", "report the interval that ends at `TIME` (RFC 3339, or \"now\"); default: the last whole interval")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
		return 2
	}
	var endAt time.Time
	switch *endFlag {
	case "":
	case "now":
		endAt = time.Now().Truncate(time.Second).Add(time.Second)
	default:
		t, err := time.Parse(time.RFC3339, *endFlag)
		if err != nil {
			fmt.Fprintf(stderr, "mailsift dmarc report: --end: want a time such as \"2026-11-29T00:00:00Z\" or \"now\", got %q\n", *endFlag)
			return 2
		}
		endAt = t
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if cfg.DMARC.Store != "redis" {
		fmt.Fprintln(stderr, `mailsift dmarc report: the records are in the running mailsift's memory; the command reads them from Redis ([dmarc] store = "redis")`)
		return 1
	}
	st, closeStore := dmarcStore(cfg)
	defer closeStore()
	res, err := resolver.New(resolver.Config{Servers: cfg.DNS.Servers, Timeout: time.Duration(cfg.DNS.Timeout), Attempts: cfg.DNS.Attempts, CacheSize: 1000})
	if err != nil {
		fmt.Fprintln(stderr, "mailsift dmarc report:", err)
		return 1
	}
	log := milter.NewLogger(zapcore.Lock(zapcore.AddSync(stderr)), zap.NewAtomicLevelAt(levelOf(cfg)))
	defer log.Sync()
	b := dmarcBuilder(cfg, st, res, log)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	begin, end := dmarcreport.Period(time.Now(), time.Duration(cfg.DMARC.Interval))
	if !endAt.IsZero() {
		begin, end = endAt.Add(-time.Duration(cfg.DMARC.Interval)), endAt
	}
	if *dir == "" {
		if err := b.Run(ctx, begin, end); err != nil {
			fmt.Fprintln(stderr, "mailsift dmarc report:", err)
			return 1
		}
		return 0
	}
	reps, err := b.Build(ctx, begin, end)
	if err != nil {
		fmt.Fprintln(stderr, "mailsift dmarc report:", err)
		return 1
	}
	files, err := dmarcreport.WriteDir(*dir, reps)
	for _, f := range files {
		fmt.Fprintln(stdout, f)
	}
	if err != nil {
		fmt.Fprintln(stderr, "mailsift dmarc report:", err)
		return 1
	}
	fmt.Fprintf(stdout, "%d report(s) for %s to %s, not sent\n", len(reps), begin.Format(time.RFC3339), end.Format(time.RFC3339))
	return 0
}

// exTempFail is sendmail's EX_TEMPFAIL: the MTA keeps the message and
// tries the pipe again later.
const exTempFail = 75

func cmdDMARCRead(args []string, stdin io.Reader, stderr io.Writer) int {
	fs, path := dmarcFlags("read", stderr)
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
		return 2
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exTempFail
	}
	log := milter.NewLogger(zapcore.Lock(zapcore.AddSync(stderr)), zap.NewAtomicLevelAt(levelOf(cfg)))
	defer log.Sync()
	var st dmarcreport.Store
	if cfg.DMARC.Store == "redis" {
		s, closeStore := dmarcStore(cfg)
		defer closeStore()
		st = s
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := dmarcreport.Receive(ctx, stdin, st, log); err != nil {
		log.Error("dmarc report rows not stored; the MTA will retry", zap.Error(err))
		return exTempFail
	}
	return 0
}

// parseSince reads "7d", "36h", "90m": how far back to look.
func parseSince(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		d, err := strconv.Atoi(n)
		if err != nil || d < 0 {
			return 0, fmt.Errorf("--since: want days such as \"7d\" or a duration such as \"36h\", got %q", s)
		}
		return time.Duration(d) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("--since: want days such as \"7d\" or a duration such as \"36h\", got %q", s)
	}
	return d, nil
}

func cmdDMARCSummary(args []string, stdout, stderr io.Writer) int {
	fs, path := dmarcFlags("summary", stderr)
	since := fs.String("since", "", "only reports that ended this long ago or later (\"7d\", \"36h\"); default all")
	fromStore := fs.Bool("store", false, "read the rows kept in the store ([dmarc] store = \"redis\")")
	asJSON := fs.Bool("json", false, "print JSON")
	// Files and flags in any order.
	files, code, ok := parseInterspersed(fs, args)
	if !ok {
		return code
	}
	if (len(files) == 0) == !*fromStore {
		fmt.Fprint(stderr, dmarcUsage)
		return 2
	}
	var cutoff time.Time
	if *since != "" {
		d, err := parseSince(*since)
		if err != nil {
			fmt.Fprintln(stderr, "mailsift dmarc summary:", err)
			return 2
		}
		cutoff = time.Now().Add(-d)
	}
	var rows []dmarcreport.Row
	reports := 0
	if *fromStore {
		cfg, err := loadConfig(*path)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		if cfg.DMARC.Store != "redis" {
			fmt.Fprintln(stderr, `mailsift dmarc summary: --store reads Redis ([dmarc] store = "redis"); the memory store is the running mailsift's own`)
			return 1
		}
		st, closeStore := dmarcStore(cfg)
		defer closeStore()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		rows, err = st.Rows(ctx, cutoff)
		if err != nil {
			fmt.Fprintln(stderr, "mailsift dmarc summary:", err)
			return 1
		}
		ids := map[string]bool{}
		for _, r := range rows {
			ids[r.Reporter+"\x00"+r.ReportID] = true
		}
		reports = len(ids)
	}
	code = 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			fmt.Fprintln(stderr, "mailsift dmarc summary:", err)
			code = 1
			continue
		}
		fbs, err := dmarcreport.ParseReport(data)
		if err != nil {
			if m, merr := dmarcreport.ParseMessage(bytes.NewReader(data)); merr == nil {
				fbs, err = m, nil
			}
		}
		if err != nil {
			fmt.Fprintf(stderr, "mailsift dmarc summary: %s: %v\n", f, err)
			code = 1
			continue
		}
		for _, fb := range fbs {
			reports++
			for _, r := range dmarcreport.Rows(fb) {
				if !r.End.Before(cutoff) {
					rows = append(rows, r)
				}
			}
		}
	}
	sum := dmarcreport.Summarize(rows)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(sum)
		return code
	}
	domains := map[string]bool{}
	for _, r := range rows {
		domains[r.PolicyDomain] = true
	}
	var ds []string
	for d := range domains {
		ds = append(ds, d)
	}
	sort.Strings(ds)
	fmt.Fprintf(stdout, "%d report(s), %d row(s), policy domains: %s\n", reports, len(rows), strings.Join(ds, ", "))
	fmt.Fprintf(stdout, "%-39s %8s %8s %8s  %-30s %s\n", "SOURCE IP", "MESSAGES", "FAILING", "REJECTED", "HEADER FROM", "REPORTERS")
	for _, s := range sum {
		fmt.Fprintf(stdout, "%-39s %8d %8d %8d  %-30s %s\n", s.IP, s.Messages, s.Failing, s.Rejected, strings.Join(s.HeaderFroms, ","), strings.Join(s.Reporters, ", "))
	}
	return code
}
