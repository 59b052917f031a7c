package pull

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the pull stage's Prometheus collectors.
type metrics struct {
	pages    *prometheus.CounterVec
	records  *prometheus.CounterVec
	errors   *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		pages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "synchub", Subsystem: "pull", Name: "pages_total",
			Help: "Pages committed to the mirror (records and deletions).",
		}, []string{"source", "entity"}),
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "synchub", Subsystem: "pull", Name: "records_total",
			Help: "Records pulled, by change: changed (inserted or updated), removed, unchanged.",
		}, []string{"source", "entity", "change"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "synchub", Subsystem: "pull", Name: "errors_total",
			Help: "Entity pulls that failed.",
		}, []string{"source", "entity"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "synchub", Subsystem: "pull", Name: "duration_seconds",
			Help:    "Duration of entity pulls, by mode (full, incremental).",
			Buckets: prometheus.ExponentialBuckets(0.01, 4, 10),
		}, []string{"source", "entity", "mode"}),
	}
	if reg != nil {
		m.pages = register(reg, m.pages)
		m.records = register(reg, m.records)
		m.errors = register(reg, m.errors)
		m.duration = register(reg, m.duration)
	}
	return m
}

// register registers c, or returns the collector already registered under
// its name (a second Puller on the same registry shares the series).
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
