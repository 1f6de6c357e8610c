package dsn

import (
	"sort"
	"strings"
	"testing"
)

// hostFact is the fact decide builds for a reply sent to a recipient at
// destination through the remote host rhost.
func hostFact(destination, rhost, text string) *fact {
	return &fact{low: strings.Join(strings.Fields(strings.ToLower(text)), " "), text: text,
		status: FindStatus(text), reply: FindReply(text), command: findCommand(text),
		rhost: rhost, destination: destination}
}

func TestRhostFind(t *testing.T) {
	for _, c := range []struct{ dest, rhost, text, want string }{
		// Google: reply, status and phrase; a phrase broken over two lines.
		{"", "gmail-smtp-in.l.google.com", "550-5.7.26 The MAIL FROM domain [example.org] has an SPF record with a hard fail\n" +
			"550-5.7.26 policy (-all) but it fails to pass SPF checks with the ip: [192.0.2.1]. To best\n" +
			"550 5.7.26 protect our users from spam and phishing, the message has been blocked.", "authfailure"},
		{"google.com", "", "550 5.7.26 The MAIL FROM domain [example.org] has an SPF record with a hard fail policy (-all)", "authfailure"},
		{"google.com", "", "451 4.7.26 The MAIL FROM domain [example.org] has an SPF record with a hard fail policy (-all)", ""},
		{"", "alt1.aspmx.l.google.com", "550 5.1.1 The email account that you tried to reach does not exist.", "userunknown"},
		{"", "alt1.aspmx.l.google.com", "The email account that you tried to reach does not exist.", ""}, // no codes
		{"", "alt1.aspmx.l.google.com", "421 4.7.28 Gmail has detected an unusual rate of mail originating from your IP", "blocked"},
		// gmail.com is not the tail of a Google host name: sisimai finds
		// Google by the remote host.
		{"gmail.com", "", "550 5.1.1 The email account that you tried to reach does not exist.", ""},
		// Microsoft: the status, or a range of its third field.
		{"", "example-com.mail.protection.outlook.com", "550 5.7.606 Access denied, banned sending IP [192.0.2.1]", "blocked"},
		{"", "example-com.mail.protection.outlook.com", "550 5.7.650 Access denied, banned sending IP [192.0.2.1]", ""},
		{"outlook.com", "", "550 5.4.1 Recipient address rejected: Access denied. AS(201806281)", "userunknown"},
		{"", "example-com.mail.protection.outlook.com", "550 5.2.2 mailbox full", "mailboxfull"},
		// Mimecast: the reply code and the phrase.
		{"", "us-smtp-inbound-1.mimecast.com", "550 Invalid Recipient - https://community.mimecast.com/docs/DOC-1369#550", "userunknown"},
		{"", "us-smtp-inbound-1.mimecast.com", "451 Invalid Recipient", ""},
		{"", "us-smtp-inbound-1.mimecast.com", "550 Journal messages past the expiration", "expired"},
		// Apple, by the destination's domain.
		{"me.com", "", "550 5.1.1 <kijitora@me.com>: inactive email address", "userunknown"},
		{"xme.com", "", "550 5.1.1 <kijitora@xme.com>: inactive email address", ""},
		// Aol: its phrases as written.
		{"", "mx-in.mx.aol.com", "Host or domain name not found. Name service error", "hostunknown"},
		{"", "mx-in.mx.aol.com", "host or domain name not found", ""},
		// Cox: the AUP# code, else the phrases.
		{"cox.net", "", "554 AUP#CXBL Blocked", "blocked"},
		{"cox.net", "", "421 too many sessions from 192.0.2.1", "toomanyconn"},
		// Facebook: the label around the first hyphen.
		{"", "mx-out.facebook.com", "550 5.1.1 RCP-P1 Domain facebook.com no longer available", "userunknown"},
		{"", "mx-out.facebook.com", "554 5.7.1 POL-P7 Message does not comply", "authfailure"},
		// FrancePTT: the number after the label.
		{"orange.fr", "", "421 mwinf5c10 ME Service refuse. Veuillez essayer plus tard. LPN007_510", "blocked"},
		{"orange.fr", "", "421 Service refused, please try later. LPN006_107", ""},
		{"wanadoo.fr", "", "550 5.7.1 spf/dns de votre nom de domaine", "authfailure"},
		// GoDaddy: the IB code, else the phrases.
		{"", "p3plibsmtp.secureserver.net", "554 bizsmtp IB110 Your IP is blocked", "blocked"},
		{"", "smtp.secureserver.net", "550 5.1.1 recipient not found", "userunknown"},
		// GSuite: NXDOMAIN is an unknown host with a 5xx, a network error
		// with a 4xx.
		{"googlemail.com", "", "550 5.1.2 DNS type 'mx' lookup of example.jp responded with code NXDOMAIN", "hostunknown"},
		{"googlemail.com", "", "450 4.4.3 DNS type 'mx' lookup of example.jp responded with code NXDOMAIN", "networkerror"},
		// IUA: the number in the error link.
		{"email.ua", "", "550 5.1.1 Mailbox is not found http://mail.i.ua/err/2/", "userunknown"},
		{"email.ua", "", "550 Not in the list http://mail.i.ua/err/10/", "filtered"},
		// KDDI.
		{"ezweb.ne.jp", "", "The response was: 550 : User unknown", "filtered"},
		{"ezweb.ne.jp", "", "The response was: 550 <kijitora@ezweb.ne.jp>: User unknown", "userunknown"},
		// MessageLabs: as written.
		{"", "server-5.tower-1.messagelabs.com", "550 Please turn on SMTP Authentication in your mail client", "securityerror"},
		{"", "server-5.tower-1.messagelabs.com", "550 relay rejected", ""},
		// NTT DOCOMO: the status.
		{"docomo.ne.jp", "", "550 5.1.1 unknown user", "userunknown"},
		{"docomo.ne.jp", "", "552 too many recipients", "toomanyconn"},
		// Outlook (Hotmail).
		{"hotmail.com", "", "550 Requested action not taken: mailbox unavailable", "userunknown"},
		// Spectrum: a code or a range (sisimai's "blokced" is blocked).
		{"charter.net", "", "554 5.7.1 AUP#1260 network error", "networkerror"},
		{"charter.net", "", "554 5.7.1 AUP#I-1222 blocked", "blocked"},
		{"charter.net", "", "554 5.7.1 AUP#1500", "rejected"},
		// Tencent (sisimai's "spandetected" is spamdetected).
		{"qq.com", "", "550 Mail content denied. http://service.mail.qq.com/", "spamdetected"},
		// Yahoo.
		{"", "mta7.am0.yahoodns.net", "554 delivery error: dd This user doesn't have a yahoo.com account", "userunknown"},
		// No host: no service.
		{"", "", "550 5.1.1 The email account that you tried to reach does not exist.", ""},
	} {
		if got := reasons.rhostFind(hostFact(c.dest, c.rhost, c.text)); got != c.want {
			t.Errorf("rhostFind(%q, %q, %q) = %q, want %q", c.dest, c.rhost, c.text, got, c.want)
		}
	}
}

// The 5.0.0 of NTT DOCOMO is named by the SMTP command.
func TestRhostDocomoCommand(t *testing.T) {
	for cmd, want := range map[string]string{"RCPT": "userunknown", "DATA": "rejected", "MAIL": ""} {
		f := hostFact("docomo.ne.jp", "", "550 5.0.0 refused")
		f.command = cmd
		if got := reasons.rhostFind(f); got != want {
			t.Errorf("%s: rhostFind = %q, want %q", cmd, got, want)
		}
	}
}

// Every provider of rhost/lib.go is in the file and has its matcher, and
// every reason it names is one of reasonClass.
func TestRhostData(t *testing.T) {
	var names []string
	for _, c := range rhosts {
		names = append(names, c.name)
		if len(c.hosts) == 0 || len(c.rows)+len(c.codes) == 0 {
			t.Errorf("%s: %d hosts, %d rows, %d codes", c.name, len(c.hosts), len(c.rows), len(c.codes))
		}
		for _, r := range c.rows {
			if _, ok := reasonClass[r.reason]; !ok {
				t.Errorf("%s: unknown reason %q (%q)", c.name, r.reason, r.phrase)
			}
			if r.phrase == "" {
				t.Errorf("%s: empty phrase for %s", c.name, r.reason)
			}
		}
		for _, e := range c.codes {
			if _, ok := reasonClass[e.reason]; !ok && e.reason != "" {
				t.Errorf("%s: unknown reason %q (code %q)", c.name, e.reason, e.code)
			}
		}
	}
	sort.Strings(names)
	want := "Aol Apple Cox Facebook FrancePTT GSuite GoDaddy Google IUA KDDI MessageLabs Microsoft Mimecast NTTDOCOMO Outlook Spectrum Tencent YahooInc"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("providers = %s, want %s", got, want)
	}
}

func TestDiagnosis(t *testing.T) {
	got := diagnosis("550-5.7.1 [192.0.2.222] Our system has detected\n550-5.7.1 that this message is\n550 5.7.1 likely unsolicited mail.", "550")
	if want := "Our system has detected that this message is likely unsolicited mail."; !strings.HasSuffix(got, want) {
		t.Errorf("diagnosis = %q, want it to end %q", got, want)
	}
	if got := sisimaiSelect("AUP#CXBL ", "AUP#", " "); got != "CXBL" {
		t.Errorf("select = %q", got)
	}
	if got := sisimaiSelect("x AUP#", "AUP#", " "); got != "" {
		t.Errorf("select = %q", got)
	}
}

func TestHostName(t *testing.T) {
	for in, want := range map[string]string{
		"mx.example.jp (192.0.2.1)":       "mx.example.jp",
		"192.0.2.1 mx.example.jp":         "mx.example.jp",
		"[192.0.2.1]":                     "192.0.2.1",
		"postmaster@mx.me.com":            "mx.me.com",
		"gmail-smtp-in.l.google.com.":     "gmail-smtp-in.l.google.com",
		"smtp.example.org=mx.example.net": "mx.example.net",
		"":                                "",
	} {
		if got := hostName(in); got != want {
			t.Errorf("hostName(%q) = %q, want %q", in, got, want)
		}
	}
	f := hostFact("", "mx3.mail.icloud.com (17.57.154.33)", "550 5.1.1 <kijitora@example.jp>: user does not exist")
	if got := reasons.rhostFind(f); got != "userunknown" {
		t.Errorf("rhostFind by a Remote-MTA with its address = %q", got)
	}
}
