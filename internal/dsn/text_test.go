package dsn

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// failedOf parses msg and returns its kind and the addresses of its failed
// or delayed recipients, in order.
func failedOf(t *testing.T, msg string) (Kind, []string) {
	t.Helper()
	rep, err := Parse(strings.NewReader(msg))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range rep.Recipients {
		if r.Action == "failed" || r.Action == "delayed" {
			out = append(out, r.Recipient)
		}
	}
	return rep.Kind, out
}

// TestTextRecipients: each bounce format or wording family the free-text
// reader knows names its failed recipients, and only them.
func TestTextRecipients(t *testing.T) {
	for _, tc := range []struct {
		name, msg string
		kind      Kind
		want      []string
	}{
		{"exchange 5.5 X.400 address, quoted To of a list",
			"From: System Administrator <postmaster@example.com>\nTo: list-bounces@lists.example.org\nSubject: Undeliverable: hello\n\n" +
				"Your message\n\n  To:      list@lists.example.org\n  Subject: hello\n  Sent:    Fri, 4 Oct 2002 17:10:56 -0400\n\n" +
				"did not reach the following recipient(s):\n\nc=US;a= ;p=Example;o=Site;dda:SMTP=Bob@Example.COM; on Fri, 4 Oct 2002\n" +
				"    The recipient name is not recognized\n",
			KindBounce, []string{"Bob@Example.COM"}},
		{"exchange, the quoted To is the only address",
			"From: postmaster@example.com\nTo: sender@example.net\nSubject: Undeliverable: hello\n\n" +
				"Your message\n\n  To:      bob@example.com\n  Subject: hello\n\ndid not reach the following recipient(s):\n\n" +
				"    The recipient name is not recognized\n",
			KindBounce, []string{"bob@example.com"}},
		{"exim 2: addressed to 'x'",
			"From: Mail Delivery System <Mailer-Daemon@mx.example.com>\nTo: sender@example.net\nSubject: Mail delivery failure\n\n" +
				"A message that you sent could not be delivered\nto all of its recipients.\n\n" +
				"The following message, addressed to 'bob@example.com',\nfailed because it has not been collected after 30 days\n",
			KindBounce, []string{"bob@example.com"}},
		{"directory bounce: was addressed, x, and a locator list",
			"From: postmaster@example.gov (Automated response)\nTo: sender@example.net\nSubject: FAILED MAIL to \"bob1\"\n\n" +
				"The address to which your message was addressed, bob1@example.gov, did not exactly match an\naddress here.\n\n" +
				"The following locator information may be of help:\n\n  Bob Smith     +1 925-555-0100     smith4@example.gov\n",
			KindBounce, []string{"bob1@example.gov"}},
		{"sendmail: expanded from",
			"From: Mail Delivery Subsystem <MAILER-DAEMON@mx.example.nl>\nTo: sender@example.net\nSubject: Returned mail: Too many hops\n\n" +
				"   ----- The following addresses had permanent fatal errors -----\nbob@internal.example.nl\n    (expanded from: bob@example.nl)\n\n" +
				"   ----- Transcript of session follows -----\n554 Too many hops 26 (25 max)\n",
			KindBounce, []string{"bob@example.nl"}},
		{"exim: generated from, the address hidden",
			"From: Mail Delivery System <Mailer-Daemon@mx.example.com>\nTo: sender@example.net\nSubject: Mail delivery failed: returning message to sender\n\n" +
				"A message that you sent could not be delivered to one or more of its\nrecipients. This is a permanent error. The following address(es) failed:\n\n" +
				"  an undisclosed address\n    (generated from bob@example.com)\n",
			KindBounce, []string{"bob@example.com"}},
		{"aol: bare screen names, the sender after 'from'",
			"From: \"Mail Delivery Subsystem\" <MAILER-DAEMON@AOL.com>\nTo: <list-bounces@lists.example.org>\nSubject: Mail Delivery Problem\n\n" +
				"Your mail to the following recipients could not be delivered because they are not accepting mail from list@lists.example.org:\n\tscreenname\n\tother.name\n",
			KindBounce, []string{"screenname@aol.com", "other.name@aol.com"}},
		{"directory: a bare name and its full address in the quoted original",
			"From: MAILER-DAEMON@mr2.example.edu\nTo: sender@example.net\nSubject: Returned mail - nameserver error report\n\n" +
				" --------Message not delivered to the following:\n\n thomas.tank    No matches to nameserver query\n\n" +
				" --------Error Detail:\n\n if mike.fox@example.edu fails, try michael.j.fox@example.edu.\n\n --------Unsent Message below:\n\n" +
				"Received: from mail.example.net by mr2.example.edu\n\tfor <thomas.tank@example.edu>; Tue, 26 Dec 2000 13:26:17 -0500\n",
			KindBounce, []string{"thomas.tank@example.edu"}},
		{"smail: failed addresses follow",
			"From: <MAILER-DAEMON@mail.example.net>\nTo: sender@example.org\nSubject: mail failed, returning to sender\n\n" +
				"|------------------------- Message log follows: -------------------------|\n no valid recipients were found for this message\n" +
				"|------------------------- Failed addresses follow: ---------------------|\n bob@host.example.com ... unknown host\n" +
				"|------------------------- Message text follows: ------------------------|\n",
			KindBounce, []string{"bob@host.example.com"}},
		{"usa.net: intended recipient",
			"From: MAILER-DAEMON@example.net\nTo: sender@example.org\nSubject: Processing Error\n\nIntended recipient: bob@example.net\n\n" +
				"The following mail has been returned because it encountered an error\nwhile being processed.\n",
			KindBounce, []string{"bob@example.net"}},
		{"qmail layout, prose in another language",
			"From: MAILER-DAEMON@example.cn\nTo: sender@example.org\nSubject: =?utf-8?b?6YKu5Lu25Lyg6L6T5aSx6LSl?=\nContent-Type: text/plain; charset=utf-8\n\n" +
				"example.cn.\n邮件无法发送到您指定的地址中。\n\n<bob@example.cn>:\n\n<carol@example.cn>:\n\n--- 附件中的内容是原信件的一份拷贝\n",
			KindBounce, []string{"bob@example.cn", "carol@example.cn"}},
		{"gateway delay warning: attempts will continue",
			"From: AntiVirus_Gateway@example.org\nTo: sender@example.net\nSubject: Delivery failure notification\n\n" +
				"Your message with Subject: hello\ncould not be delivered to the following recipients:\n\nbob@example.org\n\n" +
				"Please do not resend your original message.\n\nDelivery attempts will continue to be made for 5  day(s).\n",
			KindDelay, []string{"bob@example.org"}},
	} {
		kind, got := failedOf(t, tc.msg)
		if kind != tc.kind || !slices.Equal(got, tc.want) {
			t.Errorf("%s: kind %s, recipients %q; want %s, %q", tc.name, kind, got, tc.kind, tc.want)
		}
	}
}

// TestTextFalseRecipients: addresses a notice names that are not failed
// recipients — the quoted headers of the original, the sender's own
// address, postmaster and MAILER-DAEMON — do not become failed recipients.
func TestTextFalseRecipients(t *testing.T) {
	for _, tc := range []struct {
		name, msg string
		want      []string
	}{
		{"quoted headers of the original",
			"From: MAILER-DAEMON@mx.example.com\nTo: sender@example.net\nSubject: Undelivered mail\n\n" +
				"Your message could not be delivered.\n\n  From: Sender <sender@example.net>\n  Reply-To: replies@example.net\n" +
				"  To: list@lists.example.org\n  Cc: carol@example.org\n  Message-ID: <abc@example.net>\n\n" +
				"The mailbox of bob@example.com is unknown.\n",
			[]string{"bob@example.com"}},
		{"the sender's address in the prose",
			"From: MAILER-DAEMON@mx.example.com\nTo: bounces@example.net\nSubject: Undelivered mail\n\n" +
				"Your message from sender@example.net could not be delivered: bob@example.com does not accept mail from <other@example.net>.\n",
			[]string{"bob@example.com"}},
		{"postmaster and MAILER-DAEMON in the prose",
			"From: Mail Delivery System <MAILER-DAEMON@mx.example.com>\nTo: sender@example.net\nSubject: Undelivered Mail Returned to Sender\n\n" +
				"I'm sorry to have to inform you that your message could not\nbe delivered to bob@example.com.\n\n" +
				"For further assistance, please contact <postmaster@mx.example.com> or mailer-daemon@mx.example.com.\n",
			[]string{"bob@example.com"}},
		{"the sender and postmaster on lines of their own beside a recipient",
			"From: MAILER-DAEMON@mx.example.com\nTo: sender@example.net\nSubject: failure notice\n\n" +
				"I'm afraid I wasn't able to deliver your message to the following addresses.\n\n" +
				"<bob@example.com>:\n550 5.1.1 user unknown\n\nsender@example.net\npostmaster@mx.example.com\n",
			[]string{"bob@example.com"}},
		{"mail to oneself bounced",
			"From: MAILER-DAEMON@example.ad.jp\nTo: shironeko@example.ad.jp\nSubject: failure notice\n\n" +
				"I'm afraid I wasn't able to deliver your message to the following addresses.\nThis is a permanent error; I've given up.\n\n" +
				"<shironeko@example.ad.jp>:\nRemote host said: 552 Error: disk quota exceeded\n",
			[]string{"shironeko@example.ad.jp"}},
		{"mail to a postmaster bounced",
			"From: postmaster@example.ne.jp\nTo: sender@example.com\nSubject: Returned mail: Service unavailable\n\n" +
				"   ----- The following addresses had delivery problems -----\npostmaster@mx.example.ne.jp\n\n" +
				"   ----- Non-delivered information -----\nThe number of messages in recipient's mailbox exceeded the local limit.\n",
			[]string{"postmaster@mx.example.ne.jp"}},
	} {
		kind, got := failedOf(t, tc.msg)
		if kind != KindBounce || !slices.Equal(got, tc.want) {
			t.Errorf("%s: kind %s, recipients %q; want bounce, %q", tc.name, kind, got, tc.want)
		}
	}
}

// TestOriginalRecipient: a report's recipient is the address the sender
// wrote (Original-Recipient, when it is a plain rfc822 address), not the
// mailbox an alias or a forward led to.
func TestOriginalRecipient(t *testing.T) {
	dsn := func(orig string) string {
		return "From: MAILER-DAEMON@mx.example.fi\nTo: sender@example.org\nSubject: Delayed Mail (still being retried)\n" +
			"Content-Type: multipart/report; report-type=delivery-status; boundary=b\n\n--b\nContent-Type: message/delivery-status\n\n" +
			"Reporting-MTA: dns; mx.example.fi\n\nFinal-Recipient: rfc822; kb3543.50@mx.example.fi\n" + orig +
			"Action: delayed\nStatus: 4.3.0\n--b--\n"
	}
	for _, tc := range []struct{ orig, want string }{
		{"Original-Recipient: rfc822;christine@example.com\n", "christine@example.com"},
		{"Original-Recipient: christine@example.com\n", "christine@example.com"},
		{"", "kb3543.50@mx.example.fi"},
		{"Original-Recipient: x400; c=US;a= ;p=Example\n", "kb3543.50@mx.example.fi"},
		{"Original-Recipient: rfc822; christine\n", "kb3543.50@mx.example.fi"},
	} {
		kind, got := failedOf(t, dsn(tc.orig))
		if kind != KindDelay || !slices.Equal(got, []string{tc.want}) {
			t.Errorf("%q: kind %s, recipients %q; want delay, %q", tc.orig, kind, got, tc.want)
		}
	}
	// An alias that expanded to several failed members: each member is
	// the recipient, the alias is not dead for one member.
	alias := "From: MAILER-DAEMON@mx.example.org\nTo: sender@example.net\nSubject: Undelivered Mail Returned to Sender\n" +
		"Content-Type: multipart/report; report-type=delivery-status; boundary=b\n\n--b\nContent-Type: message/delivery-status\n\n" +
		"Reporting-MTA: dns; mx.example.org\n\n" +
		"Final-Recipient: rfc822; ann@remote.example\nOriginal-Recipient: rfc822; team@example.org\nAction: failed\nStatus: 5.1.1\n\n" +
		"Final-Recipient: rfc822; bob@remote.example\nOriginal-Recipient: rfc822; team@example.org\nAction: failed\nStatus: 5.1.1\n\n" +
		"Final-Recipient: rfc822; carol@internal.example.org\nOriginal-Recipient: rfc822; carol@example.org\nAction: failed\nStatus: 5.2.2\n--b--\n"
	want := []string{"ann@remote.example", "bob@remote.example", "carol@example.org"}
	if kind, got := failedOf(t, alias); kind != KindBounce || !slices.Equal(got, want) {
		t.Errorf("alias: kind %s, recipients %q; want bounce, %q", kind, got, want)
	}
}

// TestForwardedReport: a report forwarded whole as the only attachment of
// a message is read as the report; a report's own copy of an original
// message that was itself a report is not.
func TestForwardedReport(t *testing.T) {
	inner := "From: postmaster@example.com\nTo: list-bounces@example.org\nSubject: Delivery Status Notification (Failure)\n" +
		"Content-Type: multipart/report; report-type=delivery-status; boundary=in\n\n--in\nContent-Type: text/plain\n\n" +
		"Delivery to the following recipients failed.\n\n--in\nContent-Type: message/delivery-status\n\nReporting-MTA: dns;mx.example.com\n\n" +
		"Final-Recipient: rfc822;horu@example.com\nAction: failed\nStatus: 5.1.1\n\n--in--\n"
	wrapped := "From: postmaster@example.com\nTo: list-bounces@example.org\nSubject: Delivery Status Notification (Failure)\n" +
		"Content-Type: multipart/mixed; boundary=out\n\n--out\nContent-Type: message/rfc822\nContent-Disposition: attachment\n\n" + inner + "\n--out--\n"
	if kind, got := failedOf(t, wrapped); kind != KindBounce || !slices.Equal(got, []string{"horu@example.com"}) {
		t.Errorf("forwarded report: kind %s, recipients %q", kind, got)
	}
	// A bounce of a bounce: the outer report speaks first, the attached
	// report is the returned message.
	double := "From: MAILER-DAEMON@mx.example.org\nTo: postmaster@example.org\nSubject: Undelivered Mail Returned to Sender\n" +
		"Content-Type: multipart/report; report-type=delivery-status; boundary=out\n\n--out\nContent-Type: message/delivery-status\n\n" +
		"Reporting-MTA: dns; mx.example.org\n\nFinal-Recipient: rfc822; postmaster@example.com\nAction: failed\nStatus: 5.1.1\n\n" +
		"--out\nContent-Type: message/rfc822\n\n" + inner + "\n--out--\n"
	if kind, got := failedOf(t, double); kind != KindBounce || !slices.Equal(got, []string{"postmaster@example.com"}) {
		t.Errorf("bounce of a bounce: kind %s, recipients %q", kind, got)
	}
}

// TestListNoticesAreNotBounces: a mailing list manager's answer to a post
// (fml's "You are not a member of this mailing list", its "Loop Alert:
// Duplicated Message-ID" to the list admin, Mailman's "awaits moderator
// approval") is not a bounce. The post was delivered, to the list; no
// mailbox failed, and the only address such a notice names as its
// subject is the poster's own (sisimai's recipient for fml-02 is the To,
// the poster): taking it would put a live sender on the suppression
// list. sisimai counts lhost-fml-02/03 as bounces (reasons rejected and
// systemerror); the training figure keeps them as misses.
func TestListNoticesAreNotBounces(t *testing.T) {
	for _, name := range []string{"lhost-fml-02.eml", "lhost-fml-03.eml"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "dsn", "sisimai", name))
		if err != nil {
			t.Fatal(err)
		}
		if kind, got := failedOf(t, string(b)); kind != KindNone || len(got) != 0 {
			t.Errorf("%s: kind %s, recipients %q; want none", name, kind, got)
		}
	}
	held := "From: gpc-talk-bounces@lists.example.org\nTo: poster@example.com\nSubject: Your message to GPC-talk awaits moderator approval\n\n" +
		"Your mail to 'GPC-talk' with the subject\n\n    Bike lost and found\n\nIs being held until the list moderator can review it for approval.\n\n" +
		"The reason it is being held:\n\n    Post by non-member to a members-only list\n"
	if kind, got := failedOf(t, held); kind != KindNone || len(got) != 0 {
		t.Errorf("moderation notice: kind %s, recipients %q; want none", kind, got)
	}
}

// TestWrappedBounceWording: a notice whose wording is wrapped across lines
// ("could not be\ndelivered") still counts as one sign of a bounce.
func TestWrappedBounceWording(t *testing.T) {
	msg := "Return-Path: <>\nFrom: Mail System <mail@mx.example.org>\nSubject: Message status\n\n" +
		"I'm sorry to have to inform you that your message could not be\ndelivered to neko@example.net:\nthe mailbox does not exist.\n"
	rep, err := Parse(strings.NewReader(msg))
	if err != nil {
		t.Fatal(err)
	}
	if !rep.IsBounce() || len(rep.Failed()) != 1 || rep.Failed()[0].Recipient != "neko@example.net" || rep.Failed()[0].Class != UserUnknown {
		t.Fatalf("report = %+v", rep)
	}
}
