package milter

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailsift/mailsift/checks"
	"github.com/mailsift/mailsift/internal/policy"
	"go.uber.org/zap/zapcore"
)

// The record of an accepted message reflects its accepted recipients, not
// the refused one that came last; mailsift.recipients says what became of
// each.
func TestRecordRecipientOutcomes(t *testing.T) {
	f := start(t, testRuntime(policy.Enforce, rcptCheck{}))
	s := f.session(t, "198.51.100.71")
	cont(t)(s.Helo("mail.sender.test"))
	cont(t)(s.Mail("a@sender.test"))
	cont(t)(s.Rcpt("bob@example.test"))
	replyIs(t, "550 5.1.1 <x@unknown.test>: User unknown")(s.Rcpt("x@unknown.test"))
	_, act, err := s.End(nil)
	wantAccept(t, act, err)
	r := f.logs.waitRecords(t, 1)[0]
	for k, want := range map[string]any{
		"event.action": "accept", "mailsift.checks.recipient.status": "pass", "mailsift.checks.recipient.reason": "rcpt-known",
		"mailsift.checks.recipient.action": "log", "mailsift.rcpt_count": 2.0, "mailsift.refused_count": 1.0,
	} {
		if r[k] != want {
			t.Errorf("record[%q] = %v, want %v", k, r[k], want)
		}
	}
	b, _ := json.Marshal(r["mailsift.recipients"])
	want := `[{"action":"accept","address":"bob@example.test"},` +
		`{"action":"reject","address":"x@unknown.test","check":"recipient","reason":"rcpt-unknown","reply":"550 5.1.1 \u003cx@unknown.test\u003e: User unknown"}]`
	if string(b) != want {
		t.Errorf("mailsift.recipients = %s\nwant %s", b, want)
	}

	// Every recipient refused: the record shows why.
	s2 := f.session(t, "198.51.100.72")
	cont(t)(s2.Helo("mail.sender.test"))
	cont(t)(s2.Mail("a@sender.test"))
	replyIs(t, "550 5.1.1 <y@unknown.test>: User unknown")(s2.Rcpt("y@unknown.test"))
	must(t, s2.Abort())
	r = f.logs.waitRecords(t, 2)[1]
	if r["event.action"] != "reject" || r["mailsift.checks.recipient.reason"] != "rcpt-unknown" || r["mailsift.checks.recipient.action"] != "reject" {
		t.Errorf("record = %v", r)
	}
}

// A record stays under 64 KiB: 10,000 recipients of hostile addresses.
func TestRecordSizeBounded(t *testing.T) {
	f := start(t, testRuntime(policy.Enforce, rcptCheck{}))
	s := f.session(t, "198.51.100.73")
	cont(t)(s.Helo("mail.sender.test"))
	cont(t)(s.Mail(strings.Repeat("\x01\"", 400) + "@sender.test"))
	for i := range 10000 {
		dom := "example.test"
		if i%2 == 1 {
			dom = "unknown.test"
		}
		s.Rcpt(fmt.Sprintf("%s%d@%s", strings.Repeat("\"\x02\xff", 100), i, dom))
	}
	cont(t)(s.Header("Message-Id", "<"+strings.Repeat("m", 5000)+">"))
	_, act, err := s.End(nil)
	wantAccept(t, act, err)
	f.logs.waitRecords(t, 1)
	f.logs.mu.Lock()
	var line string
	for _, l := range strings.Split(f.logs.b.String(), "\n") {
		if strings.Contains(l, `"message":"message"`) {
			line = l
		}
	}
	f.logs.mu.Unlock()
	if len(line) >= 64<<10 {
		t.Fatalf("the record is %d bytes, want under 64 KiB", len(line))
	}
	r := f.logs.records(t)[0]
	if r["mailsift.rcpt_count"] != 10000.0 || r["mailsift.refused_count"] != 5000.0 {
		t.Errorf("counts: %v, %v", r["mailsift.rcpt_count"], r["mailsift.refused_count"])
	}
	if n := len(r["email.to.address"].([]any)); n == 0 || n == 10000 {
		t.Errorf("email.to.address has %d entries", n)
	}
	t.Logf("record: %d bytes, %d of 10000 recipients listed", len(line), len(r["email.to.address"].([]any)))
}

// ptrCheck says the client's PTR name does not resolve back.
type ptrCheck struct{}

func (ptrCheck) Name() string { return "ptr" }
func (ptrCheck) CheckConnect(context.Context, *checks.Envelope) checks.Result {
	return checks.Result{Status: checks.Fail, Reason: "ptr-mismatch", RefutesClientName: true}
}

// source.domain never shows the MTA's name next to ptr-mismatch: that name
// goes to mailsift.mta_client_name.
func TestSourceDomainNotUnverified(t *testing.T) {
	rt := testRuntime(policy.Enforce, ptrCheck{})
	rt.Policy.Rules = map[string]policy.Rule{"ptr": {Actions: map[string]policy.Action{"fail": policy.Log}}}
	f := start(t, rt)
	s := f.session(t, "198.51.100.74", "{client_name}", "forged.example.test")
	cont(t)(s.Helo("mail.sender.test"))
	cont(t)(s.Mail("a@sender.test"))
	cont(t)(s.Rcpt("b@example.test"))
	_, act, err := s.End(nil)
	wantAccept(t, act, err)
	r := f.logs.waitRecords(t, 1)[0]
	if r["mailsift.checks.ptr.reason"] != "ptr-mismatch" {
		t.Fatalf("record = %v", r)
	}
	if d, ok := r["source.domain"]; ok {
		t.Errorf("source.domain = %v next to ptr-mismatch", d)
	}
	if r["mailsift.mta_client_name"] != "forged.example.test" {
		t.Errorf("mailsift.mta_client_name = %v", r["mailsift.mta_client_name"])
	}
}

// seen records what the metrics are told.
type seen struct {
	mu   sync.Mutex
	msgs []string // "action reply check=status ..."
}

func (o *seen) SessionOpen()    {}
func (o *seen) SessionClose()   {}
func (o *seen) SessionRefused() {}
func (o *seen) Message(action string, rs []checks.Result, reply string) {
	line := action + " " + reply
	for _, r := range rs {
		line += " " + r.Check + "=" + string(r.Status)
	}
	o.mu.Lock()
	o.msgs = append(o.msgs, line)
	o.mu.Unlock()
}

// With the log at level warn no message record is written, and the
// metrics still get every message's action, reply and results.
func TestMetricsWithoutInfoRecord(t *testing.T) {
	logs := &logBuf{}
	srv := NewServer(testRuntime(policy.Enforce), NewLogger(logs, zapcore.WarnLevel), time.Now)
	obs := &seen{}
	srv.Observe(obs)
	ln, err := Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { // after the session's own cleanup closed it
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	f := &fixture{srv: srv, addr: ln.Addr().String(), logs: logs}
	s := f.session(t, "198.51.100.7", "{client_name}", "unknown")
	cont(t)(s.Helo("bad..helo"))
	cont(t)(s.Mail("alice@sender.test"))
	replyIs(t, badHeloReply)(s.Rcpt("bob@example.test"))
	must(t, s.Abort())
	want := "reject " + badHeloReply + " helo=fail"
	for i := 0; ; i++ {
		obs.mu.Lock()
		got := append([]string(nil), obs.msgs...)
		obs.mu.Unlock()
		if len(got) == 1 && got[0] == want {
			break
		}
		if i == 200 {
			t.Fatalf("metrics got %q, want [%q]", got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if rs := logs.records(t); len(rs) != 0 {
		t.Errorf("log at warn has %d records, want none: %v", len(rs), rs)
	}
}

// seesResults is a check that hands on an SPF outcome at MAIL FROM and a
// DKIM one at the end of the message, and notes at RCPT TO which hand-offs
// the session gave it.
type seesResults struct {
	mu   sync.Mutex
	seen []string
}

func (*seesResults) Name() string { return "sees" }
func (*seesResults) Local() bool  { return true }
func (*seesResults) CheckMail(_ context.Context, env *checks.Envelope) checks.Result {
	d := env.From[strings.IndexByte(env.From, '@')+1:]
	return checks.Result{Status: checks.Pass, Reason: "mail", SPF: &checks.SPFOutcome{Status: checks.Pass, Domain: d}}
}
func (c *seesResults) CheckRcpt(_ context.Context, env *checks.Envelope) checks.Result {
	seen := "spf=none"
	if env.SPF != nil {
		seen = "spf=" + env.SPF.Domain
	}
	if env.DKIM != nil {
		seen += " dkim=" + string(env.DKIM.Status)
	} else {
		seen += " dkim=none"
	}
	c.mu.Lock()
	c.seen = append(c.seen, seen)
	c.mu.Unlock()
	return checks.Result{}
}
func (*seesResults) CheckData(context.Context, *checks.Envelope) checks.Result {
	return checks.Result{Status: checks.Pass, Reason: "data", DKIM: &checks.DKIMOutcome{Status: checks.Pass}}
}

// The hand-offs a check sees are those of the connection and of its own
// message: the previous message's end-of-message outcome is gone.
func TestResultsSeenAreThisMessagesOnly(t *testing.T) {
	c := &seesResults{}
	f := start(t, testRuntime(policy.Enforce, c))
	s := f.session(t, "198.51.100.9", "{client_name}", "mail.sender.test")
	cont(t)(s.Helo("mail.sender.test"))
	for _, from := range []string{"a@one.test", "b@two.test"} {
		cont(t)(s.Mail(from))
		cont(t)(s.Rcpt("bob@example.test"))
		_, act, err := s.End(nil)
		wantAccept(t, act, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if want := []string{"spf=one.test dkim=none", "spf=two.test dkim=none"}; fmt.Sprint(c.seen) != fmt.Sprint(want) {
		t.Errorf("hand-offs seen at RCPT TO = %q, want %q", c.seen, want)
	}
}
