package milter

import (
	"sort"
	"sync"

	"github.com/mailsift/mailsift/checks"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// logRecord writes the one info record of a message. Field names follow the
// Elastic Common Schema where one exists; the rest are under mailsift.*.
// Header values and bodies never go here.
func (s *Session) logRecord(action string) {
	tx := s.tx
	defer s.observe(action) // metrics, whether or not the record is written
	ce := s.log.Check(zapcore.InfoLevel, "message")
	if ce == nil {
		return // no fields built for a record that is not written
	}
	fs := s.findings()
	outcome := "success"
	switch action {
	case "reject", "tempfail":
		outcome = "failure"
	case "abort":
		outcome = "unknown"
	}
	fields := []zap.Field{
		zap.String("event.action", action),
		zap.String("event.outcome", outcome),
		zap.Int64("event.duration", int64(s.now().Sub(tx.start))),
		zap.String("source.ip", addrString(s)),
		zap.Int("source.port", s.env.ClientPort),
		zap.String("email.from.address", s.env.From),
		zap.Strings("email.to.address", tx.to),
		zap.String("mailsift.helo", s.env.Helo),
	}
	if s.env.ClientName != "" {
		fields = append(fields, zap.String("source.domain", s.env.ClientName))
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
				fields = append(fields, zap.String(key(k), v))
			}
		}
	}
	ce.Write(fields...)
	if ce := s.log.Check(zapcore.DebugLevel, "message details"); ce != nil {
		var details []zap.Field
		for _, f := range fs {
			details = append(details, zap.String(s.rt.logKey(f.r.Check, "text"), f.r.Text))
		}
		ce.Write(append(details, zap.String("email.local_id", s.env.QueueID))...)
	}
}

// observe gives the message's results to the metrics.
func (s *Session) observe(action string) {
	g := s.groups()
	results := make([]checks.Result, 0, len(g[0])+len(g[1])+len(g[2])+len(g[3]))
	for f := range s.all() {
		results = append(results, f.r)
	}
	s.obs.Message(action, results, s.tx.reply)
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
