package pluginhost

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// NewMetrics registers the plugin host's collectors on reg:
//
//	synchub_plugin_restarts_total{source}
//	synchub_plugin_state{source,state}             1 for the current state, 0 for the others
//	synchub_plugin_call_duration_seconds{source,call}
//	synchub_plugin_call_errors_total{source,call,code}
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	restarts := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "synchub", Subsystem: "plugin", Name: "restarts_total",
		Help: "Plugin process restarts after a crash, hang or failed health check.",
	}, []string{"source"})
	state := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "synchub", Subsystem: "plugin", Name: "state",
		Help: "Supervision state of a source's plugin: 1 for the current state, 0 for the others.",
	}, []string{"source", "state"})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "synchub", Subsystem: "plugin", Name: "call_duration_seconds",
		Help:    "Duration of plugin calls (whole streams for streaming calls).",
		Buckets: prometheus.ExponentialBuckets(0.005, 4, 9), // 5ms .. ~5.5min
	}, []string{"source", "call"})
	errs := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "synchub", Subsystem: "plugin", Name: "call_errors_total",
		Help: "Failed plugin calls by error code.",
	}, []string{"source", "call", "code"})
	for _, c := range []prometheus.Collector{restarts, state, duration, errs} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return &Metrics{
		restarted: func(source string) { restarts.WithLabelValues(source).Inc() },
		state: func(source string, phase Phase) {
			for _, p := range phases {
				v := 0.0
				if p == phase {
					v = 1
				}
				state.WithLabelValues(source, p.String()).Set(v)
			}
		},
		called: func(source, call string, took time.Duration, code string) {
			duration.WithLabelValues(source, call).Observe(took.Seconds())
			if code != "" {
				errs.WithLabelValues(source, call, code).Inc()
			}
		},
	}, nil
}
