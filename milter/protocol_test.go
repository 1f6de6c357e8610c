package milter

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	gomilter "github.com/d--j/go-milter"
	"github.com/emersion/go-msgauth/dkim"
	"go.uber.org/goleak"

	"github.com/mailsift/mailsift/checks"
	"github.com/mailsift/mailsift/internal/policy"
	"github.com/mailsift/mailsift/internal/resolver"
	"github.com/mailsift/mailsift/internal/resolver/dnstest"
)

// What mailsift asks at negotiation depends on the checks: no reply before
// RCPT TO, RCPT TO's reply only when a check may refuse by then, the body
// only when a check reads it.
func TestNegotiatedProtocol(t *testing.T) {
	always := gomilter.OptNoData | gomilter.OptNoEOH | gomilter.OptNoUnknown | gomilter.OptHeaderLeadingSpace |
		gomilter.OptNoConnReply | gomilter.OptNoHeloReply | gomilter.OptNoMailReply | gomilter.OptNoHeaderReply |
		gomilter.OptNoBodyReply | gomilter.OptNoDataReply | gomilter.OptNoEOHReply | gomilter.OptNoUnknownReply
	for _, tt := range []struct {
		name string
		rt   *Runtime
		want gomilter.OptProtocol
	}{
		{"helo check: RCPT answered, no body", testRuntime(policy.Enforce), always | gomilter.OptNoBody},
		{"data check only: no RCPT reply", &Runtime{Hostname: "mx.mailsift.test", Policy: &policy.Policy{Mode: policy.Enforce},
			Chain: checks.NewChain(time.Second, time.Now, dataCheck{checks.Pass})}, always | gomilter.OptNoBody | gomilter.OptNoRcptReply},
		{"body reader: body sent", testRuntime(policy.Enforce, &checks.DKIM{}), always},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := start(t, tt.rt)
			c := dial(t, newClient("tcp", f.addr))
			defer c.Close()
			for bit := gomilter.OptProtocol(1); bit < 1<<21; bit <<= 1 {
				if got, want := c.s.ProtocolOption(bit), tt.want&bit != 0; got != want {
					t.Errorf("%v negotiated = %v, want %v", bit, got, want)
				}
			}
			if !c.s.ActionOption(gomilter.OptSetMacros) || !c.s.ActionOption(Actions) || c.s.ActionOption(gomilter.OptChangeBody) {
				t.Errorf("actions: want %v and SMFIF_SETSYMLIST only", Actions)
			}
		})
	}
}

// An MTA that sends only the macros the milter asks for (as Postfix and
// Sendmail do when the milter sends SMFIR_SETSYMLIST) still gives mailsift
// what its log record needs, at the stage it needs it.
func TestMacrosRequested(t *testing.T) {
	f := start(t, testRuntime(policy.Enforce))
	c := dial(t, newClient("tcp", f.addr, gomilter.WithoutDefaultMacros()))
	defer c.Close()
	all := []string{"j", "mx.mailsift.test", "{client_addr}", "198.51.100.30", "{client_name}", "mail.sender.test",
		"{client_ptr}", "mail.sender.test", "{daemon_addr}", "203.0.113.1", "v", "Postfix 3.7.11",
		"{auth_authen}", "carol", "i", "QID30", "{tls_version}", "TLSv1.3", "{rcpt_addr}", "bob@example.test"}
	cont(t)(c.Conn("[198.51.100.30]", gomilter.FamilyInet, 40030, "198.51.100.30", all...))
	cont(t)(c.Helo("mail.sender.test", all...))
	cont(t)(c.Mail("carol@sender.test", all...))
	cont(t)(c.Rcpt("bob@example.test", all...))
	_, act, err := c.End(nil, all...)
	wantAccept(t, act, err)
	must(t, c.Abort())
	r := f.logs.waitRecords(t, 1)[0]
	for k, want := range map[string]any{"source.domain": "mail.sender.test", "user.name": "carol", "email.local_id": "QID30",
		"mailsift.trusted": "authenticated"} {
		if r[k] != want {
			t.Errorf("record[%q] = %v, want %v", k, r[k], want)
		}
	}
}

// narrowClient is an MTA that offers protocol version 2 only: no no-reply
// flags, no SMFIP_HDR_LEADSPC, no macro requests, the actions of version 2.
func narrowClient(network, addr string) *gomilter.Client {
	return gomilter.NewClient(network, addr, gomilter.WithReadTimeout(5*time.Second), gomilter.WithWriteTimeout(5*time.Second),
		gomilter.WithMaximumVersion(2), gomilter.WithActions(gomilter.OptAddHeader|gomilter.OptChangeBody|gomilter.OptAddRcpt|
			gomilter.OptRemoveRcpt|gomilter.OptChangeHeader|gomilter.OptQuarantine),
		gomilter.WithProtocols(gomilter.OptNoConnect|gomilter.OptNoHelo|gomilter.OptNoMailFrom|gomilter.OptNoRcptTo|
			gomilter.OptNoBody|gomilter.OptNoHeaders|gomilter.OptNoEOH),
		gomilter.WithMacroRequest(gomilter.StageConnect, []string{"j", "{client_addr}", "{client_name}"}),
		gomilter.WithMacroRequest(gomilter.StageMail, []string{"i", "{auth_authen}"}),
		gomilter.WithMacroRequest(gomilter.StageEOM, []string{"i"}))
}

// Every stage is answered, and every reply is the same, when the MTA
// offers no no-reply flags.
func TestNarrowMTAGetsEveryReply(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // runs last: every session's goroutines are gone
	rt := testRuntime(policy.Enforce, rcptCheck{}, dataCheck{checks.Fail})
	rt.Policy.Rules = map[string]policy.Rule{"body": {Actions: map[string]policy.Action{"fail": policy.Tag}}}
	f := start(t, rt)
	c := dial(t, narrowClient("tcp", f.addr))
	defer c.Close()
	for _, o := range []gomilter.OptProtocol{gomilter.OptNoConnReply, gomilter.OptNoHeloReply, gomilter.OptNoMailReply,
		gomilter.OptNoRcptReply, gomilter.OptNoHeaderReply, gomilter.OptHeaderLeadingSpace} {
		if c.s.ProtocolOption(o) {
			t.Errorf("%v negotiated with a version 2 MTA", o)
		}
	}
	cont(t)(c.Conn("client.example", gomilter.FamilyInet, 40000, "198.51.100.40", "j", "mx.mailsift.test", "{client_addr}", "198.51.100.40"))
	cont(t)(c.Helo("bad..helo"))
	cont(t)(c.Mail("alice@sender.test", "i", "QIDN1"))
	replyIs(t, badHeloReply)(c.Rcpt("bob@example.test"))
	must(t, c.Abort())

	c2 := dial(t, narrowClient("tcp", f.addr))
	defer c2.Close()
	cont(t)(c2.Conn("client.example", gomilter.FamilyInet, 40000, "198.51.100.41", "j", "mx.mailsift.test", "{client_addr}", "198.51.100.41"))
	cont(t)(c2.Helo("mail.sender.test"))
	cont(t)(c2.Mail("alice@sender.test", "i", "QIDN2"))
	replyIs(t, "550 5.1.1 <x@unknown.test>: User unknown")(c2.Rcpt("x@unknown.test"))
	cont(t)(c2.Rcpt("bob@example.test"))
	cont(t)(c2.Header("Authentication-Results", "mx.mailsift.test; spf=pass"))
	cont(t)(c2.Header("Subject", "narrow"))
	mods, act, err := c2.End(nil, "i", "QIDN2")
	wantAccept(t, act, err)
	got := strings.Join(fmtMods(mods), "|")
	if want := "m 1 Authentication-Results=|i 1 Authentication-Results=mx.mailsift.test; none|h X-Mailsift=body=fail"; got != want {
		t.Errorf("modifications %q, want %q", got, want)
	}
	for _, m := range mods {
		if strings.HasPrefix(m.HeaderValue, " ") {
			t.Errorf("header %s value %q: an MTA without SMFIP_HDR_LEADSPC adds the space itself", m.HeaderName, m.HeaderValue)
		}
	}
	rs := f.logs.waitRecords(t, 2)
	// The first connection's abort has no reply: its record may come second.
	sort.Slice(rs, func(i, j int) bool { return fmt.Sprint(rs[i]["email.local_id"]) < fmt.Sprint(rs[j]["email.local_id"]) })
	if rs[0]["event.action"] != "reject" || rs[0]["mailsift.reply"] != badHeloReply || rs[0]["email.local_id"] != "QIDN1" {
		t.Errorf("first record = %v", rs[0])
	}
	if rs[1]["event.action"] != "tag" || rs[1]["email.local_id"] != "QIDN2" || fmt.Sprint(rs[1]["mailsift.refused_to"]) != "[x@unknown.test]" {
		t.Errorf("second record = %v", rs[1])
	}
}

func zoneResolver(t *testing.T) (*resolver.Resolver, *dnstest.Server) {
	t.Helper()
	srv := dnstest.Start(t)
	if err := srv.LoadDir("../testdata/zones"); err != nil {
		t.Fatal(err)
	}
	r, err := resolver.New(resolver.Config{Servers: []string{srv.Addr}, Timeout: 3 * time.Second, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	return r, srv
}

func dkimTestKey(t *testing.T, path string) crypto.Signer {
	t.Helper()
	b, err := os.ReadFile(path)
	must(t, err)
	blk, _ := pem.Decode(b)
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	must(t, err)
	return k.(crypto.Signer)
}

// DKIM's simple header canonicalization signs each header byte for byte,
// the whitespace after the colon included. With SMFIP_HDR_LEADSPC the MTA
// passes the value as it was, and mailsift hands DKIM the exact bytes:
// every vector passes through the milter as it passes on the raw message.
// (Before, "Subject:x" and "Subject:\tx" failed.) The keys are
// testdata/dkim's, published in testdata/zones/auth.test.zone.
func TestDKIMHeaderWhitespaceThroughMilter(t *testing.T) {
	r, _ := zoneResolver(t)
	d := &checks.DKIM{DNS: checks.NetResolver{R: r}, Max: 5}
	rt := testRuntime(policy.Enforce, d)
	f := start(t, rt)
	keys := map[string]crypto.Signer{"rsa2048": dkimTestKey(t, "../testdata/dkim/rsa.pem"), "ed25519": dkimTestKey(t, "../testdata/dkim/ed25519.pem")}
	vectors := []struct{ name, subject string }{
		{"no space", "Subject:x"},
		{"one space", "Subject: x"},
		{"two spaces", "Subject:  x"},
		{"tab", "Subject:\tx"},
		{"space tab", "Subject: \tx"},
		{"folded", "Subject:\r\n\tx"},
	}
	n := 0
	for _, v := range vectors {
		for sel, key := range keys {
			t.Run(v.name+"/"+sel, func(t *testing.T) {
				raw := "From: Alice <alice@signed.test>\r\nTo: bob@example.org\r\n" + v.subject + "\r\nMessage-Id: <ws@signed.test>\r\n\r\nHello.\r\n"
				var b bytes.Buffer
				must(t, dkim.Sign(&b, strings.NewReader(raw), &dkim.SignOptions{Domain: "signed.test", Selector: sel, Signer: key,
					HeaderCanonicalization: dkim.CanonicalizationSimple, BodyCanonicalization: dkim.CanonicalizationSimple,
					HeaderKeys: []string{"From", "To", "Subject", "Message-Id"}}))
				// The raw message verifies: the vector is sound.
				st := d.Stream(context.Background())
				st.Write(b.Bytes())
				if res := st.Finish(context.Background()); res.Status != checks.Pass {
					t.Fatalf("raw message: dkim %s %s", res.Status, res.Text)
				}
				hdr, body, _ := bytes.Cut(b.Bytes(), []byte("\r\n\r\n"))
				c := f.session(t, "198.51.100.50")
				cont(t)(c.Helo("mail.sender.test"))
				cont(t)(c.Mail("alice@signed.test"))
				cont(t)(c.Rcpt("bob@example.test"))
				for _, field := range headerFields(string(hdr)) {
					name, value, _ := strings.Cut(field, ":")
					// Postfix passes folded lines with LF line ends.
					cont(t)(c.Header(name, strings.ReplaceAll(value, "\r\n", "\n")))
				}
				mods, act, err := c.End(body, "i", fmt.Sprintf("QWS%d", n))
				wantAccept(t, act, err)
				got := strings.Join(fmtMods(mods), "|")
				if !strings.Contains(got, "dkim=pass header.d=signed.test") {
					t.Errorf("%q through the milter: %s", v.subject, got)
				}
				must(t, c.Abort())
			})
			n++
		}
	}
}

// headerFields splits a header block into its fields, folded lines kept.
func headerFields(hdr string) []string {
	var out []string
	for _, line := range strings.SplitAfter(hdr, "\r\n") {
		if line == "" {
			continue
		}
		if (line[0] == ' ' || line[0] == '\t') && len(out) > 0 {
			out[len(out)-1] += line
			continue
		}
		out = append(out, line)
	}
	for i := range out {
		out[i] = strings.TrimSuffix(out[i], "\r\n")
	}
	return out
}

// slowData is a data check that takes its time (a slow lookup).
type slowData struct{ d time.Duration }

func (slowData) Name() string { return "slow" }
func (s slowData) CheckData(ctx context.Context, _ *checks.Envelope) checks.Result {
	select {
	case <-time.After(s.d):
	case <-ctx.Done():
	}
	return checks.Result{Status: checks.Pass, Reason: "slow-pass"}
}

// A stage whose checks outlast the MTA's read timeout gets SMFIR_PROGRESS
// packets, so the MTA waits for the reply instead of giving up: a slow DNS
// answer at MAIL FROM (Postfix, which takes progress at every stage) and a
// slow check at the end of the message (Sendmail too).
func TestProgressKeepsTheMTAWaiting(t *testing.T) {
	r, dns := zoneResolver(t)
	dns.Delay("nullmx.checks.test", 900*time.Millisecond)
	nullMX := checks.Reply{Code: 550, Enhanced: "5.1.8", Text: "<{sender}>: Sender address rejected: Domain does not accept mail"}
	line := "550 5.1.8 <alice@nullmx.checks.test>: Sender address rejected: Domain does not accept mail"
	for _, tt := range []struct {
		name     string
		interval time.Duration
		ok       bool
	}{
		{"progress every 100ms", 100 * time.Millisecond, true},
		{"progress too late", time.Minute, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// Runs after the server's shutdown: no session goroutine and no
			// progress timer outlives its session.
			before := goleak.IgnoreCurrent()
			t.Cleanup(func() { goleak.VerifyNone(t, before) })
			rt := testRuntime(policy.Enforce, &checks.Sender{RequireDomain: true, DNS: r, NullMX: nullMX}, slowData{900 * time.Millisecond})
			rt.ProgressInterval = tt.interval
			f := start(t, rt)
			// The MTA gives up after 400ms without a packet.
			c := dial(t, newClient("tcp", f.addr, gomilter.WithReadTimeout(400*time.Millisecond)))
			defer c.Close()
			cont(t)(c.Conn("client.example", gomilter.FamilyInet, 40000, "198.51.100.60",
				"j", "mx.mailsift.test", "{client_addr}", "198.51.100.60", "v", "Postfix 3.7.11"))
			cont(t)(c.Helo("mail.sender.test"))
			cont(t)(c.Mail("alice@nullmx.checks.test")) // no reply wanted: the wait is at RCPT TO
			act, err := c.Rcpt("bob@example.test")
			if !tt.ok {
				if err == nil {
					t.Fatalf("RCPT answered %v without progress within the MTA's timeout", act)
				}
				return
			}
			wantReply(t, act, err, line)
			must(t, c.Abort())
			// The end of the message: progress for Sendmail too.
			c2 := dial(t, newClient("tcp", f.addr, gomilter.WithReadTimeout(400*time.Millisecond)))
			defer c2.Close()
			cont(t)(c2.Conn("client.example", gomilter.FamilyInet, 40000, "198.51.100.61",
				"j", "mx.mailsift.test", "{client_addr}", "198.51.100.61", "v", "8.17.1.9"))
			cont(t)(c2.Helo("mail.sender.test"))
			cont(t)(c2.Mail("alice@checks.test"))
			cont(t)(c2.Rcpt("bob@example.test"))
			_, act, err = c2.End(nil)
			wantAccept(t, act, err)
		})
	}
}

// An MTA may reuse a milter connection for the next SMTP connection
// (SMFIC_QUIT_NC): the new client gets nothing of the old one, trust
// included.
func TestConnectionReuse(t *testing.T) {
	f := start(t, testRuntime(policy.Enforce))
	c := f.session(t, "192.0.2.25") // a trusted network
	cont(t)(c.Helo("bad..helo"))
	cont(t)(c.Mail("a@b.test"))
	cont(t)(c.Rcpt("c@d.test"))
	must(t, c.Abort())
	must(t, c.s.Reset(c.macros))
	cont(t)(c.Conn("client.example", gomilter.FamilyInet, 40001, "198.51.100.70", "j", "mx.mailsift.test", "{client_addr}", "198.51.100.70"))
	cont(t)(c.Helo("bad..helo"))
	cont(t)(c.Mail("e@b.test"))
	replyIs(t, badHeloReply)(c.Rcpt("c@d.test"))
	must(t, c.Abort())
	rs := f.logs.waitRecords(t, 2)
	if rs[0]["mailsift.trusted"] != "network" || rs[1]["mailsift.trusted"] != nil || rs[1]["source.ip"] != "198.51.100.70" || rs[1]["event.action"] != "reject" {
		t.Errorf("records = %v", rs)
	}
}
