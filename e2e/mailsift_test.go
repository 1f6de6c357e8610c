// Package e2e runs mailsift as users do: the built binary, a config file,
// and a real Postfix (and Sendmail) on loopback calling it, with a real
// SMTP client. The tests need root and the MTAs from Debian's packages
// (make test installs them); they skip when those are missing, unless
// MAILSIFT_E2E=require, which make test sets so that they cannot be skipped
// silently.
package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mailsift/mailsift/internal/resolver/dnstest"
)

var binary string // the mailsift binary built for the tests

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mailsift-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "mailsift")
	out, err := exec.Command("go", "build", "-race", "-o", binary, "../cmd/mailsift").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building mailsift: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// need skips the test when what it needs is missing, or fails it when
// MAILSIFT_E2E=require.
func need(t *testing.T, ok bool, what string) {
	t.Helper()
	if ok {
		return
	}
	if os.Getenv("MAILSIFT_E2E") == "require" {
		t.Fatalf("end-to-end test cannot run: %s (MAILSIFT_E2E=require)", what)
	}
	t.Skipf("skipped: %s", what)
}

func freePort(t *testing.T) int {
	t.Helper()
	// Below the kernel's ephemeral range: a port the kernel hands out for
	// ":0" can be taken by another test's outgoing connection between our
	// Close and the server's bind ("address already in use", seen once in
	// CI); ports below the range are never handed out that way.
	low := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > 12000 {
				low = n
			}
		}
	}
	for range 100 {
		port := 10000 + rand.IntN(low-10000)
		if l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			l.Close()
			return port
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// syncBuf is a goroutine-safe buffer for the milter's stderr.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// mailsiftProc is a running mailsift.
type mailsiftProc struct {
	cmd    *exec.Cmd
	addr   string // host:port it listens on
	config string // path of its config file
	stderr *syncBuf
	done   chan error
	dns    *dnstest.Server // the DNS server mailsift asks
}

// restart stops mailsift (SIGTERM, a clean exit) and starts it again on
// the same config, address and DNS server.
func (p *mailsiftProc) restart(t *testing.T) {
	t.Helper()
	p.stop(t)
	p.cmd = exec.Command(binary, "run", "-c", p.config)
	p.cmd.Stderr = p.stderr
	p.done = make(chan error, 1)
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func(cmd *exec.Cmd, done chan error) { done <- cmd.Wait() }(p.cmd, p.done)
	p.waitLogN(t, "mailsift started", 2)
}

// startMailsift writes config (with listen set to a free port) and runs
// mailsift on it, waiting until it listens.
func startMailsift(t *testing.T, config string) *mailsiftProc {
	t.Helper()
	port := freePort(t)
	p := &mailsiftProc{addr: fmt.Sprintf("127.0.0.1:%d", port), stderr: &syncBuf{}, done: make(chan error, 1)}
	p.config = filepath.Join(t.TempDir(), "mailsift.toml")
	// mailsift does its own DNS: it asks the test server, which serves
	// testdata/zones, whatever the MTA resolved.
	dns := dnstest.Start(t)
	if err := dns.LoadDir("../testdata/zones"); err != nil {
		t.Fatal(err)
	}
	p.dns = dns
	if !strings.Contains(config, "[admin]") {
		config += "\n[admin]\nlisten = \"127.0.0.1:0\"\n" // several mailsift processes at once
	}
	if !strings.Contains(config, "[greylist]") {
		// Greylisting is on by default; tests of other checks turn it off.
		config += "\n[greylist]\nenabled = false\n"
	}
	full := fmt.Sprintf("listen = \"inet:%s\"\nhostname = \"mx.mailsift.test\"\n%s\n[dns]\nservers = [\"%s\"]\ntimeout = \"300ms\"\nattempts = 1\n",
		p.addr, config, dns.Addr)
	if err := os.WriteFile(p.config, []byte(full), 0o644); err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(binary, "run", "-c", p.config)
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		p.stop(t)
		if t.Failed() {
			t.Logf("mailsift stderr:\n%s", p.stderr)
		}
	})
	p.waitLog(t, "mailsift started")
	return p
}

// stop sends SIGTERM and waits for a clean exit.
func (p *mailsiftProc) stop(t *testing.T) {
	t.Helper()
	if p.cmd.ProcessState != nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		if err != nil {
			t.Errorf("mailsift exit after SIGTERM: %v, want status 0", err)
		}
	case <-time.After(20 * time.Second):
		p.cmd.Process.Kill()
		t.Errorf("mailsift did not stop within 20s of SIGTERM")
	}
}

// records returns the JSON log lines whose message is msg.
func (p *mailsiftProc) records(t *testing.T, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(p.stderr.String()))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("mailsift wrote a line that is not JSON: %q", sc.Text())
		}
		if m["message"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// waitLog waits for a log line with message msg and returns the last one.
func (p *mailsiftProc) waitLog(t *testing.T, msg string) map[string]any {
	t.Helper()
	return p.waitLogN(t, msg, 1)
}

func (p *mailsiftProc) waitLogN(t *testing.T, msg string, n int) map[string]any {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if rs := p.records(t, msg); len(rs) >= n {
			return rs[len(rs)-1]
		}
		select {
		case err := <-p.done:
			p.done <- err
			t.Fatalf("mailsift exited (%v) before logging %q", err, msg)
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("no log record %q (want %d) within 10s", msg, n)
	return nil
}

// recordFor returns the per-message record whose envelope sender is from.
func (p *mailsiftProc) recordFor(t *testing.T, from string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, r := range p.records(t, "message") {
			if r["email.from.address"] == from {
				return r
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no message record for sender %s within 10s", from)
	return nil
}

func wantFields(t *testing.T, r map[string]any, want map[string]any) {
	t.Helper()
	for k, v := range want {
		if fmt.Sprint(r[k]) != fmt.Sprint(v) {
			t.Errorf("log record %s = %v, want %v", k, r[k], v)
		}
	}
}

// smtpClient is a raw SMTP client: Go's net/smtp refuses the second EHLO
// that XCLIENT needs.
type smtpClient struct {
	t *testing.T
	c *textproto.Conn
}

func dialSMTP(t *testing.T, addr, from string) *smtpClient {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(60 * time.Second))
	c := &smtpClient{t: t, c: textproto.NewConn(conn)}
	t.Cleanup(func() { c.c.Close() })
	if code, msg := c.read(); code != 220 {
		t.Fatalf("banner: %d %s", code, msg)
	}
	return c
}

func (c *smtpClient) read() (int, string) {
	code, msg, err := c.c.ReadResponse(0)
	if err != nil && code == 0 {
		c.t.Fatalf("reading reply: %v", err)
	}
	return code, msg
}

// cmd sends one command and returns the reply as one line "CODE text" (the
// last line of a multi-line reply).
func (c *smtpClient) cmd(format string, args ...any) string {
	c.t.Helper()
	id, err := c.c.Cmd(format, args...)
	if err != nil {
		c.t.Fatal(err)
	}
	c.c.StartResponse(id)
	defer c.c.EndResponse(id)
	code, msg := c.read()
	lines := strings.Split(msg, "\n")
	return fmt.Sprintf("%d %s", code, lines[len(lines)-1])
}

// expect sends a command and fails unless the reply starts with want.
func (c *smtpClient) expect(want, format string, args ...any) string {
	c.t.Helper()
	got := c.cmd(format, args...)
	if !strings.HasPrefix(got, want) {
		c.t.Fatalf("%s: got %q, want %q", fmt.Sprintf(format, args...), got, want)
	}
	return got
}

// data sends DATA and the message; it returns the final reply.
func (c *smtpClient) data(msg string) string {
	c.t.Helper()
	c.expect("354", "DATA")
	w := c.c.DotWriter()
	w.Write([]byte(strings.ReplaceAll(msg, "\n", "\r\n")))
	w.Close()
	code, text := c.read()
	return fmt.Sprintf("%d %s", code, text)
}

func message(from, to, msgID, extra string) string {
	if from == "" { // a bounce still has an author
		from = "MAILER-DAEMON@checks.test"
	}
	return fmt.Sprintf("From: <%s>\nTo: <%s>\nSubject: mailsift e2e\nMessage-Id: <%s>\n%s\nHello.\n", from, to, msgID, extra)
}

type netDialer struct{}

func (netDialer) dial(addr string) (net.Conn, error) {
	return net.DialTimeout("tcp", addr, time.Second)
}
