// Package suppress keeps the suppression list: the addresses whose mail
// bounces. Each bounce read from a delivery status notification is
// recorded for its failed recipient; an address with HardLimit hard
// bounces, or more than SoftLimit soft ones, within Window is suppressed,
// and stays suppressed until it is deleted by hand. The counts live in
// memory or in Redis (shared by a fleet); the list is written to a file
// (atomically) each time it changes, for a website to pull.
package suppress

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// Policy decides when an address is suppressed.
type Policy struct {
	HardLimit int           // hard bounces within Window that suppress; 0 for never
	SoftLimit int           // soft bounces within Window above which it is suppressed; 0 for never
	Window    time.Duration // how long a bounce counts
}

// suppresses reports whether hard and soft bounces within the window
// suppress an address.
func (p Policy) suppresses(hard, soft int) bool {
	return p.HardLimit > 0 && hard >= p.HardLimit || p.SoftLimit > 0 && soft > p.SoftLimit
}

// Bounce is one failed delivery to an address.
type Bounce struct {
	Status string    `json:"status"` // RFC 3463, "5.1.1"; "" when the report had none
	Class  string    `json:"class"`  // dsn class, "user-unknown"
	Hard   bool      `json:"hard"`
	At     time.Time `json:"at"`
}

// Entry is what the list knows of an address.
type Entry struct {
	Address    string    `json:"address"`
	Hard       int       `json:"hard"` // hard bounces within the window (at the last bounce once suppressed)
	Soft       int       `json:"soft"`
	Suppressed bool      `json:"suppressed"`
	Since      time.Time `json:"since,omitzero"`   // when it was suppressed
	Bounces    int       `json:"bounces,omitzero"` // bounces within the window that suppressed it
	Last       Bounce    `json:"last"`
}

// LastText is the last bounce as the refusal quotes it: "5.1.1 user
// unknown, 2026-11-29".
func (e Entry) LastText() string {
	what := strings.ReplaceAll(e.Last.Class, "-", " ")
	if e.Last.Status != "" {
		what = e.Last.Status + " " + what
	}
	return what + ", " + e.Last.At.UTC().Format("2006-01-02")
}

// Store keeps the counts and the suppressed entries. Once suppressed, an
// entry no longer changes until Delete.
type Store interface {
	// Record adds a bounce of addr at b.At and returns the entry after it.
	Record(ctx context.Context, addr string, b Bounce, p Policy) (Entry, error)
	// Lookup returns addr's entry; false when nothing is known of it.
	Lookup(ctx context.Context, addr string, now time.Time, p Policy) (Entry, bool, error)
	// Suppressed lists the suppressed entries.
	Suppressed(ctx context.Context) ([]Entry, error)
	// Delete forgets addr; false when nothing was known of it.
	Delete(ctx context.Context, addr string) (bool, error)
	Close() error
}

// Normalize returns the address as the list keys it: without angle
// brackets and spaces, the domain lowercased and without a final dot; the
// local part is kept as it is.
func Normalize(addr string) string {
	a := strings.TrimSpace(addr)
	a = strings.TrimSuffix(strings.TrimPrefix(a, "<"), ">")
	at := strings.LastIndexByte(a, '@')
	if at < 0 {
		return a
	}
	return a[:at+1] + strings.ToLower(strings.TrimSuffix(a[at+1:], "."))
}

// List is the suppression list: a store, its policy, and the exported file.
type List struct {
	Store  Store
	Policy Policy
	Now    func() time.Time
	// Export, when not "", is the file the suppressed entries are written
	// to (JSON) each time they change.
	Export string

	mu sync.Mutex // one export at a time
}

// Record records a bounce of addr now. The entry tells whether addr is now
// suppressed; newly is true when this bounce suppressed it. An error in
// writing the export comes with the entry (the bounce is recorded); any
// other error comes with an empty one.
func (l *List) Record(ctx context.Context, addr string, b Bounce) (e Entry, newly bool, err error) {
	e, newly, err = l.record(ctx, addr, b)
	if err == nil && newly {
		err = l.WriteExport(ctx)
	}
	return e, newly, err
}

func (l *List) record(ctx context.Context, addr string, b Bounce) (e Entry, newly bool, err error) {
	addr = Normalize(addr)
	if addr == "" {
		return Entry{}, false, fmt.Errorf("suppress: record: empty address")
	}
	before, _, err := l.Store.Lookup(ctx, addr, l.Now(), l.Policy)
	if err != nil {
		return Entry{}, false, fmt.Errorf("suppress: record %s: %w", addr, err)
	}
	b.At = l.Now()
	e, err = l.Store.Record(ctx, addr, b, l.Policy)
	if err != nil {
		return Entry{}, false, fmt.Errorf("suppress: record %s: %w", addr, err)
	}
	return e, e.Suppressed && !before.Suppressed, nil
}

// Batch records the bounces of one message and writes the export once,
// at Flush, when any of them suppressed an address: a report naming many
// recipients costs one export, not one each.
type Batch struct {
	l     *List
	dirty bool
}

// Batch starts a batch of records.
func (l *List) Batch() *Batch { return &Batch{l: l} }

// Record records a bounce of addr now, as List.Record, without writing
// the export.
func (b *Batch) Record(ctx context.Context, addr string, bounce Bounce) (e Entry, newly bool, err error) {
	e, newly, err = b.l.record(ctx, addr, bounce)
	b.dirty = b.dirty || newly
	return e, newly, err
}

// Flush writes the export when a record of the batch suppressed an address.
func (b *Batch) Flush(ctx context.Context) error {
	if !b.dirty {
		return nil
	}
	b.dirty = false
	return b.l.WriteExport(ctx)
}

// Lookup returns addr's entry.
func (l *List) Lookup(ctx context.Context, addr string) (Entry, bool, error) {
	return l.Store.Lookup(ctx, Normalize(addr), l.Now(), l.Policy)
}

// Suppressed returns addr's entry when addr is suppressed.
func (l *List) Suppressed(ctx context.Context, addr string) (Entry, bool, error) {
	e, ok, err := l.Lookup(ctx, addr)
	return e, ok && e.Suppressed, err
}

// All lists the suppressed entries, by address.
func (l *List) All(ctx context.Context) ([]Entry, error) {
	es, err := l.Store.Suppressed(ctx)
	if err != nil {
		return nil, err
	}
	sort.Slice(es, func(i, j int) bool { return es[i].Address < es[j].Address })
	if es == nil {
		es = []Entry{}
	}
	return es, nil
}

// Delete forgets addr (its counts too) and writes the export.
func (l *List) Delete(ctx context.Context, addr string) (bool, error) {
	ok, err := l.Store.Delete(ctx, Normalize(addr))
	if err != nil || !ok {
		return ok, err
	}
	return true, l.WriteExport(ctx)
}

// Export is the exported file's document.
type Export struct {
	Generated  time.Time `json:"generated"`
	Suppressed []Entry   `json:"suppressed"`
}

// WriteExport writes the suppressed entries to the export file: a
// temporary file in the same folder, renamed over it, so a reader sees
// the old list or the new one, never a part.
func (l *List) WriteExport(ctx context.Context) error {
	if l.Export == "" {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	es, err := l.All(ctx)
	if err != nil {
		return fmt.Errorf("suppress: export %s: %w", l.Export, err)
	}
	b, err := json.MarshalIndent(Export{Generated: l.Now().UTC(), Suppressed: es}, "", "  ")
	if err != nil {
		return err
	}
	return writeAtomic(l.Export, append(b, '\n'))
}

func writeAtomic(path string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("suppress: export %s: %w", path, err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("suppress: export %s: %w", path, err)
	}
	return nil
}

// ReadExport reads an exported file, so that a memory store starts with
// the list it last wrote.
func ReadExport(path string) ([]Entry, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var x Export
	if err := json.Unmarshal(b, &x); err != nil {
		return nil, fmt.Errorf("suppress: %s: %w", path, err)
	}
	return x.Suppressed, nil
}
