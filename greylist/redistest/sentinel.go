package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// MasterName is the name the Sentinels monitor the master under.
const MasterName = "mailsift"

// Sentinel is a replicated Redis watched by three Sentinels, all on
// loopback: a master, a replica, and redis-sentinel processes with a
// quorum of two that fail over half a second after the master stops
// answering.
type Sentinel struct {
	Master, Replica *Server
	Addrs           []string // the Sentinels
}

// StartSentinel starts the master, the replica and the Sentinels, and
// waits until the Sentinels know the replica. Without redis-sentinel (or
// redis-server, which runs as one with --sentinel) the test is skipped, or
// fails when MAILSIFT_E2E=require.
func StartSentinel(t testing.TB) *Sentinel {
	t.Helper()
	const bin = "redis-sentinel"
	if _, err := exec.LookPath(bin); err != nil {
		if os.Getenv("MAILSIFT_E2E") == "require" {
			t.Fatal("redis-sentinel is not installed (apt-get install redis-sentinel)")
		}
		t.Skip("redis-sentinel is not installed")
	}
	m := Start(t)
	host, port, _ := net.SplitHostPort(m.Addr)
	r := Start(t, "--replicaof", host, port)
	s := &Sentinel{Master: m, Replica: r}
	for range 3 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		_, sport, _ := net.SplitHostPort(addr)
		dir := t.TempDir()
		conf := filepath.Join(dir, "sentinel.conf") // Sentinel rewrites it
		cfg := fmt.Sprintf("port %s\nbind 127.0.0.1\nprotected-mode no\ndir %s\n"+
			"sentinel monitor %s %s %s 2\nsentinel down-after-milliseconds %s 500\n"+
			"sentinel failover-timeout %s 5000\nsentinel parallel-syncs %s 1\n",
			sport, dir, MasterName, host, port, MasterName, MasterName, MasterName)
		if err := os.WriteFile(conf, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, conf)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		t.Cleanup(func() { cmd.Process.Kill(); <-done })
		waitListen(t, addr)
		s.Addrs = append(s.Addrs, addr)
	}
	// Ready when every Sentinel knows the replica and the other two: then
	// a failover can be agreed and has somewhere to go.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, a := range s.Addrs {
		sc := redis.NewSentinelClient(&redis.Options{Addr: a})
		for {
			reps, err1 := sc.Replicas(ctx, MasterName).Result()
			sens, err2 := sc.Sentinels(ctx, MasterName).Result()
			if err1 == nil && err2 == nil && len(reps) == 1 && len(sens) == 2 {
				break
			}
			if ctx.Err() != nil {
				sc.Close()
				t.Fatalf("sentinel %s: replicas %v (%v), sentinels %v (%v)", a, reps, err1, sens, err2)
			}
			time.Sleep(50 * time.Millisecond)
		}
		sc.Close()
	}
	return s
}

func waitListen(t testing.TB, addr string) {
	t.Helper()
	for i := 0; ; i++ {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if i > 200 {
			t.Fatalf("not listening on %s: %v", addr, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
