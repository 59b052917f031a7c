package filter

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

// record is shaped as encoding/json decodes a source row.
var record = map[string]any{
	"name":           "Contoso Ltd",
	"quote":          "it's",
	"empty":          "",
	"revenue":        1500000.5,
	"employees":      float64(42),
	"big":            json.Number("9007199254740993"),
	"ratio":          json.Number("0.25"),
	"amount":         json.Number("12345678901234567890.12"),
	"count":          7,
	"count64":        int64(-3),
	"price_text":     "12.50",
	"active":         true,
	"deleted":        false,
	"nothing":        nil,
	"createdon":      "2024-05-01T10:00:00Z",
	"modifiedon":     "2024-05-01T12:00:00.123+02:00",
	"sf_date":        "2024-05-01T08:00:00.000+0000",
	"naive":          "2024-05-01T10:00:00",
	"birthday":       "1990-07-15",
	"at":             time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC),
	"accountid":      "6F9619FF-8B86-D011-B42D-00C04FC964FF",
	"_ownerid_value": map[string]any{"entity": "systemuser", "id": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"},
	"_parent_value":  map[string]any{"entity": "account", "id": nil},
	"Account":        map[string]any{"Name": "Fabrikam", "Owner": map[string]any{"Alias": "jdoe"}},
	"Contact/Email":  "flat@example.com",
	"tags":           []any{"a", "b"},
	"status":         "open",
}

var evalCases = []struct {
	name   string
	filter string
	want   bool
}{
	{"a string equals", "name eq 'Contoso Ltd'", true},
	{"strings are case-sensitive", "name eq 'contoso ltd'", false},
	{"a string ne", "name ne 'Fabrikam'", true},
	{"strings order lexically", "name gt 'Adventure' and name lt 'Northwind'", true},
	{"a string with a doubled quote", "quote eq 'it''s'", true},
	{"an empty string is not null", "empty eq '' and empty ne null", true},
	{"a float equals an integer literal", "employees eq 42", true},
	{"a float compares with a decimal", "revenue gt 1500000.25 and revenue lt 1.6e6", true},
	{"a json.Number integer stays exact", "big eq 9007199254740993", true},
	{"a json.Number integer differs exactly", "big eq 9007199254740992", false},
	{"a json.Number decimal", "ratio eq 0.25", true},
	{"a long decimal keeps its digits", "amount eq 12345678901234567890.12 and amount ne 12345678901234567890.120001", true},
	{"a long decimal differs beyond float64", "amount eq 12345678901234567890.13", false},
	{"a long decimal orders beyond float64", "amount lt 12345678901234567890.13 and amount gt 12345678901234567890.11", true},
	{"a long decimal against a string of digits", "price_text lt 12.500000000000000001", true},
	{"an exponent is compared as float64", "amount gt 1.2e19 and amount lt 1.3e19", true},
	{"a Go int", "count ge 7 and count le 7", true},
	{"a negative int64", "count64 lt 0", true},
	{"a literal on the left flips the operator", "10 gt count", true},
	{"a numeric string compares as a number", "price_text eq 12.5", true},
	{"a non-numeric string against a number is false", "name gt 0", false},
	{"a bool eq", "active eq true and deleted eq false", true},
	{"a bool ne", "active ne true", false},
	{"a bool against a string is false", "active eq 'true'", false},
	{"a missing field equals null", "missing eq null", true},
	{"a nil field equals null", "nothing eq null", true},
	{"a present field is not null", "name ne null", true},
	{"a missing field is not equal to a value", "missing eq 'x'", false},
	{"a missing field is ne a value", "missing ne 'x'", true},
	{"a missing field is not greater", "missing gt 0", false},
	{"a missing field is not less", "missing lt 0", false},
	{"ordering against null is false", "name gt null", false},
	{"a nil field does not contain anything", "contains(nothing,'')", false},
	{"a lookup compares by id", "_ownerid_value eq 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee'", true},
	{"a lookup compares by GUID ignoring case", "_ownerid_value eq AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE", true},
	{"a lookup with a nil id is null", "_parent_value eq null", true},
	{"a lookup in a list", "_ownerid_value in ('x', 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee')", true},
	{"a GUID ignores case", "accountid eq 6f9619ff-8b86-d011-b42d-00c04fc964ff", true},
	{"a GUID ne", "accountid ne 6f9619ff-8b86-d011-b42d-00c04fc964ff", false},
	{"a quoted GUID is a case-sensitive string", "accountid eq '6f9619ff-8b86-d011-b42d-00c04fc964ff'", false},
	{"a datetime string equals a datetime", "createdon eq 2024-05-01T10:00:00Z", true},
	{"a datetime compares across offsets", "createdon eq 2024-05-01T12:00:00+02:00", true},
	{"a datetime with fraction and offset", "modifiedon gt 2024-05-01T10:00:00.122Z and modifiedon lt 2024-05-01T10:00:00.124Z", true},
	{"a Salesforce datetime", "sf_date eq 2024-05-01T08:00:00Z", true},
	{"a datetime without offset is UTC", "naive eq 2024-05-01T10:00:00Z", true},
	{"a date-only field against a datetime", "birthday lt 1990-07-15T00:00:01Z", true},
	{"a time.Time field", "at eq 2024-05-01T06:00:00-04:00", true},
	{"a non-date string against a datetime is false", "name gt 2000-01-01T00:00:00Z", false},
	{"a number against a datetime is false", "employees lt 2030-01-01T00:00:00Z", false},
	{"a datetime field on a date", "createdon eq 2024-05-01", true},
	{"a datetime field after a date", "createdon gt 2024-04-30 and createdon lt 2024-05-02", true},
	{"a date uses the field's own offset", "modifiedon eq 2024-05-01", true},
	{"a date-only field on a date", "birthday ge 1990-07-15 and birthday le 1990-07-15", true},
	{"contains", "contains(name,'toso')", true},
	{"contains is case-sensitive", "contains(name,'TOSO')", false},
	{"contains with tolower", "contains(tolower(name),'contoso')", true},
	{"tolower on both arguments", "startswith(tolower(name),tolower('CON'))", true},
	{"tolower compared", "tolower(name) eq 'contoso ltd'", true},
	{"tolower of a missing field is null", "tolower(missing) eq null", true},
	{"startswith", "startswith(name,'Con')", true},
	{"endswith", "endswith(name,'Ltd')", true},
	{"endswith that does not match", "endswith(name,'Inc')", false},
	{"contains on a number is false", "contains(employees,'4')", false},
	{"contains on a missing field is false", "contains(missing,'x')", false},
	{"a literal first argument", "contains('Contoso Ltd', name)", true},
	{"a function compared with a boolean", "contains(name,'xyz') eq false", true},
	{"a navigation path", "Account/Name eq 'Fabrikam'", true},
	{"a deep navigation path", "Account/Owner/Alias eq 'jdoe'", true},
	{"a flattened key wins", "Contact/Email eq 'flat@example.com'", true},
	{"navigation through a missing object", "Nope/Name eq null", true},
	{"navigation through a non-object", "name/first eq null", true},
	{"in matches any", "status in ('closed','open')", true},
	{"in matches none", "status in ('closed','won')", false},
	{"in with null matches a missing field", "missing in ('x', null)", true},
	{"in with numbers", "employees in (41, 42.0)", true},
	{"an array against a string is false", "tags eq 'a'", false},
	{"two string fields compare lexically, not as times", "createdon lt modifiedon", true},
	{"two string fields", "name lt status", true},
	{"two number fields", "count lt employees", true},
	{"two missing fields are equal", "missing eq alsomissing", true},
	{"a missing field and a present one differ", "missing ne name", true},
	{"booleans do not order between fields", "active gt deleted", false},
	{"not", "not name eq 'x'", true},
	{"and short-circuits to false", "name eq 'x' and employees eq 42", false},
	{"or short-circuits to true", "name eq 'Contoso Ltd' or employees eq 0", true},
	{"precedence: and before or", "name eq 'x' or employees eq 42 and active eq true", true},
	{"parentheses override precedence", "(name eq 'x' or employees eq 42) and active eq false", false},
	{"a literal against a literal", "1 lt 2", true},
}

func TestEval(t *testing.T) {
	for _, tc := range evalCases {
		t.Run(tc.name, func(t *testing.T) {
			e, err := Parse(tc.filter)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Eval(e, record)
			if err != nil {
				t.Fatalf("Eval(%q): %v", tc.filter, err)
			}
			if got != tc.want {
				t.Errorf("Eval(%q) = %v, want %v", tc.filter, got, tc.want)
			}
		})
	}
}

func TestEvalOfNoFilterMatchesEverything(t *testing.T) {
	e, _ := Parse("  ")
	for _, fields := range []map[string]any{nil, record} {
		if ok, err := Eval(e, fields); !ok || err != nil {
			t.Errorf("Eval(nil) = %v, %v; want true, nil", ok, err)
		}
	}
}

func TestEvalRejectsTreesParseWouldNotProduce(t *testing.T) {
	f := &Field{Name: "name"}
	str := &Literal{Kind: KindString, Value: "x"}
	cases := []struct {
		name string
		e    Expr
	}{
		{"an unknown logical operator", &Logical{Op: "xor", Left: cmp("a", 1), Right: cmp("b", 1)}},
		{"a missing operand of or", &Logical{Op: OpOr, Left: cmp("a", 1)}},
		{"a typed nil node", &Not{X: (*Compare)(nil)}},
		{"an unknown comparison operator", &Compare{Op: "like", Left: f, Right: str}},
		{"ordering a boolean literal", &Compare{Op: OpGt, Left: f, Right: &Literal{Kind: KindBool, Value: true}}},
		{"a field as a condition", f},
		{"a literal as a condition", &Literal{Kind: KindBool, Value: true}},
		{"a condition as an operand", &Compare{Op: OpEq, Left: cmp("a", 1), Right: str}},
		{"a nil comparison side", &Compare{Op: OpEq, Left: f}},
		{"a Value of the wrong type", &Compare{Op: OpEq, Left: f, Right: &Literal{Kind: KindInt, Value: "1"}}},
		{"a literal of no kind", &Compare{Op: OpEq, Left: f, Right: &Literal{Value: "x"}}},
		{"an unknown function", &Call{Func: "soundex", Args: []Expr{f, str}}},
		{"a function with one argument", &Call{Func: FuncContains, Args: []Expr{f}}},
		{"tolower as a condition", &Call{Func: FuncToLower, Args: []Expr{f}}},
		{"a condition as an argument", &Call{Func: FuncContains, Args: []Expr{f, cmp("a", 1)}}},
		{"an in without a field", &In{List: []*Literal{str}}},
		{"an in with an empty list", &In{Field: f}},
		{"an in with a nil value", &In{Field: f, List: []*Literal{nil}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Eval(tc.e, record)
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("Eval = %v, want an error wrapping ErrInvalid", err)
			}
		})
	}
}

func TestEvalDoesNotAllocateForCommonComparisons(t *testing.T) {
	for _, filter := range []string{
		"name eq 'Contoso Ltd' and employees gt 10 and active eq true",
		"accountid eq 6f9619ff-8b86-d011-b42d-00c04fc964ff and missing eq null",
		"_ownerid_value eq aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
		"status in ('closed','open') and contains(name,'toso')",
		"createdon gt 2024-04-01T00:00:00Z and big gt 1 and ratio lt 1",
		"Account/Owner/Alias eq 'jdoe'",
	} {
		t.Run(filter, func(t *testing.T) {
			e, err := Parse(filter)
			if err != nil {
				t.Fatal(err)
			}
			allocs := testing.AllocsPerRun(100, func() {
				if ok, err := Eval(e, record); !ok || err != nil {
					t.Fatalf("Eval = %v, %v", ok, err)
				}
			})
			if allocs != 0 {
				t.Errorf("Eval allocates %.0f times per record", allocs)
			}
		})
	}
}

func BenchmarkEval(b *testing.B) {
	e, err := Parse(strings.Join([]string{
		"statecode eq 0",
		"modifiedon gt 2024-04-01T00:00:00Z",
		"(contains(name,'Contoso') or startswith(name,'Fab'))",
		"_ownerid_value eq AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE",
		"revenue ge 1000000",
		"status in ('open','pending')",
	}, " and "))
	if err != nil {
		b.Fatal(err)
	}
	var row map[string]any
	if err := json.Unmarshal([]byte(`{
		"statecode": 0, "modifiedon": "2024-05-01T12:00:00Z", "name": "Contoso Ltd",
		"_ownerid_value": {"entity": "systemuser", "id": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"},
		"revenue": 1500000.5, "status": "pending", "description": "unused"}`), &row); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if ok, err := Eval(e, row); !ok || err != nil {
			b.Fatalf("Eval = %v, %v", ok, err)
		}
	}
}
