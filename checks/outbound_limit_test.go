package checks

import (
	"context"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/mailsift/mailsift/greylist"
	"github.com/mailsift/mailsift/greylist/redistest"
	"github.com/mailsift/mailsift/internal/clocktest"
)

// dailyLimit sends through the limit as users would: checked at MAIL
// FROM, counted when accepted, and refused once the limit is reached,
// until the first message leaves the 24 hours.
func dailyLimit(t *testing.T, store greylist.Counter) {
	t.Helper()
	ctx := context.Background()
	clock := clocktest.New(time.Unix(1_800_000_000, 0))
	observed := map[string]int{}
	l := &Limit{Store: store, Max: 3, Window: 24 * time.Hour, Now: clock.Now,
		Observe: func(who string, n int) { observed[who] = n },
		Reached: reply(t, LimitName, "temp"), StoreError: reply(t, LimitName, "store")}
	www := &Envelope{AuthUser: "www", From: "www@site.test"}
	send := func(env *Envelope) Result {
		r := l.CheckMail(ctx, env)
		if r.Status == Pass {
			if _, err := l.Accepted(ctx, env, &r); err != nil {
				t.Fatal(err)
			}
		}
		return r
	}
	for i := range 3 {
		r := send(www)
		if r.Status != Pass || r.Details["count"] != []string{"1", "2", "3"}[i] {
			t.Fatalf("message %d: %+v", i+1, r)
		}
		clock.Add(time.Hour)
	}
	if observed["login:www"] != 3 {
		t.Fatalf("observed %v", observed)
	}
	const want = "450 4.7.1 www: daily limit of 3 messages reached, try again later"
	r := send(www)
	if r.Status != Fail || r.Reason != "limit-reached" || r.Reply.String() != want || r.Details["count"] != "3" {
		t.Fatalf("4th message: %+v %q", r, r.Reply)
	}
	if err := r.Reply.Validate(); err != nil {
		t.Fatal(err)
	}
	// Another login, and a sender without one, count apart.
	if r := send(&Envelope{AuthUser: "alice", From: "www@site.test"}); r.Status != Pass {
		t.Fatalf("other login: %+v", r)
	}
	if r := send(&Envelope{From: "Www@Site.Test"}); r.Status != Pass || r.Details["key"] != "sender:Www@site.test" {
		t.Fatalf("sender without login: %+v", r)
	}
	if r := send(&Envelope{}); r.Status != None || r.Reason != "limit-null-sender" {
		t.Fatalf("bounce: %+v", r)
	}
	// The first message was sent at 0h; the clock is at 3h. At 24h minus
	// a second it still counts, at 24h it has left the window.
	clock.Add(21*time.Hour - time.Second)
	if r := send(www); r.Status != Fail {
		t.Fatalf("just before 24h: %+v", r)
	}
	clock.Add(time.Second)
	if r := send(www); r.Status != Pass || r.Details["count"] != "3" {
		t.Fatalf("at 24h: %+v", r)
	}
	if r := send(www); r.Status != Fail {
		t.Fatalf("limit again: %+v", r)
	}
}

func TestLimitMemory(t *testing.T) { dailyLimit(t, greylist.NewMemory(1000)) }

func TestLimitRedis(t *testing.T) {
	srv := redistest.Start(t)
	r := greylist.NewRedis(greylist.RedisConfig{Addrs: []string{srv.Addr}, Prefix: "limit:", Timeout: 300 * time.Millisecond}, zap.NewNop())
	defer r.Close()
	dailyLimit(t, r)

	srv.Stop()
	l := &Limit{Store: r, Max: 3, Window: 24 * time.Hour, Now: time.Now, StoreError: reply(t, LimitName, "store")}
	res := l.CheckMail(context.Background(), &Envelope{AuthUser: "www"})
	if res.Status != TempError || res.Reason != "limit-store-error" || res.Reply.String() != "451 4.3.0 Temporary lookup failure, try again later" {
		t.Fatalf("redis down: %+v", res)
	}
}
