package api

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/synchub/synchub/sdk"
)

func TestMe(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		t.Run("me_shows_the_user_role_identities_and_device", func(t *testing.T) {
			r := e.do("GET", "/v1/me", e.login("alice", "phone-7").AccessToken, nil)
			require.Equal(t, http.StatusOK, r.Code)
			var me meResponse
			r.json(t, &me)
			assert.Equal(t, "alice", me.User)
			assert.Equal(t, "user", me.Role)
			assert.Equal(t, map[string]identityJSON{
				"crm": {ID: "A-1", Attributes: map[string]string{"team": "Red"}},
				"erp": {ID: "a"}, "hr": {ID: "a"},
			}, me.Identities)
			assert.Equal(t, "phone-7", me.Device.ID)
			assert.True(t, me.Device.LastSeenAt.Equal(e.clock.Now()))
		})
		t.Run("a_user_without_identities_gets_an_empty_object", func(t *testing.T) {
			r := e.do("GET", "/v1/me", e.token("root"), nil)
			assert.JSONEq(t, `{}`, string(mustField(t, r, "identities")))
		})
	})
}

func TestSources(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		list := func(user string) []sourceSummary {
			r := e.do("GET", "/v1/sources", e.token(user), nil)
			require.Equal(t, http.StatusOK, r.Code)
			var out struct{ Sources []sourceSummary }
			r.json(t, &out)
			return out.Sources
		}
		t.Run("a_user_sees_the_sources_and_entities_of_their_partitions", func(t *testing.T) {
			assert.Equal(t, []sourceSummary{
				{Name: "crm", Entities: []string{"account", "contact", "team_doc", "product"},
					Partitions: []string{"account/owner=a-1", "contact/owner=a-1", "team_doc/team=red", "product/*"}, Writable: true},
				{Name: "erp", Entities: []string{"item", "order"}, Partitions: []string{"item/*", "order/owner=a"}, Writable: true},
				{Name: "hr", Entities: []string{"payslip"}, Partitions: []string{"payslip/owner=a"}, Writable: false},
			}, list("alice"))
		})
		t.Run("a_user_without_identities_sees_only_shared_entities", func(t *testing.T) {
			assert.Equal(t, []sourceSummary{
				{Name: "crm", Entities: []string{"product"}, Partitions: []string{"product/*"}, Writable: false},
				{Name: "erp", Entities: []string{"item"}, Partitions: []string{"item/*"}, Writable: true},
			}, list("carol"))
		})
	})
}

func TestSchema(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		get := func(user, source string) response {
			return e.do("GET", "/v1/sources/"+source+"/schema", e.token(user), nil)
		}
		decode := func(r response) map[string]EntitySchema {
			require.Equal(t, http.StatusOK, r.Code, r.Body.String())
			var out struct {
				Source   string
				Entities []EntitySchema
			}
			r.json(t, &out)
			m := map[string]EntitySchema{}
			for _, es := range out.Entities {
				m[es.Name] = es
			}
			return m
		}
		t.Run("the_schema_is_projected_with_lookups_keys_and_read_only", func(t *testing.T) {
			s := decode(get("alice", "crm"))
			require.Len(t, s, 4)
			acc := s["account"]
			assert.Equal(t, "accountid", acc.Key)
			names := []string{}
			for _, f := range acc.Fields {
				names = append(names, f.Name)
			}
			assert.Equal(t, []string{"name", "ownerid", "parent"}, names, "the config's projection, in its order")
			assert.Equal(t, []LookupSchema{{Field: "ownerid", Entities: []string{"systemuser", "team"}},
				{Field: "parent", Entities: []string{"account"}}}, acc.Lookups)
			assert.False(t, acc.ReadOnly)
			assert.True(t, s["product"].ReadOnly)
			assert.Equal(t, "owner:ownerid", acc.PartitionBy)
			assert.Len(t, acc.Hash, 64)
		})
		t.Run("a_user_gets_only_the_entities_they_receive", func(t *testing.T) {
			s := decode(get("carol", "crm"))
			assert.Len(t, s, 1)
			assert.Contains(t, s, "product")
		})
		t.Run("the_hash_is_stable_and_changes_with_the_schema_or_the_config", func(t *testing.T) {
			h1 := decode(get("alice", "crm"))["account"].Hash
			assert.Equal(t, h1, decode(get("bob", "crm"))["account"].Hash)
			e.sources.mu.Lock()
			e.sources.schema["crm"].Entities[0].Fields[1].MaxLength = 200
			e.sources.mu.Unlock()
			h2 := decode(get("alice", "crm"))["account"].Hash
			assert.NotEqual(t, h1, h2)
			assert.Equal(t, decode(get("alice", "crm"))["contact"].Hash, decode(get("bob", "crm"))["contact"].Hash)
			e.cfg.Sources[0].Entities[0].Fields = []string{"name", "ownerid"}
			defer func() { e.cfg.Sources[0].Entities[0].Fields = []string{"name", "ownerid", "parent"} }()
			assert.NotEqual(t, h2, decode(get("alice", "crm"))["account"].Hash)
		})
		t.Run("an_unavailable_connector_schema_is_503", func(t *testing.T) {
			e.sources.mu.Lock()
			e.sources.schemaErr = errBoom
			e.sources.mu.Unlock()
			defer func() { e.sources.mu.Lock(); e.sources.schemaErr = nil; e.sources.mu.Unlock() }()
			r := get("alice", "crm")
			assert.Equal(t, http.StatusServiceUnavailable, r.Code)
			assert.NotContains(t, r.errorBody(t).Message, "boom", "connector errors stay in the log")
		})
	})
}

func TestDeviceSchemaOfAFieldTheConnectorDropped(t *testing.T) {
	e := testConfig(t).Sources[0].Entities[0]
	es := DeviceSchema(&e, sdk.EntitySchema{Name: "account", Key: "id", Fields: []sdk.Field{{Name: "name", Type: sdk.TypeString}}})
	assert.Equal(t, sdk.TypeJSON, es.Fields[1].Type)
}

func mustField(t *testing.T, r response, name string) []byte {
	t.Helper()
	var m map[string]json.RawMessage
	r.json(t, &m)
	v, ok := m[name]
	require.True(t, ok, "field %s", name)
	return v
}
