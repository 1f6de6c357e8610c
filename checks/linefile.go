package checks

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
)

// LineFile is a list file that is read again when it changes (checked at
// most once a second): one entry a line, "#" comments. A file that fails
// to read keeps the previous entries.
type LineFile struct {
	path  string
	parse func(name string, n int, line string) error // checks one entry
	now   func() time.Time

	mu      sync.Mutex
	lines   []string
	gen     int // bumped at every successful read
	mtime   time.Time
	size    int64
	checked time.Time
	err     error
}

// LoadLineFile reads path; parse checks each entry, and its error is
// reported as FILE:LINE.
func LoadLineFile(path string, parse func(string) error, now func() time.Time) (*LineFile, error) {
	f := &LineFile{path: path, now: now, checked: now(), parse: func(name string, n int, line string) error {
		if err := parse(line); err != nil {
			return fmt.Errorf("%s:%d: %v", name, n, err)
		}
		return nil
	}}
	if err := f.reload(); err != nil {
		return nil, err
	}
	return f, nil
}

func (f *LineFile) reload() error {
	fi, err := os.Stat(f.path)
	if err != nil {
		return err
	}
	if fi.ModTime().Equal(f.mtime) && fi.Size() == f.size && f.gen > 0 {
		return nil
	}
	data, err := os.ReadFile(f.path)
	if err != nil {
		return err
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		if line = strings.TrimSpace(line); line == "" {
			continue
		}
		if err := f.parse(f.path, n, line); err != nil {
			return err
		}
		lines = append(lines, line)
	}
	f.lines, f.mtime, f.size = lines, fi.ModTime(), fi.Size()
	f.gen++
	return nil
}

// Lines returns the current entries and a generation number that changes
// whenever they do.
func (f *LineFile) Lines() ([]string, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if now := f.now(); now.Sub(f.checked) >= time.Second {
		f.checked = now
		f.err = f.reload()
	}
	return f.lines, f.gen
}

// Err returns the last error reading the file while older entries are in
// use, or nil.
func (f *LineFile) Err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}
