package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"

	"github.com/mailsift/mailsift/internal/dsn"
)

// reHeaderLine is how a message starts: a header field (or an mbox line).
var reHeaderLine = regexp.MustCompile(`^(From |[A-Za-z][A-Za-z0-9-]*:)`)

// cmdExplain explains a reply line or a bounce: its class, whether the
// address is dead, which side must act and what to do.
func cmdExplain(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("explain", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, `print {"class","hard","side","advice"} as JSON`)
	fs.Usage = func() {
		fmt.Fprintln(stderr, `usage: mailsift explain [--json] "REPLY OR BOUNCE TEXT" | FILE.eml | - (standard input, also with no argument)`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var input []byte
	switch rest := fs.Args(); {
	case len(rest) == 0 || len(rest) == 1 && rest[0] == "-":
		b, err := io.ReadAll(io.LimitReader(stdin, dsn.MaxBytes))
		if err != nil {
			fmt.Fprintf(stderr, "mailsift explain: standard input: %v\n", err)
			return 1
		}
		input = b
	case len(rest) == 1 && fileExists(rest[0]):
		b, err := readLimited(rest[0])
		if err != nil {
			fmt.Fprintf(stderr, "mailsift explain: %v\n", err)
			return 1
		}
		input = b
	default:
		input = []byte(strings.Join(rest, " "))
	}
	if len(bytes.TrimSpace(input)) == 0 {
		fs.Usage()
		return 2
	}
	type item struct {
		recipient string
		e         dsn.Explanation
	}
	var items []item
	if reHeaderLine.Match(input) && bytes.Contains(input, []byte("\n")) {
		if rep, err := dsn.Parse(bytes.NewReader(input)); err == nil && rep.IsBounce() {
			for _, r := range rep.Failed() {
				items = append(items, item{r.Recipient, dsn.Explain(r.Status, r.Diagnostic)})
			}
		} else if err == nil && rep.Kind != dsn.KindNone {
			fmt.Fprintf(stdout, "not a bounce: %s\n", rep.Kind)
			return 0
		}
	}
	if items == nil {
		items = append(items, item{"", dsn.Explain("", string(input))})
	}
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	for _, it := range items {
		if *asJSON {
			enc.Encode(struct {
				Recipient string `json:"recipient,omitempty"`
				Class     string `json:"class"`
				Hard      bool   `json:"hard"`
				Side      string `json:"side"`
				Advice    string `json:"advice"`
			}{it.recipient, it.e.Class, it.e.Hard, it.e.Side, it.e.Advice})
			continue
		}
		if it.recipient != "" {
			fmt.Fprintf(stdout, "recipient: %s\n", it.recipient)
		}
		fmt.Fprintf(stdout, "class:     %s (%s)\nside:      %s\nadvice:    %s\n", it.e.Class, hardWord(it.e.Hard), it.e.Side, it.e.Advice)
	}
	return 0
}

func hardWord(hard bool) string {
	if hard {
		return "hard: the address is dead"
	}
	return "soft"
}

func fileExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

func readLimited(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, dsn.MaxBytes))
}
