package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/mailsift/mailsift/internal/dsn"
)

// dsnLine is one line of `mailsift dsn`: one per failed recipient, or one
// saying that the message is not a bounce.
type dsnLine struct {
	File       string `json:"file"`
	Recipient  string `json:"recipient"`
	Status     string `json:"status"`
	Class      string `json:"class"`
	Hard       bool   `json:"hard"`
	RemoteMTA  string `json:"remote_mta"`
	Diagnostic string `json:"diagnostic"`
}

type dsnNotBounce struct {
	File   string `json:"file"`
	Bounce bool   `json:"bounce"`
	Kind   string `json:"kind"`
}

// cmdDSN reads bounces (files, or "-" for standard input) and prints one
// JSON object per line per failed recipient.
func cmdDSN(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("dsn", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: mailsift dsn FILE... (or - for standard input)")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	files := fs.Args()
	if len(files) == 0 {
		fs.Usage()
		return 2
	}
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	code := 0
	for _, name := range files {
		rep, err := readReport(name, stdin)
		if err != nil {
			fmt.Fprintf(stderr, "mailsift dsn: %v\n", err)
			code = 1
			continue
		}
		if !rep.IsBounce() {
			enc.Encode(dsnNotBounce{File: name, Bounce: false, Kind: string(rep.Kind)})
			continue
		}
		for _, r := range rep.Failed() {
			enc.Encode(dsnLine{File: name, Recipient: r.Recipient, Status: r.Status, Class: r.Class,
				Hard: r.Hard, RemoteMTA: r.RemoteMTA, Diagnostic: r.Diagnostic})
		}
	}
	return code
}

func readReport(name string, stdin io.Reader) (*dsn.Report, error) {
	var r io.Reader = stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	rep, err := dsn.Parse(r)
	if err != nil {
		if errors.Is(err, dsn.ErrNotMessage) {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return rep, nil
}
