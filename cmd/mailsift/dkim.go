package main

import (
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/mailsift/mailsift/internal/dkimsign"
)

// cmdDKIM runs "mailsift dkim keygen --domain D --selector S [--type
// rsa|ed25519] [--dir DIR]": it writes DIR/D.S.key (mode 0600) and prints
// the TXT record to publish.
func cmdDKIM(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "keygen" {
		fmt.Fprintln(stderr, "usage: mailsift dkim keygen --domain DOMAIN --selector SELECTOR [--type rsa|ed25519] [--dir DIR]")
		return 2
	}
	fs := flag.NewFlagSet("dkim keygen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	domain := fs.String("domain", "", "the signing `DOMAIN` (d=)")
	selector := fs.String("selector", "", "the `SELECTOR` (s=), e.g. mail2026")
	typ := fs.String("type", "rsa", "key type: rsa (2048 bits) or ed25519")
	dir := fs.String("dir", "/etc/mailsift/dkim", "the key folder, [outbound.dkim] keys")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if fs.NArg() > 0 || *domain == "" || *selector == "" {
		fmt.Fprintln(stderr, "mailsift dkim keygen: --domain and --selector are required, and nothing else")
		return 2
	}
	k, err := dkimsign.WriteKey(*dir, *domain, *selector, *typ)
	if err != nil {
		fmt.Fprintf(stderr, "mailsift dkim keygen: %v\n", err)
		return 1
	}
	name, txt, err := dkimsign.TXT(k)
	if err != nil {
		fmt.Fprintf(stderr, "mailsift dkim keygen: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "; wrote %s (%s); publish this record, then sign:\n%s. IN TXT %s\n", k.Path, k.Algorithm(), name, quoteTXT(txt))
	return 0
}

// quoteTXT splits a TXT value into quoted strings of at most 255 octets
// (RFC 1035 §3.3.14), as a zone file writes it.
func quoteTXT(v string) string {
	var parts []string
	for len(v) > 255 {
		parts = append(parts, `"`+v[:255]+`"`)
		v = v[255:]
	}
	parts = append(parts, `"`+v+`"`)
	return strings.Join(parts, " ")
}
