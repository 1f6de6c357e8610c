package milter

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	gomilter "github.com/d--j/go-milter"
	"github.com/emersion/go-msgauth/dkim"

	"github.com/mailsift/mailsift/checks"
	"github.com/mailsift/mailsift/internal/authrestest"
	"github.com/mailsift/mailsift/internal/resolver"
	"github.com/mailsift/mailsift/internal/resolver/dnstest"
	"github.com/mailsift/mailsift/internal/settings"
)

// The fault matrix: every DNS lookup a check makes, each failing in each
// way a lookup fails (SERVFAIL, no answer at all, a truncated UDP answer
// whose TCP retry is refused), under each DMARC policy, driven through the
// milter protocol with the default configuration. The client never sees a
// 5xx for it: a transient fault is a 4xx, or the message goes on. Zones:
// testdata/zones/faults.

// faultRuntime is the default configuration's inbound chain (ptr, helo,
// sender, spf, dkim, dmarc), asking srv with a short timeout.
func faultRuntime(t *testing.T, srv *dnstest.Server) *Runtime {
	t.Helper()
	cfg := settings.Default()
	res, err := resolver.New(resolver.Config{Servers: []string{srv.Addr}, Timeout: 150 * time.Millisecond, Attempts: 2})
	if err != nil {
		t.Fatal(err)
	}
	ck := &cfg.Checks
	h, s := &ck.Helo, &ck.Sender
	chain := checks.NewChain(time.Duration(ck.Timeout), time.Now,
		&checks.PTR{Mode: checks.PTRMode(ck.PTR.Mode), DNS: res, Temp: ck.PTR.Reply("ptr", "temp"), Perm: ck.PTR.Reply("ptr", "perm")},
		&checks.Helo{RequireFQDN: h.NonFQDN, RequireDNS: h.Unknown, OurNames: []string{"mx.mailsift.test"}, DNS: res,
			Syntax: h.Reply("helo", "syntax"), NonFQDN: h.Reply("helo", "non_fqdn"), Literal: h.Reply("helo", "literal"),
			Ours: h.Reply("helo", "ours"), Unknown: h.Reply("helo", "unknown"), Temp: h.Reply("helo", "temp")},
		&checks.Sender{RequireFQDN: s.NonFQDN, RequireDomain: s.UnknownDomain, DNS: res,
			Syntax: s.Reply("sender", "syntax"), NonFQDN: s.Reply("sender", "non_fqdn"), UnknownDomain: s.Reply("sender", "unknown_domain"),
			NullMX: s.Reply("sender", "null_mx"), Temp: s.Reply("sender", "temp")},
		&checks.SPF{DNS: checks.NetResolver{R: res}, Fail: ck.SPF.Reply("spf", "perm"), Temp: ck.SPF.Reply("spf", "temp")},
		&checks.DKIM{DNS: checks.NetResolver{R: res}, Max: ck.DKIM.MaxSignatures},
		&checks.DMARC{DNS: checks.NetResolver{R: res}, Reject: ck.DMARC.Reply("dmarc", "perm"), Temp: ck.DMARC.Reply("dmarc", "temp"),
			FromInvalid: ck.DMARC.Reply("dmarc", "from")},
	)
	return &Runtime{Hostname: "mx.mailsift.test", Chain: chain, Policy: cfg.Policy(),
		TrustedNets: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
}

// faultGroup is one scenario under one policy: a domain of its own in
// testdata/zones/faults/fault.zone.
type faultGroup struct {
	scenario string // "spf": unsigned, SPF aligns; "dkim": signed, SPF unaligned; "both"
	policy   string // the domain's p=
	n        int    // its client is 198.18.7.n
}

func (g faultGroup) domain() string { return g.scenario + "-" + g.policy + ".test" }
func (g faultGroup) ip() string     { return fmt.Sprintf("198.18.7.%d", g.n) }
func (g faultGroup) from() string   { return "news." + g.domain() }

// sender is the MAIL FROM domain: the From domain, or an unaligned one.
func (g faultGroup) sender() string {
	if g.scenario == "dkim" {
		return "other-" + g.domain()
	}
	return g.from()
}

// lookup is one DNS question a check asks, as a dnstest fault name.
type lookup struct{ what, name string }

func (g faultGroup) lookups() []lookup {
	d := g.domain()
	return []lookup{
		{"ptr: PTR", fmt.Sprintf("%d.7.18.198.in-addr.arpa", g.n)},
		{"ptr+helo: A", "mail." + d + "/A"},
		{"ptr+helo: AAAA", "mail." + d + "/AAAA"},
		{"sender: MX", g.sender() + "/MX"},
		{"spf: TXT", g.sender() + "/TXT"},
		{"spf: a", "a.spf." + d},
		{"spf: mx", "mx.spf." + d + "/MX"},
		{"spf: mx host A", "mxhost.spf." + d},
		{"spf: exists", "x.ex.spf." + d},
		{"spf: include", "inc.spf." + d},
		{"spf: redirect", "red.spf." + d},
		{"dkim: key", "ed25519._domainkey." + g.from()},
		{"dmarc: at From", "_dmarc." + g.from()},
		{"dmarc: at org domain", "_dmarc." + d},
	}
}

// want is the reply the client must see with lookup l failing, "" for a
// message that goes on (and is accepted).
func (g faultGroup) want(l lookup) string {
	enforcing := g.policy != "none"
	dmarcTemp := "451 4.7.1 Temporary DNS failure evaluating DMARC for " + g.from() + ", try again later"
	switch {
	case l.what == "ptr: PTR" || l.what == "ptr+helo: A":
		return "450 4.7.25 Client host rejected: cannot find your hostname, [" + g.ip() + "]"
	case l.what == "sender: MX":
		return "450 4.1.8 <bounce@" + g.sender() + ">: Sender address rejected: Domain not found"
	case strings.HasPrefix(l.what, "spf:") && g.scenario == "spf" && enforcing:
		// SPF was the only way to align; DKIM is absent.
		return dmarcTemp
	case l.what == "dkim: key" && g.scenario == "dkim" && enforcing:
		// DKIM was the only way to align; SPF is for another domain.
		return dmarcTemp
	}
	// The AAAA of a client whose A answers, a lookup that another passing
	// identifier makes moot, a DMARC lookup when an identifier passed for
	// the From domain itself, or p=none: nothing to refuse.
	return ""
}

var (
	faultKeyOnce sync.Once
	faultKey     crypto.Signer
)

func faultSigner(t *testing.T) crypto.Signer {
	faultKeyOnce.Do(func() {
		b, err := os.ReadFile("../testdata/dkim/ed25519.pem")
		if err != nil {
			t.Fatal(err)
		}
		blk, _ := pem.Decode(b)
		k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		faultKey = k.(crypto.Signer)
	})
	return faultKey
}

// faultMessage is the group's message, signed by the From domain when the
// scenario has DKIM.
func (g faultGroup) message(t *testing.T) (hdrs [][2]string, body string) {
	msg := "From: News <news@" + g.from() + ">\r\nTo: rcpt@example.org\r\nSubject: faults\r\nMessage-Id: <f@" + g.from() + ">\r\n\r\nHello.\r\n"
	if g.scenario != "spf" {
		var b bytes.Buffer
		err := dkim.Sign(&b, strings.NewReader(msg), &dkim.SignOptions{Domain: g.from(), Selector: "ed25519", Signer: faultSigner(t),
			HeaderCanonicalization: dkim.CanonicalizationRelaxed, BodyCanonicalization: dkim.CanonicalizationRelaxed,
			HeaderKeys: []string{"From", "To", "Subject", "Message-Id"}})
		if err != nil {
			t.Fatal(err)
		}
		msg = b.String()
	}
	head, body, _ := strings.Cut(msg, "\r\n\r\n")
	for _, line := range strings.Split(strings.ReplaceAll(head, "\r\n ", " "), "\r\n") {
		k, v, _ := strings.Cut(line, ":")
		hdrs = append(hdrs, [2]string{k, strings.TrimSpace(v)})
	}
	return hdrs, body
}

// outcome is what the client saw for one message.
type outcome struct {
	reply string // the refusal, "" when accepted
	ar    string // our Authentication-Results, when accepted
}

// deliver sends the group's message through one session the way Postfix
// does, stopping at the first refusal.
func (g faultGroup) deliver(t *testing.T, f *fixture) outcome {
	t.Helper()
	s := f.session(t, g.ip(), "{client_name}", "mail."+g.domain(), "{client_ptr}", "mail."+g.domain())
	defer s.Close()
	refused := func(a *gomilter.Action, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		switch a.Type {
		case gomilter.ActionContinue, gomilter.ActionAccept:
			return ""
		case gomilter.ActionRejectWithCode:
			return a.SMTPReply
		}
		return fmt.Sprintf("action %v", a)
	}
	for _, step := range []func() (*gomilter.Action, error){
		func() (*gomilter.Action, error) { return s.Helo("mail." + g.domain()) },
		func() (*gomilter.Action, error) { return s.Mail("bounce@" + g.sender()) },
		func() (*gomilter.Action, error) { return s.Rcpt("rcpt@example.org") },
	} {
		if r := refused(step()); r != "" {
			return outcome{reply: r}
		}
	}
	hdrs, body := g.message(t)
	for _, h := range hdrs {
		if r := refused(s.Header(h[0], h[1])); r != "" {
			return outcome{reply: r}
		}
	}
	mods, act, err := s.End([]byte(body))
	if r := refused(act, err); r != "" {
		return outcome{reply: r}
	}
	var o outcome
	for _, m := range mods {
		if isAuthRes(m) {
			o.ar = strings.TrimPrefix(m.HeaderValue, " ")
		}
	}
	return o
}

func TestFaultMatrix(t *testing.T) {
	var groups []faultGroup
	for _, sc := range []string{"spf", "dkim", "both"} {
		for _, p := range []string{"reject", "quarantine", "none"} {
			groups = append(groups, faultGroup{scenario: sc, policy: p, n: len(groups) + 1})
		}
	}
	faults := []struct {
		name string
		set  func(*dnstest.Server, string)
	}{
		{"SERVFAIL", (*dnstest.Server).ServFail},
		{"no answer", (*dnstest.Server).Silent},
		{"truncated, TCP refused", (*dnstest.Server).TruncateNoTCP},
	}
	var (
		mu      sync.Mutex
		headers []string
		cells   int
	)
	for _, g := range groups {
		t.Run(g.domain(), func(t *testing.T) {
			t.Parallel()
			srv := dnstest.Start(t)
			if err := srv.LoadDir("../testdata/zones/faults"); err != nil {
				t.Fatal(err)
			}
			f := start(t, faultRuntime(t, srv))
			// Healthy DNS: every scenario passes DMARC and is accepted.
			o := g.deliver(t, f)
			if o.reply != "" || !strings.Contains(o.ar, " dmarc=pass ") {
				t.Fatalf("healthy DNS: reply %q, Authentication-Results %q; want accepted with dmarc=pass", o.reply, o.ar)
			}
			mu.Lock()
			headers = append(headers, o.ar)
			mu.Unlock()
			for _, l := range g.lookups() {
				for _, fault := range faults {
					fault.set(srv, l.name)
					o := g.deliver(t, f)
					srv.Clear(l.name)
					mu.Lock()
					cells++
					if o.ar != "" {
						headers = append(headers, o.ar)
					}
					mu.Unlock()
					if strings.HasPrefix(o.reply, "5") {
						t.Errorf("%s (%s) %s: the client sees %q: a transient fault became a permanent refusal", l.what, l.name, fault.name, o.reply)
						continue
					}
					if want := g.want(l); o.reply != want {
						t.Errorf("%s (%s) %s: reply %q, want %q", l.what, l.name, fault.name, o.reply, want)
					}
				}
			}
		})
	}
	t.Cleanup(func() {
		if t.Failed() {
			return
		}
		if want := len(groups) * len(groups[0].lookups()) * len(faults); cells != want {
			t.Errorf("%d cells run, want %d", cells, want)
		}
		// Every header the milter wrote reads with an independent parser.
		for i, h := range authrestest.Parse(t, headers...) {
			if h.Err != "" || h.AuthServID != "mx.mailsift.test" || len(h.Results) == 0 {
				t.Errorf("python3-authres read %q as %+v", headers[i], h)
			}
		}
	})
}

// TestAuthResThroughMilter: what a client puts in HELO and MAIL FROM
// reaches our Authentication-Results only as a well-formed value: an
// address literal quoted, CR and LF never (observe mode, where the helo
// and sender checks refuse nothing). python3-authres reads each header,
// and each method's result is the status the log record gives its check.
func TestAuthResThroughMilter(t *testing.T) {
	srv := dnstest.Start(t)
	if err := srv.LoadDir("../testdata/zones/faults"); err != nil {
		t.Fatal(err)
	}
	rt := faultRuntime(t, srv)
	rt.Policy.Mode = "observe"
	f := start(t, rt)
	g := faultGroup{scenario: "spf", policy: "none", n: 3}
	tests := []struct {
		helo, mail string
		props      map[string]string // spf's properties as read back
	}{
		{"[198.18.7.3]", "", map[string]string{"smtp.helo": "[198.18.7.3]"}},
		{"[IPv6:2001:db8::1]", "", map[string]string{"smtp.helo": "[IPv6:2001:db8::1]"}},
		{"evil\r\n\tX-Injected: yes", "", map[string]string{"smtp.helo": "evil???X-Injected: yes"}},
		{"mail.spf-none.test", "a\r\nX-Evil: 1@news.spf-none.test", map[string]string{"smtp.mailfrom": "a??X-Evil: 1@news.spf-none.test"}},
		{"mail.spf-none.test", `"a \"b\" \\ c"@news.spf-none.test`, map[string]string{"smtp.mailfrom": `"a \"b\" \\ c"@news.spf-none.test`}},
	}
	var values []string
	for _, tt := range tests {
		s := f.session(t, g.ip(), "{client_name}", "mail."+g.domain())
		cont(t)(s.Helo(tt.helo))
		cont(t)(s.Mail(tt.mail)) // the client adds the angle brackets
		cont(t)(s.Rcpt("rcpt@example.org"))
		hdrs, body := g.message(t)
		for _, h := range hdrs {
			cont(t)(s.Header(h[0], h[1]))
		}
		mods, act, err := s.End([]byte(body))
		wantAccept(t, act, err)
		must(t, s.Abort())
		s.Close()
		ar := ""
		for _, m := range mods {
			if isAuthRes(m) {
				ar = strings.TrimPrefix(m.HeaderValue, " ")
			}
		}
		if ar == "" || strings.ContainsAny(ar, "\r\n") {
			t.Fatalf("HELO %q MAIL %q: Authentication-Results %q", tt.helo, tt.mail, ar)
		}
		values = append(values, ar)
	}
	records := f.logs.waitRecords(t, len(tests))
	check := map[string]string{"iprev": "ptr", "spf": "spf", "dkim": "dkim", "dmarc": "dmarc"}
	for i, h := range authrestest.Parse(t, values...) {
		if h.Err != "" || h.AuthServID != "mx.mailsift.test" {
			t.Errorf("python3-authres read %q as %+v", values[i], h)
			continue
		}
		var methods []string
		for _, r := range h.Results {
			methods = append(methods, r.Method)
			if st := records[i]["mailsift.checks."+check[r.Method]+".status"]; st != r.Result {
				t.Errorf("%q: %s=%s, but the log says %s status %v", values[i], r.Method, r.Result, check[r.Method], st)
			}
			if r.Method == "spf" && fmt.Sprint(r.Props) != fmt.Sprint(tests[i].props) {
				t.Errorf("%q: spf properties read back as %v, want %v", values[i], r.Props, tests[i].props)
			}
		}
		if strings.Join(methods, " ") != "iprev spf dkim dmarc" {
			t.Errorf("%q: methods %v, want iprev spf dkim dmarc", values[i], methods)
		}
	}
}

// TestUTF8FromThroughMilter: an RFC 6532 From domain is evaluated by its
// A-labels (here: its p=reject policy applies), and a From with a comment
// is read, where both used to be "exactly one From address" refusals.
func TestUTF8FromThroughMilter(t *testing.T) {
	srv := dnstest.Start(t)
	for _, dir := range []string{"../testdata/zones", "../testdata/zones/faults"} {
		if err := srv.LoadDir(dir); err != nil {
			t.Fatal(err)
		}
	}
	f := start(t, faultRuntime(t, srv))
	g := faultGroup{scenario: "spf", policy: "none", n: 3}
	for _, tt := range []struct{ from, want string }{
		{"Anna <anna@b\u00fccher.test>", "550 5.7.1 Email rejected per DMARC policy for xn--bcher-kva.test"},
		{"(Anna) anna@caps.test", "550 5.7.1 Email rejected per DMARC policy for caps.test"},
		{"anna@b\u00fccher.test, bob@caps.test", "550 5.7.1 Message must have exactly one From address"},
	} {
		s := f.session(t, g.ip(), "{client_name}", "mail."+g.domain())
		cont(t)(s.Helo("mail." + g.domain()))
		cont(t)(s.Mail("bounce@" + g.from()))
		cont(t)(s.Rcpt("rcpt@example.org"))
		cont(t)(s.Header("From", tt.from))
		cont(t)(s.Header("Subject", "utf-8"))
		_, act, err := s.End([]byte("Hello.\r\n"))
		wantReply(t, act, err, tt.want)
		s.Close()
	}
}

// isAuthRes reports whether m adds mailsift's Authentication-Results
// header, appended or inserted.
func isAuthRes(m gomilter.ModifyAction) bool {
	return (m.Type == gomilter.ActionAddHeader || m.Type == gomilter.ActionInsertHeader) && m.HeaderName == "Authentication-Results"
}
