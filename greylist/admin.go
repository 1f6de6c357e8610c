package greylist

import (
	"context"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Entry is a triplet's state, for the admin endpoint.
type Entry struct {
	State   string    `json:"state"` // "pending" or "passed"
	First   time.Time `json:"first_seen"`
	Expires time.Time `json:"expires"`
}

// Admin is what the admin endpoint does to a store.
type Admin interface {
	Lookup(ctx context.Context, triplet Key, now time.Time) (Entry, bool, error)
	// Pass marks a triplet as passed (whitelists it) for maxAge.
	Pass(ctx context.Context, triplet Key, now time.Time, maxAge time.Duration) error
	Delete(ctx context.Context, triplet Key) error
}

func entryOf(e entry) Entry {
	st := "pending"
	if e.passed {
		st = "passed"
	}
	return Entry{State: st, First: fromUnix(e.first), Expires: fromUnix(e.expires)}
}

// Lookup implements Admin.
func (m *Memory) Lookup(_ context.Context, k Key, now time.Time) (Entry, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.lru.Peek(k)
	if !ok || e.expires <= unix(now) {
		return Entry{}, false, nil
	}
	return entryOf(e), true, nil
}

// Pass implements Admin.
func (m *Memory) Pass(_ context.Context, k Key, now time.Time, maxAge time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lru.Add(k, entry{first: unix(now), passed: true, expires: unix(now.Add(maxAge))})
	return nil
}

// Delete implements Admin.
func (m *Memory) Delete(_ context.Context, k Key) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.remove(k)
	return nil
}

func (r *Redis) tkey(k Key) string { return r.prefix + "t:" + hex.EncodeToString(k[:]) }

// Lookup implements Admin.
func (r *Redis) Lookup(ctx context.Context, k Key, now time.Time) (Entry, bool, error) {
	v, err := r.c.HMGet(ctx, r.tkey(k), "f", "p", "e").Result()
	if err != nil {
		return Entry{}, false, fmt.Errorf("greylist: redis: %w", err)
	}
	num := func(x any) int64 {
		s, _ := x.(string)
		n, _ := strconv.ParseInt(s, 10, 64)
		return n
	}
	if v[0] == nil || num(v[2]) <= now.Unix() {
		return Entry{}, false, nil
	}
	return entryOf(entry{first: uint32(num(v[0])), passed: num(v[1]) == 1, expires: uint32(num(v[2]))}), true, nil
}

// Pass implements Admin.
func (r *Redis) Pass(ctx context.Context, k Key, now time.Time, maxAge time.Duration) error {
	key := r.tkey(k)
	_, err := r.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, key, "f", now.Unix(), "p", 1, "e", now.Add(maxAge).Unix())
		p.Expire(ctx, key, maxAge)
		return nil
	})
	if err != nil {
		return fmt.Errorf("greylist: redis: %w", err)
	}
	return nil
}

// Delete implements Admin.
func (r *Redis) Delete(ctx context.Context, k Key) error {
	if err := r.c.Del(ctx, r.tkey(k)).Err(); err != nil {
		return fmt.Errorf("greylist: redis: %w", err)
	}
	return nil
}
