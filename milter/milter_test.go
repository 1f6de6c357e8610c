package milter

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	gomilter "github.com/d--j/go-milter"
	"go.uber.org/goleak"
	"go.uber.org/zap/zapcore"

	"github.com/mailsift/mailsift/checks"
	"github.com/mailsift/mailsift/internal/policy"
)

func TestMain(m *testing.M) {
	// go-milter warns through the standard logger (mailsift sends it to its
	// debug log), for example of an MTA that takes no macro requests.
	gomilter.LogWarning = func(string, ...any) {}
	goleak.VerifyTestMain(m)
}

// logBuf collects JSON log lines.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) { l.mu.Lock(); defer l.mu.Unlock(); return l.b.Write(p) }
func (l *logBuf) Sync() error                 { return nil }

// records returns the per-message records written so far.
func (l *logBuf) records(t *testing.T) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(l.b.Bytes()))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line is not JSON: %q: %v", sc.Text(), err)
		}
		if m["message"] == "message" {
			out = append(out, m)
		}
	}
	return out
}

// waitRecords waits until n records are written (the record of a closed
// connection is written by the server's goroutine after the client is gone).
func (l *logBuf) waitRecords(t *testing.T, n int) []map[string]any {
	t.Helper()
	for i := 0; i < 500; i++ {
		if rs := l.records(t); len(rs) >= n {
			return rs
		}
		time.Sleep(10 * time.Millisecond)
	}
	rs := l.records(t)
	t.Fatalf("got %d log records, want %d", len(rs), n)
	return nil
}

type fixture struct {
	srv  *Server
	addr string
	logs *logBuf
}

func testRuntime(mode policy.Mode, extra ...checks.Check) *Runtime {
	syntax, _ := checks.DefaultReply("helo", "syntax")
	cs := append([]checks.Check{&checks.Helo{Syntax: syntax}}, extra...)
	return &Runtime{
		Hostname:    "mx.mailsift.test",
		Chain:       checks.NewChain(time.Second, time.Now, cs...),
		Policy:      &policy.Policy{Mode: mode},
		TrustedNets: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")},
		TrustAuthed: true,
	}
}

func start(t *testing.T, rt *Runtime) *fixture {
	t.Helper()
	return startObserved(t, rt, noObserver{})
}

// startObserved is start with obs seeing sessions and messages.
func startObserved(t *testing.T, rt *Runtime, obs Observer) *fixture {
	t.Helper()
	logs := &logBuf{}
	srv := NewServer(rt, NewLogger(logs, zapcore.InfoLevel), time.Now)
	srv.Observe(obs)
	ln, err := Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return &fixture{srv: srv, addr: ln.Addr().String(), logs: logs}
}

// mta is the MTA's side of one milter connection: go-milter's client,
// sending the macros given with each command (those the milter asked
// for, as Postfix and Sendmail do).
type mta struct {
	t      testing.TB
	s      *gomilter.ClientSession
	macros testMacros
	inData bool
}

// testMacros are the macro values of the command being sent.
type testMacros map[string]string

func (m testMacros) GetEx(name string) (string, bool) { v, ok := m[name]; return v, ok }
func (m testMacros) Get(name string) string           { return m[name] }

func (c *mta) set(kv ...string) {
	clear(c.macros)
	for i := 0; i+1 < len(kv); i += 2 {
		c.macros[kv[i]] = kv[i+1]
	}
}

func (c *mta) Conn(host string, family gomilter.ProtoFamily, port uint16, addr string, kv ...string) (*gomilter.Action, error) {
	c.set(kv...)
	return c.s.Conn(host, family, port, addr)
}

func (c *mta) Helo(name string, kv ...string) (*gomilter.Action, error) {
	c.set(kv...)
	return c.s.Helo(name)
}

func (c *mta) Mail(from string, kv ...string) (*gomilter.Action, error) {
	c.set(kv...)
	c.inData = false
	return c.s.Mail(from, "")
}

func (c *mta) Rcpt(rcpt string, kv ...string) (*gomilter.Action, error) {
	c.set(kv...)
	return c.s.Rcpt(rcpt, "")
}

func (c *mta) data() error {
	if c.inData {
		return nil
	}
	c.inData = true
	c.set()
	_, err := c.s.DataStart()
	return err
}

// Header sends one header field; kv are macros sent with it.
func (c *mta) Header(name, value string, kv ...string) (*gomilter.Action, error) {
	if err := c.data(); err != nil {
		return nil, err
	}
	var m map[string]string
	if len(kv) > 0 {
		m = map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
	}
	return c.s.HeaderField(name, value, m)
}

// End ends the headers, sends body (if the milter wants it) and ends the
// message; kv are the end-of-message macros.
func (c *mta) End(body []byte, kv ...string) ([]gomilter.ModifyAction, *gomilter.Action, error) {
	if err := c.data(); err != nil {
		return nil, nil, err
	}
	c.inData = false
	c.set()
	if _, err := c.s.HeaderEnd(); err != nil {
		return nil, nil, err
	}
	for first := true; first || len(body) > 0; first = false {
		n := min(len(body), int(gomilter.DataSize64K))
		if _, err := c.s.BodyChunk(body[:n]); err != nil {
			return nil, nil, err
		}
		body = body[n:]
	}
	c.set(kv...)
	return c.s.End()
}

func (c *mta) Abort() error {
	c.inData = false
	return c.s.Abort(nil)
}

func (c *mta) Close() error { return c.s.Close() }

// session opens a milter session as Postfix would and sends CONNECT.
func (f *fixture) session(t *testing.T, ip string, macros ...string) *mta {
	t.Helper()
	c := dial(t, newClient("tcp", f.addr))
	t.Cleanup(func() { c.Close() })
	act, err := c.Conn("client.example", gomilter.FamilyInet, 40000, ip, append([]string{"j", "mx.mailsift.test", "{client_addr}", ip}, macros...)...)
	wantContinue(t, act, err)
	return c
}

func dial(t testing.TB, cl *gomilter.Client) *mta {
	t.Helper()
	c := &mta{t: t, macros: testMacros{}}
	s, err := cl.Session(c.macros)
	if err != nil {
		t.Fatal(err)
	}
	c.s = s
	return c
}

// postfixActions and postfixProtocol are what Postfix 3.7 offers with
// milter_protocol = 6 (milter8.c): every action but SMFIF_SETSYMLIST's
// neighbours it lacks, and every protocol option of version 6.
const (
	postfixActions  = gomilter.OptAddHeader | gomilter.OptChangeBody | gomilter.OptAddRcpt | gomilter.OptRemoveRcpt | gomilter.OptChangeHeader | gomilter.OptQuarantine | gomilter.OptChangeFrom | gomilter.OptAddRcptWithArgs | gomilter.OptSetMacros
	postfixProtocol = gomilter.OptNoConnect | gomilter.OptNoHelo | gomilter.OptNoMailFrom | gomilter.OptNoRcptTo | gomilter.OptNoBody | gomilter.OptNoHeaders | gomilter.OptNoEOH | gomilter.OptNoUnknown | gomilter.OptNoData | gomilter.OptSkip | gomilter.OptRcptRej | gomilter.OptNoReplies | gomilter.OptHeaderLeadingSpace
)

// newClient is an MTA's side of the protocol, offering what Postfix offers.
func newClient(network, addr string, opts ...gomilter.Option) *gomilter.Client {
	return gomilter.NewClient(network, addr, append([]gomilter.Option{
		gomilter.WithReadTimeout(5 * time.Second), gomilter.WithWriteTimeout(5 * time.Second),
		gomilter.WithActions(postfixActions), gomilter.WithProtocols(postfixProtocol)}, opts...)...)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantContinue(t *testing.T, act *gomilter.Action, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	if act.Type != gomilter.ActionContinue {
		t.Fatalf("action = %v, want continue", act)
	}
}

func wantAccept(t *testing.T, act *gomilter.Action, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	if act.Type != gomilter.ActionAccept {
		t.Fatalf("action = %v, want accept", act)
	}
}

func wantReply(t *testing.T, act *gomilter.Action, err error, line string) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	if act.Type != gomilter.ActionRejectWithCode {
		t.Fatalf("action = %v, want reply %q", act, line)
	}
	if act.SMTPReply != line {
		t.Fatalf("reply = %q, want %q", act.SMTPReply, line)
	}
}

func cont(t *testing.T) func(*gomilter.Action, error) {
	return func(a *gomilter.Action, err error) { t.Helper(); wantContinue(t, a, err) }
}

func replyIs(t *testing.T, line string) func(*gomilter.Action, error) {
	return func(a *gomilter.Action, err error) { t.Helper(); wantReply(t, a, err, line) }
}

const badHeloReply = "501 5.5.2 <bad..helo>: Helo command rejected: Invalid name"

func TestBadHeloRefusedAtEveryRcpt(t *testing.T) {
	f := start(t, testRuntime(policy.Enforce))
	s := f.session(t, "198.51.100.7", "{client_name}", "unknown")
	cont(t)(s.Helo("bad..helo"))
	cont(t)(s.Mail("alice@sender.test", "{mail_addr}", "alice@sender.test"))
	replyIs(t, badHeloReply)(s.Rcpt("bob@example.test"))
	replyIs(t, badHeloReply)(s.Rcpt("carol@example.test"))
	must(t, s.Abort())
	// The second message on the same connection is refused too: the HELO
	// finding belongs to the connection.
	cont(t)(s.Mail("alice@sender.test"))
	replyIs(t, badHeloReply)(s.Rcpt("dave@example.test"))
	must(t, s.Abort())

	rs := f.logs.waitRecords(t, 2)
	r := rs[0]
	for k, want := range map[string]any{
		"event.action": "reject", "event.outcome": "failure", "source.ip": "198.51.100.7", "source.port": 40000.0,
		"email.from.address": "alice@sender.test", "mailsift.helo": "bad..helo", "mailsift.reply": badHeloReply,
		"mailsift.checks.helo.status": "fail", "mailsift.checks.helo.reason": "helo-invalid-syntax", "mailsift.checks.helo.action": "reject",
	} {
		if r[k] != want {
			t.Errorf("record[%q] = %v, want %v", k, r[k], want)
		}
	}
	if got := fmt.Sprint(r["email.to.address"]); got != "[bob@example.test carol@example.test]" {
		t.Errorf("email.to.address = %s", got)
	}
	if _, ok := r["source.domain"]; ok {
		t.Errorf("source.domain = %v for an unverified client", r["source.domain"])
	}
	if got := fmt.Sprint(rs[1]["email.to.address"]); got != "[dave@example.test]" {
		t.Errorf("second message: email.to.address = %s, want only its own recipient", got)
	}
}

func TestCleanMessageHeadersAndRecord(t *testing.T) {
	f := start(t, testRuntime(policy.Enforce))
	s := f.session(t, "198.51.100.8", "{client_name}", "mail.sender.test", "{client_ptr}", "mail.sender.test")
	if !s.s.ProtocolOption(gomilter.OptNoBody) || !s.s.ProtocolOption(gomilter.OptNoEOH) {
		t.Errorf("protocol options: want no body and no EOH (no check reads them)")
	}
	cont(t)(s.Helo("mail.sender.test"))
	cont(t)(s.Mail("alice@sender.test"))
	cont(t)(s.Rcpt("bob@example.test"))
	cont(t)(s.Header("Authentication-Results", "other.example; spf=pass smtp.mailfrom=x", "i", "4ABCDEF"))
	cont(t)(s.Header("Message-Id", "<m1@sender.test>"))
	cont(t)(s.Header("Authentication-Results", "MX.mailsift.test; dkim=pass header.d=forged.example"))
	cont(t)(s.Header("Subject", "secret subject"))
	mods, act, err := s.End(nil, "i", "4ABCDEF")
	wantAccept(t, act, err)
	got := fmtMods(mods)
	want := []string{
		"m 2 Authentication-Results=", // the forged one, the second of its name, removed
		"i 1 Authentication-Results=mx.mailsift.test; none",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("modifications:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	must(t, s.Abort()) // Postfix aborts after every message
	rs := f.logs.waitRecords(t, 1)
	r := rs[0]
	for k, want := range map[string]any{
		"event.action": "accept", "event.outcome": "success", "source.domain": "mail.sender.test",
		"email.local_id": "4ABCDEF", "email.message_id": "<m1@sender.test>", "mailsift.checks.helo.status": "pass",
	} {
		if r[k] != want {
			t.Errorf("record[%q] = %v, want %v", k, r[k], want)
		}
	}
	if _, ok := r["mailsift.reply"]; ok {
		t.Errorf("mailsift.reply set on an accepted message")
	}
	f.logs.mu.Lock()
	leaked := strings.Contains(f.logs.b.String(), "secret subject")
	f.logs.mu.Unlock()
	if leaked {
		t.Errorf("a header value reached the info log")
	}
	if len(rs) != 1 {
		t.Errorf("%d records for one message", len(rs))
	}
}

// fmtMods shows header edits as they end up in the message: a value
// without the space after the colon that the MTA adds unless
// SMFIP_HDR_LEADSPC was negotiated.
func fmtMods(mods []gomilter.ModifyAction) []string {
	var out []string
	for _, m := range mods {
		switch m.Type {
		case gomilter.ActionChangeHeader:
			out = append(out, fmt.Sprintf("m %d %s=%s", m.HeaderIndex, m.HeaderName, m.HeaderValue))
		case gomilter.ActionAddHeader:
			out = append(out, fmt.Sprintf("h %s=%s", m.HeaderName, strings.TrimPrefix(m.HeaderValue, " ")))
		case gomilter.ActionInsertHeader:
			out = append(out, fmt.Sprintf("i %d %s=%s", m.HeaderIndex, m.HeaderName, strings.TrimPrefix(m.HeaderValue, " ")))
		case gomilter.ActionQuarantine:
			out = append(out, "q "+m.Reason)
		default:
			out = append(out, m.String())
		}
	}
	return out
}

// Two messages on one connection: the second keeps the connection's data
// and none of the first message's.
func TestSecondMessageKeepsConnectionNotMessage(t *testing.T) {
	f := start(t, testRuntime(policy.Enforce))
	s := f.session(t, "198.51.100.9", "{client_name}", "mail.sender.test")
	cont(t)(s.Helo("mail.sender.test"))
	cont(t)(s.Mail("one@sender.test", "i", "QID1", "{auth_type}", ""))
	cont(t)(s.Rcpt("bob@example.test"))
	cont(t)(s.Header("Message-Id", "<first@sender.test>"))
	_, act, err := s.End(nil)
	wantAccept(t, act, err)
	// Sendmail sends no abort between messages: the next MAIL starts afresh.
	cont(t)(s.Mail("two@sender.test"))
	cont(t)(s.Rcpt("carol@example.test"))
	mods, act, err := s.End(nil)
	wantAccept(t, act, err)
	if got := fmtMods(mods); len(got) != 1 || got[0] != "i 1 Authentication-Results=mx.mailsift.test; none" {
		t.Fatalf("second message modifications = %v", fmtMods(mods))
	}
	rs := f.logs.waitRecords(t, 2)
	if rs[0]["email.local_id"] != "QID1" || rs[0]["email.message_id"] != "<first@sender.test>" {
		t.Errorf("first record = %v", rs[0])
	}
	r := rs[1]
	if r["email.from.address"] != "two@sender.test" || fmt.Sprint(r["email.to.address"]) != "[carol@example.test]" {
		t.Errorf("second record envelope = %v %v", r["email.from.address"], r["email.to.address"])
	}
	if _, ok := r["email.local_id"]; ok {
		t.Errorf("second record carries the first queue id: %v", r["email.local_id"])
	}
	if _, ok := r["email.message_id"]; ok {
		t.Errorf("second record carries the first message id: %v", r["email.message_id"])
	}
	if r["source.ip"] != "198.51.100.9" || r["source.domain"] != "mail.sender.test" || r["mailsift.helo"] != "mail.sender.test" {
		t.Errorf("second record lost the connection data: %v", r)
	}
}

// Macros from the connect stage are still known at end of message, each
// stage's macros sent with its own command; an authenticated client (macro
// given at MAIL) skips the HELO finding made earlier.
func TestMacroMergingAndAuthTrust(t *testing.T) {
	f := start(t, testRuntime(policy.Enforce))
	s := f.session(t, "198.51.100.10", "{client_name}", "mail.sender.test", "{daemon_name}", "smtpd")
	cont(t)(s.Helo("bad..helo", "{tls_version}", "TLSv1.3"))
	cont(t)(s.Mail("alice@sender.test", "{auth_authen}", "alice", "{auth_type}", "PLAIN"))
	cont(t)(s.Rcpt("bob@example.test", "{rcpt_addr}", "bob@example.test"))
	_, act, err := s.End(nil, "i", "QID2")
	wantAccept(t, act, err)
	r := f.logs.waitRecords(t, 1)[0]
	if r["source.domain"] != "mail.sender.test" || r["mailsift.trusted"] != "authenticated" || r["user.name"] != "alice" || r["email.local_id"] != "QID2" {
		t.Errorf("record = %v", r)
	}
}

func TestTrustedNetworkSkipsChecks(t *testing.T) {
	f := start(t, testRuntime(policy.Enforce))
	s := f.session(t, "192.0.2.25")
	cont(t)(s.Helo("bad..helo"))
	cont(t)(s.Mail("a@b.test"))
	cont(t)(s.Rcpt("c@d.test"))
	_, act, err := s.End(nil)
	wantAccept(t, act, err)
	r := f.logs.waitRecords(t, 1)[0]
	if r["mailsift.trusted"] != "network" || r["event.action"] != "accept" {
		t.Errorf("record = %v", r)
	}
	if _, ok := r["mailsift.checks.helo.status"]; ok {
		t.Errorf("a trusted client's HELO was checked")
	}
}

func TestTagAndObserveModes(t *testing.T) {
	for _, tt := range []struct {
		mode   policy.Mode
		header string
		action string
	}{
		{policy.TagMode, "X-Mailsift=helo=fail", "tag"},
		{policy.Observe, "", "accept"},
	} {
		t.Run(string(tt.mode), func(t *testing.T) {
			f := start(t, testRuntime(tt.mode))
			s := f.session(t, "198.51.100.11")
			cont(t)(s.Helo("bad..helo"))
			cont(t)(s.Mail("a@b.test"))
			cont(t)(s.Rcpt("c@d.test"))
			mods, act, err := s.End(nil)
			wantAccept(t, act, err)
			got := strings.Join(fmtMods(mods), "|")
			if tt.header != "" && !strings.Contains(got, "h "+tt.header) || tt.header == "" && strings.Contains(got, "X-Mailsift") {
				t.Errorf("modifications %q, want header %q", got, tt.header)
			}
			r := f.logs.waitRecords(t, 1)[0]
			if r["event.action"] != tt.action {
				t.Errorf("event.action = %v, want %s", r["event.action"], tt.action)
			}
		})
	}
}

// dataCheck is a check at end of message, to drive the EOM verdicts.
type dataCheck struct{ status checks.Status }

func (dataCheck) Name() string { return "body" }
func (d dataCheck) CheckData(context.Context, *checks.Envelope) checks.Result {
	return checks.Result{Status: d.status, Reason: "test", Reply: checks.Reply{Code: 550, Enhanced: "5.7.1", Text: "Body says no"}}
}

func TestEndOfMessageVerdicts(t *testing.T) {
	rt := testRuntime(policy.Enforce, dataCheck{checks.Fail})
	f := start(t, rt)
	s := f.session(t, "198.51.100.12")
	if !s.s.ProtocolOption(gomilter.OptNoBody) {
		t.Errorf("the body is requested, but no check reads it")
	}
	cont(t)(s.Helo("mail.sender.test"))
	cont(t)(s.Mail("a@b.test"))
	cont(t)(s.Rcpt("c@d.test"))
	_, act, err := s.End(nil)
	wantReply(t, act, err, "550 5.7.1 Body says no")
	// The connection goes on: a reply code keeps the session.
	cont(t)(s.Mail("a@b.test"))
	cont(t)(s.Rcpt("c@d.test"))
	_, act, err = s.End(nil)
	wantReply(t, act, err, "550 5.7.1 Body says no")
	rs := f.logs.waitRecords(t, 2)
	if rs[1]["event.action"] != "reject" || rs[1]["mailsift.reply"] != "550 5.7.1 Body says no" || rs[1]["mailsift.helo"] != "mail.sender.test" {
		t.Errorf("record = %v", rs[1])
	}

	rt2 := testRuntime(policy.Enforce, dataCheck{checks.Fail})
	rt2.Policy.Rules = map[string]policy.Rule{"body": {Actions: map[string]policy.Action{"fail": policy.Quarantine}}}
	f2 := start(t, rt2)
	s2 := f2.session(t, "198.51.100.13")
	cont(t)(s2.Helo("mail.sender.test"))
	cont(t)(s2.Mail("a@b.test"))
	cont(t)(s2.Rcpt("c@d.test"))
	mods, act, err := s2.End(nil)
	wantAccept(t, act, err)
	if got := strings.Join(fmtMods(mods), "|"); !strings.Contains(got, "q mailsift: body=fail") {
		t.Errorf("modifications %q, want a quarantine", got)
	}
	if r := f2.logs.waitRecords(t, 1)[0]; r["event.action"] != "quarantine" {
		t.Errorf("event.action = %v", r["event.action"])
	}
}

// rcptCheck refuses recipients at unknown.test, to drive per-recipient
// decisions.
type rcptCheck struct{}

func (rcptCheck) Name() string { return "recipient" }
func (rcptCheck) CheckRcpt(_ context.Context, e *checks.Envelope) checks.Result {
	if strings.HasSuffix(e.Rcpt, "@unknown.test") {
		return checks.Result{Status: checks.Fail, Reason: "rcpt-unknown", Reply: checks.Reply{Code: 550, Enhanced: "5.1.1", Text: "<" + e.Rcpt + ">: User unknown"}}
	}
	return checks.Result{Status: checks.Pass, Reason: "rcpt-known"}
}

// A refusal at RCPT TO concerns that recipient only: the next one is
// accepted and the message goes on.
func TestRcptRefusalIsPerRecipient(t *testing.T) {
	f := start(t, testRuntime(policy.Enforce, rcptCheck{}))
	s := f.session(t, "198.51.100.17")
	cont(t)(s.Helo("mail.sender.test"))
	cont(t)(s.Mail("a@sender.test"))
	replyIs(t, "550 5.1.1 <x@unknown.test>: User unknown")(s.Rcpt("x@unknown.test"))
	cont(t)(s.Rcpt("bob@example.test"))
	replyIs(t, "550 5.1.1 <y@unknown.test>: User unknown")(s.Rcpt("y@unknown.test"))
	_, act, err := s.End(nil)
	wantAccept(t, act, err)
	r := f.logs.waitRecords(t, 1)[0]
	if r["event.action"] != "accept" || fmt.Sprint(r["mailsift.refused_to"]) != "[x@unknown.test y@unknown.test]" ||
		fmt.Sprint(r["email.to.address"]) != "[x@unknown.test bob@example.test y@unknown.test]" {
		t.Errorf("record = %v", r)
	}
}

// A transaction cut off by the client leaves a record too.
func TestDisconnectLogsOpenTransaction(t *testing.T) {
	f := start(t, testRuntime(policy.Enforce))
	s := f.session(t, "198.51.100.14")
	cont(t)(s.Helo("mail.sender.test"))
	cont(t)(s.Mail("a@b.test"))
	cont(t)(s.Rcpt("c@d.test"))
	s.Close()
	r := f.logs.waitRecords(t, 1)[0]
	if r["event.action"] != "abort" || r["event.outcome"] != "unknown" {
		t.Errorf("record = %v", r)
	}
}

func TestShutdownWaitsThenForces(t *testing.T) {
	logs := &logBuf{}
	srv := NewServer(testRuntime(policy.Enforce), NewLogger(logs, zapcore.InfoLevel), time.Now)
	ln, err := Listen("tcp", "127.0.0.1:0")
	must(t, err)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	f := &fixture{srv: srv, addr: ln.Addr().String(), logs: logs}
	s := f.session(t, "198.51.100.15")
	cont(t)(s.Helo("mail.sender.test"))
	cont(t)(s.Mail("a@b.test"))

	// Graceful: the open session may go on while the server stops.
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shut <- srv.Shutdown(ctx)
	}()
	if err := <-done; err != nil {
		t.Fatalf("Serve after Shutdown: %v", err)
	}
	if c, err := net.Dial("tcp", f.addr); err == nil {
		c.Close()
		t.Fatal("a new connection was accepted during shutdown")
	}
	cont(t)(s.Rcpt("c@d.test"))
	_, act, err := s.End(nil)
	wantAccept(t, act, err)
	s.Close()
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}

	// Forced: a session still open at the end of the grace period is closed.
	srv2 := NewServer(testRuntime(policy.Enforce), NewLogger(logs, zapcore.InfoLevel), time.Now)
	ln2, err := Listen("tcp", "127.0.0.1:0")
	must(t, err)
	go srv2.Serve(ln2)
	f2 := &fixture{srv: srv2, addr: ln2.Addr().String(), logs: logs}
	s2 := f2.session(t, "198.51.100.16")
	cont(t)(s2.Helo("mail.sender.test"))
	cont(t)(s2.Mail("a@b.test"))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := srv2.Shutdown(ctx); err == nil {
		t.Fatal("Shutdown with a session open past the grace period returned nil")
	}
	if _, err := s2.Rcpt("c@d.test"); err == nil {
		t.Fatal("session still answers after a forced shutdown")
	}
	rs := logs.waitRecords(t, 2)
	if rs[1]["event.action"] != "abort" || rs[1]["source.ip"] != "198.51.100.16" {
		t.Errorf("record of the cut session = %v", rs[1])
	}
}

func TestUnixSocket(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "mailsift.sock")
	// A stale socket left by a crash is replaced.
	stale, err := net.Listen("unix", path)
	must(t, err)
	stale.(*net.UnixListener).SetUnlinkOnClose(false)
	stale.Close()
	ln, err := Listen("unix", path)
	must(t, err)
	fi, err := os.Stat(path)
	must(t, err)
	if fi.Mode().Perm() != 0o660 {
		t.Errorf("socket mode = %v, want 0660", fi.Mode().Perm())
	}
	// A live socket is not taken over.
	if _, err := Listen("unix", path); err == nil || !strings.Contains(err.Error(), "another process is listening") {
		t.Errorf("second Listen: %v", err)
	}
	go func() { // accept and close the probe connection of the second Listen
		if c, err := ln.Accept(); err == nil {
			c.Close()
		}
	}()
	ln.Close()
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("socket file left after close: %v", err)
	}
	os.WriteFile(path, []byte("x"), 0o600)
	if _, err := Listen("unix", path); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("Listen over a regular file: %v", err)
	}
}

// FuzzSession drives a real session over loopback with arbitrary MTA input:
// whatever the strings, mailsift answers and never panics.
func FuzzSession(f *testing.F) {
	f.Add("bad..helo", "alice@sender.test", "bob@example.test", "Message-Id", "<x@y>", "{client_name}", "unknown", "i")
	f.Add("", "<>", "", "", "", "", "", "")
	f.Add("[IPv6:::1]", "\x00\xff", "%s%n", "Authentication-Results", "mx.mailsift.test; x", "i", "\r\n", "{auth_authen}")
	rt := testRuntime(policy.TagMode)
	logs := &logBuf{}
	srv := NewServer(rt, NewLogger(logs, zapcore.InfoLevel), time.Now)
	// A unix socket: a fuzzer's thousands of TCP connections a second would
	// run the loopback out of ports.
	sock := filepath.Join(f.TempDir(), "fuzz.sock")
	ln, err := Listen("unix", sock)
	if err != nil {
		f.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Shutdown(context.Background())
	f.Fuzz(func(t *testing.T, helo, from, rcpt, hname, hvalue, mk, mv, mk2 string) {
		// The protocol carries C strings: an MTA cannot send a NUL inside one.
		for _, p := range []*string{&helo, &from, &rcpt, &hname, &hvalue, &mk, &mv, &mk2} {
			*p = strings.ReplaceAll(*p, "\x00", "")
		}
		s := dial(t, newClient("unix", sock))
		defer s.Close()
		// A real MTA sends a valid address or none.
		family, addr := gomilter.FamilyInet, mv
		if ip, err := netip.ParseAddr(mv); err != nil || !ip.Is4() {
			family, addr = gomilter.FamilyUnknown, ""
		}
		steps := []func() (*gomilter.Action, error){
			func() (*gomilter.Action, error) {
				return s.Conn(helo, family, 25, addr, mk, mv, mk2, hvalue, "{client_addr}", mv, "{client_name}", hvalue)
			},
			func() (*gomilter.Action, error) { return s.Helo(helo) },
			func() (*gomilter.Action, error) {
				return s.Mail(from, mk2, mv, "{auth_authen}", mk, "i", mv)
			},
			func() (*gomilter.Action, error) { return s.Rcpt(rcpt) },
			func() (*gomilter.Action, error) { return s.Header(hname, hvalue) },
		}
		for _, step := range steps {
			if _, err := step(); err != nil {
				t.Fatalf("session broke on input: %v", err)
			}
		}
		if _, _, err := s.End(nil); err != nil {
			t.Fatalf("end of message: %v", err)
		}
	})
}
