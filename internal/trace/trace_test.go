package trace

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// now is the injected clock: the fixtures' syslog stamps have no year.
func now() time.Time { return time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC) }

func load(t *testing.T, names ...string) *Log {
	t.Helper()
	l := New(now)
	for _, n := range names {
		f, err := os.Open(filepath.Join("..", "..", "testdata", "trace", n))
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Add(f); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	return l
}

func render(l *Log, q Query) string {
	var b bytes.Buffer
	Write(&b, q, l.Find(q), false)
	return b.String()
}

func wantAll(t *testing.T, out string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
}

func TestDeliveredLocally(t *testing.T) {
	l := load(t, "maillog", "mailsift.json")
	msgs := l.Find(Query{QueueID: "5799A9887F2"})
	if len(msgs) != 1 {
		t.Fatalf("found %d messages, want 1", len(msgs))
	}
	m := msgs[0]
	if m.MessageID != "<trace-ok@checks.test>" || m.From != "alice@checks.test" || m.Client != "good.checks.test[192.0.2.10]" || m.Size != "384" || !m.Removed {
		t.Errorf("message = %+v", m)
	}
	if m.Verdict == nil || m.Verdict.Action != "accept" {
		t.Errorf("verdict = %+v, want accept joined by queue id", m.Verdict)
	}
	if want := time.Date(2026, 11, 29, 0, 3, 47, 0, time.UTC); !m.Received.Equal(want) {
		t.Errorf("received %v, want %v", m.Received, want)
	}
	d := Diagnose(m)
	if d.Outcome != Delivered || len(d.Recipients) != 1 || d.Recipients[0].Text != "delivered into the local mailbox by virtual at 2026-11-29 00:03:47 (delivered to maildir)." {
		t.Errorf("diagnosis = %+v", d)
	}
}

func TestBouncedByErrorTransport(t *testing.T) {
	l := load(t, "maillog")
	out := render(l, Query{MessageID: "trace-bounce@checks.test"})
	wantAll(t, out, "message 6166D9884E4 <trace-bounce@checks.test>",
		"received  2026-11-29 00:03:47 from local submission (uid 0)",
		"outcome   bounced: bounced for 1 of 1 recipients; the non-delivery notification went back to the sender as 749FD988814.",
		`No remote server was asked: this host's own configuration (an error: transport) bounces mail for this destination with "outbound mail disabled in test instance".`,
		"to act: sender-admin",
		"    Nov 29 00:03:47 mx postfix/error[24708]: 6166D9884E4: to=<carol@nowhere.test>")
}

func TestRefusedAtRcptJoinsVerdict(t *testing.T) {
	l := load(t, "maillog", "mailsift.json")
	out := render(l, Query{From: "<mallory@checks.test>"})
	wantAll(t, out, "message NOQUEUE\n",
		"  refused   501 5.5.2 <bad..helo>: Helo command rejected: Invalid name\n",
		`outcome   refused: refused while receiving with "501 5.5.2 <bad..helo>: Helo command rejected: Invalid name": it never entered the queue here. mailsift decided it (reject, reply 501 5.5.2 <bad..helo>: Helo command rejected: Invalid name, helo=fail helo-invalid-syntax).`)
	// A queue id never selects a refusal.
	if got := l.Find(Query{QueueID: "NOQUEUE"}); len(got) != 0 {
		t.Errorf("queue id NOQUEUE found %d messages", len(got))
	}
}

func TestRelayedDeferredBounced(t *testing.T) {
	l := load(t, "relay.log")
	out := render(l, Query{QueueID: "1A2B3C4D5E"})
	wantAll(t, out, "(authenticated as web)",
		"outcome   queued: still queued for 1 of 2 recipients: Postfix retries.",
		`<ann@example.com>: delivered: mx1.example.com[192.0.2.25]:25 answered "250 2.0.0 OK 1732701602 q7si123 - gsmtp" at 2026-11-27 10:00:02. The next server has the message: from here on ask its administrator, with these lines.`,
		"<bob@example.org>: still queued: the last attempt at 2026-11-27 10:00:03 was deferred by mx.example.org[203.0.113.5]:25",
		"class rate-limited, soft, to act: nobody")
	out = render(l, Query{To: "OLD@example.com"})
	wantAll(t, out, "message 7C7C7C7C7C <newsletter-3@example.net>",
		"The reply (550 5.1.1) says the mailbox does not exist",
		"class user-unknown, hard (the address is dead), to act: sender-user")
}

func TestExpired(t *testing.T) {
	l := load(t, "expired.log")
	msgs := l.Find(Query{From: "billing@example.net"})
	if len(msgs) != 1 {
		t.Fatalf("found %d messages", len(msgs))
	}
	if msgs[0].Size != "1024" || !msgs[0].Expired {
		t.Errorf("message = %+v", msgs[0])
	}
	d := Diagnose(msgs[0])
	if d.Outcome != Bounced || d.Recipients[0].Status != "expired" || d.Recipients[0].Explain.Class != "expired" || d.Recipients[0].Explain.Side != "recipient-admin" {
		t.Errorf("diagnosis = %+v %+v", d, d.Recipients[0].Explain)
	}
	if !strings.Contains(d.Recipients[0].Text, `the last with "connect to mx.gone.example[192.0.2.99]:25: Connection timed out" (network)`) {
		t.Errorf("text = %s", d.Recipients[0].Text)
	}
}

func TestTimeRangeAndNeverReceived(t *testing.T) {
	l := load(t, "relay.log", "expired.log")
	q := Query{Since: time.Date(2026, 11, 27, 10, 4, 0, 0, time.UTC), Until: time.Date(2026, 11, 27, 11, 0, 0, 0, time.UTC)}
	msgs := l.Find(q)
	if len(msgs) != 1 || msgs[0].QueueID != "7C7C7C7C7C" {
		t.Fatalf("range selected %d messages", len(msgs))
	}
	out := render(l, Query{MessageID: "<missing@example.net>", Since: q.Since})
	if out != "no message matches (Message-ID <missing@example.net>, since 2026-11-27 10:04:00): never received here, or outside the time range of these logs.\n" {
		t.Errorf("got %q", out)
	}
}

// A rotated, gzipped log reads like the plain one; a stamp later than
// tomorrow belongs to last year.
func TestGzipAndYear(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "testdata", "trace", "maillog"))
	if err != nil {
		t.Fatal(err)
	}
	var z bytes.Buffer
	w := gzip.NewWriter(&z)
	w.Write(raw)
	w.Close()
	l := New(func() time.Time { return time.Date(2027, 1, 2, 0, 0, 0, 0, time.UTC) })
	if err := l.Add(&z); err != nil {
		t.Fatal(err)
	}
	msgs := l.Find(Query{QueueID: "5799a9887f2"})
	if len(msgs) != 1 || msgs[0].Received.Year() != 2026 {
		t.Fatalf("gzip: %d messages %+v", len(msgs), msgs)
	}
}

func FuzzLogLine(f *testing.F) {
	raw, _ := os.ReadFile(filepath.Join("..", "..", "testdata", "trace", "relay.log"))
	for _, line := range strings.Split(string(raw), "\n") {
		f.Add(line)
	}
	f.Add(`{"message":"message","email.local_id":"ABC","mailsift.checks.x.status":"fail"}`)
	f.Add("Nov 29 00:03:47 mx postfix/smtpd[1]: NOQUEUE: reject: RCPT from x[1.2.3.4]: 554 5.7.1 no; from=<a> to=<b> proto=ESMTP helo=<h>")
	f.Fuzz(func(t *testing.T, line string) {
		l := New(now)
		l.Add(strings.NewReader(line))
		var b bytes.Buffer
		for _, q := range []Query{{From: "a"}, {To: "b"}, {Since: now().AddDate(-2, 0, 0)}} {
			Write(&b, q, l.Find(q), true)
		}
	})
}

// journalctl -o short: mailsift's records in the same stream are joined;
// a message with no attempt yet is still queued.
func TestJournalQueued(t *testing.T) {
	l := load(t, "journal.log")
	out := render(l, Query{To: "", From: "ann@example.net"})
	wantAll(t, out, "message 3C4D5E6F70 <agenda@example.net>\n",
		"  received  2026-11-28 08:15:02 from laptop.example.net[203.0.113.44] (authenticated as ann)\n",
		"  mailsift  tag, dkim=fail dkim-body-hash\n",
		"  outcome   queued: received and still queued: no delivery attempt in this log yet")
}
