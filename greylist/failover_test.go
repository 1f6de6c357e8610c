package greylist

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/mailsift/mailsift/greylist/redistest"
)

// A Sentinel failover under load: the master is killed while checks run
// without pause. The store follows the new master by itself; checks fail
// (mail goes through: fail open) only during the switch, as one outage,
// counted and logged once; and the greylist state the replica had is
// still there.
func TestRedisSentinelFailover(t *testing.T) {
	sen := redistest.StartSentinel(t)
	core, logs := observer.New(zap.InfoLevel)
	r := NewRedis(RedisConfig{Addrs: sen.Addrs, MasterName: redistest.MasterName, Prefix: "fo:", Timeout: 300 * time.Millisecond}, zap.New(core))
	defer r.Close()
	ctx := context.Background()

	// State written before the failover, and replicated.
	const known = 50
	first := t0
	for i := range known {
		if v, err := r.Check(ctx, ClientKey("c"), TripletKey("c", "s", fmt.Sprint("before", i)), first, timing); err != nil || v.Verdict != Greylisted {
			t.Fatalf("before: %+v %v", v, err)
		}
	}
	mc := redis.NewClient(&redis.Options{Addr: sen.Master.Addr})
	if n, err := mc.Wait(ctx, 1, 5*time.Second).Result(); err != nil || n != 1 {
		t.Fatalf("WAIT for the replica: %d %v", n, err)
	}
	mc.Close()

	// Load: one check after another, each a new triplet, as sessions do.
	type call struct {
		at  time.Time
		err error
	}
	var mu sync.Mutex
	var calls []call
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				_, err := r.Check(ctx, ClientKey("c"), TripletKey("c", "s", fmt.Sprint("load", w, "-", i)), t0, timing)
				mu.Lock()
				calls = append(calls, call{time.Now(), err})
				mu.Unlock()
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	killed := time.Now()
	sen.Master.Stop()
	// Until the store answers again, and a second more.
	deadline := time.Now().Add(30 * time.Second)
	for {
		time.Sleep(50 * time.Millisecond)
		mu.Lock()
		last := calls[len(calls)-1]
		mu.Unlock()
		if last.err == nil && last.at.After(killed.Add(600*time.Millisecond)) {
			break
		}
		if time.Now().After(deadline) {
			close(stop)
			wg.Wait()
			t.Fatalf("no answer 30s after the master was killed: %v", last.err)
		}
	}
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()

	// Errors only between the kill and the first answer from the new
	// master; none before, none after.
	var failed, before, after int
	var firstErr, lastErr time.Time
	for _, c := range calls {
		switch {
		case c.err != nil && c.at.Before(killed):
			before++
		case c.err != nil:
			failed++
			if firstErr.IsZero() {
				firstErr = c.at
			}
			lastErr = c.at
		}
	}
	for _, c := range calls {
		if c.err == nil && c.at.After(firstErr) && c.at.Before(lastErr) {
			after++ // an answer inside the window: the store flapped
		}
	}
	t.Logf("%d checks; %d failed during the switch, %v after the kill for %v", len(calls), failed, firstErr.Sub(killed).Round(time.Millisecond), lastErr.Sub(firstErr).Round(time.Millisecond))
	if before != 0 || failed == 0 {
		t.Fatalf("%d errors before the kill, %d after it (want 0 and some)", before, failed)
	}
	if n := r.Outages(); n != 1 || logs.FilterMessage("greylist store unreachable").Len() != 1 || logs.FilterMessage("greylist store reachable again").Len() != 1 {
		t.Fatalf("outages %d, logged %d down and %d up; want one of each (answers inside the window: %d)", n,
			logs.FilterMessage("greylist store unreachable").Len(), logs.FilterMessage("greylist store reachable again").Len(), after)
	}

	// The new master is the old replica, and it has the replicated state.
	sc := redis.NewSentinelClient(&redis.Options{Addr: sen.Addrs[0]})
	defer sc.Close()
	addr, err := sc.GetMasterAddrByName(ctx, redistest.MasterName).Result()
	if err != nil || addr[0]+":"+addr[1] != sen.Replica.Addr {
		t.Fatalf("master after the failover: %v %v, want %s", addr, err, sen.Replica.Addr)
	}
	for i := range known {
		e, ok, err := r.Lookup(ctx, TripletKey("c", "s", fmt.Sprint("before", i)), t0.Add(time.Minute))
		if err != nil || !ok || e.State != "pending" || !e.First.Equal(first) {
			t.Fatalf("triplet %d after the failover: %+v %v %v", i, e, ok, err)
		}
	}
	// And a retry of one of them passes against it.
	if v, err := r.Check(ctx, ClientKey("c"), TripletKey("c", "s", "before0"), first.Add(6*time.Minute), timing); err != nil || v.Verdict != FirstPass {
		t.Fatalf("retry after the failover: %+v %v", v, err)
	}
}
