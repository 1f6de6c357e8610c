package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailsift/mailsift/greylist/redistest"
)

// The test configs use a 1-second delay, so that a retry can pass within
// the test.
const greylistConfig = `
[trust]
networks = ["127.0.0.0/8"]
[checks.recipient]
domains = ["example.test"]
[greylist]
delay = "1s"
`

func TestPostfixGreylist(t *testing.T) {
	snapshot := filepath.Join(t.TempDir(), "greylist.snapshot")
	m := startMailsift(t, greylistConfig+fmt.Sprintf("snapshot = %q\n", snapshot))
	p := startPostfix(t, m.addr)

	attempt := func(from, msgID string) string {
		c := p.xclient(t, "192.0.2.10", "good.checks.test", "mail.checks.test")
		defer c.expect("221", "QUIT")
		c.expect("250", "MAIL FROM:<%s>", from)
		if got := c.cmd("RCPT TO:<bob@example.test>"); !strings.HasPrefix(got, "250 ") {
			return got
		}
		return c.data(message(from, "bob@example.test", msgID, ""))
	}
	const want = "450 4.7.1 <bob@example.test>: Recipient address rejected: Greylisted, retry in 1 seconds"
	if got := attempt("alice@checks.test", "g1@checks.test"); got != want {
		t.Fatalf("first attempt: %q, want %q", got, want)
	}
	wantFields(t, m.recordFor(t, "alice@checks.test"), map[string]any{
		"event.action": "tempfail", "mailsift.reply": want, "mailsift.checks.greylist.status": "fail",
		"mailsift.checks.greylist.reason": "greylist-greylisted", "mailsift.checks.greylist.client_key": "org:checks.test",
		"mailsift.checks.greylist.client_key_kind": "org-domain",
	})
	time.Sleep(1100 * time.Millisecond) // the configured delay
	if got := attempt("alice+retry@checks.test", "g1@checks.test"); !strings.HasPrefix(got, "250 ") {
		t.Fatalf("retry after the delay: %q", got)
	}
	p.delivered(t, "g1@checks.test")
	wantFields(t, m.recordFor(t, "alice+retry@checks.test"), map[string]any{
		"event.action": "accept", "mailsift.checks.greylist.reason": "greylist-retry-passed",
	})

	// The state survives a restart (snapshot at SIGTERM, read at start).
	m.restart(t)
	if got := attempt("alice@checks.test", "g2@checks.test"); !strings.HasPrefix(got, "250 ") {
		t.Fatalf("after a restart: %q, want the known triplet to pass", got)
	}
	p.delivered(t, "g2@checks.test")

	// The null sender is greylisted at the end of DATA, not at RCPT TO.
	c := p.xclient(t, "192.0.2.10", "good.checks.test", "mail.checks.test")
	c.expect("250", "MAIL FROM:<>")
	c.expect("250", "RCPT TO:<bob@example.test>")
	if got := c.data(message("", "bob@example.test", "bounce@checks.test", "")); got != want {
		t.Fatalf("null sender at end of DATA: %q, want %q", got, want)
	}
	c.expect("221", "QUIT")
}

// Two MX hosts (two Postfix, two mailsift) share one Redis: the retry that
// lands on the other host passes. Redis going away lets mail through
// (fail open) and is logged once; its return restores greylisting without
// a restart.
func TestPostfixGreylistRedisFleet(t *testing.T) {
	redis := redistest.Start(t)
	cfg := greylistConfig + fmt.Sprintf("store = \"redis\"\n[greylist.redis]\naddrs = [%q]\ntimeout = \"300ms\"\n", redis.Addr)
	m1, m2 := startMailsift(t, cfg), startMailsift(t, cfg)
	p1, p2 := startPostfix(t, m1.addr), startPostfix(t, m2.addr)
	rcpt := func(p *postfix, from string) string {
		c := p.xclient(t, "192.0.2.10", "good.checks.test", "mail.checks.test")
		defer c.expect("221", "QUIT")
		c.expect("250", "MAIL FROM:<%s>", from)
		return c.cmd("RCPT TO:<bob@example.test>")
	}
	const want = "450 4.7.1 <bob@example.test>: Recipient address rejected: Greylisted, retry in 1 seconds"
	if got := rcpt(p1, "fleet@checks.test"); got != want {
		t.Fatalf("first attempt on MX 1: %q", got)
	}
	time.Sleep(1100 * time.Millisecond)
	if got := rcpt(p2, "fleet@checks.test"); !strings.HasPrefix(got, "250 ") {
		t.Fatalf("retry on MX 2: %q, want 250", got)
	}

	redis.Stop()
	for _, from := range []string{"down1@checks.test", "down2@checks.test"} {
		if got := rcpt(p1, from); !strings.HasPrefix(got, "250 ") {
			t.Fatalf("Redis down, %s: %q, want 250 (fail open)", from, got)
		}
	}
	wantFields(t, m1.recordFor(t, "down1@checks.test"), map[string]any{
		"mailsift.checks.greylist.status": "temperror", "mailsift.checks.greylist.reason": "greylist-store-error",
		"mailsift.checks.greylist.action": "log", "event.action": "abort", // QUIT after RCPT: no message
	})
	if n := len(m1.records(t, "greylist store unreachable")); n != 1 {
		t.Errorf("outage logged %d times, want once", n)
	}
	redis.Restart()
	if got := rcpt(p1, "back@checks.test"); got != want {
		t.Fatalf("Redis back: %q, want %q", got, want)
	}
	m1.waitLog(t, "greylist store reachable again")
}
