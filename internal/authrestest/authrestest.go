// Package authrestest reads Authentication-Results header values with an
// independent RFC 8601 parser, Debian's python3-authres, so that tests can
// check that what mailsift writes is what any reader of the header reads.
package authrestest

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/emersion/go-msgauth/authres"
	"golang.org/x/net/idna"
)

// Python is the interpreter that has the authres module (Debian's
// python3-authres); /usr/bin/python3 rather than whatever python3 is first
// on PATH (a pyenv shim has no Debian modules).
const Python = "/usr/bin/python3"

// Result is one resinfo as a parser reads it.
type Result struct {
	Method, Result, Reason string
	Props                  map[string]string // "ptype.property" -> value
}

// Header is one header value as a parser reads it; Err is the parser's
// complaint when it does not read.
type Header struct {
	AuthServID string
	Results    []Result
	Err        string
}

const script = `
import json, re, sys
import authres
def unq(v):
    # python-authres returns a quoted-string's content with its
    # quoted-pairs as written: undo them (RFC 5322 §3.2.1).
    return None if v is None else re.sub(r'\\(.)', r'\1', v)
out = []
for v in json.load(sys.stdin):
    try:
        h = authres.AuthenticationResultsHeader.parse_value(v)
        out.append({"AuthServID": h.authserv_id, "Results": [
            {"Method": r.method, "Result": r.result, "Reason": unq(r.reason) or "",
             "Props": {p.type + "." + p.name: unq(p.value) for p in r.properties}} for r in h.results]})
    except Exception as e:
        out.append({"Err": "%s: %s" % (type(e).__name__, e)})
json.dump(out, sys.stdout)
`

// Parse reads each value with python3-authres. The test fails when the
// parser is not installed: `make deps` installs it.
func Parse(t testing.TB, values ...string) []Header {
	t.Helper()
	in, err := json.Marshal(values)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(Python, "-c", script)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python3-authres (apt-get install python3-authres, or make deps): %v: %s", err, stderr.String())
	}
	var hs []Header
	if err := json.Unmarshal(out, &hs); err != nil {
		t.Fatalf("python3-authres output %q: %v", out, err)
	}
	for i := range hs {
		if len(hs[i].Results) == 0 {
			hs[i].Results = nil
		}
	}
	if len(hs) != len(values) {
		t.Fatalf("python3-authres read %d values, want %d", len(hs), len(values))
	}
	return hs
}

// Expect is what a parser should read back from a header that mailsift
// wrote for results: each value as given, but in ASCII (RFC 8601 headers
// are read by parsers that know no RFC 6532): a control character or
// non-ASCII is "?", and an address's domain is written as A-labels.
func Expect(authservID string, rs []authres.Result) Header {
	h := Header{AuthServID: authservID}
	for _, r := range rs {
		var e Result
		props := map[string]string{}
		switch r := r.(type) {
		case *authres.SPFResult:
			e = Result{Method: "spf", Result: string(r.Value), Reason: r.Reason}
			props["smtp.mailfrom"], props["smtp.helo"] = r.From, r.Helo
		case *authres.DKIMResult:
			e = Result{Method: "dkim", Result: string(r.Value), Reason: r.Reason}
			props["header.d"], props["header.i"] = r.Domain, r.Identifier
		case *authres.DMARCResult:
			e = Result{Method: "dmarc", Result: string(r.Value), Reason: r.Reason}
			props["header.from"] = r.From
		case *authres.IPRevResult:
			e = Result{Method: "iprev", Result: string(r.Value), Reason: r.Reason}
			props["policy.iprev"] = r.IP
		case *authres.AuthResult:
			e = Result{Method: "auth", Result: string(r.Value), Reason: r.Reason}
			props["smtp.auth"] = r.Auth
		case *authres.GenericResult:
			e = Result{Method: r.Method, Result: string(r.Value), Reason: r.Params["reason"]}
			for k, v := range r.Params {
				if k != "reason" {
					props[k] = v
				}
			}
		default:
			panic("authrestest: add this result type")
		}
		e.Reason = ascii(e.Reason)
		e.Props = map[string]string{}
		for k, v := range props {
			if v != "" {
				e.Props[k] = address(v)
			}
		}
		h.Results = append(h.Results, e)
	}
	return h
}

func address(v string) string {
	if at := strings.LastIndexByte(v, '@'); at >= 0 && !isASCII(v[at+1:]) {
		if a, err := idna.Lookup.ToASCII(v[at+1:]); err == nil {
			v = v[:at+1] + a
		}
	} else if at < 0 && !isASCII(v) {
		if a, err := idna.Lookup.ToASCII(v); err == nil {
			v = a
		}
	}
	return ascii(v)
}

func ascii(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r < ' ' || r >= 0x7f {
			r = '?'
		}
		b.WriteRune(r)
		i += n
	}
	return b.String()
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
