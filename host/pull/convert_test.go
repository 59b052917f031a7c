package pull_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/synchub/synchub/host/config"
	"github.com/synchub/synchub/host/pull"
	"github.com/synchub/synchub/sdk"
)

func TestMirrorRecordsKeepWhatTheConnectorSent(t *testing.T) {
	es := sdk.EntitySchema{Name: "account", Key: "id"}
	owner := config.PartitionRule{Attr: "owner", Field: "owner"}
	wire := func(raw string) sdk.Record {
		// As sdk's gRPC client hands a record over: the JSON and its
		// decoding with json.Number.
		var m map[string]any
		dec := json.NewDecoder(bytesReader(raw))
		dec.UseNumber()
		require.NoError(t, dec.Decode(&m))
		return sdk.Record{ID: "a1", Version: "v1", Fields: m, Raw: json.RawMessage(raw)}
	}
	cases := []struct {
		name   string
		fields []string
		rec    sdk.Record
		want   string
	}{
		{"the bytes that crossed the boundary are stored as they came", nil,
			wire(`{"name":"A\u0026B","big":12345678901234567890,"owner":"u1"}`),
			`{"name":"A\u0026B","big":12345678901234567890,"owner":"u1"}`},
		{"a projection that keeps every field sent keeps the bytes", []string{"name", "owner"},
			wire(`{"name":"Acme","owner":"u1"}`), `{"name":"Acme","owner":"u1"}`},
		{"a field read only by the partition rule is dropped, numbers keep every digit", []string{"name", "big"},
			wire(`{"name":"Acme","big":12345678901234567890,"owner":"u1"}`), `{"big":12345678901234567890,"name":"Acme"}`},
		{"a record handed over raw is stored as it came", nil,
			sdk.Record{ID: "a1", Raw: json.RawMessage(`{"name":"A\u0026B","big":12345678901234567890,"owner":"u1"}`)},
			`{"name":"A\u0026B","big":12345678901234567890,"owner":"u1"}`},
		{"a record handed over raw loses the fields the projection drops", []string{"name", "big"},
			sdk.Record{ID: "a1", Raw: json.RawMessage(`{"name":"Acme","big":12345678901234567890,"owner":"u1"}`)},
			`{"big":12345678901234567890,"name":"Acme"}`},
		{"a projection of a raw record writes the kept values as sent, ordered by name", []string{"zeta", "name", "alpha"},
			sdk.Record{ID: "a1", Raw: json.RawMessage(`{"owner":"u1","zeta":{"a":[1,2.50]},"name":"A\u0026B","alpha":null}`)},
			`{"alpha":null,"name":"A\u0026B","zeta":{"a":[1,2.50]}}`},
		{"of a name given twice the projection keeps the last, as decoding would", []string{"name"},
			sdk.Record{ID: "a1", Raw: json.RawMessage(`{"name":"first","owner":"u1","name":"last"}`)}, `{"name":"last"}`},
		{"an in-process record is encoded", []string{"name"},
			sdk.Record{ID: "a1", Fields: map[string]any{"name": "A&B", "owner": "u1"}}, `{"name":"A&B"}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := &config.Source{Name: "crm"}
			ent := &config.Entity{Name: "account", Fields: c.fields, Partition: owner}
			before, _ := json.Marshal(c.rec.Fields)
			puts, removes, err := pull.MirrorRecords(src, ent, es, []sdk.Record{c.rec})
			require.NoError(t, err)
			require.Empty(t, removes)
			require.Len(t, puts, 1)
			assert.Equal(t, c.want, string(puts[0].Fields))
			assert.Equal(t, "account/owner=u1", puts[0].Partition)
			after, _ := json.Marshal(c.rec.Fields)
			assert.Equal(t, string(before), string(after), "the connector's map is left alone")
		})
	}
}

func bytesReader(s string) *strings.Reader { return strings.NewReader(s) }
