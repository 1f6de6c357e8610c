package main

import (
	"context"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/mailsift/mailsift/internal/metrics"
	"github.com/mailsift/mailsift/internal/resolver"
	"github.com/mailsift/mailsift/internal/resolver/dnstest"
	"github.com/mailsift/mailsift/internal/settings"
)

// With the default [checks.callout], a sender domain whose MX is on a
// private network is not probed, and the log says which and why.
func TestCalloutRefusedTargetLogged(t *testing.T) {
	srv := dnstest.Start(t)
	if err := srv.LoadDir("../../testdata/zones"); err != nil {
		t.Fatal(err)
	}
	res, err := resolver.New(resolver.Config{Servers: []string{srv.Addr}, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	cfg := settings.Default()
	cfg.Checks.Callout.Mode = "enforce"
	core, logs := observer.New(zap.InfoLevel)
	h := &calloutHolder{log: zap.New(core)}
	defer h.close()
	o := h.get(cfg, res, metrics.New("test")).Verify(context.Background(), "alice", "private.callout.test")
	if o.Status != "unverifiable" {
		t.Fatalf("= %+v", o)
	}
	es := logs.FilterMessage("callout target refused; the sender domain is unverifiable").All()
	if len(es) != 1 {
		t.Fatalf("log: %v", logs.All())
	}
	f := es[0].ContextMap()
	if f["mailsift.callout.domain"] != "private.callout.test" || f["mailsift.callout.mx"] != "privsrv.callout.test [10.1.2.3]" || f["mailsift.callout.refused"] != "private address" {
		t.Fatalf("fields %v", f)
	}
}
