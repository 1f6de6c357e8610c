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

	gomilter "github.com/d--j/go-milter"
	"go.uber.org/zap"

	"github.com/mailsift/mailsift/checks"
)

// Observer is told about sessions and messages, for metrics.
type Observer interface {
	SessionOpen()
	SessionClose()
	// SessionRefused is an MTA connection closed at once: limits.max_sessions.
	SessionRefused()
	// Message is a finished transaction: its final action, the checks'
	// results, and the refusal line sent ("" for none).
	Message(action string, results []checks.Result, reply string)
}

type noObserver struct{}

func (noObserver) SessionOpen()                            {}
func (noObserver) SessionClose()                           {}
func (noObserver) SessionRefused()                         {}
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

	bufs sync.Pool // *bufio.Reader: a session's read buffer, kept for the next one
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
// Shutdown, or the error of a listener closed by someone else. Any other
// accept error (EMFILE at the descriptor limit, ECONNABORTED) is logged
// and retried after a pause that doubles up to a second: the sessions
// already open go on, and the next accept succeeds once one of them ends.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		ln.Close()
		return nil
	}
	s.ln = ln
	s.mu.Unlock()
	var pause time.Duration
	var lastRefusalLog time.Time
	refused := 0
	for {
		c, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closing := s.closing
			s.mu.Unlock()
			if closing {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			if pause == 0 {
				pause = 5 * time.Millisecond
				s.log.Warn("accept failed; retrying", zap.Error(err))
			} else {
				pause = min(2*pause, time.Second)
			}
			t := time.NewTimer(pause)
			select {
			case <-t.C:
			case <-s.ctx.Done():
				t.Stop()
			}
			continue
		}
		pause = 0
		rt := s.rt.Load()
		s.mu.Lock()
		if s.closing {
			s.mu.Unlock()
			c.Close()
			return nil
		}
		if len(s.conns) >= rt.limits().MaxSessions {
			s.mu.Unlock()
			// Closed at once, before any goroutine: the MTA applies its
			// milter default action (Postfix: tempfail).
			c.Close()
			s.obs.SessionRefused()
			refused++
			if now := s.now(); now.Sub(lastRefusalLog) >= 10*time.Second {
				s.log.Warn("MTA connection refused: limits.max_sessions reached",
					zap.Int("mailsift.limits.max_sessions", rt.limits().MaxSessions), zap.Int("mailsift.sessions_refused", refused))
				lastRefusalLog, refused = now, 0
			}
			continue
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.handle(c, rt)
	}
}

// serveConn runs a session on c, as if accepted, until it ends; Shutdown
// waits for it.
func (s *Server) serveConn(c net.Conn) {
	rt := s.rt.Load()
	s.mu.Lock()
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	go s.handle(c, rt)
}

// protocol is what mailsift asks of the MTA at negotiation (milter protocol
// version 6): the stages it needs no call for, the stages whose reply it
// never needs, and the header values as they were. An MTA that offers less
// (an older protocol version, no no-reply flags) gets the part it offers,
// and mailsift answers every stage it is sent.
func protocol(c *checks.Chain) gomilter.OptProtocol {
	// DATA, end of headers and unknown commands are never used: the queue
	// id comes with the end of the message (and at MAIL from Sendmail).
	p := gomilter.OptNoData | gomilter.OptNoEOH | gomilter.OptNoUnknown | gomilter.OptHeaderLeadingSpace
	// Decisions are held until RCPT TO, the end of the message is always
	// answered: no other stage needs a reply.
	p |= gomilter.OptNoConnReply | gomilter.OptNoHeloReply | gomilter.OptNoMailReply | gomilter.OptNoDataReply |
		gomilter.OptNoUnknownReply | gomilter.OptNoHeaderReply | gomilter.OptNoEOHReply | gomilter.OptNoBodyReply
	if !refusesAtRcpt(c) {
		p |= gomilter.OptNoRcptReply
	}
	// Headers are always read, for the log and Authentication-Results;
	// the body only when a check reads it.
	if !readsBody(c) {
		p |= gomilter.OptNoBody
	}
	return p
}

// refusesAtRcpt reports whether some check may refuse before the message
// data: its refusal is given at RCPT TO, so that reply is needed.
func refusesAtRcpt(c *checks.Chain) bool {
	for _, s := range []checks.Stage{checks.StageConnect, checks.StageHelo, checks.StageMail, checks.StageRcpt} {
		if c.Has(s) {
			return true
		}
	}
	return false
}

func readsBody(c *checks.Chain) bool {
	for _, ch := range c.Checks() {
		if _, ok := ch.(checks.BodyReader); ok {
			return true
		}
	}
	return false
}

// Actions are the modifications mailsift may ask for.
const Actions = gomilter.OptAddHeader | gomilter.OptChangeHeader | gomilter.OptQuarantine

// The macros mailsift reads that go-milter has no name for: Sendmail's
// verdict on the client's hostname (OK when forward-confirmed), and its
// Message-ID.
const (
	macroClientResolve gomilter.MacroName = "{client_resolve}"
	macroMsgID         gomilter.MacroName = "{msg_id}"
)

// macroRequests are the macros mailsift reads, by stage, requested from the
// MTA at negotiation (SMFIR_SETSYMLIST), so that Postfix and Sendmail send
// them without milter_*_macros settings. A stage's macros stay known at
// later stages of the same connection or message.
func macroRequests() map[gomilter.MacroStage][]gomilter.MacroName {
	return map[gomilter.MacroStage][]gomilter.MacroName{
		gomilter.StageConnect: {gomilter.MacroMTAVersion, gomilter.MacroMTAFQDN, gomilter.MacroDaemonName, gomilter.MacroDaemonAddr,
			gomilter.MacroIfAddr, gomilter.MacroClientAddr, gomilter.MacroClientPort, gomilter.MacroClientName, gomilter.MacroClientPTR,
			macroClientResolve},
		gomilter.StageHelo: {gomilter.MacroTlsVersion},
		gomilter.StageMail: {gomilter.MacroQueueId, gomilter.MacroAuthType, gomilter.MacroAuthAuthen, gomilter.MacroMailAddr},
		gomilter.StageRcpt: {gomilter.MacroQueueId, gomilter.MacroRcptAddr},
		gomilter.StageEOM:  {gomilter.MacroQueueId, macroMsgID},
	}
}

// negotiate takes what the MTA offers of what mailsift asks: the highest
// common version, and the common part of the actions and of the protocol
// options. The library's own rule refuses an MTA that offers less.
func negotiate(mtaVersion, milterVersion uint32, mtaActions, milterActions gomilter.OptAction, mtaProtocol, milterProtocol gomilter.OptProtocol, offered gomilter.DataSize) (uint32, gomilter.OptAction, gomilter.OptProtocol, gomilter.DataSize, error) {
	v := min(mtaVersion, milterVersion)
	if v < 2 {
		return 0, 0, 0, 0, fmt.Errorf("milter: negotiate: MTA offers protocol version %d, want 2 to %d", mtaVersion, milterVersion)
	}
	return v, milterActions & mtaActions, milterProtocol & mtaProtocol, offered, nil
}

func (s *Server) handle(c net.Conn, rt *Runtime) {
	defer s.wg.Done()
	s.obs.SessionOpen()
	defer s.obs.SessionClose()
	sess := newSession(s.ctx, rt, s.log, s.now)
	sess.obs = s.obs
	br, _ := s.bufs.Get().(*bufio.Reader)
	if br == nil {
		br = bufio.NewReaderSize(c, 4096)
	} else {
		br.Reset(c)
	}
	one := newOneConn(c, br)
	opts := []gomilter.Option{
		gomilter.WithMilter(func() gomilter.Milter { return sess }),
		gomilter.WithActions(rt.actions()),
		gomilter.WithProtocols(rt.protocol()),
		gomilter.WithNegotiationCallback(negotiate),
		// An MTA connection silent this long is closed.
		gomilter.WithReadTimeout(rt.limits().IdleTimeout),
	}
	for st, ms := range macroRequests() {
		opts = append(opts, gomilter.WithMacroRequest(st, ms))
	}
	ms := gomilter.NewServer(opts...)
	ms.Serve(one) // returns once the session has closed the connection
	one.wait()
	// The session's goroutine ends right after it closed the connection:
	// wait for it, so that no goroutine outlives the session.
	ms.Shutdown(context.Background())
	br.Reset(nil) // nothing reads it any more
	s.bufs.Put(br)
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

func newOneConn(c net.Conn, r *bufio.Reader) *oneConn {
	o := &oneConn{closed: make(chan struct{})}
	o.c = &trackedConn{Conn: c, r: r, onClose: func() { o.once.Do(func() { close(o.closed) }) }}
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

// trackedConn tells when the session closes the connection, buffers its
// reads, and sends each packet in one write. go-milter reads a packet's
// length and its body with two reads, and the MTA sends a macro packet and
// its command back to back, so one read syscall often serves three or four.
// go-milter writes a packet's header and its data with two writes; over
// TCP, libmilter peers would wait for the delayed ACK of the first (Nagle),
// so the header is held until its data comes.
//
// go-milter also sets a read deadline before every packet it reads and a
// write deadline before every packet it writes, and clears each after it:
// four deadline changes per round trip, each a change to the runtime's
// timers. The deadlines are kept here instead and given to the connection
// only before a read or write that reaches it, and only when they differ
// from the one it has: a read served from the buffer needs none, and a
// cleared deadline matters to no one until the next packet sets its own.
type trackedConn struct {
	net.Conn
	r       *bufio.Reader
	hdr     [5]byte
	held    bool
	wbuf    []byte
	onClose func()

	rdl, rset time.Time // read deadline wanted, and the one the connection has
	wdl, wset time.Time // the same for writes
}

func (t *trackedConn) Read(p []byte) (int, error) {
	if t.r.Buffered() == 0 && !t.rdl.Equal(t.rset) {
		// This read reaches the connection: it gets the deadline.
		if err := t.Conn.SetReadDeadline(t.rdl); err != nil {
			return 0, err
		}
		t.rset = t.rdl
	}
	return t.r.Read(p)
}

// SetReadDeadline keeps d for the next read that reaches the connection.
func (t *trackedConn) SetReadDeadline(d time.Time) error { t.rdl = d; return nil }

// SetWriteDeadline keeps d for the next write.
func (t *trackedConn) SetWriteDeadline(d time.Time) error { t.wdl = d; return nil }

// SetDeadline keeps d for both.
func (t *trackedConn) SetDeadline(d time.Time) error { t.rdl, t.wdl = d, d; return nil }

// write writes p to the connection under the write deadline wanted.
func (t *trackedConn) write(p []byte) (int, error) {
	if !t.wdl.Equal(t.wset) {
		if err := t.Conn.SetWriteDeadline(t.wdl); err != nil {
			return 0, err
		}
		t.wset = t.wdl
	}
	return t.Conn.Write(p)
}

func (t *trackedConn) Write(p []byte) (int, error) {
	if !t.held {
		// A 5-byte packet header announcing data: hold it.
		if len(p) == 5 && uint32(p[0])<<24|uint32(p[1])<<16|uint32(p[2])<<8|uint32(p[3]) > 1 {
			copy(t.hdr[:], p)
			t.held = true
			return len(p), nil
		}
		return t.write(p)
	}
	t.held = false
	t.wbuf = append(append(t.wbuf[:0], t.hdr[:]...), p...)
	n, err := t.write(t.wbuf)
	if len(t.wbuf) > 64<<10 {
		t.wbuf = nil // do not keep a large buffer for the whole session
	}
	return max(n-5, 0), err
}

func (t *trackedConn) Close() error {
	err := t.Conn.Close()
	t.onClose()
	return err
}
