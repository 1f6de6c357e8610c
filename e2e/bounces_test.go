package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// websiteConfig is a website's submissions through mailsift: trusted
// loopback, outbound checks on for site.test with the suppression list
// enforced. Tests append their own tables.
const websiteConfig = `
[trust]
networks = ["127.0.0.0/8"]
[checks.recipient]
domains = ["example.test"]
[outbound]
enabled = true
domains = ["site.test"]
addresses = ["192.0.2.1"]
[outbound.preflight]
mode = "off"
[outbound.suppress]
mode = "enforce"
`

// A website's mass mail comes back: a real Postfix bounce (sisimai's
// lhost-postfix-02, two dead recipients) sent three times through Postfix
// to the VERP bounce address leaves one "bounce" record per recipient,
// each counted; the third suppresses both, the suppression list is
// exported and served by the admin endpoint, and the website's next
// submission to a suppressed address is refused at RCPT TO with the
// exact reply, until the address is deleted from the list.
func TestBouncesSuppressThroughPostfix(t *testing.T) {
	export := filepath.Join(t.TempDir(), "suppressed.json")
	m := startMailsift(t, websiteConfig+`
[checks.dmarc]
# The sample's From domain (smtp.example.com) is in no test zone.
mode = "off"
[bounces]
addresses = ["bounces@example.test"]
discard = true
export = "`+export+`"
`)
	// The website mails the sample's recipients: Postfix relays example.co.jp
	// (to its discard transport in the test instance).
	p := startPostfixEdited(t, m.addr, func(cf string) string {
		return cf + "\nrelay_domains = elsewhere.test, localhost, example.co.jp\n"
	})
	sample, err := os.ReadFile("../testdata/dsn/sisimai/lhost-postfix-02.eml")
	if err != nil {
		t.Fatal(err)
	}
	// The bounce arrives from the remote Postfix's MX, from <>.
	var ids []string
	for i := range 3 {
		c := p.xclient(t, "192.0.2.10", "good.checks.test", "mail.checks.test")
		c.expect("250", "MAIL FROM:<>")
		c.expect("250", "RCPT TO:<bounces+news%d=example.co.jp@example.test>", i)
		reply := c.data(string(sample))
		if !strings.HasPrefix(reply, "250 ") {
			t.Fatalf("bounce %d: DATA: %q", i+1, reply)
		}
		ids = append(ids, queueID(t, reply))
		c.expect("221", "QUIT")
	}
	m.waitLogN(t, "bounce", 6)
	rs := m.records(t, "bounce")
	if len(rs) != 6 {
		t.Fatalf("%d bounce records, want 6 (2 recipients, 3 bounces)", len(rs))
	}
	for i, r := range rs {
		want := map[string]any{"event.action": "bounce", "email.local_id": ids[i/2], "mailsift.bounce.hard": true,
			"mailsift.bounce.class": "user-unknown", "mailsift.bounce.remote_mta": "mx.example.co.jp", "mailsift.bounce.hard_count": float64(i/2 + 1),
			"mailsift.bounce.suppressed": i >= 4}
		if r["email.to.address"] == "userunknown@example.co.jp" {
			want["mailsift.bounce.status"] = "5.1.1"
			want["mailsift.bounce.diagnostic"] = "550 5.1.1 <userunknown@example.co.jp>... User Unknown"
		} else {
			want["email.to.address"] = "filtered@example.co.jp"
			want["mailsift.bounce.status"] = "5.2.1"
		}
		wantFields(t, r, want)
	}
	// discard = true: Postfix dropped the bounces, nothing reached the sink.
	log, _ := os.ReadFile(filepath.Join(p.base, "log", "maillog"))
	if n := strings.Count(string(log), "milter-discard: END-OF-MESSAGE from good.checks.test[192.0.2.10]"); n != 3 {
		t.Errorf("maillog: %d milter-discard lines, want 3:\n%s", n, log)
	}
	if files, _ := filepath.Glob(filepath.Join(p.base, "mail", "sink", "new", "*")); len(files) != 0 {
		t.Errorf("discarded bounces delivered: %v", files)
	}

	// The export file lists both addresses.
	var x struct {
		Suppressed []struct {
			Address string `json:"address"`
			Bounces int    `json:"bounces"`
		} `json:"suppressed"`
	}
	b, _ := os.ReadFile(export)
	if err := json.Unmarshal(b, &x); err != nil || len(x.Suppressed) != 2 || x.Suppressed[1].Address != "userunknown@example.co.jp" || x.Suppressed[1].Bounces != 3 {
		t.Fatalf("export %s: %v\n%s", export, err, b)
	}

	// The website submits from a trusted network: the suppressed address is
	// refused at RCPT TO, the others pass.
	want := "550 5.1.1 <userunknown@example.co.jp>: recipient suppressed after 3 bounces (last: 5.1.1 user unknown, " +
		time.Now().UTC().Format("2006-01-02") + ")"
	c := dialSMTP(t, p.addr, "")
	c.expect("250", "EHLO web.site.test")
	c.expect("250", "MAIL FROM:<www@site.test>")
	if got := c.cmd("RCPT TO:<userunknown@example.co.jp>"); got != want {
		t.Fatalf("RCPT: %q\nwant %q", got, want)
	}
	c.expect("250", "RCPT TO:<bob@example.test>")
	c.expect("250", "RSET")

	// The admin endpoint lists the addresses, looks one up, deletes it.
	base := "http://" + m.waitLog(t, "admin endpoint listening")["mailsift.admin.listen"].(string)
	code, body := get(t, base+"/suppress")
	if code != 200 || !strings.Contains(body, `"address":"filtered@example.co.jp"`) || !strings.Contains(body, `"address":"userunknown@example.co.jp"`) {
		t.Fatalf("GET /suppress: %d %s", code, body)
	}
	code, body = get(t, base+"/suppress/lookup?address=userunknown@example.co.jp")
	if code != 200 || !strings.Contains(body, `"suppressed":true`) || !strings.Contains(body, `"status":"5.1.1","class":"user-unknown"`) {
		t.Fatalf("lookup: %d %s", code, body)
	}
	resp, err := http.Post(base+"/suppress/delete?address=userunknown@example.co.jp", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	rb, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("delete: %d %s", resp.StatusCode, rb)
	}
	c.expect("250", "MAIL FROM:<www@site.test>")
	c.expect("250", "RCPT TO:<userunknown@example.co.jp>")
	c.expect("250", "RSET")
	c.expect("221", "QUIT")
	b, _ = os.ReadFile(export)
	if strings.Contains(string(b), "userunknown@") || !strings.Contains(string(b), "filtered@example.co.jp") {
		t.Errorf("export after delete:\n%s", b)
	}
	wantFields(t, m.waitLog(t, "suppression list changed through the admin endpoint"), map[string]any{
		"mailsift.admin.action": "suppress-delete", "email.to.address": "userunknown@example.co.jp"})
}

// dsnAbout is a Postfix-style bounce from example.co.jp's MX: the message
// id failed for rcpt with 550 5.1.1.
func dsnAbout(id, rcpt string) string {
	return `From: MAILER-DAEMON@example.co.jp (Mail Delivery System)
To: bounces@example.test
Subject: Undelivered Mail Returned to Sender
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="b"

--b
Content-Type: text/plain

I'm sorry to have to inform you that your message could not be delivered.

--b
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.co.jp

Final-Recipient: rfc822; ` + rcpt + `
Action: failed
Status: 5.1.1
Remote-MTA: dns; mx.example.co.jp
Diagnostic-Code: smtp; 550 5.1.1 <` + rcpt + `>... User Unknown

--b
Content-Type: text/rfc822-headers

From: Shop <www@site.test>
To: ` + rcpt + `
Subject: your order
Message-Id: ` + id + `

--b--
`
}

// [bounces] verify_sent: the website mails alice@example.co.jp through
// Postfix; three forged reports (about a message we never sent) claim
// she bounced: each is logged, not counted, and her next mail goes. The
// real report about the message we sent her counts.
func TestBouncesVerifySentThroughPostfix(t *testing.T) {
	m := startMailsift(t, websiteConfig+`
[checks.dmarc]
mode = "off"
[bounces]
addresses = ["bounces@example.test"]
discard = true
verify_sent = true
`)
	p := startPostfixEdited(t, m.addr, func(cf string) string {
		return cf + "\nrelay_domains = elsewhere.test, localhost, example.co.jp\n"
	})
	submitTo := func(rcpt, id string) {
		t.Helper()
		c := dialSMTP(t, p.addr, "")
		c.expect("250", "EHLO web.site.test")
		c.expect("250", "MAIL FROM:<www@site.test>")
		c.expect("250", "RCPT TO:<%s>", rcpt)
		if reply := c.data("From: Shop <www@site.test>\nTo: " + rcpt + "\nSubject: your order\nMessage-Id: " + id + "\n\nThanks.\n"); !strings.HasPrefix(reply, "250 ") {
			t.Fatalf("submission: DATA: %q", reply)
		}
		c.expect("221", "QUIT")
	}
	bounce := func(id, rcpt string) {
		t.Helper()
		c := p.xclient(t, "192.0.2.10", "good.checks.test", "mail.checks.test")
		c.expect("250", "MAIL FROM:<>")
		c.expect("250", "RCPT TO:<bounces@example.test>")
		if reply := c.data(dsnAbout(id, rcpt)); !strings.HasPrefix(reply, "250 ") {
			t.Fatalf("bounce: DATA: %q", reply)
		}
		c.expect("221", "QUIT")
	}
	submitTo("alice@example.co.jp", "<order7@site.test>")
	m.waitLogN(t, "message", 1)

	for range 3 {
		bounce("<forged@elsewhere.test>", "alice@example.co.jp")
	}
	m.waitLogN(t, "bounce", 3)
	for _, r := range m.records(t, "bounce") {
		wantFields(t, r, map[string]any{"event.action": "bounce", "email.to.address": "alice@example.co.jp", "mailsift.bounce.hard": true,
			"mailsift.bounce.original_message_id": "<forged@elsewhere.test>", "mailsift.bounce.counted": false,
			"mailsift.bounce.not_counted": "not a message we sent"})
		if _, ok := r["mailsift.bounce.hard_count"]; ok {
			t.Errorf("forged report counted: %v", r)
		}
	}
	if rs := m.records(t, "recipient suppressed"); len(rs) != 0 {
		t.Fatalf("suppressed by forged reports: %v", rs)
	}
	// Her mail still goes.
	c := dialSMTP(t, p.addr, "")
	c.expect("250", "EHLO web.site.test")
	c.expect("250", "MAIL FROM:<www@site.test>")
	c.expect("250", "RCPT TO:<alice@example.co.jp>")
	c.expect("250", "RSET")
	c.expect("221", "QUIT")

	// The real report counts.
	bounce("<order7@site.test>", "alice@example.co.jp")
	r := m.waitLogN(t, "bounce", 4)
	wantFields(t, r, map[string]any{"email.to.address": "alice@example.co.jp", "mailsift.bounce.original_message_id": "<order7@site.test>",
		"mailsift.bounce.counted": true, "mailsift.bounce.hard_count": 1, "mailsift.bounce.suppressed": false})
	// Recorded bounces, counted or not, are discarded (discard = true).
	log, _ := os.ReadFile(filepath.Join(p.base, "log", "maillog"))
	if n := strings.Count(string(log), "milter-discard: END-OF-MESSAGE from good.checks.test[192.0.2.10]"); n != 4 {
		t.Errorf("maillog: %d milter-discard lines, want 4:\n%s", n, log)
	}
}
