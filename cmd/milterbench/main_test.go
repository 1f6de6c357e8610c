package main

import (
	"context"
	"net"
	"path/filepath"
	"testing"
	"time"

	gomilter "github.com/emersion/go-milter"
)

// refuser refuses every recipient at unknown.test with a reply code.
type refuser struct{ gomilter.NoOpMilter }

func (refuser) RcptTo(rcpt string, _ *gomilter.Modifier) (gomilter.Response, error) {
	if rcpt == "x@unknown.test" {
		return gomilter.NewResponseStr(byte(gomilter.ActReplyCode), "550 5.1.1 User unknown"), nil
	}
	return gomilter.RespContinue, nil
}

func (refuser) Body(*gomilter.Modifier) (gomilter.Response, error) { return gomilter.RespContinue, nil }

func TestRunCountsMessagesActionsAndCodes(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "m.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &gomilter.Server{NewMilter: func() gomilter.Milter { return refuser{} }, Protocol: gomilter.OptNoBody}
	go srv.Serve(ln)
	defer srv.Close()
	msgs, err := loadCorpus(options{size: 1000, headers: 8})
	if err != nil {
		t.Fatal(err)
	}
	base := options{addr: "unix:" + sock, concurrency: 2, perConn: 3, count: 12, timeout: 5 * time.Second,
		actions: 0x3f, clientIP: "192.0.2.{c}", clientName: "c{n}.example", helo: "h.example", from: "a{n}@example.org"}

	o := base
	o.rcpt = "bob@example.org"
	r := run(context.Background(), o, msgs)
	if r.Messages < 12 || r.Actions["accept"] != r.Messages || r.Errors != 0 {
		t.Fatalf("accepting milter: %+v", r)
	}
	if perMsg := r.TripsPerSec / r.MsgsPerSec; perMsg < 10 {
		t.Fatalf("%.1f round trips a message, want the headers counted too", perMsg)
	}

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
