package milter

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	gomilter "github.com/emersion/go-milter"
	"go.uber.org/zap/zapcore"

	"github.com/mailsift/mailsift/policy"
)

// BenchmarkMessage is one whole message through a real session over a unix
// socket: connect, HELO, MAIL, RCPT, three headers, end of message.
func BenchmarkMessage(b *testing.B) {
	srv := NewServer(testRuntime(policy.Enforce), NewLogger(&logBuf{}, zapcore.WarnLevel), time.Now)
	sock := filepath.Join(b.TempDir(), "bench.sock")
	ln, err := Listen("unix", sock)
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Shutdown(context.Background())
	c := newClient("unix", sock)
	b.ReportAllocs()
	for b.Loop() {
		s, err := c.Session()
		if err != nil {
			b.Fatal(err)
		}
		s.Macros(gomilter.CodeConn, "j", "mx.mailsift.test", "{client_name}", "mail.sender.test")
		s.Conn("mail.sender.test", gomilter.FamilyInet, 40000, "198.51.100.7")
		s.Helo("mail.sender.test")
		s.Mail("<alice@sender.test>", nil)
		s.Rcpt("<bob@example.test>", nil)
		s.HeaderField("From", "<alice@sender.test>")
		s.HeaderField("Subject", "bench")
		s.HeaderField("Message-Id", "<b@sender.test>")
		if _, act, err := s.End(); err != nil || act.Code != gomilter.ActContinue {
			b.Fatalf("end: %v %v", act, err)
		}
		s.Close()
	}
}
