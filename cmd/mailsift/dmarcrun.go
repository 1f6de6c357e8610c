package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/mailsift/mailsift/internal/dmarcreport"
	"github.com/mailsift/mailsift/internal/resolver"
	"github.com/mailsift/mailsift/internal/settings"
	"github.com/mailsift/mailsift/milter"
)

// dmarcHolder keeps the DMARC report store of the running process and the
// builder that sends the reports once per interval. Like the greylist
// store, a reload never replaces them (the memory store would lose the
// records); their settings take effect at the next restart.
type dmarcHolder struct {
	log *zap.Logger

	mu         sync.Mutex
	store      dmarcreport.Store
	closeStore func()
	key        string
	cancel     context.CancelFunc // stops the builder's loop
	done       chan struct{}      // closed when the loop has returned
}

func dmarcKey(cfg *settings.Config) string {
	d := cfg.DMARC
	return fmt.Sprintf("%v|%s|%s|%s|%s|%v|%s|%s|%+v|%s", d.Reports, d.ReportFrom, d.OrgName, d.Sendmail, d.Relay, d.Interval, d.Store, d.Prefix, cfg.Greylist.Redis, cfg.Hostname)
}

// runtime returns the milter's part for cfg, or nil when [dmarc] has
// reports off and no rua_addresses. The first call opens the store, and
// starts the builder's loop when reports are on.
func (h *dmarcHolder) runtime(cfg *settings.Config, res *resolver.Resolver) *milter.DMARCReports {
	d := cfg.DMARC
	if !d.Reports && len(d.RUAAddresses) == 0 {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.store == nil {
		h.store, h.closeStore = dmarcStore(cfg)
		h.key = dmarcKey(cfg)
	} else if k := dmarcKey(cfg); k != h.key && h.done != nil {
		h.log.Warn("dmarc report settings changed; they take effect at the next restart")
	}
	if d.Reports && h.done == nil {
		// The builder has its own resolver: the runtime's is replaced at
		// every reload.
		bres, err := resolver.New(resolver.Config{Servers: cfg.DNS.Servers, Timeout: time.Duration(cfg.DNS.Timeout), Attempts: cfg.DNS.Attempts, CacheSize: 1000})
		if err != nil {
			bres = res
		}
		b := dmarcBuilder(cfg, h.store, bres, h.log)
		ctx, cancel := context.WithCancel(context.Background())
		h.cancel, h.done = cancel, make(chan struct{})
		interval := time.Duration(d.Interval)
		go func(done chan struct{}) {
			defer close(done)
			b.Loop(ctx, interval)
		}(h.done)
		h.log.Info("dmarc aggregate reports on", zap.String("mailsift.dmarc.store", d.Store), zap.Duration("mailsift.dmarc.interval", interval),
			zap.String("mailsift.dmarc.report_from", b.ReportFrom))
	}
	rua := make([]string, len(d.RUAAddresses))
	for i, a := range d.RUAAddresses {
		rua[i] = strings.Trim(a, "<>")
	}
	return &milter.DMARCReports{Store: h.store, DNS: res, Record: d.Reports, RUA: rua}
}

// close stops the builder's loop, waits for it, and closes the store. Call
// it once the milter server has shut down.
func (h *dmarcHolder) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.cancel != nil {
		h.cancel()
		<-h.done
		h.cancel, h.done = nil, nil
	}
	if h.closeStore != nil {
		h.closeStore()
		h.closeStore, h.store = nil, nil
	}
}
