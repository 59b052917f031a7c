package api

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAdmin(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		seedCRM(e)
		root := e.token("root")
		ctx := context.Background()

		t.Run("sources_show_pull_state_lag_records_cursor_and_plugin_per_entity", func(t *testing.T) {
			started := e.clock.Now().Add(-2 * time.Minute)
			require.NoError(t, e.st.PullStarted(ctx, "crm", "account", started))
			require.NoError(t, e.st.PullFinished(ctx, "crm", "account", started.Add(time.Minute), nil))
			require.NoError(t, e.st.PullFinished(ctx, "crm", "contact", started, errBoom))
			require.NoError(t, e.st.SetCursor(ctx, "crm", "account", "delta-1"))
			e.sources.mu.Lock()
			e.sources.states["erp"] = PluginState{State: "restarting", Restarts: 3, LastError: "exit status 2"}
			e.sources.mu.Unlock()

			r := e.do("GET", "/v1/admin/sources", root, nil)
			require.Equal(t, http.StatusOK, r.Code, r.Body.String())
			var out struct{ Sources []adminSource }
			r.json(t, &out)
			require.Len(t, out.Sources, 3)
			crm := out.Sources[0]
			assert.Equal(t, "crm", crm.Name)
			assert.Positive(t, crm.Seq)
			assert.Equal(t, "running", crm.Plugin.State)
			require.Len(t, crm.Entities, 4)
			acc := crm.Entities[0]
			assert.Equal(t, "account", acc.Name)
			assert.Equal(t, int64(5), acc.Records)
			assert.True(t, acc.CursorPresent)
			require.NotNil(t, acc.LagSeconds)
			assert.InDelta(t, 60, *acc.LagSeconds, 1)
			assert.Empty(t, acc.LastError)
			assert.Equal(t, "boom", crm.Entities[1].LastError)
			assert.Nil(t, crm.Entities[1].LagSeconds, "never succeeded")
			assert.Equal(t, PluginState{State: "restarting", Restarts: 3, LastError: "exit status 2"}, out.Sources[1].Plugin)
		})
		t.Run("a_pull_is_queued_with_its_entities_and_full_flag", func(t *testing.T) {
			r := e.do("POST", "/v1/admin/sources/crm/pull", root, map[string]any{"full": true, "entities": []string{"account"}})
			require.Equal(t, http.StatusAccepted, r.Code, r.Body.String())
			r = e.do("POST", "/v1/admin/sources/erp/pull", root, nil)
			require.Equal(t, http.StatusAccepted, r.Code, r.Body.String())
			assert.JSONEq(t, `{"source":"erp","entities":["item","order"],"full":false}`, r.Body.String())
			e.puller.mu.Lock()
			defer e.puller.mu.Unlock()
			assert.Equal(t, []trigger{{"crm", []string{"account"}, true}, {"erp", nil, false}}, e.puller.triggers)
		})
		t.Run("a_cursor_is_read_set_and_reset", func(t *testing.T) {
			path := "/v1/admin/sources/crm/entities/contact/cursor"
			r := e.do("GET", path, root, nil)
			require.Equal(t, http.StatusOK, r.Code)
			assert.JSONEq(t, `{"source":"crm","entity":"contact","cursor":null}`, r.Body.String())
			r = e.do("PUT", path, root, map[string]string{"cursor": "token-7"})
			require.Equal(t, http.StatusOK, r.Code, r.Body.String())
			assert.JSONEq(t, `{"source":"crm","entity":"contact","cursor":"token-7"}`, r.Body.String())
			assert.JSONEq(t, `{"source":"crm","entity":"contact","cursor":"token-7"}`, e.do("GET", path, root, nil).Body.String())
			assert.Equal(t, http.StatusNoContent, e.do("DELETE", path, root, nil).Code)
			assert.JSONEq(t, `{"source":"crm","entity":"contact","cursor":null}`, e.do("GET", path, root, nil).Body.String())
			r = e.do("PUT", path, root, map[string]string{"cursor": ""})
			assert.Equal(t, http.StatusBadRequest, r.Code)
		})
		t.Run("a_restart_returns_the_new_plugin_state", func(t *testing.T) {
			r := e.do("POST", "/v1/admin/sources/crm/restart", root, nil)
			require.Equal(t, http.StatusOK, r.Code, r.Body.String())
			assert.JSONEq(t, `{"state":"running","restarts":1}`, r.Body.String())
			e.sources.mu.Lock()
			e.sources.restartErr = errBoom
			e.sources.mu.Unlock()
			r = e.do("POST", "/v1/admin/sources/crm/restart", root, nil)
			assert.Equal(t, http.StatusBadGateway, r.Code)
			assert.Equal(t, codeRestartFailed, r.errorBody(t).Code)
		})
		for _, tc := range []struct{ name, method, path string }{
			{"an_unknown_source_is_404_for_pull", "POST", "/v1/admin/sources/nope/pull"},
			{"an_unknown_source_is_404_for_restart", "POST", "/v1/admin/sources/nope/restart"},
			{"an_unknown_entity_is_404_for_the_cursor", "GET", "/v1/admin/sources/crm/entities/nope/cursor"},
			{"an_unknown_source_is_404_for_the_cursor", "DELETE", "/v1/admin/sources/nope/entities/account/cursor"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := e.do(tc.method, tc.path, root, nil)
				assert.Equal(t, http.StatusNotFound, r.Code)
				assert.Equal(t, codeNotFound, r.errorBody(t).Code)
			})
		}
		t.Run("an_unknown_entity_in_a_pull_is_404_and_nothing_is_queued", func(t *testing.T) {
			e.puller.mu.Lock()
			e.puller.triggers = nil
			e.puller.mu.Unlock()
			r := e.do("POST", "/v1/admin/sources/crm/pull", root, map[string]any{"entities": []string{"account", "nope"}})
			assert.Equal(t, http.StatusNotFound, r.Code)
			assert.Contains(t, r.errorBody(t).Message, `"nope"`)
			e.puller.mu.Lock()
			defer e.puller.mu.Unlock()
			assert.Empty(t, e.puller.triggers)
		})
	})
}

func TestHealthAndMetrics(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		t.Run("live_is_always_200", func(t *testing.T) {
			r := e.do("GET", "/health/live", "", nil)
			assert.Equal(t, http.StatusOK, r.Code)
			assert.JSONEq(t, `{"status":"ok"}`, r.Body.String())
		})
		t.Run("ready_is_200_while_the_database_answers_and_no_plugin_failed", func(t *testing.T) {
			assert.Equal(t, http.StatusOK, e.do("GET", "/health/ready", "", nil).Code)
		})
		t.Run("a_failed_plugin_makes_the_hub_not_ready_with_the_reason", func(t *testing.T) {
			e.sources.mu.Lock()
			e.sources.states["erp"] = PluginState{State: "failed", LastError: "crashed 5 times"}
			e.sources.mu.Unlock()
			defer func() { e.sources.mu.Lock(); delete(e.sources.states, "erp"); e.sources.mu.Unlock() }()
			r := e.do("GET", "/health/ready", "", nil)
			assert.Equal(t, http.StatusServiceUnavailable, r.Code)
			var body struct {
				Error   errorDetail
				Reasons []string
			}
			r.json(t, &body)
			assert.Equal(t, codeNotReady, body.Error.Code)
			assert.Equal(t, []string{`source "erp": plugin failed: crashed 5 times`}, body.Reasons)
		})
		t.Run("metrics_expose_request_latency_by_route_method_and_status", func(t *testing.T) {
			e.do("GET", "/v1/sources/crm/changes", e.token("alice"), nil)
			r := e.do("GET", "/metrics", "", nil)
			require.Equal(t, http.StatusOK, r.Code)
			body := r.Body.String()
			assert.Contains(t, body, `synchub_http_request_duration_seconds_count{method="GET",route="/v1/sources/:source/changes",status="200"} 1`)
			assert.Contains(t, body, "synchub_http_requests_in_flight")
		})
		t.Run("a_closed_database_makes_the_hub_not_ready", func(t *testing.T) {
			if strings.Contains(t.Name(), "postgres") {
				t.Skip("closing the shared pool would break the schema cleanup")
			}
			require.NoError(t, e.st.Close())
			r := e.do("GET", "/health/ready", "", nil)
			assert.Equal(t, http.StatusServiceUnavailable, r.Code)
			assert.Contains(t, r.Body.String(), "database")
		})
	})
}
