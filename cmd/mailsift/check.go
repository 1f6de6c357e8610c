package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/mailsift/mailsift/internal/metrics"
	"github.com/mailsift/mailsift/milter"
)

const checkUsage = `usage: mailsift check [-c FILE] --ip ADDR [--name PTRNAME] --helo NAME --from ADDR
                      --rcpt ADDR [--rcpt ADDR...] [--auth LOGIN] [--mta-name NAME]
                      [--json] MESSAGE.eml

Replays one SMTP transaction through the configured checks, with the
configured DNS, exactly as the milter would decide it (the same session
code, driven as Postfix drives it). Greylisting uses an empty memory store:
a new triplet is greylisted. Exit status: 0 accepted, 1 refused,
2 temporary, 3 a usage or configuration error.
`

// Exit statuses of mailsift check.
const (
	checkAccepted  = 0
	checkRefused   = 1
	checkTemporary = 2
	checkError     = 3
)

// checkReport is what mailsift check prints with --json.
type checkReport struct {
	Verdict string              `json:"verdict"` // accepted, refused, temporary
	Steps   []milter.ReplayStep `json:"steps"`
	Checks  []checkLine         `json:"checks"`
	Headers []milter.HeaderEdit `json:"headers"`
	Record  map[string]any      `json:"record"`
}

type checkLine struct {
	Check  string `json:"check"`
	Status string `json:"status"`
	Reason string `json:"reason"`
	Action string `json:"action"`
	Text   string `json:"text,omitempty"`
}

func cmdCheck(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, checkUsage+"\nflags:\n"); fs.PrintDefaults() }
	path := fs.String("c", "", "config `FILE` (default: the built-in configuration)")
	ip := fs.String("ip", "", "the client's `ADDR`ess")
	name := fs.String("name", "", "the client's PTR name as the MTA found it (`PTRNAME`)")
	helo := fs.String("helo", "", "the HELO/EHLO `NAME`")
	from := fs.String("from", "", "the MAIL FROM `ADDR`ess (\"\" for the null sender)")
	var rcpts listFlag
	fs.Var(&rcpts, "rcpt", "a RCPT TO `ADDR`ess (repeat for more)")
	auth := fs.String("auth", "", "the SMTP AUTH `LOGIN`, when the client authenticated")
	mta := fs.String("mta-name", "", "the MTA's own host `NAME` (Postfix's myhostname; default: the config's hostname)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if err := fs.Parse(args); err != nil {
		return checkError
	}
	if fs.NArg() != 1 || *ip == "" || *helo == "" || len(rcpts) == 0 {
		fmt.Fprint(stderr, "mailsift check: want --ip, --helo, at least one --rcpt and one MESSAGE file\n"+checkUsage)
		return checkError
	}
	addr, err := netip.ParseAddr(strings.TrimPrefix(strings.TrimPrefix(*ip, "IPv6:"), "IPV6:"))
	if err != nil {
		fmt.Fprintf(stderr, "mailsift check: --ip: want an IPv4 or IPv6 address, got %q\n", *ip)
		return checkError
	}
	msg, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		fmt.Fprintf(stderr, "mailsift check: %v\n", err)
		return checkError
	}
	cfg, files, err := loadAll(*path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return checkError
	}
	// A replay leaves no state behind: greylisting gets an empty memory
	// store of its own, without a snapshot.
	cfg.Greylist.Store, cfg.Greylist.Snapshot = "memory", ""
	d := &deps{callouts: &calloutHolder{}, greylists: &greylistHolder{log: zap.NewNop()}, metrics: metrics.New(getVersion())}
	defer d.callouts.close()
	defer d.greylists.close()
	rt, err := newRuntime(cfg, files, d)
	if err != nil {
		fmt.Fprintf(stderr, "mailsift check: %s: %v\n", configName(*path), err)
		return checkError
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	res, err := milter.Replay(ctx, rt, cfg.Hostname, milter.ReplayInput{IP: addr, Name: *name, Helo: *helo, From: *from,
		Rcpts: rcpts, Auth: *auth, MTAName: *mta, Message: msg})
	if err != nil {
		fmt.Fprintf(stderr, "mailsift check: %v\n", err)
		return checkError
	}
	rep := checkReport{Steps: res.Steps, Headers: res.Headers, Record: res.Record}
	code := verdictOf(res)
	rep.Verdict = map[int]string{checkAccepted: "accepted", checkRefused: "refused", checkTemporary: "temporary"}[code]
	texts := map[string]string{}
	for _, d := range res.Details {
		for k, v := range d {
			if c, ok := strings.CutPrefix(k, "mailsift.checks."); ok && strings.HasSuffix(c, ".text") {
				texts[strings.TrimSuffix(c, ".text")] = fmt.Sprint(v)
			}
		}
	}
	for _, c := range rt.Chain.Checks() {
		p := "mailsift.checks." + c.Name() + "."
		if _, ok := res.Record[p+"status"]; !ok {
			continue
		}
		rep.Checks = append(rep.Checks, checkLine{Check: c.Name(), Status: str(res.Record[p+"status"]),
			Reason: str(res.Record[p+"reason"]), Action: str(res.Record[p+"action"]), Text: texts[c.Name()]})
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(rep)
		return code
	}
	printCheck(stdout, rep, res, str(res.Record["mailsift.trusted"]))
	return code
}

func str(v any) string {
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

// verdictOf is the exit status: the message's fate for its sender.
func verdictOf(res *milter.ReplayResult) int {
	if len(res.Accepted) > 0 {
		switch {
		case res.Final == "":
			return checkAccepted
		case strings.HasPrefix(res.Final, "4"):
			return checkTemporary
		}
		return checkRefused
	}
	// No recipient accepted: a temporary refusal is retried.
	for _, s := range res.Steps {
		if s.Stage == "rcpt" && strings.HasPrefix(s.Reply, "4") {
			return checkTemporary
		}
	}
	return checkRefused
}

func printCheck(w io.Writer, rep checkReport, res *milter.ReplayResult, trusted string) {
	fmt.Fprintln(w, "stages:")
	for _, s := range rep.Steps {
		reply := s.Reply
		if reply == "" {
			reply = "continue (the MTA answers)"
			if s.Stage == "data" {
				reply = "accept (the MTA answers 250)"
			}
		}
		label := map[string]string{"connect": "connect", "helo": "HELO", "mail": "MAIL FROM", "rcpt": "RCPT TO", "data": "DATA"}[s.Stage]
		arg := s.Arg
		if s.Stage == "data" {
			arg = "(end of message)"
		}
		if s.Stage == "mail" || s.Stage == "rcpt" {
			arg = "<" + arg + ">"
		}
		fmt.Fprintf(w, "  %-10s %-32s %s\n", label, arg, reply)
	}
	if len(res.Accepted) == 0 {
		fmt.Fprintln(w, "  (no recipient accepted: the MTA does not go on to DATA)")
	}
	fmt.Fprintln(w, "checks:")
	if trusted != "" {
		fmt.Fprintf(w, "  none run: the client is trusted (%s)\n", trusted)
	}
	for _, c := range rep.Checks {
		fmt.Fprintf(w, "  %-10s %-10s %-26s %-10s %s\n", c.Check, c.Status, c.Reason, c.Action, c.Text)
	}
	if rs, ok := rep.Record["mailsift.recipients"].([]any); ok && len(rs) > 0 {
		fmt.Fprintln(w, "recipients:")
		for _, r := range rs {
			m, _ := r.(map[string]any)
			line := fmt.Sprintf("  <%s> %s", str(m["address"]), str(m["action"]))
			if m["reply"] != nil {
				line += fmt.Sprintf(" by %s (%s)", str(m["check"]), str(m["reason"]))
			}
			fmt.Fprintln(w, line)
		}
	}
	if len(rep.Headers) > 0 || res.Quarantine != "" {
		fmt.Fprintln(w, "headers:")
		for _, h := range rep.Headers {
			switch h.Op {
			case "remove":
				fmt.Fprintf(w, "  - %s: %s   (the %d. of that name)\n", h.Name, h.Value, h.Index)
			case "insert":
				fmt.Fprintf(w, "  + %s: %s   (inserted after header %d)\n", h.Name, h.Value, h.Index)
			default:
				fmt.Fprintf(w, "  + %s: %s\n", h.Name, h.Value)
			}
		}
		if res.Quarantine != "" {
			fmt.Fprintf(w, "  quarantine: %s\n", res.Quarantine)
		}
	}
	fmt.Fprintf(w, "verdict: %s\n", rep.Verdict)
}
