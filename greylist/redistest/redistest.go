// Package redistest runs a real redis-server from Debian's packages on a
// free loopback port for tests, and can stop and restart it to play an
// outage.
package redistest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"testing"
	"time"
)

// Server is a running redis-server.
type Server struct {
	Addr string
	t    testing.TB
	dir  string
	args []string // more redis-server arguments
	cmd  *exec.Cmd
	done chan struct{}
}

// Start starts redis-server and stops it when the test ends. Without
// redis-server the test is skipped, or fails when MAILSIFT_E2E=require
// (as make test sets).
//
// args are more redis-server arguments, e.g. "--replicaof", "127.0.0.1", "6379".
func Start(t testing.TB, args ...string) *Server {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("MAILSIFT_E2E") == "require" {
			t.Fatal("redis-server is not installed (apt-get install redis-server)")
		}
		t.Skip("redis-server is not installed")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Addr: l.Addr().String(), t: t, dir: t.TempDir(), args: args}
	l.Close()
	s.Restart()
	t.Cleanup(s.Stop)
	return s
}

// Restart starts the server again on the same port.
func (s *Server) Restart() {
	s.t.Helper()
	_, port, _ := net.SplitHostPort(s.Addr)
	s.cmd = exec.Command("redis-server", append([]string{"--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", s.dir, "--protected-mode", "no"}, s.args...)...)
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { cmd.Wait(); close(done) }(s.cmd, s.done)
	for i := 0; ; i++ {
		c, err := net.DialTimeout("tcp", s.Addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if i > 200 {
			s.t.Fatalf("redis-server not listening on %s: %v", s.Addr, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Stop stops the server.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}

// String is the address.
func (s *Server) String() string { return fmt.Sprint(s.Addr) }
