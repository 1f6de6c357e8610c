package milter

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"time"

	gomilter "github.com/d--j/go-milter"
	"go.uber.org/zap"
)

// ReplayInput is one SMTP transaction to replay: the client, its
// envelope and its message, as the MTA would pass them.
type ReplayInput struct {
	IP      netip.Addr
	Name    string   // the client's PTR name as the MTA found it; "" for none
	Helo    string   // the EHLO/HELO argument
	From    string   // MAIL FROM address, "" for the null sender
	Rcpts   []string // RCPT TO addresses, in order
	Auth    string   // SMTP AUTH login, "" for none
	MTAName string   // the MTA's own host name (macro j); "" for hostname
	Message []byte   // the message: header, blank line, body
}

// ReplayStep is one SMTP stage of a replay and the reply mailsift gives.
type ReplayStep struct {
	Stage string `json:"stage"` // connect, helo, mail, rcpt, data
	Arg   string `json:"arg"`
	// Reply is the exact reply line the client gets from mailsift, or ""
	// when mailsift lets the MTA answer (its own 250).
	Reply string `json:"reply,omitempty"`
}

// HeaderEdit is a header change mailsift asks for at the end of the
// message.
type HeaderEdit struct {
	Op    string `json:"op"`    // "remove", "insert" or "add"
	Index int    `json:"index"` // remove: the index-th of that name; insert: after the index-th header
	Name  string `json:"name"`
	Value string `json:"value"`
}

// ReplayResult is what the replay saw.
type ReplayResult struct {
	Steps      []ReplayStep     `json:"steps"`
	Headers    []HeaderEdit     `json:"headers"`
	Quarantine string           `json:"quarantine,omitempty"`
	Record     map[string]any   `json:"record"` // the message's log record
	Accepted   []string         `json:"-"`      // recipients accepted
	Final      string           `json:"-"`      // the end-of-message reply, "" for accepted
	Details    []map[string]any `json:"-"`
}

// Replay runs one transaction through a Session with rt, exactly as the
// milter would: over a socket pair, with go-milter's client playing
// Postfix (its protocol options and macros). ctx bounds the whole replay.
// hostname is the MTA's own name unless in.MTAName gives it.
func Replay(ctx context.Context, rt *Runtime, hostname string, in ReplayInput) (*ReplayResult, error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		return nil, fmt.Errorf("replay: socket pair: %w", err)
	}
	conns := make([]net.Conn, 2)
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), "replay")
		c, err := net.FileConn(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("replay: %w", err)
		}
		conns[i] = c
	}
	var logs bytes.Buffer
	srv := NewServer(rt, NewLogger(zapSync{&logs}, zap.DebugLevel), time.Now)
	stop := context.AfterFunc(ctx, srv.cancel)
	defer stop()
	srv.serveConn(conns[0])
	if in.MTAName != "" {
		hostname = in.MTAName
	}
	res, err := drive(conns[1], hostname, in)
	conns[1].Close()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(sctx)
	if err != nil {
		return nil, err
	}
	sc := bufio.NewScanner(bytes.NewReader(logs.Bytes()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) != nil {
			continue
		}
		switch m["message"] {
		case "message":
			res.Record = m
		case "message details":
			res.Details = append(res.Details, m)
		}
	}
	if res.Record == nil {
		return nil, fmt.Errorf("replay: the session wrote no record")
	}
	return res, nil
}

// zapSync is a bytes.Buffer as a zap WriteSyncer; one goroutine writes at
// a time (the session's).
type zapSync struct{ b *bytes.Buffer }

func (z zapSync) Write(p []byte) (int, error) { return z.b.Write(p) }
func (z zapSync) Sync() error                 { return nil }

type pairDialer struct{ c net.Conn }

func (d pairDialer) Dial(string, string) (net.Conn, error) { return d.c, nil }

// replayMacros are the macros of the command being sent.
type replayMacros map[string]string

func (m replayMacros) GetEx(name string) (string, bool) { v, ok := m[name]; return v, ok }
func (m replayMacros) Get(name string) string           { return m[name] }

// postfix* are what Postfix 3.7 offers with milter_protocol = 6.
const (
	postfixOffersActions  = gomilter.OptAddHeader | gomilter.OptChangeBody | gomilter.OptAddRcpt | gomilter.OptRemoveRcpt | gomilter.OptChangeHeader | gomilter.OptQuarantine | gomilter.OptChangeFrom | gomilter.OptAddRcptWithArgs | gomilter.OptSetMacros
	postfixOffersProtocol = gomilter.OptNoConnect | gomilter.OptNoHelo | gomilter.OptNoMailFrom | gomilter.OptNoRcptTo | gomilter.OptNoBody | gomilter.OptNoHeaders | gomilter.OptNoEOH | gomilter.OptNoUnknown | gomilter.OptNoData | gomilter.OptSkip | gomilter.OptRcptRej | gomilter.OptNoReplies | gomilter.OptHeaderLeadingSpace
)

func drive(c net.Conn, hostname string, in ReplayInput) (*ReplayResult, error) {
	cl := gomilter.NewClient("unix", "replay", gomilter.WithDialer(pairDialer{c}),
		gomilter.WithActions(postfixOffersActions), gomilter.WithProtocols(postfixOffersProtocol),
		gomilter.WithReadTimeout(5*time.Minute), gomilter.WithWriteTimeout(time.Minute))
	macros := replayMacros{}
	set := func(kv ...string) {
		clear(macros)
		for i := 0; i+1 < len(kv); i += 2 {
			macros[kv[i]] = kv[i+1]
		}
	}
	s, err := cl.Session(macros)
	if err != nil {
		return nil, fmt.Errorf("replay: negotiation: %w", err)
	}
	defer s.Close()
	res := &ReplayResult{}
	step := func(stage, arg string, act *gomilter.Action, err error) (bool, error) {
		if err != nil {
			return false, fmt.Errorf("replay: %s %s: %w", stage, arg, err)
		}
		st := ReplayStep{Stage: stage, Arg: arg}
		refused := false
		switch act.Type {
		case gomilter.ActionContinue, gomilter.ActionAccept:
		case gomilter.ActionRejectWithCode:
			st.Reply, refused = act.SMTPReply, true
		case gomilter.ActionTempFail:
			st.Reply, refused = "451 4.7.1 Service unavailable - try again later", true
		case gomilter.ActionReject:
			st.Reply, refused = "550 5.7.1 Command rejected", true
		case gomilter.ActionDiscard:
			st.Reply = "discard"
		}
		res.Steps = append(res.Steps, st)
		return refused, nil
	}
	name, addr := "unknown", in.IP.String()
	if in.Name != "" {
		name = strings.TrimSuffix(in.Name, ".")
	}
	family := gomilter.FamilyInet
	caddr := addr
	if in.IP.Is6() && !in.IP.Is4In6() {
		family, caddr = gomilter.FamilyInet6, "IPv6:"+addr
	}
	set("j", hostname, "v", "Postfix 3.7 (mailsift check)", "{daemon_name}", "mailsift-check",
		"{client_addr}", caddr, "{client_port}", "40000", "{client_name}", name, "{client_ptr}", name)
	act, err := s.Conn(name, family, 40000, addr)
	if _, err := step("connect", addr, act, err); err != nil {
		return nil, err
	}
	set()
	act, err = s.Helo(in.Helo)
	if _, err := step("helo", in.Helo, act, err); err != nil {
		return nil, err
	}
	if in.Auth != "" {
		set("{auth_type}", "PLAIN", "{auth_authen}", in.Auth, "{mail_addr}", in.From)
	} else {
		set("{mail_addr}", in.From)
	}
	act, err = s.Mail(in.From, "")
	if _, err := step("mail", in.From, act, err); err != nil {
		return nil, err
	}
	for _, r := range in.Rcpts {
		set("{rcpt_addr}", r)
		act, err = s.Rcpt(r, "")
		refused, err := step("rcpt", r, act, err)
		if err != nil {
			return nil, err
		}
		if !refused {
			res.Accepted = append(res.Accepted, r)
		}
	}
	if len(res.Accepted) == 0 {
		// The MTA does not go on to DATA without a recipient.
		set()
		return res, s.Abort(nil)
	}
	set("i", "REPLAY")
	if _, err := s.DataStart(); err != nil {
		return nil, fmt.Errorf("replay: DATA: %w", err)
	}
	hdr, body := splitMessage(in.Message)
	for _, h := range hdr {
		if _, err := s.HeaderField(h[0], h[1], nil); err != nil {
			return nil, fmt.Errorf("replay: header %s: %w", h[0], err)
		}
	}
	if _, err := s.HeaderEnd(); err != nil {
		return nil, fmt.Errorf("replay: end of header: %w", err)
	}
	for first := true; first || len(body) > 0; first = false {
		n := min(len(body), int(gomilter.DataSize64K))
		if _, err := s.BodyChunk(body[:n]); err != nil {
			return nil, fmt.Errorf("replay: body: %w", err)
		}
		body = body[n:]
	}
	set("i", "REPLAY")
	mods, act, err := s.End()
	refused, err := step("data", "", act, err)
	if err != nil {
		return nil, err
	}
	if refused {
		res.Final = res.Steps[len(res.Steps)-1].Reply
	}
	for _, m := range mods {
		switch m.Type {
		case gomilter.ActionChangeHeader:
			res.Headers = append(res.Headers, HeaderEdit{Op: "remove", Index: int(m.HeaderIndex), Name: m.HeaderName,
				Value: nthHeader(hdr, m.HeaderName, int(m.HeaderIndex))})
		case gomilter.ActionInsertHeader:
			res.Headers = append(res.Headers, HeaderEdit{Op: "insert", Index: int(m.HeaderIndex), Name: m.HeaderName, Value: strings.TrimPrefix(m.HeaderValue, " ")})
		case gomilter.ActionAddHeader:
			res.Headers = append(res.Headers, HeaderEdit{Op: "add", Name: m.HeaderName, Value: strings.TrimPrefix(m.HeaderValue, " ")})
		case gomilter.ActionQuarantine:
			res.Quarantine = m.Reason
		}
	}
	set()
	return res, s.Abort(nil) // Postfix aborts after every message
}

// nthHeader returns the value of the n-th header named name (1-based).
func nthHeader(hdr [][2]string, name string, n int) string {
	for _, h := range hdr {
		if strings.EqualFold(h[0], name) {
			if n--; n == 0 {
				return strings.TrimLeft(h[1], " \t")
			}
		}
	}
	return ""
}

// splitMessage splits a message into its header fields, as Postfix passes
// them (name, and the value as it was: leading space, folds with "\n"),
// and its body with CRLF line ends.
func splitMessage(msg []byte) ([][2]string, []byte) {
	s := strings.ReplaceAll(string(msg), "\r\n", "\n")
	head, body, found := strings.Cut(s, "\n\n")
	if !found {
		head, body = strings.TrimSuffix(s, "\n"), ""
		if !strings.Contains(head, ":") {
			head, body = "", s
		}
	}
	var hdr [][2]string
	for _, line := range strings.Split(head, "\n") {
		if line == "" {
			continue
		}
		if (line[0] == ' ' || line[0] == '\t') && len(hdr) > 0 {
			hdr[len(hdr)-1][1] += "\n" + line
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		name = strings.TrimRight(name, " \t")
		if !ok || name == "" || strings.ContainsAny(name, " \t") {
			continue // not a header field
		}
		hdr = append(hdr, [2]string{name, value})
	}
	return hdr, []byte(strings.ReplaceAll(body, "\n", "\r\n"))
}
