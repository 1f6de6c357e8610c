// Package metrics holds mailsift's Prometheus metrics, on a registry of its
// own (no global state): sessions, messages by final action, each check's
// results and durations, replies by class, DNS cache and queries, callout
// probes, and the greylist store.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/mailsift/mailsift/checks"
)

// Metrics is the set of metrics of one process.
type Metrics struct {
	Registry *prometheus.Registry

	sessionsOpen prometheus.Gauge
	sessions     prometheus.Counter
	refused      prometheus.Counter
	messages     *prometheus.CounterVec
	results      *prometheus.CounterVec
	durations    *prometheus.HistogramVec
	replies      *prometheus.CounterVec
	dnsCache     *prometheus.CounterVec
	dnsAnswers   *prometheus.CounterVec
	callouts     *prometheus.CounterVec
	reloads      *prometheus.CounterVec
}

// New returns the metrics, registered on a new registry with the Go and
// process collectors and mailsift_build_info.
func New(version string) *Metrics {
	r := prometheus.NewRegistry()
	f := func(c prometheus.Collector) { r.MustRegister(c) }
	m := &Metrics{Registry: r,
		sessionsOpen: prometheus.NewGauge(prometheus.GaugeOpts{Name: "mailsift_sessions_open", Help: "MTA connections open now."}),
		sessions:     prometheus.NewCounter(prometheus.CounterOpts{Name: "mailsift_sessions_total", Help: "MTA connections accepted."}),
		refused: prometheus.NewCounter(prometheus.CounterOpts{Name: "mailsift_sessions_refused_total",
			Help: "MTA connections closed at once because limits.max_sessions were open."}),
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mailsift_messages_total",
			Help: "Messages (transactions) by final action: accept, reject, tempfail, quarantine, tag, abort."}, []string{"action"}),
		results: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mailsift_check_results_total",
			Help: "Check results by check and status."}, []string{"check", "status"}),
		durations: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "mailsift_check_duration_seconds",
			Help: "How long each check took.", Buckets: []float64{.0001, .0005, .001, .005, .01, .05, .1, .5, 1, 5, 10}}, []string{"check"}),
		replies: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mailsift_replies_total",
			Help: "Refusals sent, by reply class (4xx, 5xx)."}, []string{"class"}),
		dnsCache: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mailsift_dns_cache_total",
			Help: "Resolver cache lookups: hit or miss."}, []string{"result"}),
		dnsAnswers: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mailsift_dns_queries_total",
			Help: "Questions sent to the DNS servers, by outcome: answer, nxdomain, nodata, error."}, []string{"outcome"}),
		callouts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mailsift_callout_probes_total",
			Help: "Sender verification probes by outcome."}, []string{"outcome"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mailsift_config_reloads_total",
			Help: "Configuration reloads (SIGHUP) by result: ok, or failed (the running configuration kept)."}, []string{"result"}),
	}
	m.reloads.WithLabelValues("ok")
	m.reloads.WithLabelValues("failed")
	for _, c := range []prometheus.Collector{m.sessionsOpen, m.sessions, m.refused, m.messages, m.results, m.durations, m.replies,
		m.dnsCache, m.dnsAnswers, m.callouts, m.reloads, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})} {
		f(c)
	}
	bi := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "mailsift_build_info", Help: "The running version."}, []string{"version"})
	bi.WithLabelValues(version).Set(1)
	f(bi)
	return m
}

// SessionOpen counts a new MTA connection.
func (m *Metrics) SessionOpen() { m.sessions.Inc(); m.sessionsOpen.Inc() }

// SessionClose counts the end of one.
func (m *Metrics) SessionClose() { m.sessionsOpen.Dec() }

// SessionRefused counts an MTA connection refused at limits.max_sessions.
func (m *Metrics) SessionRefused() { m.refused.Inc() }

// Message counts a finished transaction: its final action, its checks'
// results, and the refusal sent if any ("" for none).
func (m *Metrics) Message(action string, results []checks.Result, reply string) {
	m.messages.WithLabelValues(action).Inc()
	for _, r := range results {
		m.results.WithLabelValues(r.Check, string(r.Status)).Inc()
		m.durations.WithLabelValues(r.Check).Observe(r.Duration.Seconds())
	}
	if reply != "" {
		m.replies.WithLabelValues(reply[:1] + "xx").Inc()
	}
}

// DNS counts a resolver event: "hit" or "miss" for the cache, "answer",
// "nxdomain", "nodata" or "error" for a question sent.
func (m *Metrics) DNS(event string) {
	switch event {
	case "hit", "miss":
		m.dnsCache.WithLabelValues(event).Inc()
	default:
		m.dnsAnswers.WithLabelValues(event).Inc()
	}
}

// Reload counts a configuration reload and whether it applied.
func (m *Metrics) Reload(ok bool) {
	if ok {
		m.reloads.WithLabelValues("ok").Inc()
	} else {
		m.reloads.WithLabelValues("failed").Inc()
	}
}

// Callout counts a probe's outcome.
func (m *Metrics) Callout(outcome string) { m.callouts.WithLabelValues(outcome).Inc() }

// Greylist exposes the greylist store: entries and evictions of the
// memory store, outages of the Redis store; nil functions are left out.
func (m *Metrics) Greylist(entries func() int, evictions func() int64, outages func() int64) {
	if entries != nil {
		m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "mailsift_greylist_entries",
			Help: "Entries in the memory greylist store."}, func() float64 { return float64(entries()) }))
	}
	if evictions != nil {
		m.Registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "mailsift_greylist_evictions_total",
			Help: "Live entries the memory store's bound pushed out."}, func() float64 { return float64(evictions()) }))
	}
	if outages != nil {
		m.Registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "mailsift_greylist_store_outages_total",
			Help: "Times the Redis greylist store became unreachable."}, func() float64 { return float64(outages()) }))
	}
}
