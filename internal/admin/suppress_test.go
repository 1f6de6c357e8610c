package admin

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/mailsift/mailsift/internal/suppress"
)

func TestSuppressEndpoint(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	l := &suppress.List{Store: suppress.NewMemory(nil), Policy: suppress.Policy{HardLimit: 3, Window: time.Hour}, Now: func() time.Time { return now }}
	for range 3 {
		l.Record(ctx, "dead@example.org", suppress.Bounce{Status: "5.1.1", Class: "user-unknown", Hard: true})
	}
	l.Record(ctx, "once@example.org", suppress.Bounce{Status: "5.1.1", Class: "user-unknown", Hard: true})
	var on atomic.Bool
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zap.InfoLevel)
	h := Handler(Options{Registry: prometheus.NewRegistry(), Ready: func(context.Context) error { return nil },
		Suppress: func() *suppress.List {
			if on.Load() {
				return l
			}
			return nil
		},
		Now: func() time.Time { return now }, Listen: ln.Addr().String(), Token: "s3cret", Log: zap.New(core)})
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	defer srv.Close()
	e := &endpoint{base: "http://" + ln.Addr().String()}
	auth := map[string]string{"Authorization": "Bearer s3cret"}

	if code, body := e.do(t, "GET", "/suppress", "", auth); code != 404 || !strings.Contains(body, "[bounces] addresses") {
		t.Fatalf("bounces off: %d %q", code, body)
	}
	on.Store(true)
	code, body := e.do(t, "GET", "/suppress", "", auth)
	var x suppress.Export
	if err := json.Unmarshal([]byte(body), &x); code != 200 || err != nil || len(x.Suppressed) != 1 ||
		x.Suppressed[0].Address != "dead@example.org" || x.Suppressed[0].Bounces != 3 || x.Suppressed[0].Last.Status != "5.1.1" {
		t.Fatalf("list: %d %s %v", code, body, err)
	}
	code, body = e.do(t, "GET", "/suppress/lookup?address=%3Conce@EXAMPLE.org%3E", "", auth)
	if code != 200 || !strings.Contains(body, `"address":"once@example.org","hard":1,"soft":0,"suppressed":false`) {
		t.Fatalf("lookup: %d %s", code, body)
	}
	if code, _ := e.do(t, "GET", "/suppress/lookup", "", auth); code != 400 {
		t.Fatalf("lookup without address: %d", code)
	}
	// The guard: no token, a foreign Host, a cross-site POST.
	if code, _ := e.do(t, "GET", "/suppress", "", nil); code != 401 {
		t.Fatalf("without token: %d", code)
	}
	if code, _ := e.do(t, "GET", "/suppress", "evil.example", auth); code != 421 {
		t.Fatalf("foreign Host: %d", code)
	}
	cross := map[string]string{"Authorization": "Bearer s3cret", "Origin": "https://evil.example"}
	if code, _ := e.do(t, "POST", "/suppress/delete?address=dead@example.org", "", cross); code != 403 {
		t.Fatalf("cross-site delete: %d", code)
	}
	if code, _ := e.do(t, "GET", "/suppress/delete?address=dead@example.org", "", auth); code != 405 {
		t.Fatalf("delete by GET: %d", code)
	}
	if code, body := e.do(t, "POST", "/suppress/delete?address=dead@example.org", "", auth); code != 200 || body != "ok\n" {
		t.Fatalf("delete: %d %q", code, body)
	}
	if code, _ := e.do(t, "POST", "/suppress/delete?address=dead@example.org", "", auth); code != 404 {
		t.Fatalf("second delete: %d", code)
	}
	if _, ok, _ := l.Suppressed(ctx, "dead@example.org"); ok {
		t.Fatal("still suppressed after delete")
	}
	got := logs.FilterField(zap.String("mailsift.admin.action", "suppress-delete")).All()
	if len(got) != 1 || got[0].ContextMap()["email.to.address"] != "dead@example.org" {
		t.Fatalf("delete log: %+v", got)
	}
}
