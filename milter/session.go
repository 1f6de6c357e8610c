package milter

import (
	"context"
	"iter"
	"net/netip"
	"strings"
	"sync"
	"time"

	gomilter "github.com/d--j/go-milter"
	"go.uber.org/zap"

	"github.com/mailsift/mailsift/checks"
	"github.com/mailsift/mailsift/internal/policy"
)

// Session is one MTA connection. go-milter calls its methods from one
// goroutine, in SMTP order, and uses the same Session for the whole
// connection, so it needs no lock. Macros are read from the Modifier of
// each call: go-milter keeps each stage's macros until that stage comes
// again or the transaction ends.
type Session struct {
	rt  *Runtime
	obs Observer
	log *zap.Logger
	now func() time.Time
	ctx context.Context

	env     checks.Envelope
	trusted string // "network", "authenticated" or ""
	mod     gomilter.Modifier
	postfix bool // the MTA takes SMFIR_PROGRESS at every stage, not only at the end of the message

	conn []finding    // connect and HELO: they apply to every message
	tx   *transaction // nil outside a transaction
}

// transaction is one message: from MAIL FROM to end of message or abort.
type transaction struct {
	start       time.Time
	messageID   string
	mail        []finding // held, with conn, until RCPT TO
	rcpt        []finding // the last accepted recipient's, by check
	rcptLast    []finding // the last refused recipient's: the record's when none was accepted
	rcpts       []rcptOutcome
	data        []finding // end of message
	to          []string  // every RCPT TO, in order
	refusedTo   []string
	raw         []string                        // each header's value as the MTA passed it, beside env.Headers (same bytes)
	exact       bool                            // raw values carry their leading whitespace (SMFIP_HDR_LEADSPC)
	headerBytes int                             // size of the header block so far
	headerOver  bool                            // headerBytes passed limits.max_header_bytes: headers dropped, message refused
	streams     map[string]checks.MessageStream // nil until the body starts
	reply       string                          // first refusal sent, the line as the client saw it
	action      policy.Action
	dmarc       dmarcTx   // DMARC reports: a message to our rua address (dmarcreports.go)
	bounce      *bounceTx // a message that may be a bounce, kept to be read (bounces.go)
	removals    []removal // a local submission's recipients to remove at the end (outbound.go)
}

func newSession(ctx context.Context, rt *Runtime, log *zap.Logger, now func() time.Time) *Session {
	return &Session{rt: rt, obs: noObserver{}, log: log, now: now, ctx: ctx}
}

// macro returns a macro the MTA sent at this stage or an earlier one.
func (s *Session) macro(name gomilter.MacroName) string {
	if s.mod == nil {
		return ""
	}
	return s.mod.Get(name)
}

// use makes m the Modifier of the current call and picks up the queue id,
// which Sendmail gives at MAIL and Postfix from DATA on.
func (s *Session) use(m gomilter.Modifier) {
	s.mod = m
	if s.tx != nil {
		if id := s.macro(gomilter.MacroQueueId); id != "" {
			s.env.QueueID = id
		}
	}
}

// NewConnection implements milter.Milter: the start of the milter
// connection, or an MTA reusing it for another SMTP connection
// (SMFIC_QUIT_NC): nothing of the previous one is kept.
func (s *Session) NewConnection(m gomilter.Modifier) error {
	s.endTx(actionAbort)
	s.env = checks.Envelope{}
	s.trusted, s.postfix, s.conn = "", false, nil
	s.mod = m
	return nil
}

// Connect implements milter.Milter.
func (s *Session) Connect(host, family string, port uint16, addr string, m gomilter.Modifier) (*gomilter.Response, error) {
	s.use(m)
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		// Sendmail's -bs and some proxies give no address; the macro may.
		ip, _ = netip.ParseAddr(strings.TrimPrefix(s.macro(gomilter.MacroClientAddr), "IPv6:"))
	}
	s.env.ClientIP = ip.Unmap()
	s.env.ClientPort = int(port)
	s.env.ClientName = verifiedName(host, m.GetEx)
	s.env.ClientPTR = s.macro(gomilter.MacroClientPTR)
	s.env.MTAName = s.macro(gomilter.MacroMTAFQDN)
	s.postfix = strings.HasPrefix(s.macro(gomilter.MacroMTAVersion), "Postfix")
	for _, name := range []gomilter.MacroName{gomilter.MacroDaemonAddr, gomilter.MacroIfAddr} {
		if a, err := netip.ParseAddr(strings.TrimPrefix(s.macro(name), "IPv6:")); err == nil {
			s.env.DaemonAddr = a.Unmap()
			break
		}
	}
	if s.env.ClientIP.IsValid() && s.rt.trustedIP(s.env.ClientIP) {
		s.trusted = "network"
	}
	s.trustLocal()
	s.runConn(checks.StageConnect)
	return gomilter.RespContinue, nil
}

// verifiedName is the client hostname the MTA verified (forward-confirmed),
// or "". Postfix says "unknown" in {client_name} and a bracketed address as
// the host; Sendmail says {client_resolve} other than OK.
func verifiedName(host string, macro func(gomilter.MacroName) (string, bool)) string {
	if r, ok := macro(macroClientResolve); ok && r != "OK" {
		return ""
	}
	name := host
	if v, ok := macro(gomilter.MacroClientName); ok {
		name = v
	}
	if name == "" || name == "unknown" || strings.HasPrefix(name, "[") {
		return ""
	}
	return strings.ToLower(strings.TrimSuffix(name, "."))
}

// Helo implements milter.Milter. A client may greet again (after STARTTLS):
// the new name replaces the old one and its findings.
func (s *Session) Helo(name string, m gomilter.Modifier) (*gomilter.Response, error) {
	s.use(m)
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
	keep := s.conn[:0]
	for _, f := range s.conn {
		if !s.ranAt(f.r.Check, stage) {
			keep = append(keep, f)
		}
	}
	s.conn = append(keep, s.decide(s.run(stage))...)
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
	return s.runPhase(s.rt.Chain, stage, false)
}

func (s *Session) runAfter(stage checks.Stage) []checks.Result {
	return s.runPhase(s.rt.Chain, stage, true)
}

// runPhase runs chain c's checks of stage (its second round when after).
func (s *Session) runPhase(c *checks.Chain, stage checks.Stage, after bool) []checks.Result {
	ctx := s.ctx
	run := c.Run
	if after {
		run = c.RunAfter
	}
	var rs []checks.Result
	// A phase whose checks are all local ends in the time they take: no
	// progress timer for it.
	if c.Waits(stage, after) {
		stop := s.progress(stage)
		rs = run(ctx, stage, &s.env)
		stop()
	} else {
		rs = run(ctx, stage, &s.env)
	}
	// The typed hand-offs (a forward-confirmed hostname, the SPF and DKIM
	// outcomes) are what the checks that follow read.
	for _, r := range rs {
		s.env.Take(r)
	}
	return rs
}

// DefaultProgressInterval is how long a stage's checks run before the MTA
// is told that they are still at work.
const DefaultProgressInterval = 5 * time.Second

// progress sends SMFIR_PROGRESS every progress interval while a stage's
// checks run (a callout, a slow DNS answer), so that the MTA's own timeout
// (Postfix's milter_command_timeout, Sendmail's T=R:) does not fire first;
// the returned stop ends it, and once stop returns no progress is being
// written. Sendmail takes a progress packet only at the end of the message;
// Postfix at every stage, also one whose reply it does not wait for (it
// reads the packet with the next reply it waits for).
func (s *Session) progress(stage checks.Stage) (stop func()) {
	m := s.mod
	if m == nil || m.Version() < 6 || stage != checks.StageData && !s.postfix {
		return func() {}
	}
	every := s.rt.ProgressInterval
	if every <= 0 {
		every = DefaultProgressInterval
	}
	var mu sync.Mutex
	stopped := false
	var t *time.Timer
	mu.Lock() // t is set before the first tick reads it
	defer mu.Unlock()
	t = time.AfterFunc(every, func() {
		mu.Lock()
		defer mu.Unlock()
		if stopped {
			return
		}
		if err := m.Progress(); err != nil {
			s.log.Debug("progress not sent", zap.Error(err))
			return
		}
		t.Reset(every)
	})
	return func() {
		mu.Lock()
		stopped = true
		t.Stop()
		mu.Unlock()
	}
}

// MailFrom implements milter.Milter. It starts a transaction; Sendmail
// sends no abort between two messages, so a transaction still open is
// finished here.
func (s *Session) MailFrom(from, _ string, m gomilter.Modifier) (*gomilter.Response, error) {
	s.endTx(actionAbort)
	s.tx = &transaction{start: s.now()}
	s.use(m)
	s.env.From = from
	s.env.AuthUser = s.macro(gomilter.MacroAuthAuthen)
	if s.trusted == "" && s.env.AuthUser != "" && s.rt.TrustAuthed {
		s.trusted = "authenticated"
	}
	if s.trusted == "" {
		s.tx.mail = s.decide(s.run(checks.StageMail))
	}
	s.outboundMail()
	return gomilter.RespContinue, nil
}

// held returns the strongest refusal decided before RCPT TO, if any: it is
// given at every RCPT TO, as Postfix's smtpd_delay_reject does.
func (s *Session) held() (policy.Decision, bool) {
	if s.trusted != "" {
		return s.outboundHeld()
	}
	return strongestRefusal(s.conn, s.tx.mail)
}

// RcptTo implements milter.Milter. A refusal here concerns this recipient
// only; the transaction goes on for the others.
func (s *Session) RcptTo(rcpt, _ string, m gomilter.Modifier) (*gomilter.Response, error) {
	if s.tx == nil { // an MTA that skipped MAIL: treat as a null-sender transaction
		s.tx = &transaction{start: s.now()}
	}
	s.use(m)
	s.tx.to = append(s.tx.to, rcpt)
	if d, ok := s.held(); ok {
		return s.refuse(rcpt, d, nil), nil
	}
	if d, fs, ok := s.outboundRcpt(rcpt); ok {
		if s.trusted == "local" {
			s.removeAtEnd(rcpt, d, fs)
			return gomilter.RespContinue, nil
		}
		return s.refuse(rcpt, d, fs), nil
	}
	if s.trusted == "" {
		s.env.Rcpt = rcpt
		fs := s.decide(s.run(checks.StageRcpt))
		if _, ok := strongestRefusal(fs); !ok {
			fs = append(fs, s.decide(s.runAfter(checks.StageRcpt))...)
		}
		s.env.Rcpt = ""
		if d, ok := strongestRefusal(fs); ok {
			return s.refuse(rcpt, d, fs), nil
		}
		s.tx.rcpt = fs
	}
	s.env.Rcpts = append(s.env.Rcpts, rcpt)
	s.tx.rcpts = append(s.tx.rcpts, rcptOutcome{address: rcpt, action: string(actionAccept)})
	s.bounceRcpt(rcpt)
	return gomilter.RespContinue, nil
}

// rcptOutcome is what became of one RCPT TO, for the log record.
type rcptOutcome struct {
	address, action string
	reply           string // the refusal line, "" when accepted
	check, reason   string // the finding that refused it
}

// refuse refuses one recipient with d; fs are its RCPT-stage findings
// (nil for a refusal held from an earlier stage).
func (s *Session) refuse(rcpt string, d policy.Decision, fs []finding) *gomilter.Response {
	line := d.Reply.String()
	s.tx.refusedTo = append(s.tx.refusedTo, rcpt)
	if fs != nil {
		s.tx.rcptLast = fs
	}
	o := rcptOutcome{address: rcpt, action: string(d.Action), reply: line, check: d.Check}
	for _, f := range s.findings() {
		if f.r.Check == d.Check {
			o.reason = f.r.Reason
		}
	}
	for _, f := range fs {
		if f.r.Check == d.Check {
			o.reason = f.r.Reason
		}
	}
	s.tx.rcpts = append(s.tx.rcpts, o)
	if s.tx.reply == "" {
		s.tx.reply = line
		s.tx.action = d.Action
	}
	return replyResponse(d.Reply)
}

// replyResponse is the one way a refusal leaves mailsift: a full reply line
// (SMFIR_REPLYCODE), never a bare reject, so the client sees the code and
// the text.
func replyResponse(r checks.Reply) *gomilter.Response {
	text := r.Text
	if r.Enhanced != "" {
		text = r.Enhanced + " " + text
	}
	resp, err := gomilter.RejectWithCodeAndReason(uint16(r.Code), text)
	if err != nil { // a code outside 400-599: never in the reply table
		resp, _ = gomilter.RejectWithCodeAndReason(451, "4.3.0 Temporary internal error, try again later")
	}
	return resp
}

// Data implements milter.Milter (the DATA command; not requested).
func (s *Session) Data(m gomilter.Modifier) (*gomilter.Response, error) {
	s.use(m)
	return gomilter.RespContinue, nil
}

// Header implements milter.Milter. With SMFIP_HDR_LEADSPC the value comes
// as it was, with its leading whitespace, and the streams (DKIM) get the
// header's exact bytes; the checks get the value without it, as before.
func (s *Session) Header(name, value string, m gomilter.Modifier) (*gomilter.Response, error) {
	if s.tx == nil {
		s.tx = &transaction{start: s.now()}
	}
	s.use(m)
	exact := m.Protocol()&gomilter.OptHeaderLeadingSpace != 0
	if s.tx.headerOver {
		return gomilter.RespContinue, nil
	}
	// Every header is kept (A-R removal and the From count must see them
	// all) up to limits.max_header_bytes; past it, none is, and the message
	// is refused at its end.
	s.tx.headerBytes += len(name) + len(value) + 3
	if s.tx.headerBytes > s.rt.limits().MaxHeaderBytes {
		s.tx.headerOver = true
		s.env.Headers, s.tx.raw = nil, nil
		return gomilter.RespContinue, nil
	}
	v := value
	if exact {
		v = strings.TrimLeft(value, " \t\r\n")
	}
	// v shares value's bytes: the header is held once.
	s.env.Headers = append(s.env.Headers, checks.Header{Name: name, Value: v})
	s.tx.raw = append(s.tx.raw, value)
	s.tx.exact = exact
	if s.tx.messageID == "" && strings.EqualFold(name, "Message-Id") {
		s.tx.messageID = strings.TrimSpace(value)
	}
	return gomilter.RespContinue, nil
}

// headerBlock is the message's header as the MTA passed it, in wire form,
// with the blank line that ends it.
func (s *Session) headerBlock() []byte {
	var hdr []byte
	for i, h := range s.env.Headers {
		hdr = appendHeader(hdr, h.Name, s.tx.raw[i], s.tx.exact)
	}
	return append(hdr, "\r\n"...)
}

// appendHeader adds one header field to a header block in wire form: name,
// colon, the value (with CRLF line ends), CRLF. Without the exact value, a
// space after the colon is the best guess (the MTA removed one).
func appendHeader(b []byte, name, value string, exact bool) []byte {
	b = append(append(b, name...), ':')
	if !exact {
		b = append(b, ' ')
	}
	for i := 0; i < len(value); i++ {
		switch c := value[i]; {
		case c == '\n' && (i == 0 || value[i-1] != '\r'):
			b = append(b, '\r', '\n')
		default:
			b = append(b, c)
		}
	}
	return append(b, '\r', '\n')
}

// Headers implements milter.Milter (end of headers; not requested).
func (s *Session) Headers(m gomilter.Modifier) (*gomilter.Response, error) {
	s.use(m)
	return gomilter.RespContinue, nil
}

// BodyChunk implements milter.Milter: the body goes to the checks that
// read it as a stream (the MTA sends it only when one does).
func (s *Session) BodyChunk(chunk []byte, m gomilter.Modifier) (*gomilter.Response, error) {
	s.use(m)
	s.startStreams()
	for _, st := range s.tx.streams {
		st.Write(chunk)
	}
	s.dmarcBody(chunk)
	s.bounceChunk(chunk)
	return gomilter.RespContinue, nil
}

// Unknown implements milter.Milter (not requested).
func (s *Session) Unknown(_ string, m gomilter.Modifier) (*gomilter.Response, error) {
	return gomilter.RespContinue, nil
}

// startStreams starts the Streamer checks' streams, once per message, and
// gives them the header block.
func (s *Session) startStreams() {
	if s.tx == nil {
		s.tx = &transaction{start: s.now()}
	}
	if s.tx.streams != nil {
		return
	}
	s.tx.streams = map[string]checks.MessageStream{}
	if s.trusted != "" || s.tx.headerOver {
		if !s.tx.headerOver {
			s.outboundStreams()
		}
		return
	}
	hdr := s.headerBlock()
	for _, c := range s.rt.Chain.Checks() {
		if sc, ok := c.(checks.Streamer); ok {
			st := sc.Stream(s.ctx)
			st.Write(hdr)
			s.tx.streams[c.Name()] = st
		}
	}
}

// EndOfMessage implements milter.Milter: the verdict on the message, with
// its header edits.
func (s *Session) EndOfMessage(m gomilter.Modifier) (*gomilter.Response, error) {
	if s.tx == nil {
		s.tx = &transaction{start: s.now()}
	}
	s.use(m)
	if s.tx.headerOver {
		// Past limits.max_header_bytes, for trusted clients too: the
		// headers were not kept, so nothing could be checked or removed.
		r := headerTooLarge()
		s.tx.reply = r.String()
		s.tx.action = policy.Reject
		s.endTx(actionReject)
		return replyResponse(r), nil
	}
	s.startStreams()
	s.env.Streams = s.tx.streams
	if s.trusted == "" {
		s.tx.data = s.decide(s.run(checks.StageData))
		if _, ok := strongestRefusal(s.tx.data); !ok {
			s.tx.data = append(s.tx.data, s.decide(s.runAfter(checks.StageData))...)
		}
	}
	s.outboundData()
	v := s.verdict()
	if v.refusal != nil {
		s.tx.reply = v.refusal.Reply.String()
		s.dmarcEndOfMessage(string(v.refusal.Action))
		s.endTx(actionOf(v.refusal.Action))
		return replyResponse(v.refusal.Reply), nil
	}
	err := applyEdits(m, append(s.edits(v), s.outboundEdits()...))
	if err == nil {
		err = s.outboundRemove(m)
	}
	if err == nil && v.quarantine != "" {
		err = m.Quarantine(v.quarantine)
	}
	if err != nil {
		s.log.Warn("message edits failed", zap.Error(err), zap.String("email.local_id", s.env.QueueID))
		s.endTx(actionTempfail)
		return replyResponse(checks.Reply{Code: 451, Enhanced: "4.3.0", Text: "Temporary internal error, try again later"}), nil
	}
	s.outboundAccepted()
	s.bounceSent()
	s.dmarcEndOfMessage(v.accepted())
	if s.bounceEnd() {
		s.endTx(actionDiscard)
		return gomilter.RespDiscard, nil
	}
	switch {
	case v.quarantine != "":
		s.endTx(actionQuarantine)
	case len(v.tags) > 0:
		s.endTx(actionTag)
	default:
		s.endTx(actionAccept)
	}
	return gomilter.RespAccept, nil
}

// headerTooLarge refuses a message whose header block passed
// limits.max_header_bytes (RFC 3463 5.3.4: message too big for system).
func headerTooLarge() checks.Reply {
	return checks.Reply{Code: 552, Enhanced: "5.3.4", Text: "Message header size exceeds limit"}
}

// verdict is what happens to a message at its end.
type verdict struct {
	refusal    *policy.Decision // a data-stage refusal
	quarantine string           // reason, "" for none
	tags       []string         // "check=status" for each tagged finding
}

func (s *Session) verdict() verdict {
	if s.trusted != "" {
		return s.outboundVerdict()
	}
	// Only end-of-message refusals are still to be given; earlier ones were
	// given at RCPT TO.
	return verdictOf(s.tx.data, s.all())
}

// verdictOf is the verdict of a message: the strongest of the refusals
// still to be given, else a quarantine or tags from all its findings.
func verdictOf(refusable []finding, all iter.Seq[finding]) verdict {
	var v verdict
	if d, ok := strongestRefusal(refusable); ok {
		v.refusal = &d
	}
	for f := range all {
		switch f.d.Action {
		case policy.Quarantine:
			if v.quarantine == "" {
				v.quarantine = "mailsift: " + f.d.Check + "=" + string(f.d.Status)
			}
		case policy.Tag:
			v.tags = append(v.tags, f.d.Check+"="+string(f.d.Status))
		}
	}
	return v
}

// finding is a check's result and what the policy made of it.
type finding struct {
	r checks.Result
	d policy.Decision
}

func (s *Session) decide(rs []checks.Result) []finding {
	fs := make([]finding, len(rs))
	for i, r := range rs {
		fs[i] = finding{r, s.rt.Policy.Decide(r)}
	}
	return fs
}

// findings lists the connection's and the current message's findings in
// stage order.
func (s *Session) findings() []finding {
	g := s.groups()
	all := make([]finding, 0, len(g[0])+len(g[1])+len(g[2])+len(g[3]))
	for _, fs := range g {
		all = append(all, fs...)
	}
	return all
}

// all yields the findings in stage order, without a copy of the list.
func (s *Session) all() iter.Seq[finding] {
	return func(yield func(finding) bool) {
		for _, fs := range s.groups() {
			for _, f := range fs {
				if !yield(f) {
					return
				}
			}
		}
	}
}

// groups are the findings by stage, in stage order.
func (s *Session) groups() [4][]finding {
	g := [4][]finding{s.conn}
	if s.tx != nil {
		rcpt := s.tx.rcpt
		if rcpt == nil {
			// No recipient was accepted: the last refused one tells why.
			rcpt = s.tx.rcptLast
		}
		g[1], g[2], g[3] = s.tx.mail, rcpt, s.tx.data
	}
	return g
}

// strongestRefusal returns the strongest refusing decision, if any.
func strongestRefusal(groups ...[]finding) (policy.Decision, bool) {
	var best policy.Decision
	for _, fs := range groups {
		for _, f := range fs {
			if f.d.Action.Refuses() && f.d.Action.Stronger(best.Action) {
				best = f.d
			}
		}
	}
	return best, best.Action != ""
}

// Abort implements milter.Milter: RSET, or the MTA ending the transaction
// (Postfix sends it after every message too). Connection data stays.
func (s *Session) Abort(m gomilter.Modifier) error {
	s.endTx(actionAbort)
	return nil
}

// Cleanup implements milter.Milter: the MTA connection is gone.
func (s *Session) Cleanup(m gomilter.Modifier) {
	s.endTx(actionAbort)
	s.mod = nil
}

// closed is called once the MTA connection is gone.
func (s *Session) closed() {
	s.endTx(actionAbort)
}

// endTx writes the transaction's log record and forgets the message. action is what happened when the message was not
// refused or accepted on its own.
func (s *Session) endTx(action eventAction) {
	if s.tx == nil {
		return
	}
	if action == actionAbort && s.tx.action != "" && len(s.env.Rcpts) == 0 {
		action = actionOf(s.tx.action) // every recipient was refused
	}
	s.logRecord(action)
	for _, st := range s.tx.streams {
		st.Abort() // ends the stream's work; harmless after its verdict
	}
	s.env.Streams = nil
	s.tx = nil
	s.env.From, s.env.Rcpt, s.env.Rcpts, s.env.Headers, s.env.QueueID = "", "", nil, nil, ""
	s.env.ForgetMessage()
}
