package main

import (
	"context"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	gomilter "github.com/d--j/go-milter"
)

// refuser refuses every recipient at unknown.test with a reply code, and
// notes what the client negotiated and sent.
type refuser struct {
	gomilter.NoOpMilter
	mu    *sync.Mutex
	seen  map[string]string // macro values seen at the end of the message
	flags *gomilter.OptProtocol
	acts  *gomilter.OptAction
}

func (r refuser) NewConnection(m gomilter.Modifier) error {
	r.mu.Lock()
	*r.flags, *r.acts = m.Protocol(), m.Actions()
	r.mu.Unlock()
	return nil
}

func (refuser) RcptTo(rcpt, _ string, _ gomilter.Modifier) (*gomilter.Response, error) {
	if rcpt == "x@unknown.test" {
		return gomilter.RejectWithCodeAndReason(550, "5.1.1 User unknown")
	}
	return gomilter.RespContinue, nil
}

func (r refuser) EndOfMessage(m gomilter.Modifier) (*gomilter.Response, error) {
	r.mu.Lock()
	for _, k := range []string{"j", "v", "{daemon_name}", "i", "{mail_addr}", "{client_addr}"} {
		r.seen[k] = m.Get(k)
	}
	r.mu.Unlock()
	return gomilter.RespAccept, nil
}

func TestRunCountsMessagesActionsAndCodes(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "m.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var flags gomilter.OptProtocol
	var acts gomilter.OptAction
	seen := map[string]string{}
	srv := gomilter.NewServer(gomilter.WithMilter(func() gomilter.Milter {
		return refuser{mu: &mu, seen: seen, flags: &flags, acts: &acts}
	}), gomilter.WithProtocols(gomilter.OptNoBody|gomilter.OptNoHeaderReply))
	go srv.Serve(ln)
	defer srv.Close()
	msgs, err := loadCorpus(options{size: 1000, headers: 8})
	if err != nil {
		t.Fatal(err)
	}
	base := options{addr: "unix:" + sock, concurrency: 2, perConn: 3, count: 12, timeout: 5 * time.Second,
		actions: uint(postfixActions), protocol: uint(postfixProtocol), version: 6,
		clientIP: "192.0.2.{c}", clientName: "c{n}.example", helo: "h.example", from: "a{n}@example.org"}

	o := base
	o.rcpt = "bob@example.org"
	r := run(context.Background(), o, msgs)
	if r.Messages < 12 || r.Actions["accept"] != r.Messages || r.Errors != 0 {
		t.Fatalf("accepting milter: %+v", r)
	}
	// Connect, HELO, MAIL, RCPT, DATA, end: the headers need no reply.
	if perMsg := r.TripsPerSec / r.MsgsPerSec; perMsg < 2 || perMsg > 6.5 {
		t.Fatalf("%.1f round trips a message, want the answered commands only", perMsg)
	}
	mu.Lock()
	// Postfix's default macros: j and v at connect, i from DATA on.
	if seen["j"] != "mx.bench.test" || seen["v"] != "Postfix 3.7.11" || seen["i"] == "" || seen["{mail_addr}"] == "" {
		t.Errorf("macros seen at end of message: %v", seen)
	}
	if _, ok := seen["{client_addr}"]; ok && seen["{client_addr}"] != "" {
		t.Errorf("{client_addr} sent although Postfix does not send it by default: %v", seen)
	}
	if flags != gomilter.OptNoBody|gomilter.OptNoHeaderReply || acts != 0 {
		t.Errorf("negotiated protocol %v actions %v", flags, acts)
	}
	mu.Unlock()

	o = base
	o.rcpt = "x@unknown.test"
	r = run(context.Background(), o, msgs)
	if r.Messages < 12 || r.Codes["550"] != r.Messages || r.Actions["reply"] != r.Messages {
		t.Fatalf("refusing milter: %+v", r)
	}

	o = base
	o.addr = "unix:" + filepath.Join(t.TempDir(), "nothing.sock")
	o.count, o.duration = 0, 200*time.Millisecond
	if r = run(context.Background(), o, msgs); r.Messages != 0 || r.Errors == 0 || r.FirstError == "" {
		t.Fatalf("no milter: %+v", r)
	}
}
