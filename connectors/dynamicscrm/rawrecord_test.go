package dynamicscrm

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/synchub/synchub/sdk"
)

// TestRawRecordIsRecord: the record written straight from a row's JSON
// has the fields the connector promises, and a decoded row gives the same.
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
	decode := func(t *testing.T, b []byte) map[string]any {
		t.Helper()
		var v map[string]any
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		return v
	}
	owner := `{"entity":"team","id":"6f0d2c1e-8a4b-4c3d-9e5f-1a2b3c4d5e6f"}`
	contact := `{"entity":"contact","id":"0b7a1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d"}`
	for _, tc := range []struct {
		fields  []string
		row     string
		id, ver string
		want    string
	}{
		{nil, rows[0], "a1b2c3d4-0000-0000-0000-000000000001", `W/"1001"`,
			`{"modifiedon":"2026-11-22T09:31:00.5Z","name":"São <Paulo> & \"Co\"","ownerid":` + owner +
				`,"parentcustomerid":null,"primarycontactid":` + contact + `,"revenue":12345678901234567890.125,"telephone1":null}`},
		{nil, rows[1], "a1", "",
			`{"modifiedon":null,"name":null,"ownerid":null,"parentcustomerid":null,"primarycontactid":null,"revenue":null,"telephone1":"555 😀"}`},
		{[]string{"telephone1", "ownerid", "name", "name"}, rows[0], "a1b2c3d4-0000-0000-0000-000000000001", `W/"1001"`,
			`{"name":"São <Paulo> & \"Co\"","ownerid":` + owner + `,"telephone1":null}`},
	} {
		cv := converter{m: m, fields: tc.fields}
		cv.raw = cv.rawPlan()
		got, err := cv.rawRecord(json.RawMessage(tc.row))
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != tc.id || got.Version != tc.ver {
			t.Errorf("fields %v: id %q version %q, want %q %q", tc.fields, got.ID, got.Version, tc.id, tc.ver)
		}
		if !reflect.DeepEqual(decode(t, got.Raw), decode(t, []byte(tc.want))) {
			t.Errorf("fields %v:\n got %s\nwant %s", tc.fields, got.Raw, tc.want)
		}
		// A decoded row (delta pages, write answers) gives the same record.
		viaMap, err := cv.record(decode(t, []byte(tc.row)))
		if err != nil {
			t.Fatal(err)
		}
		if viaMap.ID != got.ID || viaMap.Version != got.Version || !viaMap.ModifiedAt.Equal(got.ModifiedAt) ||
			!reflect.DeepEqual(viaMap.Fields, decode(t, []byte(tc.want))) {
			t.Errorf("fields %v: from the decoded row %+v", tc.fields, viaMap)
		}
	}
	got, _ := converter{m: m}.rawRecord(json.RawMessage(rows[0]))
	if want := time.Date(2026, 11, 22, 9, 31, 0, 5e8, time.UTC); !got.ModifiedAt.Equal(want) {
		t.Errorf("modified %v, want %v", got.ModifiedAt, want)
	}
	cv := converter{m: m}
	cv.raw = cv.rawPlan()
	if _, err := cv.rawRecord(json.RawMessage(`{"name":"no key"}`)); err == nil {
		t.Error("a row without its key is accepted")
	}
}

// TestAppendLookupAsMarshal: a lookup is written as json.Marshal writes
// {"entity", "id"}, whether its names need escaping or not.
func TestAppendLookupAsMarshal(t *testing.T) {
	a := &attrMeta{name: "parentcustomerid", typ: sdk.TypeLookup, targets: []string{"account"}}
	for _, tc := range []struct{ raw, target string }{
		{`"A1B2C3D4-0000-0000-0000-000000000001"`, "contact"},
		{`"a1b2c3d4-0000-0000-0000-000000000001"`, ""},
		{`"id with \"quotes\" <and> é"`, "new_table.x"},
		{`"x"`, "bad\u2028name"},
	} {
		got := appendLookup(nil, a, tc.raw, tc.target)
		var id string
		if err := json.Unmarshal([]byte(tc.raw), &id); err != nil {
			t.Fatal(err)
		}
		target := tc.target
		if target == "" {
			target = "account"
		}
		want, _ := json.Marshal(map[string]any{"entity": target, "id": strings.ToLower(id)})
		if string(got) != string(want) {
			t.Errorf("lookup %s → %s, want %s", tc.raw, got, want)
		}
	}
}
