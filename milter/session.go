package milter

import (
	"context"
	"net"
	"net/netip"
	"net/textproto"
	"reflect"
	"strings"
	"time"
	"unsafe"

	gomilter "github.com/emersion/go-milter"
	"go.uber.org/zap"

	"github.com/mailsift/mailsift/checks"
	"github.com/mailsift/mailsift/policy"
)

// Session is one MTA connection. go-milter calls its methods from one
// goroutine, in SMTP order, so it needs no lock.
//
// go-milter v0.5.0 replaces its macro map at every macro packet and resets
// it on abort, so the session merges each stage's macros into its own map.
// The Server hands go-milter this same Session for the whole connection,
// so even a non-continue reply does not lose the connection's state.
type Session struct {
	rt  *Runtime
	log *zap.Logger
	now func() time.Time
	ctx context.Context

	macros     map[string]string
	lastMacros unsafe.Pointer // the go-milter macro map merged last
	env        checks.Envelope
	trusted    string // "network", "authenticated" or ""

	connDecisions []policy.Decision // connect and HELO: apply to every message
	connResults   []checks.Result
	tx            *transaction // nil outside a transaction
}

// transaction is one message: from MAIL FROM to end of message or abort.
type transaction struct {
	start     time.Time
	messageID string
	results   []checks.Result
	decisions []policy.Decision // MAIL, RCPT and data stages
	refusedTo []string
	reply     string // first refusal sent, the line as the client saw it
	action    policy.Action
}

func newSession(ctx context.Context, rt *Runtime, log *zap.Logger, now func() time.Time) *Session {
	return &Session{rt: rt, log: log, now: now, ctx: ctx, macros: map[string]string{}}
}

// txMacros are the macros that belong to one transaction and must not leak
// into the next message on the same connection.
var txMacros = []string{"i", "{mail_addr}", "{mail_host}", "{mail_mailer}", "{rcpt_addr}", "{rcpt_host}", "{rcpt_mailer}", "{msg_id}"}

func (s *Session) merge(m *gomilter.Modifier) {
	if m == nil || m.Macros == nil {
		return
	}
	// go-milter keeps handing out the map of the last macro packet until a
	// new one comes, so a stage the MTA sends no macros for would see the
	// previous stage's (or the previous message's) again: merge each
	// packet's map once.
	p := reflect.ValueOf(m.Macros).UnsafePointer()
	if p == s.lastMacros {
		return
	}
	s.lastMacros = p
	for k, v := range m.Macros {
		s.macros[k] = v
	}
	if id := s.macros["i"]; id != "" {
		s.env.QueueID = id
	}
}

// Connect implements milter.Milter.
func (s *Session) Connect(host, family string, port uint16, addr net.IP, m *gomilter.Modifier) (gomilter.Response, error) {
	s.merge(m)
	ip, ok := netip.AddrFromSlice(addr)
	if !ok {
		// Sendmail's -bs and some proxies give no address; the macro may.
		ip, _ = netip.ParseAddr(strings.TrimPrefix(s.macros["{client_addr}"], "IPv6:"))
	}
	s.env.ClientIP = ip.Unmap()
	s.env.ClientPort = int(port)
	s.env.ClientName = verifiedName(host, s.macros)
	s.env.ClientPTR = s.macros["{client_ptr}"]
	if s.env.ClientIP.IsValid() && s.rt.trustedIP(s.env.ClientIP) {
		s.trusted = "network"
	}
	s.runConn(checks.StageConnect)
	return gomilter.RespContinue, nil
}

// verifiedName is the client hostname the MTA verified (forward-confirmed),
// or "". Postfix says "unknown" in {client_name} and a bracketed address as
// the host; Sendmail says {client_resolve} other than OK.
func verifiedName(host string, macros map[string]string) string {
	if r, ok := macros["{client_resolve}"]; ok && r != "OK" {
		return ""
	}
	name := host
	if v, ok := macros["{client_name}"]; ok {
		name = v
	}
	if name == "" || name == "unknown" || strings.HasPrefix(name, "[") {
		return ""
	}
	return strings.ToLower(strings.TrimSuffix(name, "."))
}

// Helo implements milter.Milter. A client may greet again (after STARTTLS):
// the new name replaces the old one and its findings.
func (s *Session) Helo(name string, m *gomilter.Modifier) (gomilter.Response, error) {
	s.merge(m)
	s.env.Helo = name
	s.runConn(checks.StageHelo)
	return gomilter.RespContinue, nil
}

// runConn runs connection-level checks; their decisions apply to every
// message of the connection and are held until the first RCPT TO.
func (s *Session) runConn(stage checks.Stage) {
	if s.trusted != "" {
		return
	}
	keep := s.connResults[:0]
	keepD := s.connDecisions[:0]
	for i, r := range s.connResults {
		if !s.ranAt(r.Check, stage) {
			keep = append(keep, r)
			keepD = append(keepD, s.connDecisions[i])
		}
	}
	s.connResults, s.connDecisions = keep, keepD
	for _, r := range s.run(stage) {
		s.connResults = append(s.connResults, r)
		s.connDecisions = append(s.connDecisions, s.rt.Policy.Decide(r))
	}
}

func (s *Session) ranAt(check string, stage checks.Stage) bool {
	for _, c := range s.rt.Chain.Checks() {
		if c.Name() == check {
			switch stage {
			case checks.StageConnect:
				_, ok := c.(checks.ConnectChecker)
				return ok
			case checks.StageHelo:
				_, ok := c.(checks.HeloChecker)
				return ok
			}
		}
	}
	return false
}

func (s *Session) run(stage checks.Stage) []checks.Result {
	ctx := s.ctx
	if s.rt.StageTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.rt.StageTimeout)
		defer cancel()
	}
	s.env.Results = map[string]checks.Result{}
	for _, r := range s.connResults {
		s.env.Results[r.Check] = r
	}
	if s.tx != nil {
		for _, r := range s.tx.results {
			s.env.Results[r.Check] = r
		}
	}
	return s.rt.Chain.Run(ctx, stage, &s.env)
}

// MailFrom implements milter.Milter. It starts a transaction; Sendmail
// sends no abort between two messages, so a transaction still open is
// finished here.
func (s *Session) MailFrom(from string, m *gomilter.Modifier) (gomilter.Response, error) {
	s.endTx("abort")
	s.merge(m)
	s.tx = &transaction{start: s.now()}
	s.env.From = from
	s.env.AuthUser = s.macros["{auth_authen}"]
	if s.trusted == "" && s.env.AuthUser != "" && s.rt.TrustAuthed {
		s.trusted = "authenticated"
	}
	if s.trusted == "" {
		for _, r := range s.run(checks.StageMail) {
			s.tx.results = append(s.tx.results, r)
			s.tx.decisions = append(s.tx.decisions, s.rt.Policy.Decide(r))
		}
	}
	return gomilter.RespContinue, nil
}

// held returns the strongest refusal decided before RCPT TO, if any: it is
// given at every RCPT TO, as Postfix's smtpd_delay_reject does.
func (s *Session) held() (policy.Decision, bool) {
	if s.trusted != "" {
		return policy.Decision{}, false
	}
	var best policy.Decision
	for _, ds := range [][]policy.Decision{s.connDecisions, s.tx.decisions} {
		for _, d := range ds {
			if d.Action.Refuses() && d.Action.Stronger(best.Action) {
				best = d
			}
		}
	}
	return best, best.Action != ""
}

// RcptTo implements milter.Milter. A refusal here concerns this recipient
// only; the transaction goes on for the others.
func (s *Session) RcptTo(rcpt string, m *gomilter.Modifier) (gomilter.Response, error) {
	s.merge(m)
	if s.tx == nil { // an MTA that skipped MAIL: treat as a null-sender transaction
		s.tx = &transaction{start: s.now()}
	}
	if d, ok := s.held(); ok {
		return s.refuse(rcpt, d), nil
	}
	if s.trusted == "" {
		s.env.Rcpt = rcpt
		var refusal *policy.Decision
		for _, r := range s.run(checks.StageRcpt) {
			d := s.rt.Policy.Decide(r)
			s.setResult(r, d)
			if d.Action.Refuses() && (refusal == nil || d.Action.Stronger(refusal.Action)) {
				refusal = &d
			}
		}
		s.env.Rcpt = ""
		if refusal != nil {
			return s.refuse(rcpt, *refusal), nil
		}
	}
	s.env.Rcpts = append(s.env.Rcpts, rcpt)
	return gomilter.RespContinue, nil
}

// setResult records a per-recipient result, replacing the previous
// recipient's result of the same check.
func (s *Session) setResult(r checks.Result, d policy.Decision) {
	for i := range s.tx.results {
		if s.tx.results[i].Check == r.Check {
			s.tx.results[i], s.tx.decisions[i] = r, d
			return
		}
	}
	s.tx.results = append(s.tx.results, r)
	s.tx.decisions = append(s.tx.decisions, d)
}

func (s *Session) refuse(rcpt string, d policy.Decision) gomilter.Response {
	line := d.Reply.String()
	s.tx.refusedTo = append(s.tx.refusedTo, rcpt)
	if s.tx.reply == "" {
		s.tx.reply = line
		s.tx.action = d.Action
	}
	return replyResponse(d.Reply)
}

// replyResponse is the one way a refusal leaves mailsift: a full reply line
// (SMFIR_REPLYCODE), never a bare reject, so the client sees the code and
// the text. go-milter counts it as "continue", so the session survives.
func replyResponse(r checks.Reply) gomilter.Response {
	return gomilter.NewResponseStr(byte(gomilter.ActReplyCode), r.String())
}

// maxHeaders bounds the headers kept per message; the MTA bounds their size.
const maxHeaders = 1000

// Header implements milter.Milter.
func (s *Session) Header(name, value string, m *gomilter.Modifier) (gomilter.Response, error) {
	s.merge(m)
	if len(s.env.Headers) < maxHeaders {
		s.env.Headers = append(s.env.Headers, checks.Header{Name: name, Value: value})
	}
	if s.tx != nil && s.tx.messageID == "" && strings.EqualFold(name, "Message-Id") {
		s.tx.messageID = strings.TrimSpace(value)
	}
	return gomilter.RespContinue, nil
}

// Headers implements milter.Milter (end of headers; not requested).
func (s *Session) Headers(_ textproto.MIMEHeader, m *gomilter.Modifier) (gomilter.Response, error) {
	s.merge(m)
	return gomilter.RespContinue, nil
}

// BodyChunk implements milter.Milter (not requested until a check reads
// the body).
func (s *Session) BodyChunk([]byte, *gomilter.Modifier) (gomilter.Response, error) {
	return gomilter.RespContinue, nil
}

// Body implements milter.Milter: the end of the message. It answers
// continue rather than accept, which both MTAs take as accept, because
// go-milter replaces the backend after an accept.
func (s *Session) Body(m *gomilter.Modifier) (gomilter.Response, error) {
	s.merge(m)
	if s.tx == nil {
		s.tx = &transaction{start: s.now()}
	}
	if s.trusted == "" {
		for _, r := range s.run(checks.StageData) {
			s.tx.results = append(s.tx.results, r)
			s.tx.decisions = append(s.tx.decisions, s.rt.Policy.Decide(r))
		}
	}
	v := s.verdict()
	if v.refusal != nil {
		s.tx.reply = v.refusal.Reply.String()
		s.endTx(string(v.refusal.Action))
		return replyResponse(v.refusal.Reply), nil
	}
	err := applyEdits(m, s.edits(v))
	if err == nil && v.quarantine != "" {
		err = m.Quarantine(v.quarantine)
	}
	if err != nil {
		s.log.Warn("header edits failed", zap.Error(err), zap.String("email.local_id", s.env.QueueID))
		s.endTx("tempfail")
		return replyResponse(checks.Reply{Code: 451, Enhanced: "4.3.0", Text: "Temporary internal error, try again later"}), nil
	}
	switch {
	case v.quarantine != "":
		s.endTx(string(policy.Quarantine))
	case len(v.tags) > 0:
		s.endTx(string(policy.Tag))
	default:
		s.endTx("accept")
	}
	return gomilter.RespContinue, nil
}

// verdict is what happens to a message at its end.
type verdict struct {
	refusal    *policy.Decision // a data-stage refusal
	quarantine string           // reason, "" for none
	tags       []string         // "check=status" for each tagged finding
}

func (s *Session) verdict() verdict {
	var v verdict
	all := append(append([]policy.Decision{}, s.connDecisions...), s.tx.decisions...)
	if s.trusted != "" {
		all = nil
	}
	for i, d := range all {
		switch d.Action {
		case policy.Reject, policy.Tempfail:
			// Only data-stage refusals are still to be given; earlier ones
			// were given at RCPT TO.
			if i >= len(s.connDecisions) && s.isDataCheck(d.Check) && (v.refusal == nil || d.Action.Stronger(v.refusal.Action)) {
				v.refusal = &all[i]
			}
		case policy.Quarantine:
			if v.quarantine == "" {
				v.quarantine = "mailsift: " + d.Check + "=" + string(d.Status)
			}
		case policy.Tag:
			v.tags = append(v.tags, d.Check+"="+string(d.Status))
		}
	}
	return v
}

func (s *Session) isDataCheck(name string) bool {
	for _, c := range s.rt.Chain.Checks() {
		if _, ok := c.(checks.DataChecker); ok && c.Name() == name {
			return true
		}
	}
	return false
}

// Abort implements milter.Milter: RSET, or the MTA ending the transaction
// (Postfix sends it after every message too). Connection data stays.
func (s *Session) Abort(m *gomilter.Modifier) error {
	s.endTx("abort")
	return nil
}

// closed is called once the MTA connection is gone.
func (s *Session) closed() {
	s.endTx("abort")
}

// endTx writes the transaction's log record and forgets the message. action is what happened when the message was not
// refused or accepted on its own.
func (s *Session) endTx(action string) {
	if s.tx == nil {
		return
	}
	if action == "abort" && s.tx.action != "" && len(s.env.Rcpts) == 0 {
		action = string(s.tx.action) // every recipient was refused
	}
	s.logRecord(action)
	s.tx = nil
	s.env.From, s.env.Rcpt, s.env.Rcpts, s.env.Headers, s.env.QueueID = "", "", nil, nil, ""
	for _, k := range txMacros {
		delete(s.macros, k)
	}
}
