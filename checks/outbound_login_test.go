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

func TestLogin(t *testing.T) {
	path := filepath.Join(t.TempDir(), "logins")
	os.WriteFile(path, []byte("# login  addresses\nwww   www@site.test noreply@site.test\nalice alice@site.test @alice.test\nwww   news@site.test\n"), 0o644)
	clock := clocktest.New(time.Unix(1_800_000_000, 0))
	m, err := LoadLoginMap(path, clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	l := &Login{Map: m, Delimiter: "+", Mismatch: reply(t, LoginName, "mismatch"), Temp: reply(t, LoginName, "temp")}
	tests := []struct {
		login, from string
		status      Status
		reason      string
		reply       string
	}{
		{"www", "www@site.test", Pass, "login-owned", ""},
		{"www", "news@SITE.test", Pass, "login-owned", ""}, // second line of the login; domain without case
		{"www", "www+tag@site.test", Pass, "login-owned", ""},
		{"alice", "anything@alice.test", Pass, "login-owned", ""},
		{"www", "alice@site.test", Fail, "login-mismatch", "553 5.7.1 <alice@site.test>: Sender address rejected: not owned by user www"},
		{"www", "WWW@site.test", Fail, "login-mismatch", "553 5.7.1 <WWW@site.test>: Sender address rejected: not owned by user www"},
		{"nobody", "www@site.test", Fail, "login-mismatch", "553 5.7.1 <www@site.test>: Sender address rejected: not owned by user nobody"},
		{"www", "", Pass, "login-null-sender", ""},
		{"", "alice@site.test", None, "login-not-authenticated", ""},
	}
	for _, tt := range tests {
		r := l.CheckMail(context.Background(), &Envelope{AuthUser: tt.login, From: tt.from})
		if r.Status != tt.status || r.Reason != tt.reason || r.Reply.String() != replyOrEmpty(tt.reply) {
			t.Errorf("%s as %q: %s %s %q (%s), want %s %s %q", tt.login, tt.from, r.Status, r.Reason, r.Reply, r.Text, tt.status, tt.reason, tt.reply)
		}
	}

	// The From header, when configured.
	env := &Envelope{AuthUser: "www", From: "www@site.test", Headers: []Header{{"From", "Alice <alice@site.test>"}}}
	if r := l.CheckData(context.Background(), env); r.Status != "" {
		t.Fatalf("From header checked while off: %+v", r)
	}
	l.FromHeader = true
	r := l.CheckData(context.Background(), env)
	if r.Status != Fail || r.Reason != "login-from-mismatch" || r.Reply.String() != "553 5.7.1 <alice@site.test>: Sender address rejected: not owned by user www" {
		t.Fatalf("From header: %+v", r)
	}
	env.Headers = []Header{{"From", "Web <noreply@site.test>"}}
	if r := l.CheckData(context.Background(), env); r.Status != "" {
		t.Fatalf("owned From header: %+v", r)
	}

	// The From header is read as the DKIM signer and the standards check
	// read it: an obsolete route does not hide the address, and a From
	// that does not parse is no login's.
	for _, tt := range []struct{ from, reply, text string }{
		{"Boss <@x.test:boss@example.org>", "553 5.7.1 <boss@example.org>: Sender address rejected: not owned by user www", "boss@example.org is not among the addresses of login www"},
		{"Boss <@x.test,@y.test:boss@example.org>", "553 5.7.1 <boss@example.org>: Sender address rejected: not owned by user www", "boss@example.org is not among the addresses of login www"},
		{"Web <noreply@site.test>, Boss <@x.test:boss@example.org>", "553 5.7.1 <boss@example.org>: Sender address rejected: not owned by user www", "boss@example.org is not among the addresses of login www"},
		{`"boss"@example.org`, "553 5.7.1 <boss@example.org>: Sender address rejected: not owned by user www", "boss@example.org is not among the addresses of login www"},
		{`"a b"@site.test`, `553 5.7.1 <"a b"@site.test>: Sender address rejected: not owned by user www`, `"a b"@site.test is not among the addresses of login www`},
		{"Boss <boss@example.org", "553 5.7.1 <Boss <boss@example.org>: Sender address rejected: not owned by user www", "From header does not parse: "},
		{"", "553 5.7.1 <>: Sender address rejected: not owned by user www", "From header does not parse: no address"},
	} {
		env.Headers = []Header{{"From", " " + tt.from}}
		r := l.CheckData(context.Background(), env)
		if r.Status != Fail || r.Reason != "login-from-mismatch" || r.Reply.String() != tt.reply || !strings.HasPrefix(r.Text, tt.text) {
			t.Errorf("From: %s: %s %s %q (%s), want fail login-from-mismatch %q (%s)", tt.from, r.Status, r.Reason, r.Reply, r.Text, tt.reply, tt.text)
		}
	}
	env.Headers = []Header{{"From", " Web <@relay.test:noreply@site.test>"}}
	if r := l.CheckData(context.Background(), env); r.Status != "" {
		t.Fatalf("owned From header with a route: %+v", r)
	}

	// The file is read again when it changes.
	os.WriteFile(path, []byte("www alice@site.test\n"), 0o644)
	future := time.Now().Add(time.Hour)
	os.Chtimes(path, future, future)
	clock.Add(2 * time.Second)
	if r := l.CheckMail(context.Background(), &Envelope{AuthUser: "www", From: "alice@site.test"}); r.Status != Pass {
		t.Fatalf("after the change: %+v", r)
	}
	if r := l.CheckMail(context.Background(), &Envelope{AuthUser: "www", From: "www@site.test"}); r.Status != Fail {
		t.Fatalf("after the change, the old address: %+v", r)
	}
}

func TestLoginFileErrors(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ text, want string }{
		{"www\n", `logins:1: want "LOGIN ADDRESS|@DOMAIN ...", got "www"`},
		{"ok a@b.test\nwww not-an-address\n", `logins:2: want an address or @domain, got "not-an-address"`},
		{"www @nodot\n", `logins:1: want an address or @domain, got "@nodot"`},
	} {
		path := filepath.Join(dir, "logins")
		os.WriteFile(path, []byte(c.text), 0o644)
		_, err := LoadLoginMap(path, time.Now)
		if err == nil || !strings.HasSuffix(err.Error(), c.want) {
			t.Errorf("%q: %v, want ...%s", c.text, err, c.want)
		}
	}
	if _, err := LoadLoginMap(filepath.Join(dir, "missing"), time.Now); err == nil {
		t.Error("missing file: no error")
	}
}

func FuzzLoginLine(f *testing.F) {
	for _, s := range []string{"www www@site.test @alice.test", "a", "a @", "x \"q u\"@d.test", "a b@[192.0.2.1]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		login, owned, err := ParseLoginLine(line)
		if err != nil {
			return
		}
		if login == "" || len(owned) == 0 {
			t.Fatalf("%q: login %q, owned %q", line, login, owned)
		}
		for _, o := range owned {
			if !strings.Contains(o, "@") {
				t.Fatalf("%q: owned entry %q", line, o)
			}
		}
	})
}
