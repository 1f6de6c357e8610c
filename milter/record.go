package milter

import (
	"sort"

	"github.com/mailsift/mailsift/checks"
	"github.com/mailsift/mailsift/policy"

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
		zap.String("email.from.address", s.env.From),
		zap.Strings("email.to.address", tx.to),
		zap.String("mailsift.helo", s.env.Helo),
	}
	if name := s.env.VerifiedName(); name != "" {
		fields = append(fields, zap.String("source.domain", name))
	}
	if s.env.QueueID != "" {
		fields = append(fields, zap.String("email.local_id", s.env.QueueID))
	}
	if tx.messageID != "" {
		fields = append(fields, zap.String("email.message_id", tx.messageID))
	}
	if tx.reply != "" {
		fields = append(fields, zap.String("mailsift.reply", tx.reply))
	}
	if len(tx.refusedTo) > 0 {
		fields = append(fields, zap.Strings("mailsift.refused_to", tx.refusedTo))
	}
	if s.trusted != "" {
		fields = append(fields, zap.String("mailsift.trusted", s.trusted))
	}
	if s.env.AuthUser != "" {
		fields = append(fields, zap.String("user.name", s.env.AuthUser))
	}
	for _, f := range lastPerCheck(s.findings()) {
		p := "mailsift.checks." + f.r.Check + "."
		fields = append(fields,
			zap.String(p+"status", string(f.r.Status)),
			zap.String(p+"reason", f.r.Reason),
			zap.Int64(p+"duration", int64(f.r.Duration)),
			zap.String(p+"action", string(f.d.Action)),
		)
		for _, k := range sortedKeys(f.r.Details) {
			if v := f.r.Details[k]; v != "" {
				fields = append(fields, zap.String(p+k, v))
			}
		}
	}
	s.log.Info("message", fields...)
	results := make([]checks.Result, 0, len(s.findings()))
	for _, f := range s.findings() {
		results = append(results, f.r)
	}
	s.obs.Message(string(action), results, tx.reply)
	if ce := s.log.Check(zapcore.DebugLevel, "message details"); ce != nil {
		var details []zap.Field
		for _, f := range s.findings() {
			details = append(details, zap.String("mailsift.checks."+f.r.Check+".text", f.r.Text))
		}
		ce.Write(append(details, zap.String("email.local_id", s.env.QueueID))...)
	}
}

func addrString(s *Session) string {
	if s.env.ClientIP.IsValid() {
		return s.env.ClientIP.String()
	}
	return ""
}

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
	idx := map[string]int{}
	var out []finding
	for _, f := range fs {
		if i, ok := idx[f.r.Check]; ok {
			out[i] = f
			continue
		}
		idx[f.r.Check] = len(out)
		out = append(out, f)
	}
	return out
}
