// Package callouttest runs scripted SMTP servers on loopback addresses for
// tests of sender verification: each one accepts, rejects, tempfails,
// hangs, drops the connection, refuses the null sender or accepts every
// recipient, and counts the connections it gets.
package callouttest

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// Behaviour is what a server does.
type Behaviour int

// The behaviours.
const (
	Accept     Behaviour = iota // users listed in Users get 250, others 550 5.1.1
	TempFail                    // every RCPT TO gets 450 4.2.0
	Hang                        // accepts the connection and never says a word
	Drop                        // closes the connection at once
	RefuseNull                  // MAIL FROM:<> gets 550 5.7.1
	AcceptAll                   // every RCPT TO gets 250
	Slow                        // as Accept, after SlowDelay before the greeting
)

// SlowDelay is how long a Slow server waits before its greeting.
const SlowDelay = 400 * time.Millisecond

// Server is one scripted server.
type Server struct {
	Addr  string       // "ip:port"
	Conns atomic.Int64 // connections accepted
	Rcpts atomic.Int64 // RCPT TO commands seen
	// Users are the local parts Accept takes.
	Users []string

	behaviour Behaviour
	ln        net.Listener
	smtp      *smtp.Server
	wg        sync.WaitGroup
	mu        sync.Mutex
	held      []net.Conn
}

// Start starts a server on ip:port (port 0 picks one) and stops it when the
// test ends.
func Start(t testing.TB, ip string, port int, b Behaviour, users ...string) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", fmt.Sprintf("%s:%d", ip, port))
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Addr: ln.Addr().String(), Users: users, behaviour: b, ln: ln}
	switch b {
	case Hang, Drop:
		s.wg.Add(1)
		go s.raw()
	default:
		s.smtp = smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
			s.Conns.Add(1)
			if b == Slow {
				time.Sleep(SlowDelay) // go-smtp greets after NewSession returns
			}
			return &session{s: s}, nil
		}))
		s.smtp.Domain = "mx.test"
		s.smtp.AllowInsecureAuth = true
		s.wg.Add(1)
		go func() { defer s.wg.Done(); s.smtp.Serve(ln) }()
	}
	t.Cleanup(s.Close)
	return s
}

// Close stops the server and ends its connections.
func (s *Server) Close() {
	if s.smtp != nil {
		s.smtp.Close()
	} else {
		s.ln.Close()
	}
	s.mu.Lock()
	for _, c := range s.held {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *Server) raw() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.Conns.Add(1)
		if s.behaviour == Drop {
			c.Close()
			continue
		}
		s.mu.Lock()
		s.held = append(s.held, c)
		s.mu.Unlock()
	}
}

type session struct{ s *Server }

func (*session) Reset()        {}
func (*session) Logout() error { return nil }
func (x *session) Mail(from string, _ *smtp.MailOptions) error {
	if from == "" && x.s.behaviour == RefuseNull {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Null sender not accepted here"}
	}
	return nil
}

func (x *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	x.s.Rcpts.Add(1)
	switch x.s.behaviour {
	case TempFail:
		return &smtp.SMTPError{Code: 450, EnhancedCode: smtp.EnhancedCode{4, 2, 0}, Message: "Try again later"}
	case AcceptAll:
		return nil
	}
	local, _, _ := strings.Cut(to, "@")
	for _, u := range x.s.Users {
		if u == local {
			return nil
		}
	}
	return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "<" + to + ">: Recipient address rejected: User unknown"}
}

func (*session) Data(io.Reader) error {
	return errors.New("a callout never sends DATA")
}
