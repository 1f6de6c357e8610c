package milter

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	gomilter "github.com/emersion/go-milter"
	"go.uber.org/zap"

	"github.com/mailsift/mailsift/checks"
)

// Observer is told about sessions and messages, for metrics.
type Observer interface {
	SessionOpen()
	SessionClose()
	// Message is a finished transaction: its final action, the checks'
	// results, and the refusal line sent ("" for none).
	Message(action string, results []checks.Result, reply string)
}

type noObserver struct{}

func (noObserver) SessionOpen()                            {}
func (noObserver) SessionClose()                           {}
func (noObserver) Message(string, []checks.Result, string) {}

// Server accepts MTA connections and runs one Session for each.
type Server struct {
	log *zap.Logger
	now func() time.Time
	obs Observer
	rt  atomic.Pointer[Runtime]

	ctx    context.Context // cancelled when the server is forced down
	cancel context.CancelFunc

	mu      sync.Mutex
	ln      net.Listener
	conns   map[net.Conn]struct{}
	closing bool
	wg      sync.WaitGroup
}

// NewServer returns a server that runs sessions with rt until SetRuntime.
func NewServer(rt *Runtime, log *zap.Logger, now func() time.Time) *Server {
	s := &Server{log: log, now: now, obs: noObserver{}, conns: map[net.Conn]struct{}{}}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.rt.Store(rt)
	return s
}

// Observe makes o see every session and message; call before Serve.
func (s *Server) Observe(o Observer) { s.obs = o }

// SetRuntime makes new sessions use rt; open sessions keep theirs.
func (s *Server) SetRuntime(rt *Runtime) { s.rt.Store(rt) }

// Listen opens network ("tcp" or "unix") at address. A unix socket gets mode
// 0660, so that the MTA's group can connect; a stale socket file left by a
// crash is removed first, but a socket that still answers is not taken over.
func Listen(network, address string) (net.Listener, error) {
	if network != "unix" {
		return net.Listen(network, address)
	}
	if fi, err := os.Lstat(address); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("listen unix:%s: file exists and is not a socket", address)
		}
		if c, err := net.DialTimeout("unix", address, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("listen unix:%s: another process is listening there", address)
		}
		if err := os.Remove(address); err != nil {
			return nil, fmt.Errorf("listen unix:%s: removing stale socket: %w", address, err)
		}
	}
	ln, err := net.Listen("unix", address)
	if err != nil {
		return nil, err
	}
	// net.UnixListener removes the socket file on Close.
	if err := os.Chmod(address, 0o660); err != nil {
		ln.Close()
		return nil, fmt.Errorf("listen unix:%s: %w", address, err)
	}
	return ln, nil
}

// Serve accepts connections on ln until Shutdown. It returns nil after
// Shutdown, or the accept error that stopped it.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		ln.Close()
		return nil
	}
	s.ln = ln
	s.mu.Unlock()
	for {
		c, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closing := s.closing
			s.mu.Unlock()
			if closing {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return err
		}
		s.mu.Lock()
		if s.closing {
			s.mu.Unlock()
			c.Close()
			return nil
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.handle(c)
	}
}

// protocol returns the stages mailsift does not need, so the MTA skips them.
// Only options of milter protocol version 2, which go-milter negotiates.
func protocol(c *checks.Chain) gomilter.OptProtocol {
	p := gomilter.OptNoEOH
	// Headers are always read, for the log and Authentication-Results;
	// the body only when a check reads it.
	for _, ch := range c.Checks() {
		if _, ok := ch.(checks.BodyReader); ok {
			return p
		}
	}
	return p | gomilter.OptNoBody
}

// Actions are the modifications mailsift may ask for.
const Actions = gomilter.OptAddHeader | gomilter.OptChangeHeader | gomilter.OptQuarantine

func (s *Server) handle(c net.Conn) {
	defer s.wg.Done()
	rt := s.rt.Load()
	s.obs.SessionOpen()
	defer s.obs.SessionClose()
	sess := newSession(s.ctx, rt, s.log, s.now)
	sess.obs = s.obs
	one := newOneConn(c)
	ms := &gomilter.Server{
		NewMilter: func() gomilter.Milter { return sess },
		Actions:   Actions,
		Protocol:  rt.protocol(),
	}
	ms.Serve(one) // returns once go-milter has closed the connection
	one.wait()
	sess.closed()
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// Shutdown stops accepting, lets open sessions finish until ctx is done,
// then closes what is left and waits for its goroutines to end.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	if s.ln != nil {
		s.ln.Close()
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("milter: grace period over, closing open sessions")
		s.cancel()
		s.mu.Lock()
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		<-done
	}
	s.cancel()
	return err
}

// oneConn is a listener that yields one connection, then blocks until that
// connection is closed. It lets one go-milter Server run exactly one
// session whose backend is always the same Session.
type oneConn struct {
	mu     sync.Mutex
	c      net.Conn
	closed chan struct{}
	once   sync.Once
}

func newOneConn(c net.Conn) *oneConn {
	o := &oneConn{closed: make(chan struct{})}
	o.c = &trackedConn{Conn: c, r: bufio.NewReaderSize(c, 4096), onClose: func() { o.once.Do(func() { close(o.closed) }) }}
	return o
}

func (o *oneConn) Accept() (net.Conn, error) {
	o.mu.Lock()
	c := o.c
	o.c = nil
	o.mu.Unlock()
	if c != nil {
		return c, nil
	}
	<-o.closed
	return nil, net.ErrClosed
}

func (o *oneConn) wait()          { <-o.closed }
func (o *oneConn) Close() error   { return nil }
func (o *oneConn) Addr() net.Addr { return &net.UnixAddr{Name: "milter-session", Net: "unix"} }

// trackedConn tells when go-milter closes the connection, and buffers its
// reads: go-milter reads a packet's length and its body with two reads,
// and the MTA sends a macro packet and its command back to back, so one
// read syscall often serves three or four.
type trackedConn struct {
	net.Conn
	r       *bufio.Reader
	onClose func()
}

func (t *trackedConn) Read(p []byte) (int, error) { return t.r.Read(p) }

func (t *trackedConn) Close() error {
	err := t.Conn.Close()
	t.onClose()
	return err
}
