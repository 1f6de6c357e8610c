package greylist

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// entry is one stored triplet or client key, kept small: times are Unix
// seconds, which is all greylisting needs.
type entry struct {
	first   uint32 // triplet: first attempt; client: last counted pass
	expires uint32
	passes  uint16 // client: counted passes
	passed  bool   // triplet: has passed
}

// Memory is the default store: an LRU bounded in entries, snapshotted to a
// file so that a restart keeps the state.
type Memory struct {
	mu        sync.Mutex
	lru       *simplelru.LRU[Key, entry]
	evictions atomic.Int64
	removing  bool   // under mu: the LRU's callback is for a removal, not an eviction
	counts    counts // rolling counts (counter.go), not in the LRU or the snapshot
}

// NewMemory returns a memory store of at most size entries.
func NewMemory(size int) *Memory {
	m := &Memory{}
	m.lru, _ = simplelru.NewLRU[Key, entry](size, func(Key, entry) {
		if !m.removing {
			m.evictions.Add(1)
		}
	})
	return m
}

// remove drops k: an expired entry or an admin's delete, which the LRU
// would otherwise report as an eviction. m.mu is held.
func (m *Memory) remove(k Key) {
	m.removing = true
	m.lru.Remove(k)
	m.removing = false
}

// Evictions returns how many live entries the LRU bound has pushed out
// to make room (not expired entries, not deletes).
func (m *Memory) Evictions() int64 { return m.evictions.Load() }

// Len returns the number of entries, expired ones included until evicted.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lru.Len()
}

func unix(t time.Time) uint32 { return uint32(max(t.Unix(), 0)) }

func fromUnix(s uint32) time.Time { return time.Unix(int64(s), 0) }

// Check implements Store.
func (m *Memory) Check(_ context.Context, client, triplet Key, now time.Time, t Timing) (Result, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := unix(now)
	live := func(k Key) (entry, bool) {
		e, ok := m.lru.Get(k)
		if ok && e.expires <= n {
			m.remove(k)
			return entry{}, false
		}
		return e, ok
	}
	c, cok := live(client)
	if t.AWLCount > 0 && cok && int(c.passes) >= t.AWLCount {
		c.expires = unix(now.Add(t.MaxAge))
		m.lru.Add(client, c)
		return Result{Verdict: Whitelisted, Passes: int(c.passes)}, nil
	}
	e, ok := live(triplet)
	v, first, retry := decide(fromUnix(e.first), e.passed, ok, now, t)
	switch v {
	case Greylisted:
		if !ok || !first.Equal(fromUnix(e.first)) {
			m.lru.Add(triplet, entry{first: unix(first), expires: unix(first.Add(t.RetryWindow))})
		}
		return Result{Verdict: v, RetryIn: retry, Passes: int(c.passes)}, nil
	}
	m.lru.Add(triplet, entry{first: e.first, passed: true, expires: unix(now.Add(t.MaxAge))})
	// A pass counts for the client's auto-whitelist at most once an hour.
	if !cok || n-c.first >= 3600 {
		if c.passes < 1<<16-1 {
			c.passes++
		}
		c.first = n
	}
	c.expires = unix(now.Add(t.MaxAge))
	m.lru.Add(client, c)
	return Result{Verdict: v, Passes: int(c.passes)}, nil
}

// Close implements Store.
func (m *Memory) Close() error { return nil }
