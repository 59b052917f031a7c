package dynamicscrm

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/synchub/synchub/connectors/odata"
	"github.com/synchub/synchub/sdk"
)

// TestRawRecordIsRecord: the record written straight from a row's JSON
// is the record decoded through a map, field for field.
func TestRawRecordIsRecord(t *testing.T) {
	m := &entityMeta{logical: "account", set: "accounts", pk: "accountid", attrs: map[string]*attrMeta{
		"accountid":        {name: "accountid", typ: sdk.TypeString},
		"name":             {name: "name", typ: sdk.TypeString},
		"revenue":          {name: "revenue", typ: sdk.TypeDecimal},
		"telephone1":       {name: "telephone1", typ: sdk.TypeString},
		"modifiedon":       {name: "modifiedon", typ: sdk.TypeDateTime},
		"ownerid":          {name: "ownerid", typ: sdk.TypeLookup, targets: []string{"systemuser", "team"}},
		"parentcustomerid": {name: "parentcustomerid", typ: sdk.TypeLookup, targets: []string{"account", "contact"}},
		"primarycontactid": {name: "primarycontactid", typ: sdk.TypeLookup, targets: []string{"contact"}},
	}}
	for n := range m.attrs {
		m.order = append(m.order, n)
	}
	rows := []string{
		`{"@odata.etag":"W/\"1001\"","accountid":"A1B2C3D4-0000-0000-0000-000000000001","name":"S\u00e3o <Paulo> & \"Co\"",` +
			`"revenue":12345678901234567890.125,"modifiedon":"2026-11-22T09:31:00.5Z",` +
			`"_ownerid_value":"6F0D2C1E-8A4B-4C3D-9E5F-1A2B3C4D5E6F","_ownerid_value@Microsoft.Dynamics.CRM.lookuplogicalname":"team",` +
			`"_parentcustomerid_value":null,"_primarycontactid_value":"0b7a1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d",` +
			`"name@OData.Community.Display.V1.FormattedValue":"ignored","nested":{"a":[1,2]}}`,
		`{"accountid":"a1","telephone1":"555 😀"}`,
	}
	for _, fields := range [][]string{nil, {"telephone1", "ownerid", "name", "name"}} {
		cv := converter{m: m, fields: fields}
		cv.raw = cv.rawPlan()
		for _, row := range rows {
			var decoded odata.Row
			dec := json.NewDecoder(bytes.NewReader([]byte(row)))
			dec.UseNumber()
			if err := dec.Decode(&decoded); err != nil {
				t.Fatal(err)
			}
			want, err := cv.record(decoded)
			if err != nil {
				t.Fatal(err)
			}
			got, err := cv.rawRecord(json.RawMessage(row))
			if err != nil {
				t.Fatal(err)
			}
			if got.ID != want.ID || got.Version != want.Version || !got.ModifiedAt.Equal(want.ModifiedAt) {
				t.Errorf("fields %v: got %q %q %v, want %q %q %v", fields, got.ID, got.Version, got.ModifiedAt, want.ID, want.Version, want.ModifiedAt)
			}
			gotFields, err := got.FieldMap()
			if err != nil {
				t.Fatalf("fields %v: %s: %v", fields, got.Raw, err)
			}
			wantJSON, _ := json.Marshal(want.Fields)
			var wantFields map[string]any
			dec = json.NewDecoder(bytes.NewReader(wantJSON))
			dec.UseNumber()
			if err := dec.Decode(&wantFields); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(gotFields, wantFields) {
				t.Errorf("fields %v:\n got %s\nwant %s", fields, got.Raw, wantJSON)
			}
		}
	}
	cv := converter{m: m}
	cv.raw = cv.rawPlan()
	if _, err := cv.rawRecord(json.RawMessage(`{"name":"no key"}`)); err == nil {
		t.Error("a row without its key is accepted")
	}
}
