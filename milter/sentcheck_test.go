package milter

import (
	"fmt"
	"strings"
	"testing"
	"time"

	gomilter "github.com/d--j/go-milter"

	"github.com/mailsift/mailsift/greylist/redistest"
	"github.com/mailsift/mailsift/internal/clocktest"
	"github.com/mailsift/mailsift/internal/suppress"
)

// verifyRuntime is bounceRuntime with [bounces] verify_sent on: sent
// messages remembered in sent, the list's time given by the clock.
func verifyRuntime(t *testing.T, sent suppress.Sent, discard bool) (*Runtime, *suppress.List, *clocktest.Clock) {
	t.Helper()
	rt, l := bounceRuntime(t, discard)
	clock := clocktest.New(time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC))
	l.Now = clock.Now
	rt.Bounces.Sent = sent
	return rt, l, clock
}

// submitID sends a submission from an authenticated client, with the
// Message-ID id ("" for none), to rcpts, and wants it accepted.
func submitID(t *testing.T, f *fixture, id string, rcpts ...string) {
	t.Helper()
	s := f.session(t, "198.51.100.20")
	cont(t)(s.Helo("web.site.test"))
	cont(t)(s.Mail("www@site.test", "{auth_authen}", "www"))
	for _, r := range rcpts {
		cont(t)(s.Rcpt(r))
	}
	cont(t)(s.Header("From", "www@site.test"))
	if id != "" {
		cont(t)(s.Header("Message-ID", " "+id))
	}
	_, act, err := s.End([]byte("hi\r\n"))
	wantAccept(t, act, err)
}

// dsnAbout is a delivery-status report: the message id ("" for none)
// failed for rcpt (5.1.1, user unknown).
func dsnAbout(id, rcpt string) []byte {
	var b strings.Builder
	b.WriteString("--b\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n\r\n")
	b.WriteString("--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.net\r\n")
	fmt.Fprintf(&b, "\r\nFinal-Recipient: rfc822; %s\r\nAction: failed\r\nStatus: 5.1.1\r\nRemote-MTA: dns; mx.example.net\r\nDiagnostic-Code: smtp; 550 5.1.1 user unknown\r\n", rcpt)
	b.WriteString("\r\n--b\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: www@site.test\r\nSubject: news\r\n")
	if id != "" {
		fmt.Fprintf(&b, "Message-ID: %s\r\n", id)
	}
	b.WriteString("\r\n--b--\r\n")
	return []byte(b.String())
}

// bounceAbout sends a report about the message id failing for rcpt to the
// bounce address, and returns End's action.
func bounceAbout(t *testing.T, f *fixture, id, rcpt string) *gomilter.Action {
	t.Helper()
	s := f.session(t, "198.51.100.7")
	cont(t)(s.Helo("mx.example.net"))
	cont(t)(s.Mail(""))
	cont(t)(s.Rcpt("bounces@site.test"))
	cont(t)(s.Header("From", "MAILER-DAEMON@mx.example.net"))
	cont(t)(s.Header("Subject", "Undelivered Mail Returned to Sender"))
	cont(t)(s.Header("MIME-Version", "1.0"))
	cont(t)(s.Header("Content-Type", `multipart/report; report-type=delivery-status; boundary="b"`))
	_, act, err := s.End(dsnAbout(id, rcpt))
	if err != nil {
		t.Fatal(err)
	}
	return act
}

// lastBounce returns the last "bounce" record, wanting n of them.
func lastBounce(t *testing.T, f *fixture, n int) map[string]any {
	t.Helper()
	rs := bounceRecords(t, f.logs, "bounce")
	if len(rs) != n {
		t.Fatalf("%d bounce records, want %d", len(rs), n)
	}
	return rs[n-1]
}

// hardCount is what the list counts of addr.
func hardCount(t *testing.T, l *suppress.List, addr string) (int, bool) {
	t.Helper()
	e, _, err := l.Lookup(t.Context(), addr)
	if err != nil {
		t.Fatal(err)
	}
	return e.Hard, e.Suppressed
}

const aliceReply = "550 5.1.1 <alice@example.net>: recipient suppressed after 3 bounces (last: 5.1.1 user unknown, 2026-11-29)"

// verifySent: with [bounces] verify_sent, a bounce counts only when it is
// about a message we sent to that recipient; forged reports about a live
// customer's address are logged and do not suppress it.
func verifySent(t *testing.T, sent suppress.Sent) {
	rt, l, _ := verifyRuntime(t, sent, false)
	f := start(t, rt)
	submitID(t, f, "<x@ours>", "Alice@example.net", "carol@example.net")

	// A report about <x@ours> for alice counts.
	if act := bounceAbout(t, f, "<x@ours>", "alice@example.net"); act.Type != gomilter.ActionAccept {
		t.Fatalf("bounce: %v, want accept", act)
	}
	r := lastBounce(t, f, 1)
	if r["mailsift.bounce.counted"] != true || r["mailsift.bounce.hard_count"] != 1.0 || r["mailsift.bounce.original_message_id"] != "<x@ours>" {
		t.Fatalf("real bounce record: %v", r)
	}
	if _, ok := r["mailsift.bounce.not_counted"]; ok {
		t.Fatalf("real bounce record has not_counted: %v", r)
	}

	// Not counted: a message we never sent, a recipient x was not sent
	// to, a report naming no original.
	for i, tc := range []struct{ id, rcpt, why string }{
		{"<forged@elsewhere>", "alice@example.net", "not a message we sent"},
		{"<x@ours>", "bob@example.net", "not a message we sent"},
		{"", "alice@example.net", "the report names no original Message-ID"},
	} {
		if act := bounceAbout(t, f, tc.id, tc.rcpt); act.Type != gomilter.ActionAccept {
			t.Fatalf("%+v: %v, want accept", tc, act)
		}
		r := lastBounce(t, f, 2+i)
		want := map[string]any{"event.action": "bounce", "email.to.address": tc.rcpt, "mailsift.bounce.status": "5.1.1",
			"mailsift.bounce.counted": false, "mailsift.bounce.not_counted": tc.why}
		for k, v := range want {
			if r[k] != v {
				t.Errorf("%+v: record[%q] = %v, want %v", tc, k, r[k], v)
			}
		}
		if _, ok := r["mailsift.bounce.hard_count"]; ok {
			t.Errorf("%+v: counted: %v", tc, r)
		}
	}
	if n, _ := hardCount(t, l, "bob@example.net"); n != 0 {
		t.Fatalf("bob counted %d times", n)
	}

	// Three forged reports: alice is not suppressed, her mail goes.
	for range 3 {
		bounceAbout(t, f, "<forged@elsewhere>", "alice@example.net")
	}
	if n, sup := hardCount(t, l, "alice@example.net"); n != 1 || sup {
		t.Fatalf("after forged reports alice has %d hard bounces (suppressed %v), want 1", n, sup)
	}
	if n := len(bounceRecords(t, f.logs, "recipient suppressed")); n != 0 {
		t.Fatalf("%d suppression records after forged reports", n)
	}
	submitID(t, f, "<y@ours>", "alice@example.net")

	// Two more real ones (three in all) suppress her: the submission is
	// refused with the list's line.
	bounceAbout(t, f, "<x@ours>", "alice@example.net")
	bounceAbout(t, f, "<y@ours>", "alice@Example.NET")
	if n, sup := hardCount(t, l, "alice@example.net"); !sup {
		t.Fatalf("after three real bounces alice is not suppressed (%d)", n)
	}
	if n := len(bounceRecords(t, f.logs, "recipient suppressed")); n != 1 {
		t.Fatalf("%d suppression records, want 1", n)
	}
	sub := f.session(t, "198.51.100.20")
	cont(t)(sub.Helo("web.site.test"))
	cont(t)(sub.Mail("www@site.test", "{auth_authen}", "www"))
	replyIs(t, aliceReply)(sub.Rcpt("alice@example.net"))
}

func TestVerifySentMemory(t *testing.T) { verifySent(t, suppress.NewSentMemory(0)) }

func TestVerifySentRedis(t *testing.T) {
	srv := redistest.Start(t)
	r := suppress.NewRedis(suppress.RedisConfig{Addrs: []string{srv.Addr}, Prefix: "test:bounces:"})
	t.Cleanup(func() { r.Close() })
	verifySent(t, r)
}

// TestVerifySentExpiry: a sent message is remembered for the window.
func TestVerifySentExpiry(t *testing.T) {
	rt, l, clock := verifyRuntime(t, suppress.NewSentMemory(0), false)
	f := start(t, rt)
	submitID(t, f, "<x@ours>", "alice@example.net")
	clock.Add(l.Policy.Window - time.Minute)
	bounceAbout(t, f, "<x@ours>", "alice@example.net")
	if r := lastBounce(t, f, 1); r["mailsift.bounce.counted"] != true {
		t.Fatalf("within the window: %v", r)
	}
	clock.Add(time.Minute)
	bounceAbout(t, f, "<x@ours>", "alice@example.net")
	if r := lastBounce(t, f, 2); r["mailsift.bounce.counted"] != false || r["mailsift.bounce.not_counted"] != "not a message we sent" {
		t.Fatalf("past the window: %v", r)
	}
}

// TestVerifySentNoMessageID: a submission without a Message-ID is not
// remembered (and says so); its bounces do not count.
func TestVerifySentNoMessageID(t *testing.T) {
	rt, _, _ := verifyRuntime(t, suppress.NewSentMemory(0), false)
	f := start(t, rt)
	submitID(t, f, "", "alice@example.net")
	if n := len(bounceRecords(t, f.logs, "sent message not remembered: no Message-ID; its bounces will not count")); n != 1 {
		t.Fatalf("%d records of the message not remembered, want 1", n)
	}
}

// TestVerifySentDiscard: a bounce recorded but not counted is still a
// bounce: discard swallows it.
func TestVerifySentDiscard(t *testing.T) {
	rt, _, _ := verifyRuntime(t, suppress.NewSentMemory(0), true)
	f := start(t, rt)
	if act := bounceAbout(t, f, "<forged@elsewhere>", "alice@example.net"); act.Type != gomilter.ActionDiscard {
		t.Fatalf("forged bounce, discard on: %v, want discard", act)
	}
	if r := lastBounce(t, f, 1); r["mailsift.bounce.counted"] != false {
		t.Fatalf("record: %v", r)
	}
}

// TestVerifySentStoreDown: the sent messages unreadable, the bounce is not
// counted, the error logged, and the message delivered (discard on).
func TestVerifySentStoreDown(t *testing.T) {
	addr := deadAddr(t) // every store call fails
	dead := suppress.NewRedis(suppress.RedisConfig{Addrs: []string{addr}, Prefix: "test:bounces:", Timeout: 200 * time.Millisecond})
	t.Cleanup(func() { dead.Close() })
	rt, l, _ := verifyRuntime(t, dead, true)
	rt.Bounces.Timeout = 300 * time.Millisecond
	f := start(t, rt)
	if act := bounceAbout(t, f, "<x@ours>", "alice@example.net"); act.Type != gomilter.ActionAccept {
		t.Fatalf("bounce with the store down, discard on: %v, want accept (delivered)", act)
	}
	rs := bounceRecords(t, f.logs, "bounce not counted: sent messages unreadable")
	if len(rs) != 1 || rs[0]["mailsift.bounce.counted"] != false || rs[0]["error"] == nil {
		t.Fatalf("records: %v", rs)
	}
	if n, _ := hardCount(t, l, "alice@example.net"); n != 0 {
		t.Fatalf("counted %d", n)
	}
	// A submission is accepted all the same: remembering it fails, logged.
	submitID(t, f, "<x@ours>", "alice@example.net")
	if n := len(bounceRecords(t, f.logs, "sent message not remembered: its bounces will not count")); n != 1 {
		t.Fatalf("%d records of the message not remembered, want 1", n)
	}
}

// TestVerifySentOff: without verify_sent every report counts, and the
// record has no counted field.
func TestVerifySentOff(t *testing.T) {
	rt, l := bounceRuntime(t, false)
	f := start(t, rt)
	bounceAbout(t, f, "<forged@elsewhere>", "alice@example.net")
	r := lastBounce(t, f, 1)
	if _, ok := r["mailsift.bounce.counted"]; ok {
		t.Fatalf("record: %v", r)
	}
	if n, _ := hardCount(t, l, "alice@example.net"); n != 1 {
		t.Fatalf("counted %d, want 1", n)
	}
}
