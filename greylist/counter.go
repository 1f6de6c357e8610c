package greylist

import (
	"context"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/mailsift/mailsift/internal/redisconn"
)

// Counter keeps rolling counts of events in the greylist's store, so that
// a fleet sharing a Redis shares them too: the outbound daily limit counts
// each login's accepted messages with it. An event at t counts at now
// while now is before t+window.
type Counter interface {
	// Count returns how many events of key count at now.
	Count(ctx context.Context, key Key, now time.Time, window time.Duration) (int, error)
	// Add records an event of key at now and returns the count with it.
	Add(ctx context.Context, key Key, now time.Time, window time.Duration) (int, error)
}

// CountKey returns the key of a counted name (a login, a sender).
func CountKey(name string) Key { return digest("q\x00" + name) }

// counts is the memory store's rolling counts: event times by key, oldest
// first. Keys whose events have all expired are swept every sweepEvery adds.
type counts struct {
	events map[Key][]int64 // Unix nanoseconds
	adds   int
}

const sweepEvery = 1000

func (c *counts) live(key Key, now time.Time, window time.Duration) []int64 {
	ev := c.events[key]
	cut := now.Add(-window).UnixNano()
	i := 0
	for i < len(ev) && ev[i] <= cut {
		i++
	}
	if i == len(ev) {
		delete(c.events, key)
		return nil
	}
	ev = ev[i:]
	c.events[key] = ev
	return ev
}

// Count implements Counter.
func (m *Memory) Count(_ context.Context, key Key, now time.Time, window time.Duration) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.counts.events == nil {
		return 0, nil
	}
	return len(m.counts.live(key, now, window)), nil
}

// Add implements Counter.
func (m *Memory) Add(_ context.Context, key Key, now time.Time, window time.Duration) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := &m.counts
	if c.events == nil {
		c.events = map[Key][]int64{}
	}
	if c.adds++; c.adds%sweepEvery == 0 {
		for k := range c.events {
			c.live(k, now, window)
		}
	}
	ev := append(c.live(key, now, window), now.UnixNano())
	c.events[key] = ev
	return len(ev), nil
}

// countScript is the rolling count in Redis: a sorted set of event times
// (Unix milliseconds) under the key, trimmed to the window, with a TTL of
// the window. ARGV: now, window (ms), and a member to add ("" to count).
var countScript = redis.NewScript(`
local now, window = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if ARGV[3] ~= '' then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window)
end
return redis.call('ZCARD', KEYS[1])
`)

func (r *Redis) count(ctx context.Context, key Key, now time.Time, window time.Duration, member string) (int, error) {
	n, err := countScript.Run(ctx, r.c, []string{r.prefix + "q:" + hex.EncodeToString(key[:])},
		now.UnixMilli(), max(window.Milliseconds(), 1), member).Int64()
	r.health(err)
	if err != nil {
		return 0, fmt.Errorf("greylist: redis: %w", err)
	}
	return int(n), nil
}

// Count implements Counter.
func (r *Redis) Count(ctx context.Context, key Key, now time.Time, window time.Duration) (int, error) {
	return r.count(ctx, key, now, window, "")
}

// Add implements Counter. Each event is its own member, so that events
// at the same millisecond (or from two hosts) all count.
func (r *Redis) Add(ctx context.Context, key Key, now time.Time, window time.Duration) (int, error) {
	return r.count(ctx, key, now, window, fmt.Sprintf("%d:%s", now.UnixMilli(), redisconn.Nonce()))
}
