package checks

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailsift/mailsift/internal/clocktest"
)

func writeList(t *testing.T, path, text string, mtime time.Time) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(path, mtime, mtime)
}

func TestRecipient(t *testing.T) {
	clk := clocktest.New(time.Unix(1_800_000_000, 0))
	path := filepath.Join(t.TempDir(), "recipients")
	writeList(t, path, "# our users\nalice@example.org\nBob@Example.ORG   # case kept in the local part\n@catchall.example.org\n", clk.Now())
	list, err := LoadRecipientList(path, "+", clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	rc := &Recipient{RequireFQDN: true, Domains: []string{"example.org", "catchall.example.org"}, List: list,
		Syntax: reply(t, "recipient", "syntax"), NonFQDN: reply(t, "recipient", "non_fqdn"),
		Unlisted: reply(t, "recipient", "unlisted"), Temp: reply(t, "recipient", "temp")}
	check := func(rcpt string, status Status, reason, rep string) {
		t.Helper()
		res := rc.CheckRcpt(context.Background(), &Envelope{Rcpt: rcpt})
		if res.Status != status || res.Reason != reason || replyString(res.Reply) != rep {
			t.Fatalf("%s: = %s/%s %q (%s), want %s/%s %q", rcpt, res.Status, res.Reason, replyString(res.Reply), res.Text, status, reason, rep)
		}
	}
	check("alice@example.org", Pass, "rcpt-listed", "")
	check("alice@EXAMPLE.org", Pass, "rcpt-listed", "")
	check("alice+news@example.org", Pass, "rcpt-listed", "")
	check("Bob@example.org", Pass, "rcpt-listed", "")
	check("anyone@catchall.example.org", Pass, "rcpt-listed", "")
	check("postmaster", Pass, "rcpt-postmaster", "")
	check("someone@elsewhere.example", Pass, "rcpt-foreign", "")
	check("ALICE@example.org", Fail, "rcpt-unlisted", "550 5.1.1 <ALICE@example.org>: Recipient address rejected: User unknown")
	check("bob@example.org", Fail, "rcpt-unlisted", "550 5.1.1 <bob@example.org>: Recipient address rejected: User unknown")
	check("carol@example.org", Fail, "rcpt-unlisted", "550 5.1.1 <carol@example.org>: Recipient address rejected: User unknown")
	check("carol@localhost", Fail, "rcpt-not-fqdn", "504 5.5.2 <carol@localhost>: Recipient address rejected: need fully-qualified address")
	check("carol..x@example.org", Fail, "rcpt-malformed", "501 5.1.3 <carol..x@example.org>: Recipient address rejected: malformed address")

	// The file changes: the new list is used after at most a second,
	// without a restart.
	writeList(t, path, "alice@example.org\ncarol@example.org\n", clk.Now().Add(time.Minute))
	check("carol@example.org", Fail, "rcpt-unlisted", "550 5.1.1 <carol@example.org>: Recipient address rejected: User unknown")
	clk.Add(time.Second)
	check("carol@example.org", Pass, "rcpt-listed", "")
	check("Bob@example.org", Fail, "rcpt-unlisted", "550 5.1.1 <Bob@example.org>: Recipient address rejected: User unknown")

	// A broken file keeps the last good list, and says why, once. A
	// recipient the last good list lacks (dave, just added) gets a
	// temporary error, not "User unknown".
	var reports []string
	list.Report = func(err error) { reports = append(reports, errString(err)) }
	writeList(t, path, "alice@example.org\ncarol@example.org\ndave@example.org\nnot an address\n", clk.Now().Add(2*time.Minute))
	clk.Add(time.Second)
	check("carol@example.org", Pass, "rcpt-listed", "")
	check("dave@example.org", TempError, "rcpt-temperror", "451 4.3.0 <dave@example.org>: Recipient address rejected: temporary lookup failure")
	clk.Add(time.Second)
	check("dave+x@example.org", TempError, "rcpt-temperror", "451 4.3.0 <dave+x@example.org>: Recipient address rejected: temporary lookup failure")
	if err := list.Err(); err == nil || !strings.Contains(err.Error(), path+":4: want an address or @domain") {
		t.Fatalf("Err() = %v", err)
	}
	if len(reports) != 1 || !strings.Contains(reports[0], path+":4: want an address or @domain") {
		t.Fatalf("reports %q, want the error once", reports)
	}
	// Fixed: the new list, and the recovery reported.
	writeList(t, path, "alice@example.org\ncarol@example.org\ndave@example.org\n", clk.Now().Add(3*time.Minute))
	clk.Add(time.Second)
	check("dave@example.org", Pass, "rcpt-listed", "")
	check("erin@example.org", Fail, "rcpt-unlisted", "550 5.1.1 <erin@example.org>: Recipient address rejected: User unknown")
	if len(reports) != 2 || reports[1] != "" {
		t.Fatalf("reports %q, want the recovery", reports)
	}
}

func TestRecipientListErrors(t *testing.T) {
	dir := t.TempDir()
	now := func() time.Time { return time.Unix(0, 0) }
	for _, tt := range []struct{ text, want string }{
		{"alice@example.org\n@localhost\n", ":2: want an address or @domain, got \"@localhost\""},
		{"\n\nalice\n", ":3: want an address or @domain, got \"alice\""},
	} {
		p := filepath.Join(dir, "list")
		os.WriteFile(p, []byte(tt.text), 0o644)
		if _, err := LoadRecipientList(p, "+", now); err == nil || err.Error() != p+tt.want {
			t.Errorf("LoadRecipientList(%q) = %v, want %s%s", tt.text, err, p, tt.want)
		}
	}
	if _, err := LoadRecipientList(filepath.Join(dir, "missing"), "+", now); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing file: %v", err)
	}
}

// With no domains configured the relay check still refuses
// sender-specified routing, and leaves the rest to the MTA.
func TestRelayWithoutDomains(t *testing.T) {
	r := &Relay{Denied: reply(t, "relay", "perm")}
	for _, tt := range []struct {
		rcpt          string
		status        Status
		reason, reply string
	}{
		{"bob@example.org", None, "relay-mta-decides", ""},
		{"victim@elsewhere.example", None, "relay-mta-decides", ""},
		{"user%evil.example@example.org", Fail, "relay-routing", "554 5.7.1 <user?evil.example@example.org>: Relay access denied"},
		{`"user@evil.example"@example.org`, Fail, "relay-routing", `554 5.7.1 <"user@evil.example"@example.org>: Relay access denied`},
		{"host!user@example.org", Fail, "relay-routing", "554 5.7.1 <host!user@example.org>: Relay access denied"},
		{"@mx.example.org:user@evil.example", Fail, "relay-routing", "554 5.7.1 <@mx.example.org:user@evil.example>: Relay access denied"},
	} {
		res := r.CheckRcpt(context.Background(), &Envelope{Rcpt: tt.rcpt})
		if res.Status != tt.status || res.Reason != tt.reason || replyString(res.Reply) != tt.reply {
			t.Errorf("%s: = %s/%s %q, want %s/%s %q", tt.rcpt, res.Status, res.Reason, replyString(res.Reply), tt.status, tt.reason, tt.reply)
		}
	}
}

func TestRelay(t *testing.T) {
	r := &Relay{Domains: []string{"example.org"}, Denied: reply(t, "relay", "perm")}
	for _, tt := range []struct {
		rcpt          string
		status        Status
		reason, reply string
	}{
		{"bob@example.org", Pass, "relay-local", ""},
		{"bob@EXAMPLE.org.", Pass, "relay-local", ""},
		{"postmaster", Pass, "relay-local", ""},
		{"bob@sub.example.org", Fail, "relay-denied", "554 5.7.1 <bob@sub.example.org>: Relay access denied"},
		{"victim@elsewhere.example", Fail, "relay-denied", "554 5.7.1 <victim@elsewhere.example>: Relay access denied"},
		{"bad..x@elsewhere.example", None, "relay-malformed", ""},
		// Sender-specified routing (Postfix's allow_untrusted_routing = no);
		// '%' reaches the reply as '?' (Reply.Expand: '%' is special to MTAs).
		{"user%evil.example@example.org", Fail, "relay-routing", "554 5.7.1 <user?evil.example@example.org>: Relay access denied"},
		{"evil.example!user@example.org", Fail, "relay-routing", "554 5.7.1 <evil.example!user@example.org>: Relay access denied"},
		{`"user@evil.example"@example.org`, Fail, "relay-routing", `554 5.7.1 <"user@evil.example"@example.org>: Relay access denied`},
		{`"user\@evil.example"@example.org`, Fail, "relay-routing", `554 5.7.1 <"user\@evil.example"@example.org>: Relay access denied`},
		{"@example.org:user@evil.example", Fail, "relay-routing", "554 5.7.1 <@example.org:user@evil.example>: Relay access denied"},
		{"@example.org,@b.example:user@example.org", Fail, "relay-routing", "554 5.7.1 <@example.org,@b.example:user@example.org>: Relay access denied"},
		{"user%evil.example", Fail, "relay-routing", "554 5.7.1 <user?evil.example>: Relay access denied"},
	} {
		res := r.CheckRcpt(context.Background(), &Envelope{Rcpt: tt.rcpt})
		if res.Status != tt.status || res.Reason != tt.reason || replyString(res.Reply) != tt.reply {
			t.Errorf("%s: = %s/%s %q, want %s/%s %q", tt.rcpt, res.Status, res.Reason, replyString(res.Reply), tt.status, tt.reason, tt.reply)
		}
	}
}
