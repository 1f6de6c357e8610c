package checks

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/mailsift/mailsift/greylist/redistest"
	"github.com/mailsift/mailsift/internal/clocktest"
	"github.com/mailsift/mailsift/internal/suppress"
)

func suppressed(t *testing.T, store suppress.Store) {
	t.Helper()
	ctx := context.Background()
	clock := clocktest.New(time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC))
	l := &suppress.List{Store: store, Policy: suppress.Policy{HardLimit: 3, SoftLimit: 5, Window: 168 * time.Hour}, Now: clock.Now}
	c := &Suppress{List: l, Suppressed: reply(t, SuppressName, "perm"), StoreError: reply(t, SuppressName, "store")}
	env := &Envelope{AuthUser: "www", From: "www@site.test", Rcpt: "<dead@Example.org>"}
	for i := range 3 {
		if r := c.CheckRcpt(ctx, env); r.Status != Pass || r.Reason != "suppress-ok" {
			t.Fatalf("after %d bounces: %+v", i, r)
		}
		l.Record(ctx, "dead@example.org", suppress.Bounce{Status: "5.1.1", Class: "user-unknown", Hard: true})
		clock.Add(time.Hour)
	}
	r := c.CheckRcpt(ctx, env)
	const want = "550 5.1.1 <dead@example.org>: recipient suppressed after 3 bounces (last: 5.1.1 user unknown, 2026-11-29)"
	if r.Status != Fail || r.Reason != "suppress-listed" || r.Reply.String() != want || r.Details["bounces"] != "3" {
		t.Fatalf("suppressed: %+v\n got %q\nwant %q", r, r.Reply.String(), want)
	}
	if err := r.Reply.Validate(); err != nil {
		t.Fatal(err)
	}
	if r := c.CheckRcpt(ctx, &Envelope{Rcpt: "alive@example.org"}); r.Status != Pass {
		t.Fatalf("other address: %+v", r)
	}
}

func TestSuppressMemory(t *testing.T) { suppressed(t, suppress.NewMemory(nil)) }

func TestSuppressRedis(t *testing.T) {
	srv := redistest.Start(t)
	r := suppress.NewRedis(suppress.RedisConfig{Addrs: []string{srv.Addr}, Prefix: "t:"})
	defer r.Close()
	suppressed(t, r)
}

type failingList struct{}

func (failingList) Suppressed(context.Context, string) (suppress.Entry, bool, error) {
	return suppress.Entry{}, false, errors.New("redis: connection refused")
}

func TestSuppressStoreError(t *testing.T) {
	c := &Suppress{List: failingList{}, Suppressed: reply(t, SuppressName, "perm"), StoreError: reply(t, SuppressName, "store")}
	r := c.CheckRcpt(context.Background(), &Envelope{Rcpt: "a@example.org"})
	if r.Status != TempError || r.Reason != "suppress-store-error" || r.Reply.String() != "451 4.3.0 Temporary lookup failure, try again later" {
		t.Fatalf("%+v", r)
	}
}
