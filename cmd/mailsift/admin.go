package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/mailsift/mailsift/greylist"
	"github.com/mailsift/mailsift/internal/admin"
	"github.com/mailsift/mailsift/internal/config"
	"github.com/mailsift/mailsift/internal/metrics"
	"github.com/mailsift/mailsift/internal/settings"
	"github.com/mailsift/mailsift/internal/suppress"
)

// deps are what outlives a reload: the callout verifier, the greylist
// store and the metrics.
type deps struct {
	callouts  *calloutHolder
	greylists *greylistHolder
	metrics   *metrics.Metrics
	dmarc     *dmarcHolder // nil: no DMARC reports (the one-shot commands)
	bounces   bounceHolder // the suppression list's store (bounces.go)
}

// log returns the process's logger.
func (d *deps) log() *zap.Logger {
	if d.greylists != nil && d.greylists.log != nil {
		return d.greylists.log
	}
	return zap.NewNop()
}

// listReporter logs a list file that breaks while running, and its repair.
func listReporter(log *zap.Logger, path string) func(error) {
	return func(err error) {
		if err != nil {
			log.Error("recipient list unreadable; keeping the last good list, and recipients it lacks get a temporary error",
				zap.String("file.path", path), zap.Error(err))
			return
		}
		log.Info("recipient list read again", zap.String("file.path", path))
	}
}

// startAdmin serves the admin endpoint when [admin] listen is set, and
// returns the function that stops it.
func startAdmin(cfg *settings.Config, d *deps, current *atomic.Pointer[settings.Config], log *zap.Logger) (func(), error) {
	if cfg.Admin.Listen == "" {
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", cfg.Admin.Listen)
	if err != nil {
		return nil, err
	}
	token := ""
	if f := cfg.Admin.TokenFile; f != "" {
		if token, err = config.ReadSecret(f); err != nil {
			ln.Close()
			return nil, err
		}
	}
	opts := admin.Options{
		Listen:    cfg.Admin.Listen,
		Token:     token,
		Log:       log,
		Greylist:  func() greylist.Admin { return d.greylists.admin(current.Load()) },
		Suppress:  func() *suppress.List { return d.bounces.list(current.Load(), log) },
		Registry:  d.metrics.Registry,
		Now:       time.Now,
		Delimiter: cfg.Checks.Recipient.Delimiter,
		MaxAge:    func() time.Duration { return time.Duration(current.Load().Greylist.MaxAge) },
		Ready: func(ctx context.Context) error {
			if r := d.greylists.redis(); r != nil {
				if err := r.Ping(ctx); err != nil {
					return errors.New("greylist Redis unreachable: " + err.Error())
				}
			}
			return nil
		},
	}
	hs := &http.Server{Handler: admin.Handler(opts), ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("admin endpoint failed", zap.Error(err))
		}
	}()
	log.Info("admin endpoint listening", zap.String("mailsift.admin.listen", ln.Addr().String()))
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		hs.Shutdown(ctx)
		<-done
	}, nil
}
