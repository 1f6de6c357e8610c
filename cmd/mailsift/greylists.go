package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"go.uber.org/zap"

	"github.com/mailsift/mailsift/checks"
	"github.com/mailsift/mailsift/greylist"
	"github.com/mailsift/mailsift/internal/metrics"
	"github.com/mailsift/mailsift/internal/settings"
)

// greylistHolder keeps the one greylist store of the process. A reload
// never replaces it: that would lose the memory store's state. A change of
// the store's settings takes effect at the next restart.
type greylistHolder struct {
	log   *zap.Logger
	mu    sync.Mutex // store: the admin endpoint asks from its goroutines
	store greylist.Store
	key   string
}

// admin returns the store for the admin endpoint while cfg has greylisting
// on, else nil.
func (h *greylistHolder) admin(cfg *settings.Config) greylist.Admin {
	if g := &cfg.Greylist; !g.Enabled || g.Mode == "off" {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	a, _ := h.store.(greylist.Admin)
	return a
}

// redis returns the Redis store, or nil.
func (h *greylistHolder) redis() *greylist.Redis {
	h.mu.Lock()
	defer h.mu.Unlock()
	r, _ := h.store.(*greylist.Redis)
	return r
}

func storeKey(g *checks.GreylistConfig) string {
	return fmt.Sprintf("%s|%d|%s|%v|%+v", g.Store, g.MaxEntries, g.Snapshot, g.SnapshotInterval, g.Redis)
}

func (h *greylistHolder) get(cfg *settings.Config, m *metrics.Metrics) greylist.Store {
	h.mu.Lock()
	defer h.mu.Unlock()
	g := &cfg.Greylist
	key := storeKey(g)
	if h.store != nil {
		if key != h.key {
			h.log.Warn("greylist store settings changed; they take effect at the next restart")
		}
		return h.store
	}
	h.key = key
	if g.Store == "redis" {
		// go-redis's logger is package-wide; main owns the process.
		redis.SetLogger(redisLog{h.log.Named("go-redis")})
		r := g.Redis
		conn, err := r.Conn(r.Prefix)
		if err != nil { // read at validation; gone since: Redis will refuse, and say so
			h.log.Error("greylist.redis.password_file unreadable", zap.Error(err))
		}
		rs := greylist.NewRedis(conn, h.log)
		m.Greylist(nil, nil, rs.Outages)
		h.store = rs
		return h.store
	}
	p := greylist.OpenPersistent(g.Snapshot, g.MaxEntries, time.Duration(g.SnapshotInterval), time.Now, h.log)
	m.Greylist(p.Len, p.Evictions, nil)
	h.store = p
	return h.store
}

// close writes the memory store's last snapshot, or closes the Redis client.
func (h *greylistHolder) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.store != nil {
		if err := h.store.Close(); err != nil {
			h.log.Error("closing the greylist store", zap.Error(err))
		}
		h.store = nil
	}
}

// redisLog sends go-redis's own messages (one per failed dial) to the JSON
// log at debug: the store logs an outage once, at warn.
type redisLog struct{ log *zap.Logger }

func (r redisLog) Printf(_ context.Context, format string, v ...any) {
	r.log.Debug(fmt.Sprintf(format, v...))
}
