package checks

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestMailbox(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mailboxes")
	os.WriteFile(path, []byte("www@site.test\ninfo@site.test # an alias\n@catchall.test\n"), 0o644)
	list, err := LoadRecipientList(path, "+", time.Now)
	if err != nil {
		t.Fatal(err)
	}
	m := &Mailbox{Domains: []string{"site.test", "catchall.test"}, List: list,
		Unknown: reply(t, MailboxName, "unknown"), Temp: reply(t, MailboxName, "temp")}
	for _, tt := range []struct {
		from   string
		status Status
		reason string
		reply  string
	}{
		{"www@site.test", Pass, "mailbox-listed", ""},
		{"www+news@site.test", Pass, "mailbox-listed", ""},
		{"info@SITE.TEST", Pass, "mailbox-listed", ""},
		{"anyone@catchall.test", Pass, "mailbox-listed", ""},
		{"noreply@site.test", Fail, "mailbox-unknown",
			"553 5.1.8 <noreply@site.test>: Sender address rejected: no such mailbox here; replies and bounces to it would be lost"},
		{"someone@elsewhere.test", Pass, "mailbox-foreign", ""},
		{"x@sub.site.test", Pass, "mailbox-foreign", ""},
		{"", Pass, "mailbox-null-sender", ""},
	} {
		r := m.CheckMail(context.Background(), &Envelope{From: tt.from})
		if r.Status != tt.status || r.Reason != tt.reason || r.Reply.String() != replyOrEmpty(tt.reply) {
			t.Errorf("%q: %s %s %q, want %s %s %q", tt.from, r.Status, r.Reason, r.Reply, tt.status, tt.reason, tt.reply)
		}
	}
}
