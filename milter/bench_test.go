package milter

import (
	"context"
	"fmt"
	"github.com/mailsift/mailsift/checks"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	gomilter "github.com/d--j/go-milter"
	"go.uber.org/zap/zapcore"

	"github.com/mailsift/mailsift/internal/policy"
)

// BenchmarkMessage is one whole message through a real session over a unix
// socket: connect, HELO, MAIL, RCPT, three headers, end of message, with
// an MTA that offers what Postfix 3.7 offers (protocol 6).
func BenchmarkMessage(b *testing.B) {
	benchMessage(b, func(network, addr string) *gomilter.Client { return newClient(network, addr) })
}

// BenchmarkMessageInfoLog is BenchmarkMessage with the one info record per
// message written (to a buffer).
func BenchmarkMessageInfoLog(b *testing.B) {
	benchMessageAt(b, zapcore.InfoLevel, func(network, addr string) *gomilter.Client { return newClient(network, addr) })
}

// BenchmarkMessageV2MTA is the same with an MTA that offers protocol
// version 2 only: every stage answered.
func BenchmarkMessageV2MTA(b *testing.B) { benchMessage(b, narrowClient) }

// BenchmarkMessageNineChecks is BenchmarkMessage with nine local checks
// that pass, as many findings as the full chain has: connect and HELO one
// each, MAIL two, RCPT three, end of message two.
func BenchmarkMessageNineChecks(b *testing.B) {
	var cs []checks.Check
	for i, st := range []checks.Stage{checks.StageConnect, checks.StageHelo, checks.StageMail, checks.StageMail,
		checks.StageRcpt, checks.StageRcpt, checks.StageRcpt, checks.StageData, checks.StageData} {
		cs = append(cs, passCheck{name: fmt.Sprintf("check%d", i), stage: st})
	}
	benchRuntime(b, testRuntime(policy.Enforce, cs...), zapcore.WarnLevel,
		func(network, addr string) *gomilter.Client { return newClient(network, addr) })
}

// passCheck passes at one stage, with two details, and never waits.
type passCheck struct {
	name  string
	stage checks.Stage
}

func (c passCheck) Name() string { return c.name }
func (c passCheck) Local() bool  { return true }
func (c passCheck) result(s checks.Stage) checks.Result {
	if s != c.stage {
		return checks.Result{}
	}
	return checks.Result{Status: checks.Pass, Reason: c.name + "-pass", Text: "passed",
		Details: map[string]string{"domain": "sender.test", "server": "127.0.0.1:53"}}
}
func (c passCheck) CheckConnect(context.Context, *checks.Envelope) checks.Result {
	return c.result(checks.StageConnect)
}
func (c passCheck) CheckHelo(context.Context, *checks.Envelope) checks.Result {
	return c.result(checks.StageHelo)
}
func (c passCheck) CheckMail(context.Context, *checks.Envelope) checks.Result {
	return c.result(checks.StageMail)
}
func (c passCheck) CheckRcpt(context.Context, *checks.Envelope) checks.Result {
	return c.result(checks.StageRcpt)
}
func (c passCheck) CheckData(context.Context, *checks.Envelope) checks.Result {
	return c.result(checks.StageData)
}

func benchMessage(b *testing.B, client func(network, addr string) *gomilter.Client) {
	benchMessageAt(b, zapcore.WarnLevel, client)
}

func benchMessageAt(b *testing.B, level zapcore.Level, client func(network, addr string) *gomilter.Client) {
	benchRuntime(b, testRuntime(policy.Enforce), level, client)
}

func benchRuntime(b *testing.B, rt *Runtime, level zapcore.Level, client func(network, addr string) *gomilter.Client) {
	srv := NewServer(rt, NewLogger(&discard{}, level), time.Now)
	sock := filepath.Join(b.TempDir(), "bench.sock")
	ln, err := Listen("unix", sock)
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Shutdown(context.Background())
	cl := client("unix", sock)
	b.ReportAllocs()
	for b.Loop() {
		s := dial(b, cl)
		s.Conn("mail.sender.test", gomilter.FamilyInet, 40000, "198.51.100.7", "j", "mx.mailsift.test", "{client_name}", "mail.sender.test")
		s.Helo("mail.sender.test")
		s.Mail("alice@sender.test")
		s.Rcpt("bob@example.test")
		s.Header("From", " <alice@sender.test>")
		s.Header("Subject", " bench")
		s.Header("Message-Id", " <b@sender.test>")
		if _, act, err := s.End(nil); err != nil || act.Type != gomilter.ActionAccept {
			b.Fatalf("end: %v %v", act, err)
		}
		s.Close()
	}
}

// discard is a log sink that keeps nothing, so that a long benchmark does
// not grow a buffer.
type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
func (discard) Sync() error                 { return nil }

// BenchmarkLogRecord is the end of one message's log record with the full
// chain's nine findings, at level warn (no record written: only the
// metrics get the results) and info (the record written).
func BenchmarkLogRecord(b *testing.B) {
	for _, level := range []zapcore.Level{zapcore.WarnLevel, zapcore.InfoLevel} {
		b.Run(level.String(), func(b *testing.B) {
			rt := testRuntime(policy.Enforce)
			s := newSession(context.Background(), rt, NewLogger(discard{}, level), time.Now)
			s.env = checks.Envelope{ClientIP: netip.MustParseAddr("198.51.100.7"), ClientPort: 40000, ClientName: "mail.sender.test",
				Helo: "mail.sender.test", From: "alice@sender.test", QueueID: "4XyZ1"}
			for _, name := range []string{"ptr", "helo", "sender", "recipient", "spf", "dkim", "dmarc", "greylist", "relay"} {
				r := checks.Result{Check: name, Status: checks.Pass, Reason: name + "-pass", Text: "passed",
					Details: map[string]string{"domain": "sender.test", "server": "127.0.0.1:53"}, Duration: time.Millisecond}
				s.conn = append(s.conn, finding{r, rt.Policy.Decide(r)})
			}
			s.tx = &transaction{start: time.Now(), messageID: "<b@sender.test>", to: []string{"bob@example.test"}}
			b.ReportAllocs()
			for b.Loop() {
				s.logRecord("accept")
			}
		})
	}
}
