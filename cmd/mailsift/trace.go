package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/mailsift/mailsift/internal/trace"
)

// cmdTrace reads Postfix's mail log (and mailsift's JSON records) and says
// what happened to the selected messages.
func cmdTrace(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return traceWith(args, stdin, stdout, stderr, time.Now)
}

func traceWith(args []string, stdin io.Reader, stdout, stderr io.Writer, now func() time.Time) int {
	fs := flag.NewFlagSet("trace", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var q trace.Query
	fs.StringVar(&q.QueueID, "id", "", "Postfix queue `ID`")
	fs.StringVar(&q.MessageID, "message-id", "", "the message's `Message-ID`")
	fs.StringVar(&q.From, "from", "", "envelope sender `ADDRESS`")
	fs.StringVar(&q.To, "to", "", "recipient `ADDRESS`")
	since := fs.String("since", "", "only messages logged from `TIME` on (2006-01-02 15:04[:05], RFC 3339, or a duration ago: 2h)")
	until := fs.String("until", "", "only messages logged until `TIME`")
	var records multiFlag
	fs.Var(&records, "mailsift", "mailsift's JSON log `FILE` to join verdicts from (repeatable; records mixed into the mail log are read too)")
	lines := fs.Bool("lines", false, "print every log line of each message")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: mailsift trace [--id ID | --message-id ID | --from ADDR | --to ADDR] [--since T] [--until T] [--mailsift FILE] [LOG...]\n  LOG: Postfix's mail log (syslog, journald short, maillog_file; .gz too); standard input when none or -")
		fs.PrintDefaults()
	}
	// Flags may come after the log files too.
	var files []string
	for rest := args; ; {
		if err := fs.Parse(rest); err != nil {
			return 2
		}
		if fs.NArg() == 0 {
			break
		}
		files, rest = append(files, fs.Arg(0)), fs.Args()[1:]
	}
	var err error
	if q.Since, err = parseWhen(*since, now); err != nil {
		fmt.Fprintf(stderr, "mailsift trace: --since: %v\n", err)
		return 2
	}
	if q.Until, err = parseWhen(*until, now); err != nil {
		fmt.Fprintf(stderr, "mailsift trace: --until: %v\n", err)
		return 2
	}
	if q.QueueID == "" && q.MessageID == "" && q.From == "" && q.To == "" && q.Since.IsZero() && q.Until.IsZero() {
		fmt.Fprintln(stderr, "mailsift trace: say which message: --id, --message-id, --from, --to, or a time range")
		return 2
	}
	log := trace.New(now)
	if len(files) == 0 {
		files = []string{"-"}
	}
	for _, name := range append(files, records...) {
		if err := addLog(log, name, stdin); err != nil {
			fmt.Fprintf(stderr, "mailsift trace: %v\n", err)
			return 1
		}
	}
	trace.Write(stdout, q, log.Find(q), *lines)
	return 0
}

func addLog(log *trace.Log, name string, stdin io.Reader) error {
	if name == "-" {
		if err := log.Add(stdin); err != nil {
			return fmt.Errorf("standard input: %w", err)
		}
		return nil
	}
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := log.Add(f); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// parseWhen reads a time: "2006-01-02 15:04[:05]", "2006-01-02", RFC 3339,
// or a duration meaning that long ago.
func parseWhen(s string, now func() time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		return now().Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, now().Location()); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("want 2006-01-02 15:04, RFC 3339 or a duration such as 2h, got %q", s)
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }
