// Package trace rebuilds what happened to messages from Postfix's own log
// (syslog or journald short formats, Postfix's maillog_file, rotated .gz
// files) joined with mailsift's JSON records, and says where each message
// went and who must act: the algorithm people run by hand when someone
// asks "where did my mail go?".
//
// Find the message (queue id, Message-ID, sender or recipient within a time
// range); find its last delivery attempt; 250 means the next server has it
// (ask its administrator, with these lines); any other reply is quoted and
// explained as `mailsift explain` does.
package trace

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Attempt is one delivery attempt: a line of smtp, lmtp, virtual, local,
// error, discard or pipe with to= and status=.
type Attempt struct {
	Time    time.Time
	Service string // smtp, lmtp, virtual, local, error, ...
	To      string
	OrigTo  string
	Relay   string // "mx.example.org[192.0.2.7]:25", "virtual", "none"
	Delay   string
	DSN     string // 2.0.0
	Status  string // sent, deferred, bounced, expired
	Reply   string // the text in parentheses: the remote reply or Postfix's explanation
	Line    string
}

// Verdict is mailsift's record of a message, joined by queue id.
type Verdict struct {
	Action string            // event.action: accept, reject, tempfail, tag, ...
	Reply  string            // mailsift.reply
	Checks map[string]string // check name → "status reason", for the checks that did not pass
	Line   string
}

// Message is what the log says about one queue id (or one refusal before
// a queue id existed).
type Message struct {
	QueueID   string
	MessageID string
	From      string
	Size      string
	Client    string // "host[ip]" from smtpd client=, or "local (uid N)" from pickup
	User      string // sasl_username
	Received  time.Time
	Refusal   string // a refusal while receiving: NOQUEUE reject or cleanup (milter-)reject
	RefusedTo []string
	Held      string // milter-hold / hold reason
	Discarded string
	Attempts  []Attempt
	Expired   bool   // qmgr: status=expired, returned to sender
	Removed   bool   // left the queue
	Notice    string // queue id of the non-delivery notification Postfix sent back
	Verdict   *Verdict
	Lines     []string
	first     time.Time
	last      time.Time
}

// Log is a parsed mail log.
type Log struct {
	now      func() time.Time
	msgs     map[string]*Message
	refusals []*Message // NOQUEUE: refused before a queue id existed
	records  []record   // mailsift records
	lineNo   int
}

type record struct {
	queueID, from, action, reply, line string
	to                                 []string
	checks                             map[string]string
}

// New returns an empty log; now gives the year of syslog time stamps that
// carry none (a stamp more than a day ahead of now is last year's).
func New(now func() time.Time) *Log {
	return &Log{now: now, msgs: map[string]*Message{}}
}

// maxLine bounds one log line.
const maxLine = 1 << 20

// Add reads log lines: Postfix's (syslog, journald short or short-iso,
// maillog_file) and mailsift's JSON records, in any mix; gzip input is
// recognized by its magic bytes.
func (l *Log) Add(r io.Reader) error {
	br := bufio.NewReader(r)
	if magic, err := br.Peek(2); err == nil && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("gzip: %w", err)
		}
		defer zr.Close()
		br = bufio.NewReader(zr)
	}
	sc := bufio.NewScanner(br)
	sc.Buffer(make([]byte, 0, 64*1024), maxLine)
	for sc.Scan() {
		l.lineNo++
		l.addLine(sc.Text())
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("line %d: %w", l.lineNo+1, err)
	}
	return nil
}

var (
	reStampBSD = regexp.MustCompile(`^([A-Z][a-z]{2}) +(\d{1,2}) (\d{2}:\d{2}:\d{2})(\.\d+)? `)
	reStampISO = regexp.MustCompile(`^(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?) `)
	reProgram  = regexp.MustCompile(`^(\S+) ([^\s\[:]+)(?:\[(\d+)\])?: (.*)$`)
	reQueueID  = regexp.MustCompile(`^([0-9A-F]{6,}|[0-9A-Za-z]{12,}): (.*)$`)
)

// parseStamp reads the time stamp at the start of a line and returns the
// rest.
func (l *Log) parseStamp(line string) (time.Time, string, bool) {
	if m := reStampISO.FindStringSubmatch(line); m != nil {
		s := strings.Replace(m[1], " ", "T", 1)
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999-0700", "2006-01-02T15:04:05.999999999"} {
			if t, err := time.Parse(layout, s); err == nil {
				return t, line[len(m[0]):], true
			}
		}
		return time.Time{}, "", false
	}
	if m := reStampBSD.FindStringSubmatch(line); m != nil {
		now := l.now()
		t, err := time.ParseInLocation("Jan 2 15:04:05 2006", fmt.Sprintf("%s %s %s %d", m[1], m[2], m[3], now.Year()), now.Location())
		if err != nil {
			return time.Time{}, "", false
		}
		if m[4] != "" {
			if f, err := strconv.ParseFloat("0"+m[4], 64); err == nil {
				t = t.Add(time.Duration(f * float64(time.Second)))
			}
		}
		if t.After(now.Add(24 * time.Hour)) {
			t = t.AddDate(-1, 0, 0)
		}
		return t, line[len(m[0]):], true
	}
	return time.Time{}, "", false
}

func (l *Log) addLine(line string) {
	if strings.HasPrefix(strings.TrimSpace(line), "{") {
		l.addRecord(line)
		return
	}
	t, rest, ok := l.parseStamp(line)
	if !ok {
		return
	}
	m := reProgram.FindStringSubmatch(rest)
	if m != nil && strings.HasPrefix(m[4], "{") {
		// mailsift's JSON record through syslog or the journal
		l.addRecord(m[4])
		return
	}
	if m == nil || !strings.Contains(m[2], "postfix") {
		return
	}
	service := m[2][strings.LastIndexByte(m[2], '/')+1:]
	text := m[4]
	if strings.HasPrefix(text, "NOQUEUE: ") {
		l.addRefusal(t, strings.TrimPrefix(text, "NOQUEUE: "), line)
		return
	}
	q := reQueueID.FindStringSubmatch(text)
	if q == nil {
		return
	}
	id, body := q[1], q[2]
	msg := l.msgs[id]
	if msg == nil {
		msg = &Message{QueueID: id, first: t}
		l.msgs[id] = msg
	}
	msg.Lines = append(msg.Lines, line)
	msg.last = t
	switch {
	case service == "smtpd" && strings.HasPrefix(body, "client="):
		kv := fields(body)
		msg.Client, msg.User, msg.Received = kv["client"], kv["sasl_username"], t
	case service == "pickup" && strings.HasPrefix(body, "uid="):
		kv := fields(body)
		msg.Client, msg.Received = "local submission (uid "+kv["uid"]+")", t
		if msg.From == "" {
			msg.From = strings.Trim(kv["from"], "<>")
		}
	case service == "cleanup" && strings.HasPrefix(body, "message-id="):
		msg.MessageID = strings.TrimSpace(strings.TrimPrefix(body, "message-id="))
	case strings.HasPrefix(body, "milter-reject: ") || strings.HasPrefix(body, "reject: "):
		msg.Refusal = refusalReply(body)
		if _, to := refusalAddrs(body); to != "" {
			msg.RefusedTo = append(msg.RefusedTo, to)
		}
	case strings.HasPrefix(body, "milter-hold: ") || strings.HasPrefix(body, "hold: "):
		msg.Held = refusalReply(body)
	case strings.HasPrefix(body, "milter-discard: ") || strings.HasPrefix(body, "discard: "):
		msg.Discarded = refusalReply(body)
	case service == "qmgr" && strings.HasPrefix(body, "from="):
		kv := fields(body)
		msg.From = strings.Trim(kv["from"], "<>")
		if kv["size"] != "" {
			msg.Size = kv["size"]
		}
		if kv["status"] == "expired" {
			msg.Expired = true
		}
	case body == "removed":
		msg.Removed = true
	case strings.HasPrefix(body, "sender non-delivery notification: "):
		msg.Notice = strings.TrimSpace(strings.TrimPrefix(body, "sender non-delivery notification: "))
	case strings.HasPrefix(body, "to="):
		msg.Attempts = append(msg.Attempts, attempt(t, service, body, line))
	}
}

var (
	reKV     = regexp.MustCompile(`(\w+)=(<[^>]*>|[^,\s]*)`)
	reStatus = regexp.MustCompile(`status=(\w+)(?: \((.*)\))?\s*$`)
)

// fields reads the key=value pairs of a Postfix log text.
func fields(s string) map[string]string {
	out := map[string]string{}
	for _, m := range reKV.FindAllStringSubmatch(s, -1) {
		if _, ok := out[m[1]]; !ok {
			out[m[1]] = m[2]
		}
	}
	return out
}

func attempt(t time.Time, service, body, line string) Attempt {
	head := body
	a := Attempt{Time: t, Service: service, Line: line}
	if m := reStatus.FindStringSubmatchIndex(body); m != nil {
		a.Status = body[m[2]:m[3]]
		if m[4] >= 0 {
			a.Reply = body[m[4]:m[5]]
		}
		head = body[:m[0]]
	}
	kv := fields(head)
	a.To = strings.Trim(kv["to"], "<>")
	a.OrigTo = strings.Trim(kv["orig_to"], "<>")
	a.Relay, a.Delay, a.DSN = kv["relay"], kv["delay"], kv["dsn"]
	return a
}

// refusalReply returns the reply of a reject line: "RCPT from
// host[ip]: 550 5.7.1 text; from=<a> to=<b> proto=ESMTP helo=<h>" →
// "550 5.7.1 text".
func refusalReply(body string) string {
	if i := strings.Index(body, "]: "); i >= 0 {
		body = body[i+3:]
	} else if _, rest, ok := strings.Cut(body, ": "); ok {
		body = rest
	}
	if i := strings.LastIndex(body, "; from=<"); i >= 0 {
		body = body[:i]
	}
	return strings.TrimSpace(body)
}

func refusalAddrs(body string) (from, to string) {
	i := strings.LastIndex(body, "; from=<")
	if i < 0 {
		return "", ""
	}
	kv := fields(body[i+2:])
	return strings.Trim(kv["from"], "<>"), strings.Trim(kv["to"], "<>")
}

func (l *Log) addRefusal(t time.Time, body, line string) {
	from, to := refusalAddrs(body)
	m := &Message{From: from, Refusal: refusalReply(body), Lines: []string{line}, first: t, last: t, Received: t}
	if to != "" {
		m.RefusedTo = []string{to}
	}
	if i := strings.Index(body, " from "); i >= 0 {
		if j := strings.Index(body[i+6:], ": "); j >= 0 {
			m.Client = body[i+6 : i+6+j]
		}
	}
	l.refusals = append(l.refusals, m)
}

// addRecord reads one of mailsift's JSON log lines; only the per-message
// records ("message": "message") matter.
func (l *Log) addRecord(line string) {
	var r map[string]any
	d := json.NewDecoder(bytes.NewReader([]byte(line)))
	if d.Decode(&r) != nil || r["message"] != "message" {
		return
	}
	str := func(k string) string { s, _ := r[k].(string); return s }
	rec := record{queueID: str("email.local_id"), from: str("email.from.address"), action: str("event.action"),
		reply: str("mailsift.reply"), line: line, checks: map[string]string{}}
	if to, ok := r["email.to.address"].([]any); ok {
		for _, v := range to {
			if s, ok := v.(string); ok {
				rec.to = append(rec.to, s)
			}
		}
	}
	for k := range r {
		name, ok := strings.CutPrefix(k, "mailsift.checks.")
		if !ok || !strings.HasSuffix(name, ".status") {
			continue
		}
		name = strings.TrimSuffix(name, ".status")
		st := str(k)
		if st == "pass" || st == "none" || st == "" {
			continue
		}
		rec.checks[name] = strings.TrimSpace(st + " " + str("mailsift.checks."+name+".reason"))
	}
	l.records = append(l.records, rec)
}

// Query selects messages. Empty fields select everything; Since and Until
// bound the time of any of the message's lines.
type Query struct {
	QueueID   string
	MessageID string
	From      string
	To        string
	Since     time.Time
	Until     time.Time
}

func (q Query) String() string {
	var parts []string
	add := func(k, v string) {
		if v != "" {
			parts = append(parts, k+" "+v)
		}
	}
	add("queue id", q.QueueID)
	add("Message-ID", q.MessageID)
	add("sender", q.From)
	add("recipient", q.To)
	if !q.Since.IsZero() {
		parts = append(parts, "since "+q.Since.Format(time.DateTime))
	}
	if !q.Until.IsZero() {
		parts = append(parts, "until "+q.Until.Format(time.DateTime))
	}
	if len(parts) == 0 {
		return "any message"
	}
	return strings.Join(parts, ", ")
}

func trimID(s string) string { return strings.Trim(strings.TrimSpace(s), "<>") }

func (q Query) match(m *Message) bool {
	if q.QueueID != "" && !strings.EqualFold(m.QueueID, q.QueueID) {
		return false
	}
	if q.MessageID != "" && trimID(m.MessageID) != trimID(q.MessageID) {
		return false
	}
	if q.From != "" && !strings.EqualFold(m.From, trimID(q.From)) {
		return false
	}
	if q.To != "" {
		found := false
		for _, a := range m.Attempts {
			if strings.EqualFold(a.To, trimID(q.To)) || strings.EqualFold(a.OrigTo, trimID(q.To)) {
				found = true
			}
		}
		for _, a := range m.RefusedTo {
			if strings.EqualFold(a, trimID(q.To)) {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	if !q.Since.IsZero() && m.last.Before(q.Since) {
		return false
	}
	if !q.Until.IsZero() && m.first.After(q.Until) {
		return false
	}
	return true
}

// Find returns the messages the query selects, oldest first, each with
// mailsift's verdict joined.
func (l *Log) Find(q Query) []*Message {
	var out []*Message
	for _, m := range l.msgs {
		if q.match(m) {
			out = append(out, m)
		}
	}
	if q.QueueID == "" && q.MessageID == "" {
		for _, m := range l.refusals {
			if q.match(m) {
				out = append(out, m)
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].first.Before(out[j].first) })
	for _, m := range out {
		sort.SliceStable(m.Attempts, func(i, j int) bool { return m.Attempts[i].Time.Before(m.Attempts[j].Time) })
		m.Verdict = l.verdict(m)
	}
	return out
}

// verdict finds mailsift's record of m: by queue id, or for a refusal
// before a queue id existed, by sender and recipient.
func (l *Log) verdict(m *Message) *Verdict {
	for i := len(l.records) - 1; i >= 0; i-- {
		r := l.records[i]
		ok := m.QueueID != "" && r.queueID == m.QueueID
		if m.QueueID == "" && r.queueID == "" && strings.EqualFold(r.from, m.From) && len(m.RefusedTo) > 0 {
			for _, to := range r.to {
				if strings.EqualFold(to, m.RefusedTo[0]) {
					ok = true
				}
			}
		}
		if ok {
			return &Verdict{Action: r.action, Reply: r.reply, Checks: r.checks, Line: r.line}
		}
	}
	return nil
}
