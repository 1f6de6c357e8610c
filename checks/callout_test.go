package checks

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/mailsift/mailsift/internal/callout"
	"github.com/mailsift/mailsift/internal/callout/callouttest"
)

func TestCallout(t *testing.T) {
	r, _ := testDNS(t)
	ok := callouttest.Start(t, "127.0.1.1", 0, callouttest.Accept, "alice")
	_, p, _ := net.SplitHostPort(ok.Addr)
	port, _ := strconv.Atoi(p)
	callouttest.Start(t, "127.0.1.5", port, callouttest.RefuseNull)
	callouttest.Start(t, "127.0.1.3", port, callouttest.Hang)
	v := callout.New(callout.Config{Hostname: "mx.mailsift.test", Port: port, Budget: 300 * time.Millisecond,
		ProbeTimeout: 2 * time.Second, DNS: r, AllowNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	t.Cleanup(v.Close)
	c := &Callout{Verifier: v, OwnDomains: []string{"example.org"},
		Fail: reply(t, "callout", "perm"), Temp: reply(t, "callout", "temp"), InProgress: reply(t, "callout", "in_progress")}
	tests := []struct {
		from          string
		status        Status
		reason, reply string
		mx            string
	}{
		{"", None, "callout-null-sender", "", ""},
		{"alice@example.org", None, "callout-own-domain", "", ""},
		{"alice@sub.example.org", None, "callout-own-domain", "", ""},
		{"alice@[192.0.2.1]", None, "callout-not-probed", "", ""},
		{"alice@nullmx.callout.test", None, "callout-not-probed", "", ""},
		{"alice@ok.callout.test", Pass, "callout-deliverable", "", "mx1.callout.test [127.0.1.1]"},
		{"nobody@ok.callout.test", Fail, "callout-undeliverable",
			"550 5.1.7 <nobody@ok.callout.test>: Sender address rejected: undeliverable address (550 5.1.1 <nobody@ok.callout.test>: Recipient address rejected: User unknown)",
			"mx1.callout.test [127.0.1.1]"},
		{"x@nonull.callout.test", TempError, "callout-unverifiable", "450 4.1.7 <x@nonull.callout.test>: Sender address rejected: unverified address", "nonullsrv.callout.test [127.0.1.5]"},
		{"x@hang.callout.test", TempError, "callout-in-progress", "450 4.1.7 <x@hang.callout.test>: Sender address rejected: address verification in progress", ""},
		{"x@alldown.callout.test", TempError, "callout-temperror", "450 4.1.7 <x@alldown.callout.test>: Sender address rejected: unverified address", "dropsrv.callout.test [127.0.1.7]"},
	}
	for _, tt := range tests {
		t.Run(tt.from, func(t *testing.T) {
			res := c.CheckMail(context.Background(), &Envelope{From: tt.from})
			if res.Status != tt.status || res.Reason != tt.reason || replyString(res.Reply) != tt.reply || res.Details["mx"] != tt.mx {
				t.Fatalf("= %s/%s %q mx %q (%s), want %s/%s %q mx %q", res.Status, res.Reason, replyString(res.Reply), res.Details["mx"], res.Text,
					tt.status, tt.reason, tt.reply, tt.mx)
			}
		})
	}
	if res := c.CheckMail(context.Background(), &Envelope{From: "alice@ok.callout.test"}); res.Details["cached"] != "true" {
		t.Fatalf("second check of the same sender not from the cache: %+v", res)
	}
}

// With the default configuration a sender domain whose MX is on loopback
// or a private network is not probed: the callout is unverifiable, and
// nothing of the internal server reaches the client.
func TestCalloutRefusesInternalMX(t *testing.T) {
	r, _ := testDNS(t)
	ok := callouttest.Start(t, "127.0.1.1", 0, callouttest.Accept, "alice")
	_, p, _ := net.SplitHostPort(ok.Addr)
	port, _ := strconv.Atoi(p)
	v := callout.New(callout.Config{Hostname: "mx.mailsift.test", Port: port, Budget: 300 * time.Millisecond,
		ProbeTimeout: 2 * time.Second, DNS: r})
	t.Cleanup(v.Close)
	c := &Callout{Verifier: v, Fail: reply(t, "callout", "perm"), Temp: reply(t, "callout", "temp"), InProgress: reply(t, "callout", "in_progress")}
	for _, tt := range []struct{ from, mx, text string }{
		{"nobody@ok.callout.test", "mx1.callout.test [127.0.1.1]", "mx1.callout.test [127.0.1.1]: loopback address, not probed"},
		{"x@private.callout.test", "privsrv.callout.test [10.1.2.3]", "privsrv.callout.test [10.1.2.3]: private address, not probed"},
	} {
		res := c.CheckMail(context.Background(), &Envelope{From: tt.from})
		want := "450 4.1.7 <" + tt.from + ">: Sender address rejected: unverified address"
		if res.Status != TempError || res.Reason != "callout-unverifiable" || replyString(res.Reply) != want || res.Details["mx"] != tt.mx || res.Text != tt.text {
			t.Errorf("%s: %s/%s %q mx %q (%s), want temperror/callout-unverifiable %q", tt.from, res.Status, res.Reason, replyString(res.Reply), res.Details["mx"], res.Text, want)
		}
	}
	if n := ok.Conns.Load(); n != 0 {
		t.Fatalf("the loopback server got %d connections", n)
	}
}
