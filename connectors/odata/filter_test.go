package odata

import (
	"math"
	"strings"
	"testing"

	"github.com/synchub/synchub/sdk/filter"
)

func TestFilter(t *testing.T) {
	dataverse := Dialect{NoIn: true, Property: func(f string) string {
		if f == "ownerid" || f == "parentcustomerid" {
			return "_" + f + "_value"
		}
		return f
	}}
	v4 := Dialect{}
	v3 := Dialect{V3: true}
	for _, tc := range []struct {
		name, in, want string
		d              Dialect
	}{
		{"strings_are_single_quoted", "name eq 'Contoso'", "name eq 'Contoso'", v4},
		{"quotes_inside_strings_are_doubled", "name eq 'O''Neil''s'", "name eq 'O''Neil''s'", v4},
		{"an_empty_string_is_two_quotes", "name ne ''", "name ne ''", v4},
		{"guids_are_bare_and_lower_case", "accountid eq 6F0D52C3-1A2B-4C3D-8E9F-001122334455", "accountid eq 6f0d52c3-1a2b-4c3d-8e9f-001122334455", v4},
		{"lookups_are_addressed_as_the_dialect_says", "ownerid eq 6f0d52c3-1a2b-4c3d-8e9f-001122334455", "_ownerid_value eq 6f0d52c3-1a2b-4c3d-8e9f-001122334455", dataverse},
		{"datetimes_are_bare_utc", "modifiedon gt 2024-05-01T02:00:00+02:00", "modifiedon gt 2024-05-01T00:00:00Z", v4},
		{"datetimes_keep_their_fraction", "modifiedon ge 2024-05-01T00:00:00.25Z", "modifiedon ge 2024-05-01T00:00:00.25Z", v4},
		{"dates_are_bare", "birthdate lt 2001-02-03", "birthdate lt 2001-02-03", v4},
		{"integers", "numberofemployees le -3", "numberofemployees le -3", v4},
		{"decimals_print_without_exponent", "revenue gt 1.5", "revenue gt 1.5", v4},
		{"decimals_with_an_exponent_print_without_it", "revenue gt 2.5e3", "revenue gt 2500", v4},
		{"decimals_keep_every_digit_written", "revenue eq 12345678901234567890.123456789", "revenue eq 12345678901234567890.123456789", v4},
		{"integers_beyond_int64_keep_every_digit", "code eq -92233720368547758070", "code eq -92233720368547758070", v4},
		{"booleans", "donotemail eq false", "donotemail eq false", v4},
		{"null", "parentaccountid eq null", "parentaccountid eq null", v4},
		{"every_comparison_operator", "a eq 1 and b ne 2 and c gt 3 and d ge 4 and e lt 5 and f le 6",
			"(((((a eq 1 and b ne 2) and c gt 3) and d ge 4) and e lt 5) and f le 6)", v4},
		{"or_and_not_keep_their_grouping", "not (a eq 1 or b eq 2) and c eq 3", "(not ((a eq 1 or b eq 2)) and c eq 3)", v4},
		{"contains_startswith_endswith", "contains(name,'a') or startswith(name,'B') or endswith(name,'c')",
			"((contains(name,'a') or startswith(name,'B')) or endswith(name,'c'))", v4},
		{"tolower_nests_in_a_function", "contains(tolower(name),'x')", "contains(tolower(name),'x')", v4},
		{"in_stays_where_the_service_has_it", "address1_city in ('Oslo','Lyon')", "address1_city in ('Oslo','Lyon')", v4},
		{"in_becomes_an_or_chain_where_it_lacks_it", "address1_city in ('Oslo','Lyon')", "(address1_city eq 'Oslo' or address1_city eq 'Lyon')", dataverse},
		{"in_of_lookups_maps_each_side", "ownerid in (6f0d52c3-1a2b-4c3d-8e9f-001122334455)", "(_ownerid_value eq 6f0d52c3-1a2b-4c3d-8e9f-001122334455)", dataverse},
		{"a_literal_may_come_first", "5 lt numberofemployees", "5 lt numberofemployees", v4},
		{"navigation_paths_pass_through", "primarycontactid/fullname eq 'x'", "primarycontactid/fullname eq 'x'", v4},
		{"odata3_guids_are_typed", "Id eq 6f0d52c3-1a2b-4c3d-8e9f-001122334455", "Id eq guid'6f0d52c3-1a2b-4c3d-8e9f-001122334455'", v3},
		{"odata3_datetimes_are_typed", "ModifiedOn gt 2024-05-01T02:00:00+02:00", "ModifiedOn gt datetime'2024-05-01T00:00:00'", v3},
		{"odata3_dates_are_datetimes", "Birth eq 2001-02-03", "Birth eq datetime'2001-02-03T00:00:00'", v3},
		{"odata3_decimals_have_a_suffix", "Amount gt 2.5", "Amount gt 2.5M", v3},
		{"odata3_decimals_keep_every_digit_written", "Amount eq 1234567890123456789.25", "Amount eq 1234567890123456789.25M", v3},
		{"odata3_contains_is_substringof", "contains(Name,'x')", "substringof('x',Name)", v3},
		{"odata3_has_no_in", "Code in (1,2)", "(Code eq 1 or Code eq 2)", v3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := filter.Parse(tc.in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.in, err)
			}
			got, err := Filter(e, tc.d)
			if err != nil {
				t.Fatalf("Filter(%q): %v", tc.in, err)
			}
			if got != tc.want {
				t.Errorf("Filter(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestFilterRefusesWhatItCannotSay(t *testing.T) {
	for _, tc := range []struct {
		name string
		e    filter.Expr
		want string
	}{
		{"a_literal_without_a_kind", &filter.Compare{Op: filter.OpEq, Left: &filter.Field{Name: "a"}, Right: &filter.Literal{Raw: "x", Value: "x"}}, "kind"},
		{"a_literal_whose_value_does_not_fit_its_kind", &filter.Compare{Op: filter.OpEq, Left: &filter.Field{Name: "a"}, Right: &filter.Literal{Kind: filter.KindInt, Raw: "1", Value: "1"}}, "holds a string"},
		{"a_decimal_that_is_not_a_number", &filter.Compare{Op: filter.OpGt, Left: &filter.Field{Name: "a"}, Right: &filter.Literal{Kind: filter.KindDecimal, Raw: "NaN", Value: math.NaN()}}, "finite"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Filter(tc.e, Dialect{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Filter = %q, %v; want an error mentioning %q", got, err, tc.want)
			}
		})
	}
	if got, err := Filter(nil, Dialect{}); got != "" || err != nil {
		t.Errorf("Filter(nil) = %q, %v; want empty", got, err)
	}
}

func TestQueryEncoding(t *testing.T) {
	for _, tc := range []struct {
		name string
		q    Query
		want string
	}{
		{"select_keeps_commas_readable", Query{Select: []string{"name", "_ownerid_value"}}, "$select=name,_ownerid_value"},
		{"spaces_are_percent_twenty_never_plus", Query{Filter: "name eq 'a b'"}, "$filter=name%20eq%20'a%20b'"},
		{"plus_ampersand_hash_and_percent_are_escaped", Query{Filter: "name eq 'a+b&c#d%e'"}, "$filter=name%20eq%20'a%2Bb%26c%23d%25e'"},
		{"options_come_in_a_stable_order", Query{Top: 5, Count: true, OrderBy: []string{"name desc"}, Expand: []string{"Attributes"}, Select: []string{"a"}, Filter: "a eq 1"},
			"$select=a&$filter=a%20eq%201&$orderby=name%20desc&$expand=Attributes&$top=5&$count=true"},
		{"custom_parameters_follow", Query{Select: []string{"a"}, Params: map[string][]string{"@p1": {"'x'"}}}, "$select=a&@p1='x'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.q.Encode(); got != tc.want {
				t.Errorf("Encode() = %q, want %q", got, tc.want)
			}
		})
	}
	if got := (Query{Select: []string{"a"}}).URL("https://h/api/accounts?x=1"); got != "https://h/api/accounts?x=1&$select=a" {
		t.Errorf("URL on a base with a query = %q", got)
	}
}

func TestPreferAndConditionalHeaders(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    Prefer
		want string
	}{
		{"nothing_asked_sends_nothing", Prefer{}, ""},
		{"page_size_and_tracking", Prefer{MaxPageSize: 500, TrackChanges: true}, "odata.maxpagesize=500,odata.track-changes"},
		{"representation_and_annotations", Prefer{ReturnRepresentation: true, Annotations: "*"}, `return=representation,odata.include-annotations="*"`},
		{"continue_on_error", Prefer{ContinueOnError: true}, "odata.continue-on-error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.p.String(); got != tc.want {
				t.Errorf("Prefer = %q, want %q", got, tc.want)
			}
		})
	}
	if IfMatch("") != "*" || IfMatch(`W/"7"`) != `W/"7"` {
		t.Error(`IfMatch must send the version, or "*" for no version`)
	}
}
