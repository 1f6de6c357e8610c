package milter

import (
	"sort"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/mailsift/mailsift/checks"
	"github.com/mailsift/mailsift/internal/policy"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// eventAction is what happened to a message: its log record's
// event.action.
type eventAction string

// The event.action values.
const (
	actionAccept     eventAction = "accept"                       // accepted as it is
	actionAbort      eventAction = "abort"                        // the transaction ended before the message did
	actionReject     eventAction = eventAction(policy.Reject)     // refused with a 5xx reply
	actionTempfail   eventAction = eventAction(policy.Tempfail)   // refused with a 4xx reply
	actionQuarantine eventAction = eventAction(policy.Quarantine) // accepted into the MTA's hold queue
	actionTag        eventAction = eventAction(policy.Tag)        // accepted with an X-Mailsift header
	actionDiscard    eventAction = "discard"                      // accepted and dropped: a bounce to our bounce addresses, recorded
)

// actionOf is the event.action of a refusal the policy decided.
func actionOf(a policy.Action) eventAction { return eventAction(a) }

// The event.outcome values (ECS).
const (
	outcomeSuccess = "success"
	outcomeFailure = "failure"
	outcomeUnknown = "unknown"
)

// logRecord writes the one info record of a message. Field names follow the
// Elastic Common Schema where one exists; the rest are under mailsift.*.
// Header values and bodies never go here.
func (s *Session) logRecord(action eventAction) {
	tx := s.tx
	defer s.observe(action) // metrics, whether or not the record is written
	ce := s.log.Check(zapcore.InfoLevel, "message")
	if ce == nil {
		return // no fields built for a record that is not written
	}
	fs := s.findings()
	outcome := outcomeSuccess
	switch action {
	case actionReject, actionTempfail:
		outcome = outcomeFailure
	case actionAbort:
		outcome = outcomeUnknown
	}
	fields := []zap.Field{
		zap.String("event.action", string(action)),
		zap.String("event.outcome", outcome),
		zap.Int64("event.duration", int64(s.now().Sub(tx.start))),
		zap.String("source.ip", addrString(s)),
		zap.Int("source.port", s.env.ClientPort),
		zap.String("email.from.address", capString(s.env.From)),
		zap.Strings("email.to.address", capList(tx.to, toBudget)),
		zap.Int("mailsift.rcpt_count", len(tx.to)),
		zap.String("mailsift.helo", capString(s.env.Helo)),
	}
	if len(tx.rcpts) > 0 {
		fields = append(fields, zap.Array("mailsift.recipients", rcptList(tx.rcpts)))
	}
	if name := s.env.VerifiedName(); name != "" {
		// A name forward-confirmed by the PTR check or the MTA, and not
		// contradicted by the PTR check.
		fields = append(fields, zap.String("source.domain", name))
	}
	if s.env.ClientName != "" && s.env.ClientName != s.env.VerifiedName() {
		fields = append(fields, zap.String("mailsift.mta_client_name", s.env.ClientName))
	}
	if s.env.QueueID != "" {
		fields = append(fields, zap.String("email.local_id", capString(s.env.QueueID)))
	}
	if tx.messageID != "" {
		fields = append(fields, zap.String("email.message_id", capString(tx.messageID)))
	}
	if tx.reply != "" {
		fields = append(fields, zap.String("mailsift.reply", capString(tx.reply)))
	}
	if len(tx.refusedTo) > 0 {
		fields = append(fields, zap.Strings("mailsift.refused_to", capList(tx.refusedTo, refusedBudget)),
			zap.Int("mailsift.refused_count", len(tx.refusedTo)))
	}
	if s.trusted != "" {
		fields = append(fields, zap.String("mailsift.trusted", s.trusted))
	}
	if s.env.AuthUser != "" {
		fields = append(fields, zap.String("user.name", capString(s.env.AuthUser)))
	}
	for _, f := range lastPerCheck(fs) {
		key := func(field string) string { return s.rt.logKey(f.r.Check, field) }
		fields = append(fields,
			zap.String(key("status"), string(f.r.Status)),
			zap.String(key("reason"), f.r.Reason),
			zap.Int64(key("duration"), int64(f.r.Duration)),
			zap.String(key("action"), string(f.d.Action)),
		)
		for _, k := range sortedKeys(f.r.Details) {
			if v := f.r.Details[k]; v != "" {
				fields = append(fields, zap.String(key(k), capString(v)))
			}
		}
	}
	ce.Write(fields...)
	if ce := s.log.Check(zapcore.DebugLevel, "message details"); ce != nil {
		var details []zap.Field
		for _, f := range fs {
			details = append(details, zap.String(s.rt.logKey(f.r.Check, "text"), capString(f.r.Text)))
		}
		ce.Write(append(details, zap.String("email.local_id", s.env.QueueID))...)
	}
}

// observe gives the message's results to the metrics.
func (s *Session) observe(action eventAction) {
	g := s.groups()
	results := make([]checks.Result, 0, len(g[0])+len(g[1])+len(g[2])+len(g[3]))
	for f := range s.all() {
		results = append(results, f.r)
	}
	s.obs.Message(string(action), results, s.tx.reply)
}

// logKeys holds the log record's per-check keys ("mailsift.checks.<check>.<field>"),
// built once per runtime rather than for every message.
type logKeys struct {
	mu sync.RWMutex
	m  map[string]map[string]string // check → field → key
	n  int
}

// maxLogKeys bounds the cache; past it a key is built each time.
const maxLogKeys = 4096

func (rt *Runtime) logKey(check, field string) string {
	rt.keys.mu.RLock()
	k, ok := rt.keys.m[check][field]
	rt.keys.mu.RUnlock()
	if ok {
		return k
	}
	k = "mailsift.checks." + check + "." + field
	rt.keys.mu.Lock()
	defer rt.keys.mu.Unlock()
	if rt.keys.n < maxLogKeys {
		if rt.keys.m == nil {
			rt.keys.m = map[string]map[string]string{}
		}
		if rt.keys.m[check] == nil {
			rt.keys.m[check] = map[string]string{}
		}
		rt.keys.m[check][field] = k
		rt.keys.n++
	}
	return k
}

func addrString(s *Session) string {
	if s.env.ClientIP.IsValid() {
		return s.env.ClientIP.String()
	}
	return ""
}

// sortedKeys is slices.Sorted(maps.Keys(m)) without its iterator's
// allocations (three more on every call): it runs per check per message.
func sortedKeys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// lastPerCheck keeps each check's last finding, in the order the checks
// first appear: a check that runs at two stages has one set of log fields.
func lastPerCheck(fs []finding) []finding {
	out := make([]finding, 0, len(fs))
next:
	for _, f := range fs {
		for i := range out { // a handful of checks: no map
			if out[i].r.Check == f.r.Check {
				out[i] = f
				continue next
			}
		}
		out = append(out, f)
	}
	return out
}

// A record stays under 64 KiB whatever the MTA sends: each string is cut
// at maxLogString bytes (at most twice that once JSON-escaped), and each
// list keeps its first entries up to a byte budget; the counts
// (mailsift.rcpt_count, mailsift.refused_count) say how many there were.
const (
	maxLogString    = 256
	toBudget        = 12 << 10
	refusedBudget   = 8 << 10
	recipientBudget = 16 << 10
)

// capString cuts s to maxLogString bytes, at a character boundary, and
// marks the cut with "..."; control characters and bytes that are not
// UTF-8 (which JSON would escape to six bytes each) become "?".
func capString(s string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f || c >= 0x80 {
			clean = false
			break
		}
	}
	if !clean {
		s = strings.Map(func(r rune) rune {
			if r < 0x20 || r == 0x7f || r == utf8.RuneError || r == 0x2028 || r == 0x2029 {
				return '?'
			}
			return r
		}, strings.ToValidUTF8(s, "?"))
	}
	if len(s) <= maxLogString {
		return s
	}
	i := maxLogString - 3
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "..."
}

// logSize is what s may take in a JSON record: escaping (of '"' and '\\')
// may double it.
func logSize(s string) int { return 2*len(capString(s)) + 3 }

// capList keeps the first entries of ss that fit budget bytes.
func capList(ss []string, budget int) []string {
	out := make([]string, 0, len(ss))
	for _, s := range ss {
		if budget -= logSize(s); budget < 0 {
			break
		}
		out = append(out, capString(s))
	}
	return out
}

// rcptList is mailsift.recipients: what became of each RCPT TO, in order,
// [{"address","action"[,"reply","check","reason"]}], its first entries up
// to recipientBudget bytes.
type rcptList []rcptOutcome

func (l rcptList) MarshalLogArray(enc zapcore.ArrayEncoder) error {
	budget := recipientBudget
	for _, o := range l {
		if budget -= logSize(o.address) + logSize(o.reply) + logSize(o.check) + logSize(o.reason) + 64; budget < 0 {
			break
		}
		if err := enc.AppendObject(o); err != nil {
			return err
		}
	}
	return nil
}

func (o rcptOutcome) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	enc.AddString("address", capString(o.address))
	enc.AddString("action", o.action)
	if o.reply != "" {
		enc.AddString("reply", capString(o.reply))
		enc.AddString("check", o.check)
		enc.AddString("reason", capString(o.reason))
	}
	return nil
}
