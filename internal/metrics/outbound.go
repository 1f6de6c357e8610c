package metrics

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// OutboundCount returns the function that shows each login's (or
// sender's) count of the outbound daily limit, as the gauge
// mailsift_outbound_daily_messages{who="login:www"}, set whenever a
// submission is counted. Calling it again (a reload) reuses the gauge.
func (m *Metrics) OutboundCount() func(who string, count int) {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "mailsift_outbound_daily_messages",
		Help: "Submissions accepted in the last 24 hours, per login (or sender without a login), as last counted."}, []string{"who"})
	if err := m.Registry.Register(g); err != nil {
		var are prometheus.AlreadyRegisteredError
		if !errors.As(err, &are) {
			panic(err)
		}
		g = are.ExistingCollector.(*prometheus.GaugeVec)
	}
	return func(who string, count int) { g.WithLabelValues(who).Set(float64(count)) }
}
