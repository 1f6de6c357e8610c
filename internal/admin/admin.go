// Package admin is mailsift's admin HTTP endpoint: Prometheus metrics,
// health and readiness, and greylist inspection. It listens on loopback by
// default. A browser on the same host can reach loopback too, so every
// request must name the endpoint itself as its Host (no DNS rebinding) and
// come from no other site (no cross-site POST); an optional bearer token
// guards it further, and is needed off loopback.
package admin

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/mailsift/mailsift/checks"
	"github.com/mailsift/mailsift/greylist"
	"github.com/mailsift/mailsift/internal/suppress"
)

// Options configures the endpoint.
type Options struct {
	Registry *prometheus.Registry
	// Ready says whether mailsift can serve: listening, and its Redis
	// reachable when it uses one.
	Ready func(ctx context.Context) error
	// Greylist returns the greylist store, nil while greylisting is off;
	// asked at each request, so that a reload turning greylisting on or
	// off shows here.
	Greylist func() greylist.Admin
	// Listen is the configured listen address ("HOST:PORT"): its host is,
	// with localhost and loopback addresses, what a request's Host may be.
	Listen string
	// Token, when not "", must come with every request but /healthz as
	// "Authorization: Bearer TOKEN".
	Token string
	// Log receives a record of every change made through the endpoint.
	Log *zap.Logger
	// MaxAge is how long a triplet whitelisted by hand is kept.
	MaxAge    func() time.Duration
	Delimiter string // of sender extensions, as the greylist check uses
	Now       func() time.Time
	// Suppress returns the suppression list, nil while bounces are not
	// read; asked at each request (see suppressRoutes).
	Suppress func() *suppress.List
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
//
// A request whose Host is not the endpoint's gets 421, one from another
// site (Origin, Sec-Fetch-Site) 403, one without the token 401.
func Handler(o Options) http.Handler {
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	if o.Greylist == nil {
		o.Greylist = func() greylist.Admin { return nil }
	}
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
	triplet := func(w http.ResponseWriter, r *http.Request) (greylist.Admin, greylist.Key, bool) {
		store := o.Greylist()
		if store == nil {
			http.Error(w, "greylisting is off", http.StatusNotFound)
			return nil, greylist.Key{}, false
		}
		q := r.URL.Query()
		client, sender, rcpt := q.Get("client"), q.Get("sender"), q.Get("rcpt")
		if client == "" || rcpt == "" {
			http.Error(w, `want client (as logged in mailsift.checks.greylist.client_key), sender ("" for <>) and rcpt`, http.StatusBadRequest)
			return nil, greylist.Key{}, false
		}
		if a, err := checks.ParseAddress(rcpt); err == nil {
			rcpt = a.String()
		}
		return store, greylist.TripletKey(client, greylist.NormalizeSender(sender, o.Delimiter), rcpt), true
	}
	// changed logs a change made by hand: what, to which triplet, by whom.
	changed := func(r *http.Request, what string, err error) {
		q := r.URL.Query()
		fields := []zap.Field{zap.String("mailsift.admin.action", what), zap.String("mailsift.checks.greylist.client_key", q.Get("client")),
			zap.String("email.from.address", q.Get("sender")), zap.String("email.to.address", q.Get("rcpt")),
			zap.String("client.address", r.RemoteAddr)}
		if err != nil {
			o.Log.Error("greylist change through the admin endpoint failed", append(fields, zap.Error(err))...)
			return
		}
		o.Log.Info("greylist changed through the admin endpoint", fields...)
	}
	mux.HandleFunc("GET /greylist", func(w http.ResponseWriter, r *http.Request) {
		store, k, ok := triplet(w, r)
		if !ok {
			return
		}
		e, found, err := store.Lookup(r.Context(), k, o.Now())
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
		if store, k, ok := triplet(w, r); ok {
			err := store.Pass(r.Context(), k, o.Now(), o.MaxAge())
			changed(r, "greylist-pass", err)
			reply(w, err)
		}
	})
	mux.HandleFunc("POST /greylist/delete", func(w http.ResponseWriter, r *http.Request) {
		if store, k, ok := triplet(w, r); ok {
			err := store.Delete(r.Context(), k)
			changed(r, "greylist-delete", err)
			reply(w, err)
		}
	})
	suppressRoutes(mux, o)
	return guard(o, mux)
}

// guard refuses what a browser could be made to send: a Host that is not
// the endpoint's (DNS rebinding: evil.example resolved to 127.0.0.1), a
// request from another site (a cross-site form POST), and, with a token, a
// request without it.
func guard(o Options, next http.Handler) http.Handler {
	listenHost, _, _ := net.SplitHostPort(o.Listen)
	listenHost = normHost(listenHost)
	hostOK := func(hostport string) bool {
		h := hostport
		if hh, _, err := net.SplitHostPort(hostport); err == nil {
			h = hh
		}
		h = normHost(h)
		if h == "" {
			return false
		}
		if h == "localhost" || h == listenHost {
			return true
		}
		ip, err := netip.ParseAddr(h)
		if err != nil {
			return false
		}
		// An address is no DNS name to rebind: loopback always, and any
		// address when the endpoint listens on all of them.
		lip, lerr := netip.ParseAddr(listenHost)
		return ip.IsLoopback() || (lerr == nil && lip.IsUnspecified()) || listenHost == ""
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !hostOK(r.Host) {
			http.Error(w, fmt.Sprintf("Host %q is not this endpoint's: use %s or localhost", r.Host, o.Listen), http.StatusMisdirectedRequest)
			return
		}
		switch r.Header.Get("Sec-Fetch-Site") {
		case "", "same-origin", "none":
		default:
			http.Error(w, "cross-site request refused", http.StatusForbidden)
			return
		}
		if origin := r.Header.Get("Origin"); origin != "" {
			u, err := url.Parse(origin)
			if err != nil || u.Host == "" || !strings.EqualFold(u.Host, r.Host) {
				http.Error(w, fmt.Sprintf("cross-site request refused (Origin %q)", origin), http.StatusForbidden)
				return
			}
		}
		if o.Token != "" && r.URL.Path != "/healthz" {
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(o.Token)) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="mailsift"`)
				http.Error(w, "want Authorization: Bearer with the token of [admin] token_file", http.StatusUnauthorized)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func normHost(h string) string {
	return strings.TrimSuffix(strings.ToLower(strings.Trim(h, "[]")), ".")
}

func reply(w http.ResponseWriter, err error) {
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	fmt.Fprintln(w, "ok")
}
