package dmarcreport

import (
	"context"
	"sort"
	"sync"
	"time"
)

// Store keeps the receiver's records until they are reported, and the
// rows of the reports received as a domain owner. Memory is one process's;
// Redis is shared by a fleet of MX hosts (and read by "mailsift dmarc
// summary --store").
type Store interface {
	// Add keeps one message's record.
	Add(ctx context.Context, r Record) error
	// Records returns the records with begin <= Time < end, oldest first.
	Records(ctx context.Context, begin, end time.Time) ([]Record, error)
	// Prune forgets the records before t.
	Prune(ctx context.Context, before time.Time) error
	// AddRows keeps the rows of a received report.
	AddRows(ctx context.Context, rows []Row) error
	// Rows returns the received rows whose report ended at or after since.
	Rows(ctx context.Context, since time.Time) ([]Row, error)
	// PruneRows forgets the received rows whose report ended before t.
	PruneRows(ctx context.Context, before time.Time) error
}

// Memory is a Store in this process, bounded: past Max records (or rows)
// the oldest go first.
type Memory struct {
	Max int // 0 means 1,000,000

	mu      sync.Mutex
	records []Record
	rows    []Row
}

func (m *Memory) max() int {
	if m.Max <= 0 {
		return 1_000_000
	}
	return m.Max
}

// Add implements Store.
func (m *Memory) Add(_ context.Context, r Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	i := sort.Search(len(m.records), func(i int) bool { return m.records[i].Time.After(r.Time) })
	m.records = append(m.records, Record{})
	copy(m.records[i+1:], m.records[i:])
	m.records[i] = r
	if n := len(m.records) - m.max(); n > 0 {
		m.records = append(m.records[:0:0], m.records[n:]...)
	}
	return nil
}

// Records implements Store.
func (m *Memory) Records(_ context.Context, begin, end time.Time) ([]Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Record
	for _, r := range m.records {
		if !r.Time.Before(begin) && r.Time.Before(end) {
			out = append(out, r)
		}
	}
	return out, nil
}

// Prune implements Store.
func (m *Memory) Prune(_ context.Context, before time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	i := sort.Search(len(m.records), func(i int) bool { return !m.records[i].Time.Before(before) })
	m.records = append(m.records[:0:0], m.records[i:]...)
	return nil
}

// AddRows implements Store.
func (m *Memory) AddRows(_ context.Context, rows []Row) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rows = append(m.rows, rows...)
	if n := len(m.rows) - m.max(); n > 0 {
		m.rows = append(m.rows[:0:0], m.rows[n:]...)
	}
	return nil
}

// Rows implements Store.
func (m *Memory) Rows(_ context.Context, since time.Time) ([]Row, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Row
	for _, r := range m.rows {
		if !r.End.Before(since) {
			out = append(out, r)
		}
	}
	return out, nil
}

// PruneRows implements Store.
func (m *Memory) PruneRows(_ context.Context, before time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	keep := m.rows[:0]
	for _, r := range m.rows {
		if !r.End.Before(before) {
			keep = append(keep, r)
		}
	}
	m.rows = keep
	return nil
}
