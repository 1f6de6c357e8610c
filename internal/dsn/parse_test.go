package dsn

import (
	"strings"
	"testing"
)

const globalDSN = `From: Mail Delivery System <MAILER-DAEMON@mx.example.org>
To: <sender@example.net>
Subject: Undelivered Mail Returned to Sender
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="b1"

--b1
Content-Type: text/plain; charset=utf-8

I'm sorry to have to inform you that your message could not be delivered.

--b1
Content-Type: message/global-delivery-status

Reporting-MTA: dns; mx.example.org

Final-Recipient: utf-8; δοκιμή@παράδειγμα.example
Action: failed
Status: 4.1.1
Remote-MTA: dns; mx.παράδειγμα.example
Diagnostic-Code: smtp; 450 4.1.1 <δοκιμή@παράδειγμα.example>: Recipient address rejected: User unknown in virtual mailbox table

Final-Recipient: rfc822; list@example.com
Action: failed
Status: 5.7.1
Remote-MTA: dns; mx.example.com
Diagnostic-Code: smtp; 550 5.7.1 Service unavailable; client [192.0.2.1] blocked using zen.spamhaus.org

Final-Recipient: rfc822; ok@example.com
Action: delivered
Status: 2.0.0

--b1
Content-Type: message/global-headers

From: sender@example.net
Message-ID: <orig-1@example.net>

--b1--
`

func TestParseGlobalDSN(t *testing.T) {
	rep, err := Parse(strings.NewReader(globalDSN))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Kind != KindBounce || rep.Format != "rfc3464" || rep.ReportingMTA != "mx.example.org" || rep.OriginalMessageID != "<orig-1@example.net>" {
		t.Errorf("report = %+v", rep)
	}
	want := []Recipient{
		{Recipient: "δοκιμή@παράδειγμα.example", Action: "failed", Status: "4.1.1", RemoteMTA: "mx.παράδειγμα.example",
			Diagnostic: "450 4.1.1 <δοκιμή@παράδειγμα.example>: Recipient address rejected: User unknown in virtual mailbox table", Class: UserUnknown, Hard: true},
		{Recipient: "list@example.com", Action: "failed", Status: "5.7.1", RemoteMTA: "mx.example.com",
			Diagnostic: "550 5.7.1 Service unavailable; client [192.0.2.1] blocked using zen.spamhaus.org", Class: SpamBlocked, Hard: false},
		{Recipient: "ok@example.com", Action: "delivered", Status: "2.0.0"},
	}
	if len(rep.Recipients) != len(want) {
		t.Fatalf("recipients = %+v", rep.Recipients)
	}
	for i, w := range want {
		if rep.Recipients[i] != w {
			t.Errorf("recipient %d = %+v\nwant %+v", i, rep.Recipients[i], w)
		}
	}
	if f := rep.Failed(); len(f) != 2 {
		t.Errorf("Failed() = %d recipients, want 2", len(f))
	}
}

func TestParseKinds(t *testing.T) {
	for _, tc := range []struct {
		name, msg string
		kind      Kind
	}{
		{"delay", "From: MAILER-DAEMON@mx.example.org\nSubject: Delayed Mail (still being retried)\nContent-Type: multipart/report; report-type=delivery-status; boundary=x\n\n--x\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx\n\nFinal-Recipient: rfc822; a@example.com\nAction: delayed\nStatus: 4.4.1\nDiagnostic-Code: X-Postfix; connect to mx.example.com[192.0.2.1]:25: Connection timed out\n--x--\n", KindDelay},
		{"autoreply", "From: bob@example.com\nAuto-Submitted: auto-replied\nSubject: Out of office\n\nI am away until Monday.\n", KindAutoReply},
		{"arf", "From: abuse@example.com\nSubject: FW: complaint\nContent-Type: multipart/report; report-type=feedback-report; boundary=y\n\n--y\nContent-Type: message/feedback-report\n\nFeedback-Type: abuse\nUser-Agent: x/1\nVersion: 1\n--y--\n", KindFeedback},
		{"ordinary", "From: carol@example.com\nSubject: lunch\n\nAt noon?\n", KindNone},
		{"success", "From: MAILER-DAEMON@mx\nContent-Type: multipart/report; report-type=delivery-status; boundary=z\n\n--z\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx\n\nFinal-Recipient: rfc822; a@example.com\nAction: relayed\nStatus: 2.0.0\n--z--\n", KindDelivered},
	} {
		rep, err := Parse(strings.NewReader(tc.msg))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if rep.Kind != tc.kind || rep.IsBounce() {
			t.Errorf("%s: kind %s (bounce %v), want %s", tc.name, rep.Kind, rep.IsBounce(), tc.kind)
		}
	}
	if _, err := Parse(strings.NewReader("")); err == nil {
		t.Error("empty input: no error")
	}
}
