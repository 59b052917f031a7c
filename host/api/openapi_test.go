package api

import (
	"net/http"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/synchub/synchub/host/store/storetest"
)

// specDoc is the part of openapi.yaml the tests read.
type specDoc struct {
	OpenAPI string                          `yaml:"openapi"`
	Paths   map[string]map[string]yaml.Node `yaml:"paths"`
}

type specOp struct {
	OperationID string              `yaml:"operationId"`
	Security    *[]map[string]any   `yaml:"security"`
	Responses   map[string]struct{} `yaml:"responses"`
}

var ginParam = regexp.MustCompile(`:([A-Za-z_]+)`)

func TestOpenAPI(t *testing.T) {
	var doc specDoc
	require.NoError(t, yaml.Unmarshal(OpenAPI(), &doc))
	require.True(t, strings.HasPrefix(doc.OpenAPI, "3.0"))
	e := newEnv(t, storetest.SQLite(t))

	t.Run("every_route_gin_serves_is_in_the_spec_and_vice_versa", func(t *testing.T) {
		var routes, documented []string
		for _, r := range e.srv.engine.Routes() {
			routes = append(routes, r.Method+" "+ginParam.ReplaceAllString(r.Path, "{$1}"))
		}
		for path, ops := range doc.Paths {
			for method := range ops {
				if method == "parameters" {
					continue
				}
				documented = append(documented, strings.ToUpper(method)+" "+path)
			}
		}
		sort.Strings(routes)
		sort.Strings(documented)
		assert.Equal(t, documented, routes)
	})
	t.Run("every_operation_has_an_id_and_authenticated_ones_document_401", func(t *testing.T) {
		ids := map[string]bool{}
		for path, ops := range doc.Paths {
			for method, node := range ops {
				if method == "parameters" {
					continue
				}
				var op specOp
				require.NoError(t, node.Decode(&op))
				assert.NotEmpty(t, op.OperationID, "%s %s", method, path)
				assert.False(t, ids[op.OperationID], "duplicate operationId %s", op.OperationID)
				ids[op.OperationID] = true
				public := op.Security != nil && len(*op.Security) == 0
				if !public {
					assert.Contains(t, op.Responses, "401", "%s %s", method, path)
				}
				if strings.HasPrefix(path, "/v1/admin/") {
					assert.Contains(t, op.Responses, "403", "%s %s", method, path)
				}
			}
		}
	})
	t.Run("the_spec_is_served_as_is", func(t *testing.T) {
		r := e.do("GET", "/v1/openapi.yaml", "", nil)
		require.Equal(t, http.StatusOK, r.Code)
		assert.Equal(t, "application/yaml", r.Header().Get("Content-Type"))
		assert.Equal(t, OpenAPI(), r.Body.Bytes())
	})
}
