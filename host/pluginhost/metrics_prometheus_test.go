package pluginhost

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/synchub/synchub/sdk"
)

func TestNewMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewMetrics(reg); err == nil {
		t.Error("registering twice on one registry succeeded")
	}
	m.restart("crm")
	m.setState("crm", Restarting)
	m.setState("crm", Running)
	m.call("crm", "Fetch", 20*time.Millisecond, nil)
	m.call("crm", "Fetch", time.Second, &sdk.Error{Code: sdk.CodeUnavailable})
	m.call("crm", "Check", time.Second, errors.New("boom"))

	want := `
# HELP synchub_plugin_call_errors_total Failed plugin calls by error code.
# TYPE synchub_plugin_call_errors_total counter
synchub_plugin_call_errors_total{call="Check",code="internal",source="crm"} 1
synchub_plugin_call_errors_total{call="Fetch",code="unavailable",source="crm"} 1
# HELP synchub_plugin_restarts_total Plugin process restarts after a crash, hang or failed health check.
# TYPE synchub_plugin_restarts_total counter
synchub_plugin_restarts_total{source="crm"} 1
# HELP synchub_plugin_state Supervision state of a source's plugin: 1 for the current state, 0 for the others.
# TYPE synchub_plugin_state gauge
synchub_plugin_state{source="crm",state="failed"} 0
synchub_plugin_state{source="crm",state="restarting"} 0
synchub_plugin_state{source="crm",state="running"} 1
synchub_plugin_state{source="crm",state="starting"} 0
synchub_plugin_state{source="crm",state="stopped"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"synchub_plugin_call_errors_total", "synchub_plugin_restarts_total", "synchub_plugin_state"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(reg, "synchub_plugin_call_duration_seconds"); n != 2 {
		t.Errorf("%d duration series, want 2", n)
	}
}
