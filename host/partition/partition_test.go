package partition_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/synchub/synchub/host/config"
	"github.com/synchub/synchub/host/partition"
	"github.com/synchub/synchub/sdk"
)

func TestOf(t *testing.T) {
	owner := config.PartitionRule{Attr: "owner", Field: "ownerid"}
	team := config.PartitionRule{Attr: "team", Field: "teamid"}
	tests := []struct {
		name   string
		rule   config.PartitionRule
		fields map[string]any
		want   string
	}{
		{"a star rule puts every record in the entity's shared partition", config.PartitionRule{All: true}, nil, "account/*"},
		{"an owner string is lowercased", owner, map[string]any{"ownerid": "ABC-DEF"}, "account/owner=abc-def"},
		{"a lookup owner is placed by its id", owner, map[string]any{"ownerid": map[string]any{"entity": "systemuser", "id": "U1"}}, "account/owner=u1"},
		{"an sdk.Ref owner is placed by its id", owner, map[string]any{"ownerid": sdk.Ref{Entity: "systemuser", ID: "U2"}}, "account/owner=u2"},
		{"a number is placed by its text", owner, map[string]any{"ownerid": json.Number("42")}, "account/owner=42"},
		{"an attribute rule names the attribute", team, map[string]any{"teamid": "Sales"}, "account/team=sales"},
		{"a missing field is in no partition", owner, map[string]any{}, ""},
		{"a null field is in no partition", owner, map[string]any{"ownerid": nil}, ""},
		{"an empty string is in no partition", owner, map[string]any{"ownerid": ""}, ""},
		{"a lookup without an id is in no partition", owner, map[string]any{"ownerid": map[string]any{"entity": "x"}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, partition.Of(tt.rule, "account", tt.fields))
		})
	}
}

func TestForUser(t *testing.T) {
	src := &config.Source{Name: "crm", Entities: []config.Entity{
		{Name: "account", Partition: config.PartitionRule{Attr: "owner", Field: "ownerid"}},
		{Name: "product", Partition: config.PartitionRule{All: true}},
		{Name: "order", Partition: config.PartitionRule{Attr: "team", Field: "teamid"}},
	}}
	tests := []struct {
		name string
		id   *config.Identity
		want []string
	}{
		{"a user with no identity sees only shared partitions", nil, []string{"product/*"}},
		{"an identity's id and attributes are lowercased", &config.Identity{ID: "U-1", Attributes: map[string]string{"team": "SALES"}},
			[]string{"account/owner=u-1", "product/*", "order/team=sales"}},
		{"a missing attribute gives no partition", &config.Identity{ID: "u1"}, []string{"account/owner=u1", "product/*"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, partition.ForUser(src, tt.id))
		})
	}
}
