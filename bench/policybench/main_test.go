package main

import (
	"bufio"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestReadReply(t *testing.T) {
	for _, tt := range []struct{ in, action, err string }{
		{"action=DUNNO\n\n", "DUNNO", ""},
		{"action=DEFER_IF_PERMIT Greylisted, see http://postgrey.schweikert.ch/help/example.test.html\n\n", "DEFER_IF_PERMIT", ""},
		{"action=PREPEND X-Greylist: delayed 61 seconds by postgrey-1.37\r\n\r\n", "PREPEND", ""},
		{"foo=bar\naction=OK\n\n", "OK", ""},
		{"foo=bar\n\n", "", "reply has no action attribute"},
		{"action=DUNNO\n", "", "unexpected EOF"},
		{"action=DUNNO", "", "unexpected EOF"},
		{"", "", "EOF"},
		{"action=\n\n", "(empty)", ""},
	} {
		a, err := readReply(bufio.NewReader(strings.NewReader(tt.in)))
		got := ""
		if err != nil {
			got = err.Error()
		}
		if a != tt.action || got != tt.err {
			t.Errorf("readReply(%q) = %q, %q; want %q, %q", tt.in, a, got, tt.action, tt.err)
		}
	}
}

func FuzzReadReply(f *testing.F) {
	f.Add("action=DUNNO\n\n")
	f.Add("a=b\naction=DEFER_IF_PERMIT x\r\n\n")
	f.Fuzz(func(t *testing.T, s string) {
		a, err := readReply(bufio.NewReader(strings.NewReader(s)))
		if err == nil && (a == "" || strings.ContainsAny(a, " \n")) {
			t.Fatalf("readReply(%q) = %q with no error", s, a)
		}
	})
}

func TestDialLoopbackOnly(t *testing.T) {
	for _, a := range []string{"inet:192.0.2.1:10023", "inet:example.test:10023", "tcp:127.0.0.1:1", "127.0.0.1:1"} {
		if _, err := dial(a, time.Second); err == nil || !strings.Contains(err.Error(), a) {
			t.Errorf("dial(%q) = %v, want an error naming it", a, err)
		}
	}
}

// A policy server on loopback that answers as postgrey does once a
// triplet has passed, and records what it was asked.
func TestRunAgainstPolicyServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var first map[string]string
	var conns sync.WaitGroup
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go func() {
				defer conns.Done()
				defer c.Close()
				br := bufio.NewReader(c)
				req := map[string]string{}
				for {
					line, err := br.ReadString('\n')
					if err != nil {
						return
					}
					if line = strings.TrimSuffix(line, "\n"); line != "" {
						k, v, _ := strings.Cut(line, "=")
						req[k] = v
						continue
					}
					mu.Lock()
					if first == nil {
						first = req
					}
					mu.Unlock()
					req = map[string]string{}
					c.Write([]byte("action=PREPEND X-Greylist: delayed 1 seconds by postgrey-1.37\n\n"))
				}
			}()
		}
	}()
	res, err := run(options{addr: "inet:" + ln.Addr().String(), concurrency: 2, count: 50, duration: 5 * time.Second,
		timeout: time.Second, clientIP: "192.0.2.10", clientName: "good.checks.test", helo: "mail.checks.test",
		from: "alice@checks.test", rcpt: "bob@example.test"})
	ln.Close()
	conns.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if res.Messages < 50 || res.Errors != 0 || res.Actions["PREPEND"] != res.Messages {
		t.Fatalf("result = %+v", res)
	}
	for k, v := range map[string]string{"request": "smtpd_access_policy", "protocol_state": "RCPT",
		"client_address": "192.0.2.10", "client_name": "good.checks.test", "helo_name": "mail.checks.test",
		"sender": "alice@checks.test", "recipient": "bob@example.test"} {
		if first[k] != v {
			t.Errorf("request %s=%q, want %q", k, first[k], v)
		}
	}
}
