package milter

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	gomilter "github.com/d--j/go-milter"

	"github.com/mailsift/mailsift/checks"
	"github.com/mailsift/mailsift/internal/clocktest"
	"github.com/mailsift/mailsift/internal/policy"
	"github.com/mailsift/mailsift/internal/suppress"
)

// bounceRuntime reads bounces to bounces@site.test and refuses
// submissions to suppressed recipients.
func bounceRuntime(t *testing.T, discard bool) (*Runtime, *suppress.List) {
	t.Helper()
	clock := clocktest.New(time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC))
	l := &suppress.List{Store: suppress.NewMemory(nil), Policy: suppress.Policy{HardLimit: 3, SoftLimit: 5, Window: 168 * time.Hour}, Now: clock.Now}
	rep := func(c, k string) checks.Reply { r, _ := checks.DefaultReply(c, k); return r }
	rt := testRuntime(policy.Enforce)
	rt.Outbound = &Outbound{Chain: checks.NewChain(time.Second, time.Now,
		&checks.Suppress{List: l, Suppressed: rep("suppress", "perm"), StoreError: rep("suppress", "store")})}
	rt.Bounces = &Bounces{Addresses: []string{"bounces@site.test"}, Delimiter: "+", Discard: discard, List: l}
	return rt, l
}

// eml splits a sample message into its header fields (name, value, ...)
// as the MTA passes them, with LF line ends, and its body with CRLF.
func eml(t *testing.T, path string) ([]string, []byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b = bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
	head, body, _ := bytes.Cut(b, []byte("\n\n"))
	var hs []string
	for _, line := range strings.Split(string(head), "\n") {
		if (strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t")) && len(hs) > 0 {
			hs[len(hs)-1] += "\n" + line
			continue
		}
		name, value, _ := strings.Cut(line, ":")
		hs = append(hs, name, value)
	}
	return hs, bytes.ReplaceAll(body, []byte("\n"), []byte("\r\n"))
}

// sendBounce sends a sample from <> to rcpts and returns End's action.
func sendBounce(t *testing.T, s *mta, path string, rcpts ...string) *gomilter.Action {
	t.Helper()
	return sendBounceFrom(t, s, "", path, rcpts...)
}

// sendBounceFrom sends a sample from from to rcpts and returns End's action.
func sendBounceFrom(t *testing.T, s *mta, from, path string, rcpts ...string) *gomilter.Action {
	t.Helper()
	hs, body := eml(t, path)
	cont(t)(s.Mail(from))
	for _, r := range rcpts {
		cont(t)(s.Rcpt(r))
	}
	for i := 0; i < len(hs); i += 2 {
		cont(t)(s.Header(hs[i], hs[i+1]))
	}
	_, act, err := s.End(body, "i", "QID1")
	if err != nil {
		t.Fatal(err)
	}
	return act
}

// bounceRecords returns the "bounce" log records written so far.
func bounceRecords(t *testing.T, l *logBuf, message string) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(l.b.Bytes()))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line is not JSON: %q: %v", sc.Text(), err)
		}
		if m["message"] == message {
			out = append(out, m)
		}
	}
	return out
}

const postfixBounce = "../testdata/dsn/sisimai/lhost-postfix-02.eml"

func TestBouncesRecordedAndSuppressed(t *testing.T) {
	rt, l := bounceRuntime(t, false)
	f := start(t, rt)
	s := f.session(t, "198.51.100.7")
	if s.s.ProtocolOption(gomilter.OptNoBody) {
		t.Fatal("protocol options: the body is needed to read bounces")
	}
	cont(t)(s.Helo("mx.example.com"))
	// A VERP address is the bounce mailbox's.
	if act := sendBounce(t, s, postfixBounce, "Bounces+u123=example.co.jp@site.test"); act.Type != gomilter.ActionAccept {
		t.Fatalf("bounce: %v, want accept (discard is off)", act)
	}
	rs := bounceRecords(t, f.logs, "bounce")
	if len(rs) != 2 {
		t.Fatalf("%d bounce records, want one per failed recipient (2)", len(rs))
	}
	want := map[string]any{"event.action": "bounce", "email.local_id": "QID1", "email.to.address": "userunknown@example.co.jp",
		"mailsift.bounce.class": "user-unknown", "mailsift.bounce.status": "5.1.1", "mailsift.bounce.hard": true,
		"mailsift.bounce.remote_mta": "mx.example.co.jp", "mailsift.bounce.diagnostic": "550 5.1.1 <userunknown@example.co.jp>... User Unknown",
		"mailsift.bounce.hard_count": 1.0, "mailsift.bounce.suppressed": false}
	r := rs[1]
	if rs[0]["email.to.address"] == "userunknown@example.co.jp" {
		r = rs[0]
	}
	for k, v := range want {
		if r[k] != v {
			t.Errorf("record[%q] = %v, want %v", k, r[k], v)
		}
	}
	// Two more: the third suppresses both recipients.
	sendBounce(t, s, postfixBounce, "bounces@site.test")
	sendBounce(t, s, postfixBounce, "bounces@site.test")
	if n := len(bounceRecords(t, f.logs, "bounce")); n != 6 {
		t.Fatalf("%d bounce records after 3 bounces, want 6", n)
	}
	if n := len(bounceRecords(t, f.logs, "recipient suppressed")); n != 2 {
		t.Fatalf("%d suppression records, want 2", n)
	}
	if all, _ := l.All(t.Context()); len(all) != 2 {
		t.Fatalf("list: %+v", all)
	}

	// A submission to a suppressed address is refused at RCPT, for that
	// recipient only.
	sub := f.session(t, "198.51.100.20")
	cont(t)(sub.Helo("web.site.test"))
	cont(t)(sub.Mail("www@site.test", "{auth_authen}", "www"))
	replyIs(t, "550 5.1.1 <userunknown@example.co.jp>: recipient suppressed after 3 bounces (last: 5.1.1 user unknown, 2026-11-29)")(sub.Rcpt("userunknown@example.co.jp"))
	cont(t)(sub.Rcpt("alive@example.co.jp"))
	cont(t)(sub.Header("From", "www@site.test"))
	_, act, err := sub.End([]byte("hi\r\n"))
	wantAccept(t, act, err)
	// Inbound mail to the address is not a submission: not refused.
	in := f.session(t, "198.51.100.8")
	cont(t)(in.Helo("mx.example.com"))
	cont(t)(in.Mail("someone@example.com"))
	cont(t)(in.Rcpt("userunknown@example.co.jp"))
}

func TestBounceDiscard(t *testing.T) {
	rt, l := bounceRuntime(t, true)
	f := start(t, rt)
	s := f.session(t, "198.51.100.7")
	cont(t)(s.Helo("mx.example.com"))
	if act := sendBounce(t, s, postfixBounce, "bounces@site.test"); act.Type != gomilter.ActionDiscard {
		t.Fatalf("bounce with discard on: %v, want discard", act)
	}
	// A bounce also addressed to a user is delivered (and recorded).
	if act := sendBounce(t, s, postfixBounce, "bounces@site.test", "kijitora@site.test"); act.Type != gomilter.ActionAccept {
		t.Fatalf("bounce to a user too: %v, want accept", act)
	}
	// A message from <> to a user that carries a report is recorded, kept.
	if act := sendBounce(t, s, postfixBounce, "kijitora@site.test"); act.Type != gomilter.ActionAccept {
		t.Fatalf("bounce to a user: %v, want accept", act)
	}
	if e, _, _ := l.Lookup(t.Context(), "userunknown@example.co.jp"); !e.Suppressed {
		t.Fatalf("3 bounces recorded, entry %+v", e)
	}
	// An auto-reply to the bounce address is no bounce: delivered, not counted.
	before := len(bounceRecords(t, f.logs, "bounce"))
	if act := sendBounce(t, s, "../testdata/dsn/sisimai/arf-01.eml", "bounces@site.test"); act.Type != gomilter.ActionAccept {
		t.Fatalf("feedback report: %v, want accept", act)
	}
	// Mail from a sender (not <>) to someone else is not read.
	cont(t)(s.Mail("alice@example.com"))
	cont(t)(s.Rcpt("bob@site.test"))
	hs, body := eml(t, postfixBounce)
	for i := 0; i < len(hs); i += 2 {
		cont(t)(s.Header(hs[i], hs[i+1]))
	}
	_, act, err := s.End(body)
	wantAccept(t, act, err)
	if after := len(bounceRecords(t, f.logs, "bounce")); after != before {
		t.Fatalf("bounce records %d -> %d: a non-bounce was recorded", before, after)
	}
	// The discarded message's record says so.
	rs := f.logs.waitRecords(t, 1)
	if rs[0]["event.action"] != "discard" {
		t.Fatalf("first message's record: %v", rs[0]["event.action"])
	}
}

// TestBounceDiscardMixedRecipients: a bounce-shaped message to a bounce
// address and to an ordinary recipient is delivered, whatever the sender
// and the order of the recipients: discarding it would lose the
// ordinary recipient's copy.
func TestBounceDiscardMixedRecipients(t *testing.T) {
	for _, tc := range []struct {
		from  string
		rcpts []string
	}{
		{"alice@example.com", []string{"bob@site.test", "bounces@site.test"}},
		{"alice@example.com", []string{"bounces@site.test", "bob@site.test"}},
		{"", []string{"bob@site.test", "bounces@site.test"}},
		{"", []string{"bounces@site.test", "bob@site.test"}},
	} {
		rt, _ := bounceRuntime(t, true)
		f := start(t, rt)
		s := f.session(t, "198.51.100.7")
		cont(t)(s.Helo("mx.example.com"))
		if act := sendBounceFrom(t, s, tc.from, postfixBounce, tc.rcpts...); act.Type != gomilter.ActionAccept {
			t.Errorf("from <%s> to %v: %v, want accept (bob's copy delivered)", tc.from, tc.rcpts, act)
		}
		if rs := f.logs.waitRecords(t, 1); rs[0]["event.action"] != "accept" {
			t.Errorf("from <%s> to %v: record's event.action %v, want accept", tc.from, tc.rcpts, rs[0]["event.action"])
		}
	}
	// From a sender to the bounce address only: discarded.
	rt, _ := bounceRuntime(t, true)
	f := start(t, rt)
	s := f.session(t, "198.51.100.7")
	cont(t)(s.Helo("mx.example.com"))
	if act := sendBounceFrom(t, s, "alice@example.com", postfixBounce, "bounces@site.test"); act.Type != gomilter.ActionDiscard {
		t.Errorf("from a sender to the bounce address only: %v, want discard", act)
	}
}

// TestBounceDiscardStoreDown: a bounce the suppression list could not
// count (Redis down) is delivered, not discarded.
func TestBounceDiscardStoreDown(t *testing.T) {
	addr := deadAddr(t) // every store call fails
	rt, l := bounceRuntime(t, true)
	store := suppress.NewRedis(suppress.RedisConfig{Addrs: []string{addr}, Prefix: "test:bounces:", Timeout: 200 * time.Millisecond})
	t.Cleanup(func() { store.Close() })
	l.Store = store
	rt.Bounces.Timeout = 300 * time.Millisecond
	f := start(t, rt)
	s := f.session(t, "198.51.100.7")
	cont(t)(s.Helo("mx.example.com"))
	if act := sendBounce(t, s, postfixBounce, "bounces@site.test"); act.Type != gomilter.ActionAccept {
		t.Fatalf("bounce not counted, discard on: %v, want accept (delivered)", act)
	}
	if n := len(bounceRecords(t, f.logs, "bounce not counted")); n != 2 {
		t.Fatalf("%d \"bounce not counted\" records, want 2", n)
	}
	if rs := f.logs.waitRecords(t, 1); rs[0]["event.action"] != "accept" {
		t.Fatalf("record's event.action %v, want accept", rs[0]["event.action"])
	}
}

// countingStore counts the listings of suppressed entries: one per
// export written.
type countingStore struct {
	suppress.Store
	mu      sync.Mutex
	exports int
}

func (c *countingStore) Suppressed(ctx context.Context) ([]suppress.Entry, error) {
	c.mu.Lock()
	c.exports++
	c.mu.Unlock()
	return c.Store.Suppressed(ctx)
}

// manyRecipientsDSN is a delivery-status report failing n recipients.
func manyRecipientsDSN(n int) []byte {
	var b bytes.Buffer
	b.WriteString("--b\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n\r\n")
	b.WriteString("--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.net\r\n")
	for i := range n {
		fmt.Fprintf(&b, "\r\nFinal-Recipient: rfc822; user%d@example.net\r\nAction: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 user unknown\r\n", i)
	}
	b.WriteString("\r\n--b--\r\n")
	return b.Bytes()
}

// TestBounceRecipientsCapped: of a report naming 150 recipients, the first
// MaxBounceRecipients are counted, the rest logged as a count; the export
// is written once for the message; the bounce, not all counted, is
// delivered.
func TestBounceRecipientsCapped(t *testing.T) {
	rt, l := bounceRuntime(t, true)
	cs := &countingStore{Store: l.Store}
	l.Store, l.Policy.HardLimit = cs, 1
	l.Export = filepath.Join(t.TempDir(), "suppressed.json")
	f := start(t, rt)
	s := f.session(t, "198.51.100.7")
	cont(t)(s.Helo("mx.example.net"))
	cont(t)(s.Mail(""))
	cont(t)(s.Rcpt("bounces@site.test"))
	cont(t)(s.Header("From", "MAILER-DAEMON@mx.example.net"))
	cont(t)(s.Header("Subject", "Undelivered Mail Returned to Sender"))
	cont(t)(s.Header("MIME-Version", "1.0"))
	cont(t)(s.Header("Content-Type", `multipart/report; report-type=delivery-status; boundary="b"`))
	_, act, err := s.End(manyRecipientsDSN(150))
	wantAccept(t, act, err)
	if n := len(bounceRecords(t, f.logs, "bounce")); n != MaxBounceRecipients {
		t.Errorf("%d bounce records, want %d", n, MaxBounceRecipients)
	}
	if n := len(bounceRecords(t, f.logs, "recipient suppressed")); n != MaxBounceRecipients {
		t.Errorf("%d suppression records, want %d", n, MaxBounceRecipients)
	}
	rs := bounceRecords(t, f.logs, "bounce recipients not counted")
	if len(rs) != 1 || rs[0]["mailsift.bounce.not_counted"] != 50.0 || rs[0]["mailsift.bounce.recipients"] != 150.0 {
		t.Errorf("records of the recipients not counted: %v", rs)
	}
	if cs.exports != 1 {
		t.Errorf("export written %d times for one message, want 1", cs.exports)
	}
	es, err := suppress.ReadExport(l.Export)
	if err != nil || len(es) != MaxBounceRecipients {
		t.Errorf("export holds %d entries (%v), want %d", len(es), err, MaxBounceRecipients)
	}
}

// TestBounceAddressDelimiter: the VERP delimiter is [checks.recipient]'s;
// with none, bounces+tag@ is not the bounce mailbox.
func TestBounceAddressDelimiter(t *testing.T) {
	for _, tc := range []struct {
		delim, rcpt string
		want        bool
	}{
		{"+", "bounces@site.test", true},
		{"+", "bounces+news=example.net@site.test", true},
		{"-", "bounces-news=example.net@site.test", true},
		{"-", "bounces+news=example.net@site.test", false},
		{"", "bounces@site.test", true},
		{"", "bounces+news=example.net@site.test", false},
	} {
		b := &Bounces{Addresses: []string{"bounces@site.test"}, Delimiter: tc.delim}
		if got := b.isBounceAddress(tc.rcpt); got != tc.want {
			t.Errorf("delimiter %q: isBounceAddress(%q) = %v, want %v", tc.delim, tc.rcpt, got, tc.want)
		}
	}
}

// TestBounceBodyBounded: a bounce larger than MaxSize is read from its
// first MaxSize bytes.
func TestBounceBodyBounded(t *testing.T) {
	rt, _ := bounceRuntime(t, false)
	rt.Bounces.MaxSize = 2000
	f := start(t, rt)
	s := f.session(t, "198.51.100.7")
	hs, body := eml(t, postfixBounce)
	cont(t)(s.Helo("mx.example.com"))
	cont(t)(s.Mail(""))
	cont(t)(s.Rcpt("bounces@site.test"))
	for i := 0; i < len(hs); i += 2 {
		cont(t)(s.Header(hs[i], hs[i+1]))
	}
	body = append(body, bytes.Repeat([]byte("x"), 100_000)...)
	_, act, err := s.End(body)
	wantAccept(t, act, err)
	if n := len(bounceRecords(t, f.logs, "bounce")); n != 2 {
		t.Fatalf("%d bounce records from the first 2000 bytes, want 2", n)
	}
}

// TestSuppressLocalSubmission: a local submission (the sendmail command)
// to a suppressed address is refused at the end of the message, which
// Postfix turns into a bounce to the sender; RCPT TO passes.
func TestSuppressLocalSubmission(t *testing.T) {
	rt, l := bounceRuntime(t, false)
	for range 3 {
		l.Record(t.Context(), "dead@example.co.jp", suppress.Bounce{Status: "5.1.1", Class: "user-unknown", Hard: true})
	}
	f := start(t, rt)
	s := dial(t, newClient("tcp", f.addr))
	defer s.Close()
	cont(t)(s.Conn("localhost", gomilter.FamilyInet, 0, "127.0.0.1"))
	cont(t)(s.Helo("localhost"))
	cont(t)(s.Mail("www@site.test"))
	cont(t)(s.Rcpt("dead@example.co.jp"))
	cont(t)(s.Header("From", "www@site.test"))
	_, act, err := s.End([]byte("hi\r\n"))
	wantReply(t, act, err, "550 5.1.1 <dead@example.co.jp>: recipient suppressed after 3 bounces (last: 5.1.1 user unknown, 2026-11-29)")
	r := f.logs.waitRecords(t, 1)[0]
	if r["mailsift.trusted"] != "local" || r["event.action"] != "reject" || r["mailsift.checks.suppress.reason"] != "suppress-listed" {
		t.Errorf("record = %v", r)
	}
}

// localSession opens a session as Postfix's non_smtpd_milters does
// (the sendmail command): localhost, 127.0.0.1, port 0.
func localSession(t *testing.T, f *fixture, opts ...gomilter.Option) *mta {
	t.Helper()
	s := dial(t, newClient("tcp", f.addr, opts...))
	t.Cleanup(func() { s.Close() })
	cont(t)(s.Conn("localhost", gomilter.FamilyInet, 0, "127.0.0.1"))
	cont(t)(s.Helo("localhost"))
	return s
}

const deadReply = "550 5.1.1 <dead@example.co.jp>: recipient suppressed after 3 bounces (last: 5.1.1 user unknown, 2026-11-29)"

// suppressDead puts dead@example.co.jp on the suppression list.
func suppressDead(t *testing.T, l *suppress.List) {
	t.Helper()
	for range 3 {
		if _, _, err := l.Record(t.Context(), "dead@example.co.jp", suppress.Bounce{Status: "5.1.1", Class: "user-unknown", Hard: true}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSuppressLocalRemovesRecipient: a local submission's suppressed
// recipient is removed at the end of the message (SMFIR_DELRCPT), and the
// message accepted for the others; the record says why.
func TestSuppressLocalRemovesRecipient(t *testing.T) {
	rt, l := bounceRuntime(t, false)
	suppressDead(t, l)
	f := start(t, rt)
	s := localSession(t, f)
	if !s.s.ActionOption(gomilter.OptRemoveRcpt) {
		t.Fatal("actions: SMFIF_DELRCPT not negotiated with a suppression check")
	}
	cont(t)(s.Mail("www@site.test"))
	cont(t)(s.Rcpt("<alive@example.co.jp>"))
	cont(t)(s.Rcpt("<dead@example.co.jp>"))
	cont(t)(s.Rcpt("<other@example.org>"))
	cont(t)(s.Header("From", "www@site.test"))
	mods, act, err := s.End([]byte("hi\r\n"), "i", "QIDL1")
	wantAccept(t, act, err)
	var dels []string
	for _, m := range mods {
		if m.Type == gomilter.ActionDelRcpt {
			dels = append(dels, m.Rcpt)
		}
	}
	if len(dels) != 1 || dels[0] != "<dead@example.co.jp>" {
		t.Fatalf("recipients removed: %q, want exactly <dead@example.co.jp>; all: %v", dels, fmtMods(mods))
	}
	r := f.logs.waitRecords(t, 1)[0]
	for k, want := range map[string]any{"event.action": "accept", "mailsift.trusted": "local", "email.local_id": "QIDL1",
		"mailsift.refused_count": 1.0, "mailsift.checks.suppress.status": "pass"} {
		if r[k] != want {
			t.Errorf("record[%q] = %v, want %v", k, r[k], want)
		}
	}
	if _, ok := r["mailsift.reply"]; ok {
		t.Errorf("record has a reply for an accepted message: %v", r)
	}
	got, _ := json.Marshal(r["mailsift.recipients"])
	want := strings.NewReplacer("<", `\u003c`, ">", `\u003e`).Replace(`[{"action":"accept","address":"<alive@example.co.jp>"},` +
		`{"action":"delete","address":"<dead@example.co.jp>","check":"suppress","reason":"suppress-listed","reply":"` + deadReply + `"},` +
		`{"action":"accept","address":"<other@example.org>"}]`)
	if string(got) != want {
		t.Errorf("mailsift.recipients =\n%s\nwant\n%s", got, want)
	}
	if rt, _ := json.Marshal(r["mailsift.refused_to"]); string(rt) != `["\u003cdead@example.co.jp\u003e"]` {
		t.Errorf("mailsift.refused_to = %s", rt)
	}
}

// TestSuppressLocalAllSuppressed: when every recipient of a local
// submission is suppressed, none is removed: the message is refused at
// its end with the suppression's 550.
func TestSuppressLocalAllSuppressed(t *testing.T) {
	rt, l := bounceRuntime(t, false)
	suppressDead(t, l)
	for range 3 {
		l.Record(t.Context(), "gone@example.co.jp", suppress.Bounce{Status: "5.1.1", Class: "user-unknown", Hard: true})
	}
	f := start(t, rt)
	s := localSession(t, f)
	cont(t)(s.Mail("www@site.test"))
	cont(t)(s.Rcpt("dead@example.co.jp"))
	cont(t)(s.Rcpt("gone@example.co.jp"))
	cont(t)(s.Header("From", "www@site.test"))
	mods, act, err := s.End([]byte("hi\r\n"))
	wantReply(t, act, err, deadReply)
	if len(mods) != 0 {
		t.Errorf("modifications for a refused message: %v", fmtMods(mods))
	}
	r := f.logs.waitRecords(t, 1)[0]
	if r["event.action"] != "reject" || r["mailsift.reply"] != deadReply || r["mailsift.checks.suppress.reason"] != "suppress-listed" {
		t.Errorf("record = %v", r)
	}
	got, _ := json.Marshal(r["mailsift.recipients"])
	if strings.Contains(string(got), `"delete"`) || strings.Count(string(got), `"action":"reject"`) != 2 {
		t.Errorf("mailsift.recipients = %s, want both refused", got)
	}
}

// TestSuppressLocalNoRemoval: an MTA that does not let mailsift remove
// recipients gets the whole local submission refused, as before.
func TestSuppressLocalNoRemoval(t *testing.T) {
	rt, l := bounceRuntime(t, false)
	suppressDead(t, l)
	f := start(t, rt)
	s := localSession(t, f, gomilter.WithActions(postfixActions&^gomilter.OptRemoveRcpt))
	cont(t)(s.Mail("www@site.test"))
	cont(t)(s.Rcpt("alive@example.co.jp"))
	cont(t)(s.Rcpt("dead@example.co.jp"))
	cont(t)(s.Header("From", "www@site.test"))
	_, act, err := s.End([]byte("hi\r\n"))
	wantReply(t, act, err, deadReply)
}

// Without a check of submissions' recipients, mailsift does not ask to
// remove recipients.
func TestActionsRemoveRcptOnlyIfNeeded(t *testing.T) {
	rt, _ := outboundRuntime(t)
	f := start(t, rt)
	c := dial(t, newClient("tcp", f.addr))
	defer c.Close()
	if c.s.ActionOption(gomilter.OptRemoveRcpt) {
		t.Error("SMFIF_DELRCPT negotiated without a suppression check")
	}
}

// deadAddr is a loopback address where nothing listens.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
