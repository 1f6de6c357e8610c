package milter

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/mailsift/mailsift/checks"
	"github.com/mailsift/mailsift/internal/policy"
)

// The record of an accepted message reflects its accepted recipients, not
// the refused one that came last; mailsift.recipients says what became of
// each.
func TestRecordRecipientOutcomes(t *testing.T) {
	f := start(t, testRuntime(policy.Enforce, rcptCheck{}))
	s := f.session(t, "198.51.100.71")
	cont(t)(s.Helo("mail.sender.test"))
	cont(t)(s.Mail("a@sender.test"))
	cont(t)(s.Rcpt("bob@example.test"))
	replyIs(t, "550 5.1.1 <x@unknown.test>: User unknown")(s.Rcpt("x@unknown.test"))
	_, act, err := s.End(nil)
	wantAccept(t, act, err)
	r := f.logs.waitRecords(t, 1)[0]
	for k, want := range map[string]any{
		"event.action": "accept", "mailsift.checks.recipient.status": "pass", "mailsift.checks.recipient.reason": "rcpt-known",
		"mailsift.checks.recipient.action": "log", "mailsift.rcpt_count": 2.0, "mailsift.refused_count": 1.0,
	} {
		if r[k] != want {
			t.Errorf("record[%q] = %v, want %v", k, r[k], want)
		}
	}
	b, _ := json.Marshal(r["mailsift.recipients"])
	want := `[{"action":"accept","address":"bob@example.test"},` +
		`{"action":"reject","address":"x@unknown.test","check":"recipient","reason":"rcpt-unknown","reply":"550 5.1.1 \u003cx@unknown.test\u003e: User unknown"}]`
	if string(b) != want {
		t.Errorf("mailsift.recipients = %s\nwant %s", b, want)
	}

	// Every recipient refused: the record shows why.
	s2 := f.session(t, "198.51.100.72")
	cont(t)(s2.Helo("mail.sender.test"))
	cont(t)(s2.Mail("a@sender.test"))
	replyIs(t, "550 5.1.1 <y@unknown.test>: User unknown")(s2.Rcpt("y@unknown.test"))
	must(t, s2.Abort())
	r = f.logs.waitRecords(t, 2)[1]
	if r["event.action"] != "reject" || r["mailsift.checks.recipient.reason"] != "rcpt-unknown" || r["mailsift.checks.recipient.action"] != "reject" {
		t.Errorf("record = %v", r)
	}
}

// A record stays under 64 KiB: 10,000 recipients of hostile addresses.
func TestRecordSizeBounded(t *testing.T) {
	f := start(t, testRuntime(policy.Enforce, rcptCheck{}))
	s := f.session(t, "198.51.100.73")
	cont(t)(s.Helo("mail.sender.test"))
	cont(t)(s.Mail(strings.Repeat("\x01\"", 400) + "@sender.test"))
	for i := range 10000 {
		dom := "example.test"
		if i%2 == 1 {
			dom = "unknown.test"
		}
		s.Rcpt(fmt.Sprintf("%s%d@%s", strings.Repeat("\"\x02\xff", 100), i, dom))
	}
	cont(t)(s.Header("Message-Id", "<"+strings.Repeat("m", 5000)+">"))
	_, act, err := s.End(nil)
	wantAccept(t, act, err)
	f.logs.waitRecords(t, 1)
	f.logs.mu.Lock()
	var line string
	for _, l := range strings.Split(f.logs.b.String(), "\n") {
		if strings.Contains(l, `"message":"message"`) {
			line = l
		}
	}
	f.logs.mu.Unlock()
	if len(line) >= 64<<10 {
		t.Fatalf("the record is %d bytes, want under 64 KiB", len(line))
	}
	r := f.logs.records(t)[0]
	if r["mailsift.rcpt_count"] != 10000.0 || r["mailsift.refused_count"] != 5000.0 {
		t.Errorf("counts: %v, %v", r["mailsift.rcpt_count"], r["mailsift.refused_count"])
	}
	if n := len(r["email.to.address"].([]any)); n == 0 || n == 10000 {
		t.Errorf("email.to.address has %d entries", n)
	}
	t.Logf("record: %d bytes, %d of 10000 recipients listed", len(line), len(r["email.to.address"].([]any)))
}

// ptrCheck says the client's PTR name does not resolve back.
type ptrCheck struct{}

func (ptrCheck) Name() string { return "ptr" }
func (ptrCheck) CheckConnect(context.Context, *checks.Envelope) checks.Result {
	return checks.Result{Status: checks.Fail, Reason: "ptr-mismatch", RefutesClientName: true}
}

// source.domain never shows the MTA's name next to ptr-mismatch: that name
// goes to mailsift.mta_client_name.
func TestSourceDomainNotUnverified(t *testing.T) {
	rt := testRuntime(policy.Enforce, ptrCheck{})
	rt.Policy.Rules = map[string]policy.Rule{"ptr": {Actions: map[string]policy.Action{"fail": policy.Log}}}
	f := start(t, rt)
	s := f.session(t, "198.51.100.74", "{client_name}", "forged.example.test")
	cont(t)(s.Helo("mail.sender.test"))
	cont(t)(s.Mail("a@sender.test"))
	cont(t)(s.Rcpt("b@example.test"))
	_, act, err := s.End(nil)
	wantAccept(t, act, err)
	r := f.logs.waitRecords(t, 1)[0]
	if r["mailsift.checks.ptr.reason"] != "ptr-mismatch" {
		t.Fatalf("record = %v", r)
	}
	if d, ok := r["source.domain"]; ok {
		t.Errorf("source.domain = %v next to ptr-mismatch", d)
	}
	if r["mailsift.mta_client_name"] != "forged.example.test" {
		t.Errorf("mailsift.mta_client_name = %v", r["mailsift.mta_client_name"])
	}
}
