package milter

import (
	"context"
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
