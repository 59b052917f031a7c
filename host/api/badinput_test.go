package api

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/synchub/synchub/host/store/storetest"
)

func TestBadInput(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		root := e.token("root")
		big := `{"username":"` + strings.Repeat("a", 2000) + `","password":"x","device_id":"d"}`
		for _, tc := range []struct {
			name, method, path, token, body string
			status                          int
			code, message                   string
		}{
			{"an_unknown_field_is_refused_by_name", "POST", "/v1/auth/token", "",
				`{"username":"alice","password":"x","device_id":"d","colour":"red"}`, 400, codeInvalidBody, `unknown field "colour"`},
			{"malformed_json_names_the_position", "POST", "/v1/auth/token", "",
				"{\n  \"username\": \"alice\",\n  \"password\" \"x\"\n}", 400, codeInvalidBody, "line 3, column"},
			{"a_truncated_body_is_malformed", "POST", "/v1/auth/token", "", `{"username":"alice"`, 400, codeInvalidBody, "unexpected end"},
			{"a_wrong_type_names_the_field", "POST", "/v1/auth/token", "", `{"username":1,"password":"x","device_id":"d"}`, 400, codeInvalidBody, `field "username" must be a string`},
			{"an_array_is_not_an_object", "POST", "/v1/auth/refresh", "", `[]`, 400, codeInvalidBody, "JSON object"},
			{"trailing_data_is_refused", "POST", "/v1/auth/refresh", "", `{"refresh_token":"x"} {}`, 400, codeInvalidBody, "after the object"},
			{"an_empty_body_is_refused_where_one_is_required", "POST", "/v1/auth/refresh", "", ``, 400, codeInvalidBody, "empty"},
			{"a_body_over_the_cap_is_413", "POST", "/v1/auth/token", "", big, 413, codeBodyTooLarge, "1024 bytes"},
			{"an_admin_body_over_the_cap_is_413", "PUT", "/v1/admin/sources/crm/entities/account/cursor", root,
				`{"cursor":"` + strings.Repeat("c", 2000) + `"}`, 413, codeBodyTooLarge, "larger than"},
			{"an_unknown_field_in_an_admin_body_is_refused", "POST", "/v1/admin/sources/crm/pull", root, `{"ful":true}`, 400, codeInvalidBody, `"ful"`},
			{"a_malformed_query_string_is_refused", "GET", "/v1/sources/crm/changes?checkpoint=%zz", root, "", 400, codeInvalidParameter, "query"},
			{"an_unknown_source_is_404", "GET", "/v1/sources/nope/changes", root, "", 404, codeNotFound, `source "nope" not found`},
			{"an_unknown_route_is_404_json", "GET", "/v1/nope", "", "", 404, codeNotFound, "no such route"},
			{"a_wrong_method_is_405_json", "DELETE", "/v1/me", root, "", 405, codeMethodNotAllowed, "method"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				var body any
				if tc.body != "" {
					body = tc.body
				}
				r := e.do(tc.method, tc.path, tc.token, body)
				assert.Equal(t, tc.status, r.Code, r.Body.String())
				got := r.errorBody(t)
				assert.Equal(t, tc.code, got.Code)
				assert.Contains(t, got.Message, tc.message)
			})
		}
		t.Run("a_body_over_the_cap_without_content_length_is_413", func(t *testing.T) {
			req := strings.NewReader(big)
			r := e.doReader("POST", "/v1/auth/token", req)
			assert.Equal(t, http.StatusRequestEntityTooLarge, r.Code)
		})
	})
}

func TestPanicsBecomeJSON500s(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t))
	e.srv.engine.GET("/v1/test-panic", func(*gin.Context) { panic("kaboom") })
	r := e.do("GET", "/v1/test-panic", "", nil)
	assert.Equal(t, http.StatusInternalServerError, r.Code)
	got := r.errorBody(t)
	assert.Equal(t, codeInternal, got.Code)
	assert.NotContains(t, got.Message, "kaboom")
	require.Equal(t, http.StatusOK, e.do("GET", "/health/live", "", nil).Code, "the server goes on")
}
