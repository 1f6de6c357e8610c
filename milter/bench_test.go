package milter

import (
	"context"
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

// BenchmarkMessageV2MTA is the same with an MTA that offers protocol
// version 2 only: every stage answered.
func BenchmarkMessageV2MTA(b *testing.B) { benchMessage(b, narrowClient) }

func benchMessage(b *testing.B, client func(network, addr string) *gomilter.Client) {
	srv := NewServer(testRuntime(policy.Enforce), NewLogger(&logBuf{}, zapcore.WarnLevel), time.Now)
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
