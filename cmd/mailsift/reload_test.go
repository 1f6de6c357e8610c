package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/mailsift/mailsift/checks"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// waitLog waits for the n-th JSON record whose message is msg.
func waitLog(t *testing.T, b *syncBuf, msg string, n int) map[string]any {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		seen := 0
		sc := bufio.NewScanner(strings.NewReader(b.String()))
		for sc.Scan() {
			var r map[string]any
			if json.Unmarshal(sc.Bytes(), &r) == nil && r["message"] == msg {
				if seen++; seen == n {
					return r
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no log record %q (#%d) in:\n%s", msg, n, b.String())
	return nil
}

func httpGet(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The running process: a SIGHUP that turns greylisting on makes the admin
// endpoint's greylist answer without a restart; a failed reload is
// counted; shutdown_grace is logged as a duration people read.
func TestReloadAdminAndMetrics(t *testing.T) {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	milterAddr := l.Addr().String()
	l.Close()
	path := filepath.Join(t.TempDir(), "mailsift.toml")
	write := func(extra string) {
		cfg := fmt.Sprintf("listen = \"inet:%s\"\nhostname = \"mx.mailsift.test\"\n[dns]\nservers = [\"127.0.0.1:9\"]\n[admin]\nlisten = \"127.0.0.1:0\"\n%s", milterAddr, extra)
		if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("[greylist]\nenabled = false\nsnapshot = \"\"\n")
	logs := &syncBuf{}
	done := make(chan int, 1)
	go func() { done <- run([]string{"run", "-c", path}, io.Discard, logs) }()
	base := "http://" + waitLog(t, logs, "admin endpoint listening", 1)["mailsift.admin.listen"].(string)
	waitLog(t, logs, "mailsift started", 1)

	q := "/greylist?client=net:192.0.2.0/24&sender=a@example.com&rcpt=b@example.org"
	if code, body := httpGet(t, base+q); code != 404 || body != "greylisting is off\n" {
		t.Fatalf("greylisting off: %d %q", code, body)
	}
	write("[greylist]\nenabled = true\nsnapshot = \"\"\n")
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	waitLog(t, logs, "configuration reloaded", 1)
	if code, body := httpGet(t, base+q); code != 200 || !strings.Contains(body, `"state":"unknown"`) {
		t.Fatalf("after the reload that turned greylisting on: %d %q", code, body)
	}

	write("[greylist]\nenabled = maybe\n")
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	waitLog(t, logs, "reload failed; keeping the running configuration", 1)
	_, metrics := httpGet(t, base+"/metrics")
	for _, want := range []string{`mailsift_config_reloads_total{result="failed"} 1`, `mailsift_config_reloads_total{result="ok"} 1`} {
		if !strings.Contains(metrics, want+"\n") {
			t.Errorf("metrics lack %s", want)
		}
	}

	syscall.Kill(os.Getpid(), syscall.SIGTERM)
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d", code)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no exit after SIGTERM")
	}
	if g := waitLog(t, logs, "stopping", 1)["mailsift.shutdown_grace"]; g != "10s" {
		t.Fatalf("shutdown_grace logged as %v, want \"10s\"", g)
	}
}

// A recipient list broken while running is logged at error, once, with
// the file and line; its repair at info.
func TestRecipientListBreakLogged(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "recipients")
	os.WriteFile(path, []byte("alice@example.org\n"), 0o644)
	now := time.Unix(1_800_000_000, 0)
	list, err := checks.LoadRecipientList(path, "+", func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zap.InfoLevel)
	list.Report = listReporter(zap.New(core), path)
	os.WriteFile(path, []byte("alice@example.org\nbob@example.org\nnot an address\n"), 0o644)
	os.Chtimes(path, now.Add(time.Minute), now.Add(time.Minute))
	for range 3 {
		now = now.Add(time.Second)
		list.Has(checks.Address{Local: "bob", Domain: "example.org"})
	}
	es := logs.FilterLevelExact(zap.ErrorLevel).All()
	if len(es) != 1 || es[0].Message != "recipient list unreadable; keeping the last good list, and recipients it lacks get a temporary error" ||
		es[0].ContextMap()["file.path"] != path || !strings.Contains(es[0].ContextMap()["error"].(string), path+":3: want an address or @domain") {
		t.Fatalf("error records: %v", logs.All())
	}
}
