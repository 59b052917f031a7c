package push

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// The outcomes counted by synchub_push_mutations_total.
const (
	outAccepted     = "accepted"
	outApplied      = "applied"
	outNoEffect     = "no_effect"
	outConflicted   = "conflicted"
	outRejected     = "rejected"
	outNotFound     = "not_found"
	outRetried      = "retried"
	outDeadLettered = "dead_lettered"
)

// metrics are the push stage's Prometheus collectors.
type metrics struct {
	mutations *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	upload    *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		mutations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "synchub", Subsystem: "push", Name: "mutations_total",
			Help: "Device mutations by outcome: accepted, applied, no_effect, conflicted, rejected, not_found, retried (a transient failure), dead_lettered.",
		}, []string{"source", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "synchub", Subsystem: "push", Name: "latency_seconds",
			Help:    "Time from a mutation's acceptance to its resolution (applied or a sync error).",
			Buckets: prometheus.ExponentialBuckets(0.01, 4, 10),
		}, []string{"source"}),
		upload: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "synchub", Subsystem: "push", Name: "upload_seconds",
			Help:    "Duration of Upload calls to the connector.",
			Buckets: prometheus.ExponentialBuckets(0.005, 4, 10),
		}, []string{"source"}),
	}
	if reg != nil {
		m.mutations = register(reg, m.mutations)
		m.latency = register(reg, m.latency)
		m.upload = register(reg, m.upload)
	}
	return m
}

func (m *metrics) count(source, outcome string, n int) {
	if n > 0 {
		m.mutations.WithLabelValues(source, outcome).Add(float64(n))
	}
}

// register registers c, or returns the collector already registered under
// its name (a second Pusher on the same registry shares the series).
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
	}
	return c
}
