// Package admin is mailsift's admin HTTP endpoint: Prometheus metrics,
// health and readiness, and greylist inspection. It listens on loopback by
// default and has no authentication: keep it there, or behind a proxy.
package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/mailsift/mailsift/checks"
	"github.com/mailsift/mailsift/greylist"
)

// Options configures the endpoint.
type Options struct {
	Registry *prometheus.Registry
	// Ready says whether mailsift can serve: listening, and its Redis
	// reachable when it uses one.
	Ready func(ctx context.Context) error
	// Greylist is the greylist store, nil when greylisting is off.
	Greylist greylist.Admin
	// MaxAge is how long a triplet whitelisted by hand is kept.
	MaxAge    func() time.Duration
	Delimiter string // of sender extensions, as the greylist check uses
	Now       func() time.Time
}

// Handler returns the endpoint's handler:
//
//	GET  /metrics                 Prometheus metrics
//	GET  /healthz                 200 while the process runs
//	GET  /readyz                  200 when ready, 503 with the reason
//	GET  /greylist?client=&sender=&rcpt=          a triplet's state (JSON)
//	POST /greylist/pass?client=&sender=&rcpt=     whitelist it
//	POST /greylist/delete?client=&sender=&rcpt=   forget it
//
// client is the client key as the log shows it
// (mailsift.checks.greylist.client_key), e.g. "net:192.0.2.0/24".
func Handler(o Options) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(o.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := o.Ready(r.Context()); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	triplet := func(w http.ResponseWriter, r *http.Request) (greylist.Key, bool) {
		if o.Greylist == nil {
			http.Error(w, "greylisting is off", http.StatusNotFound)
			return greylist.Key{}, false
		}
		q := r.URL.Query()
		client, sender, rcpt := q.Get("client"), q.Get("sender"), q.Get("rcpt")
		if client == "" || rcpt == "" {
			http.Error(w, `want client (as logged in mailsift.checks.greylist.client_key), sender ("" for <>) and rcpt`, http.StatusBadRequest)
			return greylist.Key{}, false
		}
		if a, err := checks.ParseAddress(rcpt); err == nil {
			rcpt = a.String()
		}
		return greylist.TripletKey(client, greylist.NormalizeSender(sender, o.Delimiter), rcpt), true
	}
	mux.HandleFunc("GET /greylist", func(w http.ResponseWriter, r *http.Request) {
		k, ok := triplet(w, r)
		if !ok {
			return
		}
		e, found, err := o.Greylist.Lookup(r.Context(), k, o.Now())
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		if !found {
			e.State = "unknown"
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(e)
	})
	mux.HandleFunc("POST /greylist/pass", func(w http.ResponseWriter, r *http.Request) {
		if k, ok := triplet(w, r); ok {
			reply(w, o.Greylist.Pass(r.Context(), k, o.Now(), o.MaxAge()))
		}
	})
	mux.HandleFunc("POST /greylist/delete", func(w http.ResponseWriter, r *http.Request) {
		if k, ok := triplet(w, r); ok {
			reply(w, o.Greylist.Delete(r.Context(), k))
		}
	})
	return mux
}

func reply(w http.ResponseWriter, err error) {
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	fmt.Fprintln(w, "ok")
}
