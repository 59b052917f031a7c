package client

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseAssignments(t *testing.T) {
	acc := EntitySchema{Name: "account", Fields: []FieldSchema{
		{Name: "name", Type: "string"}, {Name: "revenue", Type: "decimal"}, {Name: "employees", Type: "int"},
		{Name: "active", Type: "bool"}, {Name: "founded", Type: "datetime"}, {Name: "since", Type: "date"},
		{Name: "parent", Type: "lookup", Lookup: "account"}, {Name: "owner", Type: "lookup", Lookup: "systemuser,team"},
		{Name: "createdon", Type: "datetime", ReadOnly: true}, {Name: "extra", Type: "json"},
	}}
	tests := []struct {
		name    string
		args    []string
		want    map[string]any
		wantErr string
	}{
		{name: "values_are_read_by_their_field_types",
			args: []string{"name=Contoso Ltd", "revenue=12.50", "employees=40", "active=yes", "founded=2024-05-01T10:00:00+02:00", "since=2020-01-31"},
			want: map[string]any{"name": "Contoso Ltd", "revenue": json.Number("12.50"), "employees": int64(40), "active": true,
				"founded": "2024-05-01T08:00:00Z", "since": "2020-01-31"}},
		{name: "a_date_alone_is_midnight_utc", args: []string{"founded=2024-05-01"}, want: map[string]any{"founded": "2024-05-01T00:00:00Z"}},
		{name: "a_bare_lookup_id_takes_the_only_target", args: []string{"parent=abc"},
			want: map[string]any{"parent": map[string]any{"entity": "account", "id": "abc"}}},
		{name: "a_lookup_may_name_its_entity", args: []string{"owner=team:t1"},
			want: map[string]any{"owner": map[string]any{"entity": "team", "id": "t1"}}},
		{name: "an_empty_value_is_null", args: []string{"revenue="}, want: map[string]any{"revenue": nil}},
		{name: "json_values_are_parsed", args: []string{`extra={"a":1}`}, want: map[string]any{"extra": map[string]any{"a": float64(1)}}},
		{name: "a_value_may_contain_equals_signs", args: []string{"name=a=b"}, want: map[string]any{"name": "a=b"}},
		{name: "a_non_number_decimal_is_refused", args: []string{"revenue=12x"}, wantErr: "field 'revenue' is decimal; '12x' is not a number"},
		{name: "a_fraction_in_an_int_is_refused", args: []string{"employees=1.5"}, wantErr: "field 'employees' is int; '1.5' is not a whole number"},
		{name: "a_bad_bool_is_refused", args: []string{"active=maybe"}, wantErr: "field 'active' is bool; 'maybe' is not true or false"},
		{name: "a_bad_datetime_is_refused", args: []string{"founded=tomorrow"}, wantErr: "field 'founded' is datetime; 'tomorrow' is not a date and time (use 2024-05-01T10:00:00Z or 2024-05-01)"},
		{name: "an_ambiguous_lookup_needs_its_entity", args: []string{"owner=u1"}, wantErr: "field 'owner' is lookup; 'u1' needs the form entity:id (entity one of systemuser, team)"},
		{name: "an_unknown_field_lists_the_fields", args: []string{"revnue=1"}, wantErr: "unknown field 'revnue' of account; fields: name, revenue, employees, active, founded, since, parent, owner, createdon, extra"},
		{name: "a_read_only_field_is_refused", args: []string{"createdon=2024-01-01"}, wantErr: "field 'createdon' of account is read-only"},
		{name: "an_argument_without_equals_is_refused", args: []string{"revenue"}, wantErr: "'revenue' is not field=value"},
		{name: "an_infinite_decimal_is_refused", args: []string{"revenue=Inf"}, wantErr: "field 'revenue' is decimal; 'Inf' is not a number"},
		{name: "a_decimal_without_leading_digit_becomes_valid_json", args: []string{"revenue=.5"}, want: map[string]any{"revenue": json.Number("0.5")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseAssignments(acc, tt.args)
			if tt.wantErr != "" {
				require.ErrorIs(t, err, ErrInvalidField)
				assert.EqualError(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}
