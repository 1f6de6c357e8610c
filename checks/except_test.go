package checks

import (
	"context"
	"net/netip"
	"testing"
	"time"
)

func TestExceptionsSkipAndSay(t *testing.T) {
	ran := 0
	probe := fakeHelo{"helo", func(context.Context, *Envelope) Result { ran++; return Result{Status: Fail} }}
	x := &Exceptions{
		Networks:   []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")},
		Hostnames:  []string{"outbound.example.net"},
		Senders:    []string{"example.com"},
		Recipients: []string{"postmaster@example.org"},
	}
	c := NewChain(time.Second, time.Now, probe).Except("helo", x)
	for _, tt := range []struct {
		env  Envelope
		text string
	}{
		{Envelope{ClientIP: netip.MustParseAddr("192.0.2.7")}, "client 192.0.2.7 in 192.0.2.0/24"},
		{Envelope{ClientName: "mail-1.outbound.example.net"}, "client hostname mail-1.outbound.example.net under outbound.example.net"},
		{Envelope{ClientPTR: "mail-1.outbound.example.net"}, ""}, // an unverified PTR never matches
		{Envelope{From: "alice@lists.EXAMPLE.com"}, "sender domain lists.example.com under example.com"},
		{Envelope{From: "alice@notexample.com"}, ""},
		{Envelope{Rcpt: "postmaster@Example.ORG"}, "recipient postmaster@example.org"},
		{Envelope{Rcpt: "Postmaster@example.org"}, ""}, // local parts are case-sensitive
	} {
		ran = 0
		r := c.Run(context.Background(), StageHelo, &tt.env)[0]
		if tt.text == "" {
			if r.Status != Fail || ran != 1 {
				t.Errorf("%+v: skipped (%s), want the check to run", tt.env, r.Text)
			}
			continue
		}
		if r.Status != Skipped || r.Reason != "exception" || r.Text != tt.text || ran != 0 {
			t.Errorf("%+v: = %s/%s %q (ran %d), want skipped %q", tt.env, r.Status, r.Reason, r.Text, ran, tt.text)
		}
	}
}
