package milter

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gomilter "github.com/d--j/go-milter"
	"github.com/emersion/go-msgauth/dkim"

	"github.com/mailsift/mailsift/checks"
	"github.com/mailsift/mailsift/greylist"
	"github.com/mailsift/mailsift/internal/clocktest"
	"github.com/mailsift/mailsift/internal/dkimsign"
	"github.com/mailsift/mailsift/internal/policy"
)

// outboundRuntime is testRuntime with submissions' checks: the logins
// file (www owns www@site.test), a daily limit of 2, the RFC 5322 rules,
// and an Ed25519 key for site.test.
func outboundRuntime(t *testing.T) (*Runtime, *dkimsign.Key) {
	t.Helper()
	dir := t.TempDir()
	logins := filepath.Join(dir, "logins")
	os.WriteFile(logins, []byte("www www@site.test\n"), 0o644)
	lm, err := checks.LoadLoginMap(logins, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	k, err := dkimsign.WriteKey(dir, "site.test", "sel", "ed25519")
	if err != nil {
		t.Fatal(err)
	}
	keys, errs, err := dkimsign.LoadDir(dir)
	if err != nil || len(errs) > 0 {
		t.Fatal(err, errs)
	}
	rep := func(c, k string) checks.Reply { r, _ := checks.DefaultReply(c, k); return r }
	clock := clocktest.New(time.Unix(1_800_000_000, 0))
	chain := checks.NewChain(time.Second, time.Now,
		&checks.Login{Map: lm, Mismatch: rep("login", "mismatch")},
		&checks.Limit{Store: greylist.NewMemory(1000), Max: 2, Window: 24 * time.Hour, Now: clock.Now, Reached: rep("limit", "temp")},
		&checks.Standards{Violation: rep("standards", "perm")})
	rt := testRuntime(policy.Enforce)
	rt.Policy.Rules = map[string]policy.Rule{"limit": {Actions: map[string]policy.Action{"fail": policy.Tempfail}}}
	rt.Outbound = &Outbound{Chain: chain, Keys: keys, Domains: []string{"site.test"}}
	return rt, k
}

const outMsg = "Hello,\r\nthis is signed.\r\n"

// submit sends a message's header and body; it returns End's answer.
// login, when not "", is sent as {auth_authen} with MAIL FROM.
func submit(t *testing.T, s *mta, login, from string, headers ...string) ([]gomilter.ModifyAction, *gomilter.Action, error) {
	t.Helper()
	var kv []string
	if login != "" {
		kv = []string{"{auth_authen}", login}
	}
	cont(t)(s.Mail(from, kv...))
	cont(t)(s.Rcpt("bob@example.test"))
	for i := 0; i < len(headers); i += 2 {
		cont(t)(s.Header(headers[i], headers[i+1]))
	}
	return s.End([]byte(outMsg))
}

func TestOutboundSignsAndLimits(t *testing.T) {
	rt, key := outboundRuntime(t)
	f := start(t, rt)
	// A login from anywhere is a submission.
	s := f.session(t, "198.51.100.20", "{client_name}", "unknown")
	if s.s.ProtocolOption(gomilter.OptNoBody) {
		t.Fatal("protocol options: the body is needed to sign")
	}
	cont(t)(s.Helo("bad..helo")) // an inbound finding, not a submission's
	hdrs := []string{"From", "Web <www@site.test>", "To", "bob@example.test", "Subject", "one", "Message-ID", "<o1@site.test>"}
	mods, act, err := submit(t, s, "www", "www@site.test", hdrs...)
	wantAccept(t, act, err)
	var sig string
	for _, m := range mods {
		if m.Type == gomilter.ActionAddHeader && m.HeaderName == "DKIM-Signature" {
			sig = strings.TrimPrefix(m.HeaderValue, " ")
		}
		if m.HeaderName == "X-Mailsift" {
			t.Errorf("the inbound HELO finding tagged a submission: %v", fmtMods(mods))
		}
	}
	if sig == "" {
		t.Fatalf("no DKIM-Signature added: %v", fmtMods(mods))
	}
	// The signature verifies over the message as the MTA will store it.
	var raw strings.Builder
	fmt.Fprintf(&raw, "DKIM-Signature: %s\r\n", strings.ReplaceAll(sig, "\n", "\r\n"))
	for i := 0; i < len(hdrs); i += 2 {
		fmt.Fprintf(&raw, "%s: %s\r\n", hdrs[i], hdrs[i+1])
	}
	raw.WriteString("\r\n" + outMsg)
	_, txt, _ := dkimsign.TXT(key)
	vs, err := dkim.VerifyWithOptions(strings.NewReader(raw.String()), &dkim.VerifyOptions{
		LookupTXT: func(string) ([]string, error) { return []string{txt}, nil }})
	if err != nil || len(vs) != 1 || vs[0].Err != nil || vs[0].Domain != "site.test" {
		t.Fatalf("verification: %v %+v\n%s", err, vs, raw.String())
	}
	must(t, s.Abort())
	r := f.logs.waitRecords(t, 1)[0]
	for k, want := range map[string]any{"event.action": "accept", "mailsift.trusted": "authenticated", "user.name": "www",
		"mailsift.checks.limit.count": "1", "mailsift.checks.login.reason": "login-owned", "mailsift.checks.standards.status": "pass",
		"mailsift.checks.sign.domain": "site.test", "mailsift.checks.sign.selector": "sel", "mailsift.checks.sign.algorithm": "ed25519"} {
		if r[k] != want {
			t.Errorf("record[%q] = %v, want %v", k, r[k], want)
		}
	}

	// A second message counts 2; the third is over the limit, at RCPT.
	_, act, err = submit(t, s, "www", "www@site.test", hdrs...)
	wantAccept(t, act, err)
	must(t, s.Abort())
	cont(t)(s.Mail("www@site.test", "{auth_authen}", "www"))
	replyIs(t, "450 4.7.1 www: daily limit of 2 messages reached, try again later")(s.Rcpt("bob@example.test"))
	must(t, s.Abort())
	rs := f.logs.waitRecords(t, 3)
	if rs[1]["mailsift.checks.limit.count"] != "2" || rs[2]["event.action"] != "tempfail" || rs[2]["mailsift.checks.limit.count"] != "2" {
		t.Errorf("records = %v\n%v", rs[1], rs[2])
	}
	// Not the login's address: 553 at RCPT.
	cont(t)(s.Mail("alice@site.test", "{auth_authen}", "www"))
	replyIs(t, "553 5.7.1 <alice@site.test>: Sender address rejected: not owned by user www")(s.Rcpt("bob@example.test"))
}

func TestOutboundLocalSubmissionStandards(t *testing.T) {
	rt, _ := outboundRuntime(t)
	f := start(t, rt)
	// Postfix's non_smtpd_milters: localhost, 127.0.0.1, no port.
	s := dial(t, newClient("tcp", f.addr))
	defer s.Close()
	cont(t)(s.Conn("localhost", gomilter.FamilyInet, 0, "127.0.0.1"))
	cont(t)(s.Helo("localhost"))
	_, act, err := submit(t, s, "", "www@example.org", "From", "a@site.test", "From", "b@site.test", "Subject", "x")
	wantReply(t, act, err, "550 5.6.0 Message does not comply with RFC 5322: 2 From header fields")
	r := f.logs.waitRecords(t, 1)[0]
	if r["mailsift.trusted"] != "local" || r["event.action"] != "reject" || r["mailsift.checks.standards.reason"] != "standards-violation" {
		t.Errorf("record = %v", r)
	}
	// No login: the limit counts the sender; a clean message is signed
	// when its From domain has a key, and left alone when not.
	mods, act, err := submit(t, s, "", "www@example.org", "From", "x@other.test", "Subject", "y")
	wantAccept(t, act, err)
	if got := strings.Join(fmtMods(mods), "|"); strings.Contains(got, "DKIM-Signature") {
		t.Errorf("signed mail of a domain without a key: %s", got)
	}
	_, act, err = submit(t, s, "", "www@example.org", "From", "x@other.test")
	wantAccept(t, act, err)
	// Over the limit: Postfix must not see a non-SMTP recipient refused
	// (it would keep the mail queued as a configuration error), so the
	// refusal waits for the end of the message, which Postfix bounces.
	_, act, err = submit(t, s, "", "www@example.org", "From", "x@other.test")
	wantReply(t, act, err, "450 4.7.1 <www@example.org>: daily limit of 2 messages reached, try again later")
	rs := f.logs.waitRecords(t, 4)
	if rs[3]["event.action"] != "tempfail" || rs[3]["mailsift.checks.limit.reason"] != "limit-reached" {
		t.Errorf("record = %v", rs[3])
	}
}

// Inbound mail is neither checked as a submission nor signed.
func TestOutboundSkipsInbound(t *testing.T) {
	rt, _ := outboundRuntime(t)
	f := start(t, rt)
	s := f.session(t, "198.51.100.21", "{client_name}", "mail.sender.test")
	cont(t)(s.Helo("mail.sender.test"))
	mods, act, err := submit(t, s, "", "alice@site.test", "From", "a@site.test", "From", "b@site.test")
	wantAccept(t, act, err)
	if got := strings.Join(fmtMods(mods), "|"); strings.Contains(got, "DKIM-Signature") {
		t.Errorf("inbound mail signed: %s", got)
	}
	r := f.logs.waitRecords(t, 1)[0]
	if _, ok := r["mailsift.checks.standards.status"]; ok || r["mailsift.trusted"] != nil {
		t.Errorf("outbound checks ran on inbound mail: %v", r)
	}
}

// noneCheck plays the preflight of a p=none domain: a finding to tag.
type noneCheck struct{}

func (noneCheck) Name() string { return checks.PreflightName }
func (noneCheck) CheckData(context.Context, *checks.Envelope) checks.Result {
	return checks.Result{Status: checks.Fail, Reason: "preflight-none", Text: "none.test: policy none and no aligned way"}
}

// Mail from one of our domains that no key covers goes out unsigned, with
// an error in the log; a p=none finding is tagged and logged as a warning.
func TestOutboundUnsignedAndTagged(t *testing.T) {
	rt, _ := outboundRuntime(t)
	rt.Outbound.Domains = append(rt.Outbound.Domains, "nokey.test")
	rt.Outbound.Chain.Add(noneCheck{})
	rt.Policy.Rules["preflight"] = policy.Rule{Actions: map[string]policy.Action{"preflight-none": policy.Tag}}
	f := start(t, rt)
	s := f.session(t, "192.0.2.30") // a trusted network
	cont(t)(s.Helo("web1.site.test"))
	mods, act, err := submit(t, s, "", "www@nokey.test", "From", "www@nokey.test")
	wantAccept(t, act, err)
	got := strings.Join(fmtMods(mods), "|")
	if strings.Contains(got, "DKIM-Signature") || !strings.Contains(got, "h X-Mailsift=preflight=fail") {
		t.Fatalf("modifications %q: want unsigned, tagged", got)
	}
	r := f.logs.waitRecords(t, 1)[0]
	if r["event.action"] != "tag" || r["mailsift.trusted"] != "network" || r["mailsift.checks.preflight.action"] != "tag" {
		t.Errorf("record = %v", r)
	}
	f.logs.mu.Lock()
	all := f.logs.b.String()
	f.logs.mu.Unlock()
	for _, want := range []string{
		`"log.level":"error","@timestamp":`, `"message":"no DKIM key for our domain: the message goes unsigned","mailsift.dkim.domain":"nokey.test"`,
		`"log.level":"warn"`, `"message":"submission accepted with a finding: none.test: policy none and no aligned way","mailsift.check":"preflight"`,
	} {
		if !strings.Contains(all, want) {
			t.Errorf("log lacks %s:\n%s", want, all)
		}
	}
}
