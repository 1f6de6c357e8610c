package checks

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mailsift/mailsift/greylist"
	"github.com/mailsift/mailsift/internal/clocktest"
)

func TestGreylist(t *testing.T) {
	clk := clocktest.New(time.Unix(1_800_000_000, 0))
	path := filepath.Join(t.TempDir(), "whitelist")
	writeList(t, path, "# clients\n203.0.113.0/24\n.outbound.example.net\nvip@example.org\n", clk.Now())
	file, err := LoadLineFile(path, ParseWhitelistEntry, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	g := &Greylist{Store: greylist.NewMemory(1000), Now: clk.Now, OrgDomain: true, IPv4: 24, IPv6: 64, Delimiter: "+",
		Timing:     greylist.Timing{Delay: 5 * time.Minute, RetryWindow: 48 * time.Hour, MaxAge: 35 * 24 * time.Hour, AWLCount: 5},
		Whitelist:  &GreyWhitelist{Exceptions: Exceptions{Recipients: []string{"postmaster@", "abuse@"}, Senders: []string{"trusted.example"}}, Files: []*LineFile{file}},
		Greylisted: reply(t, "greylist", "temp")}
	env := func(ip, name, from string) *Envelope {
		return &Envelope{ClientIP: netip.MustParseAddr(ip), ClientName: name, From: from}
	}
	check := func(e *Envelope, rcpt string, status Status, reason, rep, key string) {
		t.Helper()
		e.Rcpt = rcpt
		r := g.CheckRcpt(context.Background(), e)
		if r.Status != status || r.Reason != reason || replyString(r.Reply) != rep || r.Details["client_key"] != key {
			t.Fatalf("%s from %s: = %s/%s %q key %q (%s), want %s/%s %q key %q", rcpt, e.ClientIP, r.Status, r.Reason, replyString(r.Reply), r.Details["client_key"], r.Text, status, reason, rep, key)
		}
	}
	check(env("192.0.2.10", "", "alice@example.com"), "bob@example.org", Fail, "greylist-greylisted",
		"450 4.7.1 <bob@example.org>: Recipient address rejected: Greylisted, retry in 300 seconds", "net:192.0.2.0/24")
	clk.Add(2 * time.Minute)
	check(env("192.0.2.11", "", "alice+x@EXAMPLE.com"), "bob@example.org", Fail, "greylist-greylisted",
		"450 4.7.1 <bob@example.org>: Recipient address rejected: Greylisted, retry in 180 seconds", "net:192.0.2.0/24")
	clk.Add(3 * time.Minute)
	check(env("192.0.2.12", "", "prvs=1234567890=alice@example.com"), "bob@example.org", Pass, "greylist-retry-passed", "", "net:192.0.2.0/24")
	check(env("192.0.2.12", "", "alice@example.com"), "bob@example.org", Pass, "greylist-known", "", "net:192.0.2.0/24")
	// A verified pool hostname: keyed by its organizational domain.
	check(env("198.51.100.7", "mail-a.outbound.protection.outlook.com", "x@contoso.example"), "bob@example.org", Fail, "greylist-greylisted",
		"450 4.7.1 <bob@example.org>: Recipient address rejected: Greylisted, retry in 300 seconds", "org:outlook.com")
	clk.Add(6 * time.Minute)
	check(env("203.0.113.99", "mail-b.outbound.protection.outlook.com", "x@contoso.example"), "bob@example.org", Pass, "greylist-whitelist", "", "")
	check(env("198.18.0.7", "mail-b.outbound.protection.outlook.com", "x@contoso.example"), "bob@example.org", Pass, "greylist-retry-passed", "", "org:outlook.com")
	// Whitelists: recipients postmaster@ and abuse@, a sender domain, and the file's entries.
	check(env("192.0.2.99", "", "spam@example.com"), "postmaster@example.org", Pass, "greylist-whitelist", "", "")
	check(env("192.0.2.99", "", "spam@example.com"), "Abuse@example.org", Pass, "greylist-whitelist", "", "")
	check(env("192.0.2.99", "", "a@mail.trusted.example"), "bob@example.org", Pass, "greylist-whitelist", "", "")
	check(env("192.0.2.99", "relay.outbound.example.net", "a@b.example"), "bob@example.org", Pass, "greylist-whitelist", "", "")
	check(env("192.0.2.99", "", "a@b.example"), "vip@example.org", Pass, "greylist-whitelist", "", "")
	// The file changes: its new entries apply without a restart.
	writeList(t, path, "192.0.2.0/24\n", clk.Now().Add(time.Minute))
	clk.Add(time.Second)
	check(env("192.0.2.99", "", "a@b.example"), "carol@example.org", Pass, "greylist-whitelist", "", "")
	check(env("198.51.100.1", "", "a@b.example"), "vip@example.org", Fail, "greylist-greylisted",
		"450 4.7.1 <vip@example.org>: Recipient address rejected: Greylisted, retry in 300 seconds", "net:198.51.100.0/24")

	// The null sender: nothing at RCPT TO, judged at the end of DATA.
	e := env("198.51.100.50", "", "")
	e.Rcpt = "bob@example.org"
	if r := g.CheckRcpt(context.Background(), e); r.Status != None || r.Reason != "greylist-at-data" {
		t.Fatalf("null sender at RCPT: %+v", r)
	}
	e.Rcpts = []string{"bob@example.org"}
	if r := g.CheckData(context.Background(), e); r.Status != Fail || r.Reason != "greylist-greylisted" {
		t.Fatalf("null sender at DATA: %+v", r)
	}
	if r := g.CheckData(context.Background(), env("192.0.2.50", "", "x@y.example")); r.Status != "" {
		t.Fatalf("a sender judged at RCPT has nothing to say at DATA: %+v", r)
	}
}

// A domain that passed SPF keys a client without a verified hostname, and
// with SPFSkip the message is not greylisted at all.
func TestGreylistSPF(t *testing.T) {
	clk := clocktest.New(time.Unix(1_800_000_000, 0))
	g := &Greylist{Store: greylist.NewMemory(1000), Now: clk.Now, OrgDomain: true, IPv4: 24, IPv6: 64,
		Timing:     greylist.Timing{Delay: 5 * time.Minute, RetryWindow: 48 * time.Hour, MaxAge: 35 * 24 * time.Hour},
		Greylisted: reply(t, "greylist", "temp")}
	env := &Envelope{ClientIP: netip.MustParseAddr("192.0.2.10"), From: "a@bounces.example.com", Rcpt: "bob@example.org",
		SPF: &SPFOutcome{Status: Pass, Identity: "mailfrom", Domain: "bounces.example.com", Mechanism: "ip4"}}
	if r := g.CheckRcpt(context.Background(), env); r.Reason != "greylist-greylisted" || r.Details["client_key"] != "org:example.com" {
		t.Fatalf("SPF-keyed: %+v", r)
	}
	g.SPFSkip = true
	if r := g.CheckRcpt(context.Background(), env); r.Status != Pass || r.Reason != "greylist-spf-pass" {
		t.Fatalf("SPF skip: %+v", r)
	}
	env.SPF = &SPFOutcome{Status: SoftFail, Identity: "mailfrom", Domain: "bounces.example.com"}
	if r := g.CheckRcpt(context.Background(), env); r.Reason != "greylist-greylisted" || r.Details["client_key"] != "net:192.0.2.0/24" {
		t.Fatalf("no SPF pass: %+v", r)
	}
}

// An SPF pass keys the client by the sender domain only when the record
// named the client's address (ip4, ip6, a, mx). A domain with "+all" (or
// exists, or ptr) passes for any address: keyed by it, any client could
// complete another client's retry. The SPF results here are the spf
// check's own, from the records in testdata/zones/greykey.test.zone.
func TestGreylistKeySPFMechanism(t *testing.T) {
	res, _ := testDNS(t)
	spf := &SPF{DNS: NetResolver{R: res}}
	clk := clocktest.New(time.Unix(1_800_000_000, 0))
	for _, tt := range []struct {
		domain, mech, key string
		skip              bool
	}{
		{"plusall.greykey.test", "all", "net:192.0.2.0/24", false},
		{"incall.greykey.test", "all", "net:192.0.2.0/24", false},
		{"exists.greykey.test", "exists", "net:192.0.2.0/24", false},
		{"ip.greykey.test", "ip4", "org:greykey.test", true},
		{"incip.greykey.test", "ip4", "org:greykey.test", true},
		{"a.greykey.test", "a", "org:greykey.test", true},
		{"mx.greykey.test", "mx", "org:greykey.test", true},
	} {
		t.Run(tt.domain, func(t *testing.T) {
			env := &Envelope{ClientIP: netip.MustParseAddr("192.0.2.10"), Helo: "mail.example.net", From: "a@" + tt.domain, Rcpt: "bob@example.org"}
			sr := spf.CheckMail(context.Background(), env)
			if sr.Status != Pass {
				t.Fatalf("spf: %+v, want a pass", sr)
			}
			env.Take(sr)
			g := &Greylist{Store: greylist.NewMemory(1000), Now: clk.Now, OrgDomain: true, IPv4: 24, IPv6: 64,
				Timing:     greylist.Timing{Delay: 5 * time.Minute, RetryWindow: 48 * time.Hour, MaxAge: 35 * 24 * time.Hour},
				Greylisted: reply(t, "greylist", "temp")}
			r := g.CheckRcpt(context.Background(), env)
			if r.Reason != "greylist-greylisted" || r.Details["client_key"] != tt.key || r.Details["spf_mechanism"] != tt.mech {
				t.Fatalf("= %s key %q spf_mechanism %q, want greylist-greylisted key %q by %s", r.Reason, r.Details["client_key"], r.Details["spf_mechanism"], tt.key, tt.mech)
			}
			// spf_skip only for a pass that names the client.
			g.SPFSkip = true
			r = g.CheckRcpt(context.Background(), env)
			if (r.Reason == "greylist-spf-pass") != tt.skip {
				t.Fatalf("with spf_skip: %s (%s), want skipped %v", r.Reason, r.Text, tt.skip)
			}
		})
	}
	// A pass whose mechanism is not known keys by network.
	env := &Envelope{ClientIP: netip.MustParseAddr("192.0.2.10"), From: "a@example.com", Rcpt: "bob@example.org",
		SPF: &SPFOutcome{Status: Pass, Identity: "mailfrom", Domain: "example.com"}}
	g := &Greylist{Store: greylist.NewMemory(1000), Now: clk.Now, OrgDomain: true, IPv4: 24, IPv6: 64, SPFSkip: true,
		Timing: greylist.Timing{Delay: 5 * time.Minute, RetryWindow: 48 * time.Hour, MaxAge: time.Hour}, Greylisted: reply(t, "greylist", "temp")}
	if r := g.CheckRcpt(context.Background(), env); r.Reason != "greylist-greylisted" || r.Details["client_key"] != "net:192.0.2.0/24" {
		t.Fatalf("mechanism unknown: %s key %q", r.Reason, r.Details["client_key"])
	}
}

func TestLineFileErrors(t *testing.T) {
	p := filepath.Join(t.TempDir(), "wl")
	os.WriteFile(p, []byte("192.0.2.0/24\nnot valid!\n"), 0o644)
	_, err := LoadLineFile(p, ParseWhitelistEntry, time.Now)
	if err == nil || err.Error() != p+`:2: want a network (192.0.2.0/24), a hostname suffix (outbound.example.net) or a recipient (postmaster@ or user@example.org), got "not valid!"` {
		t.Fatalf("err = %v", err)
	}
}
