package milter

import (
	"context"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"

	"github.com/mailsift/mailsift/checks"
	"github.com/mailsift/mailsift/policy"
)

// seen records what the metrics are told.
type seen struct {
	mu   sync.Mutex
	msgs []string // "action reply check=status ..."
}

func (o *seen) SessionOpen()  {}
func (o *seen) SessionClose() {}
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

// seesResults is a check that, at RCPT TO, notes which earlier results the
// chain showed it; it passes at MAIL and at the end of the message.
type seesResults struct {
	mu   sync.Mutex
	seen []string
}

func (*seesResults) Name() string { return "sees" }
func (*seesResults) Local() bool  { return true }
func (*seesResults) CheckMail(context.Context, *checks.Envelope) checks.Result {
	return checks.Result{Status: checks.Pass, Reason: "mail"}
}
func (c *seesResults) CheckRcpt(_ context.Context, env *checks.Envelope) checks.Result {
	var ks []string
	for k, r := range env.Results {
		ks = append(ks, k+"="+r.Reason)
	}
	sort.Strings(ks)
	c.mu.Lock()
	c.seen = append(c.seen, strings.Join(ks, ","))
	c.mu.Unlock()
	return checks.Result{}
}

// The results a check sees are those of the connection and of its own
// message: the previous message's end-of-message result is gone.
func TestResultsSeenAreThisMessagesOnly(t *testing.T) {
	c := &seesResults{}
	f := start(t, testRuntime(policy.Enforce, c, passCheck{name: "datacheck", stage: checks.StageData}))
	s := f.session(t, "198.51.100.9", "{client_name}", "mail.sender.test")
	cont(t)(s.Helo("mail.sender.test"))
	for _, from := range []string{"one@sender.test", "two@sender.test"} {
		cont(t)(s.Mail(from))
		cont(t)(s.Rcpt("bob@example.test"))
		_, act, err := s.End(nil)
		wantAccept(t, act, err)
	}
	want := "helo=helo-valid,sees=mail"
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.seen) != 2 || c.seen[0] != want || c.seen[1] != want {
		t.Errorf("results seen at RCPT TO = %q, want %q twice", c.seen, want)
	}
}
