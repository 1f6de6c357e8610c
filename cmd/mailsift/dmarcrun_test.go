package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// With [dmarc] reports on, "mailsift run" starts the report builder once:
// a reload keeps it and its store (the memory store's records survive),
// and at shutdown it stops with the server, leaving no goroutine behind.
func TestRunDMARCReportsLifecycle(t *testing.T) {
	before := goleak.IgnoreCurrent()
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	milterAddr := l.Addr().String()
	l.Close()
	path := filepath.Join(t.TempDir(), "mailsift.toml")
	write := func(org string) {
		cfg := fmt.Sprintf("listen = \"inet:%s\"\nhostname = \"mx.mailsift.test\"\n[dns]\nservers = [\"127.0.0.1:9\"]\n[greylist]\nenabled = false\nsnapshot = \"\"\n[dmarc]\nreports = true\nrelay = \"127.0.0.1:9\"\norg_name = %q\nrua_addresses = [\"dmarc@example.org\"]\n", milterAddr, org)
		if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("first")
	logs := &syncBuf{}
	done := make(chan int, 1)
	go func() { done <- run([]string{"run", "-c", path}, io.Discard, logs) }()
	on := waitLog(t, logs, "dmarc aggregate reports on", 1)
	if on["mailsift.dmarc.store"] != "memory" || on["mailsift.dmarc.report_from"] != "dmarc-noreply@mx.mailsift.test" {
		t.Fatalf("reports on: %v", on)
	}
	waitLog(t, logs, "mailsift started", 1)

	write("second")
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	waitLog(t, logs, "configuration reloaded", 1)
	waitLog(t, logs, "dmarc report settings changed; they take effect at the next restart", 1)
	if n := strings.Count(logs.String(), `"message":"dmarc aggregate reports on"`); n != 1 {
		t.Fatalf("the builder started %d times", n)
	}

	syscall.Kill(os.Getpid(), syscall.SIGTERM)
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d\n%s", code, logs)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no exit after SIGTERM")
	}
	goleak.VerifyNone(t, before)
}
