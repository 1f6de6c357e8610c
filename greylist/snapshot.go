package greylist

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"go.uber.org/zap"
)

// The snapshot file: "MSGL", a version byte, the entry count, the entries
// from least to most recently used, and a CRC-32 of all that came before.
const (
	snapMagic   = "MSGL"
	snapVersion = 1
	recordSize  = 16 + 4 + 4 + 2 + 1
)

// ErrSnapshot is wrapped by every error reading a snapshot.
var ErrSnapshot = errors.New("greylist snapshot")

// WriteSnapshot writes the live entries to path atomically: a temporary
// file in the same directory, fsync, rename, fsync of the directory. A
// crash leaves the old snapshot or the new one, never half of one.
func (m *Memory) WriteSnapshot(path string, now time.Time) (int, error) {
	m.mu.Lock()
	n := unix(now)
	type rec struct {
		k Key
		e entry
	}
	var recs []rec
	for _, k := range m.lru.Keys() { // oldest first
		if e, ok := m.lru.Peek(k); ok && e.expires > n {
			recs = append(recs, rec{k, e})
		}
	}
	m.mu.Unlock()

	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrSnapshot, err)
	}
	defer os.Remove(f.Name()) // after a successful rename there is nothing to remove
	crc := crc32.NewIEEE()
	w := bufio.NewWriter(io.MultiWriter(f, crc))
	hdr := make([]byte, 9)
	copy(hdr, snapMagic)
	hdr[4] = snapVersion
	binary.BigEndian.PutUint32(hdr[5:], uint32(len(recs)))
	w.Write(hdr)
	buf := make([]byte, recordSize)
	for _, r := range recs {
		copy(buf, r.k[:])
		binary.BigEndian.PutUint32(buf[16:], r.e.first)
		binary.BigEndian.PutUint32(buf[20:], r.e.expires)
		binary.BigEndian.PutUint16(buf[24:], r.e.passes)
		buf[26] = 0
		if r.e.passed {
			buf[26] = 1
		}
		w.Write(buf)
	}
	err = w.Flush()
	if err == nil {
		err = binary.Write(f, binary.BigEndian, crc.Sum32())
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err == nil {
		if d, derr := os.Open(dir); derr == nil {
			d.Sync()
			d.Close()
		}
	}
	if err != nil {
		return 0, fmt.Errorf("%w: writing %s: %v", ErrSnapshot, path, err)
	}
	return len(recs), nil
}

// ReadSnapshot loads the entries of the snapshot at path that are still
// live at now. A missing file is no error (a first start).
func (m *Memory) ReadSnapshot(path string, now time.Time) (int, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrSnapshot, err)
	}
	bad := func(why string) (int, error) { return 0, fmt.Errorf("%w: %s: %s", ErrSnapshot, path, why) }
	if len(data) < 9+4 || string(data[:4]) != snapMagic {
		return bad("not a mailsift greylist snapshot")
	}
	if data[4] != snapVersion {
		return bad(fmt.Sprintf("version %d, want %d", data[4], snapVersion))
	}
	count := int(binary.BigEndian.Uint32(data[5:9]))
	if want := 9 + count*recordSize + 4; len(data) != want {
		return bad(fmt.Sprintf("%d bytes for %d entries, want %d: truncated or corrupt", len(data), count, want))
	}
	body := data[:len(data)-4]
	if crc32.ChecksumIEEE(body) != binary.BigEndian.Uint32(data[len(data)-4:]) {
		return bad("checksum mismatch: corrupt")
	}
	n := unix(now)
	loaded := 0
	m.mu.Lock()
	defer m.mu.Unlock()
	for off := 9; off < len(body); off += recordSize {
		r := body[off : off+recordSize]
		var k Key
		copy(k[:], r[:16])
		e := entry{first: binary.BigEndian.Uint32(r[16:]), expires: binary.BigEndian.Uint32(r[20:]),
			passes: binary.BigEndian.Uint16(r[24:]), passed: r[26] == 1}
		if e.expires > n {
			m.lru.Add(k, e)
			loaded++
		}
	}
	return loaded, nil
}

// Persistent is a memory store snapshotted to a file: read at start,
// written every interval and at Close.
type Persistent struct {
	*Memory
	path string
	now  func() time.Time
	log  *zap.Logger
	stop chan struct{}
	wg   sync.WaitGroup

	reported int64 // evictions already reported
}

// OpenPersistent returns a memory store restored from the snapshot at path.
// A snapshot that cannot be read is reported and the store starts empty:
// losing the greylist delays some mail once, refusing to start loses all.
func OpenPersistent(path string, size int, interval time.Duration, now func() time.Time, log *zap.Logger) *Persistent {
	p := &Persistent{Memory: NewMemory(size), path: path, now: now, log: log, stop: make(chan struct{})}
	if path == "" {
		return p
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		log.Warn("greylist snapshot directory cannot be made; state will not survive a restart", zap.Error(err))
	}
	removeTemporaries(path, log)
	_, statErr := os.Stat(path)
	n, err := p.ReadSnapshot(path, now())
	switch {
	case err != nil:
		log.Warn("greylist snapshot unreadable; starting with an empty greylist", zap.String("file.path", path), zap.Error(err))
	case errors.Is(statErr, os.ErrNotExist):
		log.Info("no greylist snapshot yet; starting with an empty greylist", zap.String("file.path", path))
	default:
		log.Info("greylist snapshot restored", zap.String("file.path", path), zap.Int("mailsift.greylist.entries", n))
	}
	if interval > 0 {
		p.wg.Add(1)
		go p.loop(interval)
	}
	return p
}

// removeTemporaries removes what a write cut short (SIGKILL, a crash, a
// full disk) left beside the snapshot: WriteSnapshot's "NAME.tmp*" files.
// Only this process writes them, and it has not started writing yet.
func removeTemporaries(path string, log *zap.Logger) {
	olds, _ := filepath.Glob(filepath.Join(filepath.Dir(path), globEscape(filepath.Base(path))+".tmp*"))
	for _, f := range olds {
		if err := os.Remove(f); err != nil {
			log.Warn("cannot remove a greylist snapshot temporary", zap.String("file.path", f), zap.Error(err))
			continue
		}
		log.Info("removed a greylist snapshot temporary left by an interrupted write", zap.String("file.path", f))
	}
}

// globEscape quotes the characters filepath.Match treats specially.
func globEscape(s string) string {
	var b []byte
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '*', '?', '[', '\\':
			b = append(b, '\\')
		}
		b = append(b, s[i])
	}
	return string(b)
}

func (p *Persistent) loop(interval time.Duration) {
	defer p.wg.Done()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			p.snapshot()
		}
	}
}

func (p *Persistent) snapshot() error {
	n, err := p.WriteSnapshot(p.path, p.now())
	if err != nil {
		p.log.Error("greylist snapshot failed", zap.String("file.path", p.path), zap.Error(err))
		return err
	}
	p.log.Debug("greylist snapshot written", zap.String("file.path", p.path), zap.Int("mailsift.greylist.entries", n),
		zap.Int64("mailsift.greylist.evictions", p.Evictions()))
	if ev := p.Evictions(); ev > p.reported {
		p.log.Warn("greylist full: live entries were evicted; raise greylist.max_entries",
			zap.Int64("mailsift.greylist.evictions", ev-p.reported), zap.Int("mailsift.greylist.entries", n))
		p.reported = ev
	}
	return nil
}

// Close stops the periodic snapshots and writes a last one.
func (p *Persistent) Close() error {
	close(p.stop)
	p.wg.Wait()
	if p.path == "" {
		return nil
	}
	return p.snapshot()
}
