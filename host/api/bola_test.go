package api

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBOLA proves, endpoint by endpoint, that a second user reaches none of
// the first user's sources, partitions, checkpoints or admin routes.
func TestBOLA(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		seedCRM(e)
		e.put("hr", record{"payslip", "slip-a", "1", map[string]any{"id": "slip-a", "ownerid": "a"}})
		alice, bob := e.token("alice"), e.token("bob")
		aliceCP := e.fetch(alice, "crm", "", 2).Checkpoint
		require.Equal(t, http.StatusOK, e.do("GET", "/v1/sources/hr/schema", alice, nil).Code, "alice sees hr")

		for _, tc := range []struct {
			name, method, path string
			body               any
			status             int
		}{
			{"bob_cannot_read_the_schema_of_a_source_only_alice_has", "GET", "/v1/sources/hr/schema", nil, 404},
			{"bob_cannot_download_a_source_only_alice_has", "GET", "/v1/sources/hr/changes", nil, 404},
			{"bob_cannot_listen_to_a_source_only_alice_has", "GET", "/v1/sources/hr/events", nil, 404},
			{"bob_cannot_use_alices_checkpoint", "GET", "/v1/sources/crm/changes?checkpoint=" + url.QueryEscape(aliceCP), nil, 400},
			{"bob_cannot_list_admin_sources", "GET", "/v1/admin/sources", nil, 403},
			{"bob_cannot_trigger_a_pull", "POST", "/v1/admin/sources/crm/pull", map[string]any{"full": true}, 403},
			{"bob_cannot_read_a_cursor", "GET", "/v1/admin/sources/crm/entities/account/cursor", nil, 403},
			{"bob_cannot_set_a_cursor", "PUT", "/v1/admin/sources/crm/entities/account/cursor", map[string]string{"cursor": "x"}, 403},
			{"bob_cannot_reset_a_cursor", "DELETE", "/v1/admin/sources/crm/entities/account/cursor", nil, 403},
			{"bob_cannot_restart_a_plugin", "POST", "/v1/admin/sources/crm/restart", nil, 403},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := e.do(tc.method, tc.path, bob, tc.body)
				assert.Equal(t, tc.status, r.Code, r.Body.String())
				assert.NotContains(t, r.Body.String(), "slip-a")
				assert.NotContains(t, r.Body.String(), "acc-a1")
				assert.NotContains(t, r.Body.String(), "owner=a-1")
			})
		}
		t.Run("an_unknown_source_and_a_hidden_one_answer_alike", func(t *testing.T) {
			hidden := e.do("GET", "/v1/sources/hr/schema", bob, nil).errorBody(t)
			unknown := e.do("GET", "/v1/sources/zz/schema", bob, nil).errorBody(t)
			assert.Equal(t, hidden.Code, unknown.Code)
			assert.Equal(t, strings.Replace(hidden.Message, "hr", "zz", 1), unknown.Message)
		})
		t.Run("nothing_bob_tried_had_an_effect", func(t *testing.T) {
			e.puller.mu.Lock()
			assert.Empty(t, e.puller.triggers)
			e.puller.mu.Unlock()
			e.sources.mu.Lock()
			assert.Empty(t, e.sources.restarted)
			e.sources.mu.Unlock()
			st, err := e.st.EntityState(context.Background(), "crm", "account")
			require.NoError(t, err)
			assert.Empty(t, st.Cursor)
		})
		t.Run("bobs_me_and_sources_show_nothing_of_alice", func(t *testing.T) {
			r := e.do("GET", "/v1/me", bob, nil)
			var me meResponse
			r.json(t, &me)
			assert.Equal(t, map[string]identityJSON{"crm": {ID: "B-2", Attributes: map[string]string{"team": "blue"}}}, me.Identities)
			r = e.do("GET", "/v1/sources", bob, nil)
			assert.NotContains(t, r.Body.String(), `"hr"`)
			assert.NotContains(t, r.Body.String(), "a-1")
		})
		t.Run("bobs_download_never_holds_alices_partitions", func(t *testing.T) {
			ops, _, _ := e.syncAll(bob, "crm", "", 2)
			require.NotEmpty(t, ops)
			for _, o := range ops {
				assert.NotContains(t, []string{"account/owner=a-1", "contact/owner=a-1", "team_doc/team=red"}, o.Partition)
			}
		})
		t.Run("bobs_logout_leaves_alices_session_alone", func(t *testing.T) {
			require.Equal(t, http.StatusNoContent, e.do("POST", "/v1/auth/logout", e.token("bob"), nil).Code)
			assert.Equal(t, http.StatusOK, e.do("GET", "/v1/me", alice, nil).Code)
		})
		t.Run("alice_is_no_admin_either", func(t *testing.T) {
			assert.Equal(t, http.StatusForbidden, e.do("GET", "/v1/admin/sources", alice, nil).Code)
		})
	})
}
