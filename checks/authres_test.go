package checks

import (
	"reflect"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/authres"

	"github.com/mailsift/mailsift/internal/authrestest"
)

// TestFormatAuthRes: golden lines for RFC 8601's grammar, each read back
// by an independent parser (python3-authres) with the values we meant.
func TestFormatAuthRes(t *testing.T) {
	tests := []struct {
		name string
		rs   []authres.Result
		want string
	}{
		{"none", nil, "mx.test; none"},
		{"address literal HELO", []authres.Result{&authres.SPFResult{Value: authres.ResultPass, Helo: "[198.51.100.10]"}},
			`mx.test; spf=pass smtp.helo="[198.51.100.10]"`},
		{"IPv6 literal", []authres.Result{&authres.SPFResult{Value: authres.ResultNone, Helo: "[IPv6:2001:db8::1]"}},
			`mx.test; spf=none smtp.helo="[IPv6:2001:db8::1]"`},
		{"addresses bare", []authres.Result{&authres.SPFResult{Value: authres.ResultFail, From: "joe@example.com", Helo: "mail.example.com"}},
			"mx.test; spf=fail smtp.helo=mail.example.com smtp.mailfrom=joe@example.com"},
		{"reason escaped", []authres.Result{&authres.DKIMResult{Value: authres.ResultPermError, Reason: `bad "b=" tag \ here`, Domain: "example.com"}},
			`mx.test; dkim=permerror reason="bad \"b=\" tag \\ here" header.d=example.com`},
		{"CR LF in MAIL FROM", []authres.Result{&authres.SPFResult{Value: authres.ResultNeutral, From: "a\r\nX-Evil: 1@example.com"}},
			`mx.test; spf=neutral smtp.mailfrom="a??X-Evil: 1@example.com"`},
		{"CR LF in HELO", []authres.Result{&authres.SPFResult{Value: authres.ResultNeutral, Helo: "evil\r\n\tX-Injected: yes"}},
			`mx.test; spf=neutral smtp.helo="evil???X-Injected: yes"`},
		{"quoted value last", []authres.Result{&authres.DKIMResult{Value: authres.ResultFail, Domain: "[192.0.2.1]", Identifier: "@example.com"}},
			`mx.test; dkim=fail header.i=@example.com header.d="[192.0.2.1]"`},
		{"quoted local part", []authres.Result{&authres.SPFResult{Value: authres.ResultPass, From: `"joe smith"@example.com`}},
			`mx.test; spf=pass smtp.mailfrom="\"joe smith\"@example.com"`},
		{"UTF-8 address", []authres.Result{&authres.SPFResult{Value: authres.ResultPass, From: "j\u00f6rg@b\u00fccher.example"}},
			`mx.test; spf=pass smtp.mailfrom="j?rg@xn--bcher-kva.example"`},
		{"U-label domain", []authres.Result{&authres.DKIMResult{Value: authres.ResultPass, Domain: "b\u00fccher.example"}},
			"mx.test; dkim=pass header.d=xn--bcher-kva.example"},
		{"dkim identifier", []authres.Result{&authres.DKIMResult{Value: authres.ResultPass, Domain: "example.com", Identifier: "@example.com"}},
			"mx.test; dkim=pass header.d=example.com header.i=@example.com"},
		{"iprev", []authres.Result{&authres.IPRevResult{Value: authres.ResultPass, IP: "2001:db8::1"}},
			`mx.test; iprev=pass policy.iprev="2001:db8::1"`},
		{"dmarc generic", []authres.Result{&authres.GenericResult{Method: "dmarc", Value: authres.ResultFail,
			Params: map[string]string{"header.from": "example.com", "policy.dmarc": "reject"}}},
			"mx.test; dmarc=fail header.from=example.com policy.dmarc=reject"},
		{"dmarc permerror", []authres.Result{&authres.DMARCResult{Value: authres.ResultPermError, Reason: "From header does not parse: unexpected \"<\""}},
			`mx.test; dmarc=permerror reason="From header does not parse: unexpected \"<\""`},
	}
	var values []string
	for _, tt := range tests {
		got := FormatAuthRes("mx.test", tt.rs)
		if got != tt.want {
			t.Errorf("%s: got  %s\nwant %s", tt.name, got, tt.want)
		}
		if strings.ContainsAny(got, "\r\n") {
			t.Errorf("%s: CR or LF in %q", tt.name, got)
		}
		values = append(values, got)
	}
	for i, h := range authrestest.Parse(t, values...) {
		if want := authrestest.Expect("mx.test", tests[i].rs); !reflect.DeepEqual(h, want) {
			t.Errorf("%s: python3-authres read %q as\n%+v\nwant %+v", tests[i].name, values[i], h, want)
		}
	}
}

// FuzzAuthResValue: whatever a client puts in its HELO or MAIL FROM, and
// whatever a reason says, the header has no CR or LF and reads back.
func FuzzAuthResValue(f *testing.F) {
	for _, s := range []string{"mail.example.com", "[198.51.100.10]", "a\r\nb", `"\`, "j\u00f6rg@b\u00fccher.example", "@", "a@", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		got := FormatAuthRes("mx.test", []authres.Result{&authres.SPFResult{Value: authres.ResultPass, From: v, Helo: v, Reason: v}})
		for i := 0; i < len(got); i++ {
			if c := got[i]; c < ' ' || c >= 0x7f {
				t.Fatalf("value %q: byte %#x in %q", v, c, got)
			}
		}
	})
}

// arHeaders collects the Authentication-Results a test's results make, to
// be read back by the independent parser at the test's end.
type arHeaders struct {
	values  []string
	results [][]authres.Result
}

func (a *arHeaders) add(rs []authres.Result) {
	a.values = append(a.values, FormatAuthRes("mx.mailsift.test", rs))
	a.results = append(a.results, rs)
}

// check parses every collected header with python3-authres and compares
// what it reads with what the results say.
func (a *arHeaders) check(t *testing.T) {
	t.Helper()
	if len(a.values) == 0 {
		t.Fatal("no Authentication-Results collected")
	}
	for i, h := range authrestest.Parse(t, a.values...) {
		if want := authrestest.Expect("mx.mailsift.test", a.results[i]); !reflect.DeepEqual(h, want) {
			t.Errorf("python3-authres read %q as\n%+v\nwant %+v", a.values[i], h, want)
		}
	}
}

// BenchmarkFormatAuthRes is the Authentication-Results value of a message
// with the full chain's methods.
func BenchmarkFormatAuthRes(b *testing.B) {
	rs := []authres.Result{
		&authres.IPRevResult{Value: authres.ResultPass, IP: "198.51.100.7"},
		&authres.SPFResult{Value: authres.ResultPass, From: "alice@sender.test", Helo: "mail.sender.test"},
		&authres.DKIMResult{Value: authres.ResultPass, Domain: "sender.test", Identifier: "@sender.test"},
		&authres.DMARCResult{Value: authres.ResultPass, From: "sender.test"},
	}
	b.ReportAllocs()
	for b.Loop() {
		FormatAuthRes("mx.mailsift.test", rs)
	}
}
