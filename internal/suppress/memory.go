package suppress

import (
	"context"
	"sync"
	"time"
)

// Memory is the store of one process. Entries not suppressed are forgotten
// once their bounces leave the window; suppressed ones are kept.
type Memory struct {
	mu      sync.Mutex
	entries map[string]*memEntry
	records int
}

type memEntry struct {
	hard, soft []time.Time
	e          Entry
}

// NewMemory returns an empty store holding the suppressed entries given
// (from ReadExport).
func NewMemory(suppressed []Entry) *Memory {
	m := &Memory{entries: map[string]*memEntry{}}
	for _, e := range suppressed {
		e.Suppressed = true
		m.entries[e.Address] = &memEntry{e: e}
	}
	return m
}

func trim(ts []time.Time, now time.Time, window time.Duration) []time.Time {
	i := 0
	for i < len(ts) && !ts[i].After(now.Add(-window)) {
		i++
	}
	return ts[i:]
}

// live trims me's counts at now and returns its entry.
func (me *memEntry) live(now time.Time, p Policy) Entry {
	if !me.e.Suppressed {
		me.hard, me.soft = trim(me.hard, now, p.Window), trim(me.soft, now, p.Window)
		me.e.Hard, me.e.Soft = len(me.hard), len(me.soft)
	}
	return me.e
}

// Record implements Store.
func (m *Memory) Record(_ context.Context, addr string, b Bounce, p Policy) (Entry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.records++; m.records%1000 == 0 {
		for k, me := range m.entries {
			if e := me.live(b.At, p); !e.Suppressed && e.Hard+e.Soft == 0 {
				delete(m.entries, k)
			}
		}
	}
	me := m.entries[addr]
	if me == nil {
		me = &memEntry{e: Entry{Address: addr}}
		m.entries[addr] = me
	}
	if me.e.Suppressed {
		return me.e, nil
	}
	me.live(b.At, p)
	if b.Hard {
		me.hard = append(me.hard, b.At)
	} else {
		me.soft = append(me.soft, b.At)
	}
	me.e.Hard, me.e.Soft, me.e.Last = len(me.hard), len(me.soft), b
	if p.suppresses(me.e.Hard, me.e.Soft) {
		me.e.Suppressed, me.e.Since, me.e.Bounces = true, b.At, me.e.Hard+me.e.Soft
		me.hard, me.soft = nil, nil
	}
	return me.e, nil
}

// Lookup implements Store.
func (m *Memory) Lookup(_ context.Context, addr string, now time.Time, p Policy) (Entry, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	me := m.entries[addr]
	if me == nil {
		return Entry{Address: addr}, false, nil
	}
	e := me.live(now, p)
	if !e.Suppressed && e.Hard+e.Soft == 0 {
		delete(m.entries, addr)
		return Entry{Address: addr}, false, nil
	}
	return e, true, nil
}

// Suppressed implements Store.
func (m *Memory) Suppressed(context.Context) ([]Entry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Entry
	for _, me := range m.entries {
		if me.e.Suppressed {
			out = append(out, me.e)
		}
	}
	return out, nil
}

// Delete implements Store.
func (m *Memory) Delete(_ context.Context, addr string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.entries[addr]
	delete(m.entries, addr)
	return ok, nil
}

// Close implements Store.
func (m *Memory) Close() error { return nil }
