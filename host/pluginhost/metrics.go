package pluginhost

import (
	"context"
	"errors"
	"time"

	"github.com/synchub/synchub/sdk"
)

// Metrics receives what Hosts measure: restarts and state by source, call
// durations by source and call, call errors by source, call and error code.
// A nil *Metrics records nothing. Build one with NewMetrics, which registers
// Prometheus collectors on a registry the caller gives (never the global
// one); several Hosts share one Metrics.
type Metrics struct {
	restarted func(source string)
	state     func(source string, phase Phase)
	called    func(source, call string, took time.Duration, code string)
}

func (m *Metrics) restart(source string) {
	if m != nil && m.restarted != nil {
		m.restarted(source)
	}
}

func (m *Metrics) setState(source string, phase Phase) {
	if m != nil && m.state != nil {
		m.state(source, phase)
	}
}

func (m *Metrics) call(source, call string, took time.Duration, err error) {
	if m != nil && m.called != nil {
		m.called(source, call, took, errorCode(err))
	}
}

// errorCode is the code label of a call's outcome ("" for success).
func errorCode(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded):
		return "deadline_exceeded"
	}
	return string(sdk.CodeOf(err))
}
