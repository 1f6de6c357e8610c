package milter

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	gomilter "github.com/d--j/go-milter"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/mailsift/mailsift/checks"
	"github.com/mailsift/mailsift/internal/policy"
)

// Every header reaches the checks: a forged Authentication-Results placed
// after 1,500 other headers is removed.
func TestForgedAuthResultsAfterManyHeadersRemoved(t *testing.T) {
	f := start(t, testRuntime(policy.Enforce))
	s := f.session(t, "198.51.100.60")
	cont(t)(s.Helo("mail.sender.test"))
	cont(t)(s.Mail("a@sender.test"))
	cont(t)(s.Rcpt("b@example.test"))
	for i := range 1500 {
		cont(t)(s.Header("X-Filler", fmt.Sprintf("header %d", i)))
	}
	cont(t)(s.Header("Authentication-Results", "mx.mailsift.test; dmarc=pass header.from=forged.example"))
	mods, act, err := s.End(nil)
	wantAccept(t, act, err)
	if got := strings.Join(fmtMods(mods), "|"); !strings.HasPrefix(got, "m 1 Authentication-Results=|") {
		t.Fatalf("modifications %q: the forged Authentication-Results after 1,500 headers is kept", got)
	}
}

// A header block past limits.max_header_bytes is refused with 552 5.3.4,
// also for a trusted client.
func TestHeaderBytesOverLimitRefused(t *testing.T) {
	rt := testRuntime(policy.Enforce)
	rt.Limits.MaxHeaderBytes = 4096
	f := start(t, rt)
	for _, ip := range []string{"198.51.100.61", "192.0.2.61"} {
		s := f.session(t, ip)
		cont(t)(s.Helo("mail.sender.test"))
		cont(t)(s.Mail("a@sender.test"))
		cont(t)(s.Rcpt("b@example.test"))
		for range 100 {
			cont(t)(s.Header("X-Filler", strings.Repeat("x", 60)))
		}
		_, act, err := s.End(nil)
		wantReply(t, act, err, "552 5.3.4 Message header size exceeds limit")
		must(t, s.Abort())
	}
	for _, r := range f.logs.waitRecords(t, 2) {
		if r["event.action"] != "reject" || r["mailsift.reply"] != "552 5.3.4 Message header size exceeds limit" {
			t.Errorf("record = %v", r)
		}
	}
}

// The memory a session holds stays bounded: 400 headers of 1 MB (what a
// hostile MTA may send) leave the session holding at most about
// max_header_bytes.
func TestSessionMemoryBounded(t *testing.T) {
	obs := &heapAtRecord{}
	f := startObserved(t, testRuntime(policy.Enforce), obs)
	s := f.session(t, "198.51.100.62")
	cont(t)(s.Helo("mail.sender.test"))
	cont(t)(s.Mail("a@sender.test"))
	cont(t)(s.Rcpt("b@example.test"))
	big := strings.Repeat("y", 1<<20)
	cont(t)(s.Header("Subject", "first"))
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 400 {
		cont(t)(s.Header("X-Big", big))
	}
	_, act, err := s.End(nil)
	wantReply(t, act, err, "552 5.3.4 Message header size exceeds limit")
	f.logs.waitRecords(t, 1)
	held := int64(obs.heap.Load()) - int64(before.HeapAlloc)
	t.Logf("heap held at the end of a message of 400 headers of 1 MB: %d KiB", held/1024)
	if held > 16<<20 {
		t.Fatalf("the session holds %d MiB after 400 headers of 1 MB; want about max_header_bytes (1 MiB)", held>>20)
	}
}

// heapAtRecord measures the heap when a message's record is written: the
// session still holds the message then.
type heapAtRecord struct {
	noObserver
	heap atomic.Uint64
}

func (h *heapAtRecord) Message(string, []checks.Result, string) {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	h.heap.Store(m.HeapAlloc)
}

// An MTA connection that sends nothing for limits.idle_timeout is closed.
func TestIdleConnectionClosed(t *testing.T) {
	rt := testRuntime(policy.Enforce)
	rt.Limits.IdleTimeout = 200 * time.Millisecond
	f := start(t, rt)
	s := f.session(t, "198.51.100.63")
	cont(t)(s.Helo("mail.sender.test"))
	time.Sleep(600 * time.Millisecond)
	if act, err := s.Mail("a@sender.test"); err == nil {
		if _, err = s.Rcpt("b@example.test"); err == nil {
			t.Fatalf("an idle connection is still served (%v)", act)
		}
	}
	waitOpen(t, f.srv, 0)
}

func waitOpen(t *testing.T, srv *Server, n int) {
	t.Helper()
	for range 500 {
		srv.mu.Lock()
		open := len(srv.conns)
		srv.mu.Unlock()
		if open == n {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("open sessions did not come down to %d", n)
}

type countRefused struct {
	noObserver
	refused atomic.Int64
}

func (c *countRefused) SessionRefused() { c.refused.Add(1) }

// A connection beyond limits.max_sessions is closed at once and counted;
// once a session ends, new ones are served again.
func TestMaxSessions(t *testing.T) {
	rt := testRuntime(policy.Enforce)
	rt.Limits.MaxSessions = 2
	obs := &countRefused{}
	f := startObserved(t, rt, obs)
	s1 := f.session(t, "198.51.100.64")
	f.session(t, "198.51.100.65")
	waitOpen(t, f.srv, 2)
	if _, err := newClient("tcp", f.addr).Session(nil); err == nil {
		t.Fatal("a third session was served with max_sessions = 2")
	}
	if n := obs.refused.Load(); n != 1 {
		t.Fatalf("refused sessions counted: %d, want 1", n)
	}
	must(t, s1.Close())
	waitOpen(t, f.srv, 1)
	s3 := f.session(t, "198.51.100.66")
	cont(t)(s3.Helo("mail.sender.test"))
}

// With the descriptor limit at 1,024, 1,100 MTA connections that
// negotiate and then say nothing make accept fail (EMFILE); the process
// keeps serving, and serves new sessions once those close. The server runs
// in a helper process (this test binary again) under that limit.
func TestDescriptorLimitKeepsServing(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 1,100 connections")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestDescriptorLimitHelper$")
	cmd.Env = append(os.Environ(), "MAILSIFT_FD_HELPER=1")
	stdout, err := cmd.StdoutPipe()
	must(t, err)
	stdin, err := cmd.StdinPipe()
	must(t, err)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	must(t, cmd.Start())
	defer func() {
		stdin.Close()
		if cmd.ProcessState == nil {
			cmd.Wait()
		}
		if t.Failed() {
			t.Logf("helper stderr:\n%s", stderr.String())
		}
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("helper: %v", err)
	}
	addr := strings.TrimSpace(strings.TrimPrefix(line, "addr "))
	optneg := make([]byte, 4+1+12)
	binary.BigEndian.PutUint32(optneg, 13)
	optneg[4] = 'O'
	binary.BigEndian.PutUint32(optneg[5:], 6)
	binary.BigEndian.PutUint32(optneg[9:], uint32(postfixActions))
	binary.BigEndian.PutUint32(optneg[13:], uint32(postfixProtocol))
	var conns []net.Conn
	for i := range 1100 {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		conns = append(conns, c)
		c.Write(optneg)
	}
	time.Sleep(time.Second) // the helper is at its descriptor limit now
	for _, c := range conns {
		c.Close()
	}
	var last error
	for range 50 {
		if last = newSessionWorks(addr); last == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if last != nil {
		t.Fatalf("no new session served after the idle connections closed: %v", last)
	}
	stdin.Close()
	cmd.Wait()
	if !strings.Contains(stderr.String(), `"message":"accept failed; retrying"`) {
		t.Errorf("the helper never reached its descriptor limit (no accept error logged)")
	}
}

func newSessionWorks(addr string) error {
	s, err := newClient("tcp", addr).Session(testMacros{})
	if err != nil {
		return err
	}
	defer s.Close()
	if _, err := s.Conn("client.example", gomilter.FamilyInet, 40000, "198.51.100.67"); err != nil {
		return err
	}
	if _, err := s.Helo("mail.sender.test"); err != nil {
		return err
	}
	if _, err := s.Mail("a@sender.test", ""); err != nil {
		return err
	}
	act, err := s.Rcpt("b@example.test", "")
	if err != nil {
		return err
	}
	if act.Type != gomilter.ActionContinue {
		return fmt.Errorf("rcpt: %v", act)
	}
	return nil
}

// TestDescriptorLimitHelper is the server of TestDescriptorLimitKeepsServing.
func TestDescriptorLimitHelper(t *testing.T) {
	if os.Getenv("MAILSIFT_FD_HELPER") != "1" {
		t.Skip("helper process of TestDescriptorLimitKeepsServing")
	}
	lim := syscall.Rlimit{Cur: 1024, Max: 1024}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		fmt.Fprintln(os.Stderr, "setrlimit:", err)
		os.Exit(3)
	}
	rt := testRuntime(policy.Enforce, checks.Check(nil))
	rt.Chain = checks.NewChain(time.Second, time.Now)
	rt.Limits.MaxSessions = 5000 // the descriptor limit is what bites
	srv := NewServer(rt, NewLogger(zapcore.AddSync(os.Stderr), zapcore.WarnLevel), time.Now)
	ln, err := Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	fmt.Printf("addr %s\n", ln.Addr())
	go func() {
		// Stop when the parent closes stdin.
		os.Stdin.Read(make([]byte, 1))
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}()
	if err := srv.Serve(ln); err != nil {
		srv.log.Error("Serve returned", zap.Error(err))
		os.Exit(4)
	}
	os.Exit(0)
}

// The From count sees every header: a second From after 1,500 headers
// makes the message's From invalid for DMARC.
func TestSecondFromAfterManyHeadersSeen(t *testing.T) {
	res, _ := zoneResolver(t)
	from, _ := checks.DefaultReply("dmarc", "from")
	rt := testRuntime(policy.Enforce, &checks.DMARC{DNS: checks.NetResolver{R: res}, FromInvalid: from})
	f := start(t, rt)
	s := f.session(t, "198.51.100.68")
	cont(t)(s.Helo("mail.checks.test"))
	cont(t)(s.Mail("alice@checks.test"))
	cont(t)(s.Rcpt("bob@example.test"))
	cont(t)(s.Header("From", "<alice@checks.test>"))
	for i := range 1500 {
		cont(t)(s.Header("X-Filler", fmt.Sprintf("header %d", i)))
	}
	cont(t)(s.Header("From", "<ceo@bank.example>"))
	_, act, err := s.End(nil)
	wantReply(t, act, err, "550 5.7.1 Message must have exactly one From address")
	if r := f.logs.waitRecords(t, 1)[0]; r["mailsift.checks.dmarc.reason"] != "dmarc-from-invalid" {
		t.Errorf("record = %v", r)
	}
}
