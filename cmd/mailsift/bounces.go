package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/mailsift/mailsift/internal/settings"
	"github.com/mailsift/mailsift/internal/suppress"
	"github.com/mailsift/mailsift/milter"
)

// bounceHolder keeps the one suppression store of the process, as
// greylistHolder keeps the greylist's: a reload keeps it (and the memory
// store's counts); a change of its settings takes effect at the next
// restart. Its zero value is ready.
type bounceHolder struct {
	mu    sync.Mutex
	store suppress.Store
	// sent remembers the messages we sent ([bounces] verify_sent): the
	// Redis store itself, or a memory one beside the memory store.
	sent suppress.Sent
	key  string
	// cur is the last list handed out: the same one while the policy and
	// the export file stay, so that its exports are written one at a time.
	cur *suppress.List
}

// list returns the suppression list of cfg, nil while [bounces] is off.
func (h *bounceHolder) list(cfg *settings.Config, log *zap.Logger) *suppress.List {
	b := &cfg.Bounces
	if !b.Enabled() {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	key := fmt.Sprintf("%s|%s|%+v", b.Store, b.Prefix, cfg.Greylist.Redis)
	if h.store != nil && key != h.key {
		log.Warn("bounces store settings changed; they take effect at the next restart")
	}
	if h.store == nil {
		h.key = key
		if b.Store == "redis" {
			r := cfg.Greylist.Redis
			conn, err := r.Conn(b.Prefix)
			if err != nil {
				log.Error("greylist.redis.password_file unreadable", zap.Error(err))
			}
			r2 := suppress.NewRedis(conn)
			h.store, h.sent = r2, r2
		} else {
			// The memory store starts with the list it last exported.
			var es []suppress.Entry
			if b.Export != "" {
				var err error
				if es, err = suppress.ReadExport(b.Export); err != nil && !errors.Is(err, fs.ErrNotExist) {
					log.Error("suppression list not read back: it starts empty", zap.String("file.path", b.Export), zap.Error(err))
				}
			}
			h.store, h.sent = suppress.NewMemory(es), suppress.NewSentMemory(0)
		}
	}
	p := suppress.Policy{HardLimit: b.HardLimit, SoftLimit: b.SoftLimit, Window: time.Duration(b.Window)}
	if h.cur == nil || h.cur.Policy != p || h.cur.Export != b.Export {
		h.cur = &suppress.List{Store: h.store, Now: time.Now, Export: b.Export, Policy: p}
	}
	return h.cur
}

// close releases the store.
func (h *bounceHolder) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.store != nil {
		h.store.Close()
		h.store, h.sent, h.cur = nil, nil, nil
	}
}

// newBounces is the milter's reading of bounces, nil while [bounces] is
// off. The export file is written at start, so that it exists for a
// website to pull.
func newBounces(cfg *settings.Config, d *deps) *milter.Bounces {
	l := d.bounces.list(cfg, d.log())
	if l == nil {
		return nil
	}
	if err := l.WriteExport(context.Background()); err != nil {
		d.log().Error("suppression list not exported", zap.Error(err))
	}
	b := &milter.Bounces{Addresses: cfg.Bounces.Addresses, Delimiter: cfg.Checks.Recipient.Delimiter, Discard: cfg.Bounces.Discard, List: l,
		Timeout: time.Duration(cfg.Checks.Timeout)}
	if cfg.Bounces.VerifySent {
		b.Sent = d.bounces.sentMessages()
	}
	return b
}

// sentMessages returns the store of the messages we sent, nil before list.
func (h *bounceHolder) sentMessages() suppress.Sent {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.sent
}
