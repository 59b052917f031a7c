package filter

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

// parseCases are valid filters and their canonical String form.
var parseCases = []struct {
	name, in, want string
}{
	{"a simple comparison", "name eq 'Contoso'", "name eq 'Contoso'"},
	{"every comparison operator", "a eq 1 and b ne 2 and c gt 3 and d ge 4 and e lt 5 and f le 6",
		"a eq 1 and b ne 2 and c gt 3 and d ge 4 and e lt 5 and f le 6"},
	{"a literal on the left", "5 lt count", "5 lt count"},
	{"two fields compared", "createdon lt modifiedon", "createdon lt modifiedon"},
	{"extra whitespace collapses", "  a   eq\t1\n", "a eq 1"},
	{"and binds tighter than or", "a eq 1 or b eq 2 and c eq 3", "a eq 1 or b eq 2 and c eq 3"},
	{"parentheses that change grouping are kept", "(a eq 1 or b eq 2) and c eq 3", "(a eq 1 or b eq 2) and c eq 3"},
	{"redundant parentheses are dropped", "((a eq 1)) and (b eq 2)", "a eq 1 and b eq 2"},
	{"a right-nested chain keeps its parentheses", "a eq 1 and (b eq 2 and c eq 3)", "a eq 1 and (b eq 2 and c eq 3)"},
	{"not applies to the whole comparison", "not a eq 1", "not a eq 1"},
	{"not binds tighter than and", "not a eq 1 and b eq 2", "not a eq 1 and b eq 2"},
	{"not of a group keeps its parentheses", "not (a eq 1 or b eq 2)", "not (a eq 1 or b eq 2)"},
	{"not without a space before the parenthesis", "not(a eq 1)", "not a eq 1"},
	{"double negation", "not not a eq 1", "not not a eq 1"},
	{"in with a list", "status in ('a', 'b')", "status in ('a','b')"},
	{"in with one value", "status in ( 1 )", "status in (1)"},
	{"in with mixed literal kinds", "x in (1, 'a', null, true, 2024-05-01)", "x in (1,'a',null,true,2024-05-01)"},
	{"not in", "not status in ('a')", "not status in ('a')"},
	{"contains", "contains(name, 'Con')", "contains(name,'Con')"},
	{"startswith", "startswith(name,'Con')", "startswith(name,'Con')"},
	{"endswith", "endswith(name,'so')", "endswith(name,'so')"},
	{"tolower wrapping a field", "contains(tolower(name),'con')", "contains(tolower(name),'con')"},
	{"tolower compared", "tolower(name) eq 'contoso'", "tolower(name) eq 'contoso'"},
	{"a function compared with a boolean", "contains(name,'x') eq false", "contains(name,'x') eq false"},
	{"not of a function", "not contains(name,'x')", "not contains(name,'x')"},
	{"a navigation path", "Account/Name eq 'x'", "Account/Name eq 'x'"},
	{"an underscore lookup field", "_ownerid_value eq null", "_ownerid_value eq null"},
	{"a field named like a function", "contains eq 'x'", "contains eq 'x'"},
	{"a field with unicode letters", "naïve eq 1", "naïve eq 1"},
	{"a string with a doubled quote", "name eq 'it''s'", "name eq 'it''s'"},
	{"an empty string", "name eq ''", "name eq ''"},
	{"a string holding only a quote", "name eq ''''", "name eq ''''"},
	{"a string holding keywords and parentheses", "name eq 'a) or (b eq 1'", "name eq 'a) or (b eq 1'"},
	{"a negative integer", "n eq -42", "n eq -42"},
	{"a decimal", "n eq 1.50", "n eq 1.5"},
	{"a negative decimal with exponent", "n eq -2.5E-3", "n eq -0.0025"},
	{"an exponent without fraction stays decimal", "n eq 1e5", "n eq 100000.0"},
	{"an integer beyond int64 becomes decimal", "n eq 99999999999999999999", "n eq 1e+20"},
	{"booleans", "a eq true or b ne false", "a eq true or b ne false"},
	{"null", "a ne null", "a ne null"},
	{"a UTC datetime", "d gt 2024-05-01T00:00:00Z", "d gt 2024-05-01T00:00:00Z"},
	{"a datetime with fraction and offset", "d gt 2024-05-01T08:30:00.250+02:00", "d gt 2024-05-01T08:30:00.25+02:00"},
	{"a datetime with negative offset", "d lt 2024-05-01T08:30:00-05:30", "d lt 2024-05-01T08:30:00-05:30"},
	{"a datetime without seconds", "d lt 2024-05-01T08:30Z", "d lt 2024-05-01T08:30:00Z"},
	{"a date", "d ge 2024-05-01", "d ge 2024-05-01"},
	{"a GUID is lowercased", "id eq 6F9619FF-8B86-D011-B42D-00C04FC964FF", "id eq 6f9619ff-8b86-d011-b42d-00c04fc964ff"},
	{"a GUID starting with digits", "id eq 12345678-1234-1234-1234-123456789012", "id eq 12345678-1234-1234-1234-123456789012"},
	{"literals next to parentheses need no spaces", "(a eq 'x')and(b eq 1)", "a eq 'x' and b eq 1"},
}

func TestParseFormatsCanonically(t *testing.T) {
	for _, tc := range parseCases {
		t.Run(tc.name, func(t *testing.T) {
			e, err := Parse(tc.in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.in, err)
			}
			if got := String(e); got != tc.want {
				t.Errorf("String(Parse(%q)) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestParseBlankMeansNoFilter(t *testing.T) {
	for _, in := range []string{"", " ", "\t\r\n "} {
		e, err := Parse(in)
		if e != nil || err != nil {
			t.Errorf("Parse(%q) = %v, %v; want nil, nil", in, e, err)
		}
	}
}

func TestParseDecodesEveryLiteralKind(t *testing.T) {
	at := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	cases := []struct {
		name, lit string
		kind      LiteralKind
		value     any
	}{
		{"a string with a doubled quote", "'it''s'", KindString, "it's"},
		{"an integer", "42", KindInt, int64(42)},
		{"a negative integer", "-7", KindInt, int64(-7)},
		{"the smallest int64", "-9223372036854775808", KindInt, int64(math.MinInt64)},
		{"a decimal", "3.25", KindDecimal, 3.25},
		{"a decimal with exponent", "-1.5e3", KindDecimal, -1500.0},
		{"true", "true", KindBool, true},
		{"false", "false", KindBool, false},
		{"null", "null", KindNull, nil},
		{"a datetime keeping its offset", "2024-05-01T08:30:00.5+02:00", KindDateTime, at("2024-05-01T08:30:00.5+02:00")},
		{"a date at midnight UTC", "2024-05-01", KindDate, time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)},
		{"a GUID lowercased", "6F9619FF-8B86-D011-B42D-00C04FC964FF", KindGUID, "6f9619ff-8b86-d011-b42d-00c04fc964ff"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e, err := Parse("x eq " + tc.lit)
			if err != nil {
				t.Fatal(err)
			}
			lit := e.(*Compare).Right.(*Literal)
			if lit.Kind != tc.kind || lit.Raw != tc.lit || lit.P != 5 {
				t.Errorf("got kind %s raw %q pos %d, want %s %q 5", lit.Kind, lit.Raw, lit.P, tc.kind, tc.lit)
			}
			if !equalValue(lit.Value, tc.value) {
				t.Errorf("Value = %#v (%T), want %#v (%T)", lit.Value, lit.Value, tc.value, tc.value)
			}
		})
	}
	t.Run("a datetime keeps the written offset", func(t *testing.T) {
		e, _ := Parse("x eq 2024-05-01T08:30:00+02:00")
		v := e.(*Compare).Right.(*Literal).Value.(time.Time)
		if _, off := v.Zone(); off != 2*3600 || v.Hour() != 8 {
			t.Errorf("got %v, want 08:30 at +02:00", v)
		}
	})
}

func TestParseBuildsTheTreeWithPositions(t *testing.T) {
	//        0         1         2         3         4
	//        0123456789012345678901234567890123456789012345
	const in = "a eq 1 and not (b in ('x') or contains(c,'y'))"
	want := &Logical{Op: OpAnd, P: 7,
		Left: &Compare{Op: OpEq, P: 2, Left: &Field{Name: "a", P: 0}, Right: &Literal{Kind: KindInt, Value: int64(1), P: 5}},
		Right: &Not{P: 11, X: &Logical{Op: OpOr, P: 27,
			Left: &In{P: 18, Field: &Field{Name: "b", P: 16}, List: []*Literal{{Kind: KindString, Value: "x", P: 22}}},
			Right: &Call{Func: FuncContains, P: 30, Args: []Expr{
				&Field{Name: "c", P: 39},
				&Literal{Kind: KindString, Value: "y", P: 41},
			}},
		}},
	}
	got, err := Parse(in)
	if err != nil {
		t.Fatal(err)
	}
	if diff := diffExpr(got, want, true); diff != "" {
		t.Errorf("tree differs: %s", diff)
	}
}

// syntaxErrorCases are invalid filters, where the error must point and what
// its message must say.
var syntaxErrorCases = []struct {
	name string
	in   string
	pos  int
	msg  []string
}{
	{"an unknown operator", "foo eqq 1", 4, []string{`expected a comparison operator (eq ne gt ge lt le in) after field "foo", got "eqq"`}},
	{"an uppercase operator", "foo EQ 1", 4, []string{`got "EQ"`, `keywords are lowercase: "eq"`}},
	{"an uppercase connective", "a eq 1 AND b eq 2", 7, []string{`expected and, or or end of input`, `keywords are lowercase: "and"`}},
	{"a missing value", "a eq", 4, []string{`expected a value after "eq", got end of input`}},
	{"a missing condition after and", "a eq 1 and", 10, []string{`expected a condition after "and", got end of input`}},
	{"a missing condition after not", "not", 3, []string{`expected a condition after "not", got end of input`}},
	{"a bare field", "active", 6, []string{`expected a comparison operator`, `after field "active", got end of input`}},
	{"a bare literal", "true", 4, []string{`expected a comparison operator`, "after boolean true"}},
	{"an unclosed parenthesis", "(a eq 1", 7, []string{"unbalanced parentheses", "to close the '(' at position 0"}},
	{"an unopened parenthesis", "a eq 1)", 6, []string{"unbalanced parentheses", "no matching '('"}},
	{"empty parentheses", "()", 1, []string{`expected a condition after "(", got ")"`}},
	{"junk inside parentheses", "(a eq 1 b)", 8, []string{`expected and, or or ')' after integer 1, got "b"`, "position 0 is still open"}},
	{"trailing input", "a eq 1 b", 7, []string{`expected and, or or end of input after integer 1, got "b"`}},
	{"an unterminated string", "name eq 'abc", 8, []string{"unterminated string starting at position 8", "expected a closing '"}},
	{"a string ending in a doubled quote", "name eq 'abc''", 8, []string{"unterminated string"}},
	{"a double-quoted string", `name eq "abc"`, 8, []string{"unexpected character '\"'", "single quotes"}},
	{"an equals sign", "a = 1", 2, []string{"unexpected character '='", "eq, ne"}},
	{"a bad month", "d eq 2024-13-01T00:00:00Z", 5, []string{`invalid datetime "2024-13-01T00:00:00Z"`, "month out of range"}},
	{"a datetime without offset", "d eq 2024-05-01T00:00:00", 5, []string{"invalid datetime", "no time-zone offset"}},
	{"a datetime with junk", "d eq 2024-05-01T00:00:00Zx", 5, []string{"invalid datetime"}},
	{"a bad date", "d eq 2024-02-30", 5, []string{`invalid date "2024-02-30"`}},
	{"a date with junk", "d eq 2024-02-03x", 5, []string{`invalid date or datetime "2024-02-03x"`}},
	{"a number glued to a keyword", "a eq 1and b eq 2", 5, []string{`invalid number "1and"`}},
	{"a decimal without digits after the point", "a eq 1.", 5, []string{`invalid number "1."`}},
	{"a lone minus", "a eq - 1", 5, []string{"unexpected '-'"}},
	{"a decimal out of range", "a eq 1e999", 5, []string{`number "1e999" is out of range`}},
	{"an empty in list", "status in ()", 11, []string{`empty list after "in"`, "at least one value"}},
	{"in without a list", "status in 'a'", 10, []string{`expected '(' starting a list of values after "in", got string 'a'`}},
	{"in with a field in the list", "status in ('a', b)", 16, []string{`expected a literal value in the "in" list after ",", got "b"`}},
	{"an unclosed in list", "status in ('a'", 14, []string{"unbalanced parentheses", "close the list at position 10"}},
	{"in after a function", "tolower(a) in ('x')", 11, []string{`expected a field before "in", got tolower(...)`}},
	{"an unknown function", "length(name) eq 3", 0, []string{`unknown function "length"`, "expected contains, startswith, endswith or tolower"}},
	{"a capitalised function", "Contains(name,'x')", 0, []string{`unknown function "Contains"`, `function names are lowercase: "contains"`}},
	{"a function with too few arguments", "contains(name)", 0, []string{"contains takes 2 arguments (a field and a string), got 1"}},
	{"tolower with two arguments", "tolower(a,b) eq 'x'", 0, []string{"tolower takes 1 argument"}},
	{"a function with a number argument", "contains(name, 5)", 15, []string{"argument 2 of contains must be a field, a string or tolower(...), got integer 5"}},
	{"a function nested in a function", "contains(contains(a,'b'),'c')", 9, []string{"argument 1 of contains", "got contains(...)"}},
	{"an unclosed function call", "contains(name,'x'", 17, []string{"unbalanced parentheses", "'(' of contains at position 8"}},
	{"tolower as a condition", "tolower(name)", 13, []string{`expected a comparison operator`, "after tolower(...)"}},
	{"ordering booleans", "active gt true", 7, []string{`"gt" cannot order booleans; expected eq or ne`}},
	{"comparing a condition", "(a eq 1) eq true", 9, []string{`cannot apply "eq" to a parenthesised condition`}},
	{"comparing with a condition", "a eq (b eq 1)", 5, []string{`expected a value after "eq", got a parenthesised condition`}},
	{"a keyword as a value", "a eq and", 5, []string{`expected a value after "eq", got "and"`}},
	{"a keyword as a field", "eq eq 1", 0, []string{`expected a condition, got "eq"`}},
	{"an empty path segment", "a//b eq 1", 0, []string{`invalid field path "a//b"`}},
	{"a trailing slash", "a/ eq 1", 0, []string{`invalid field path "a/"`}},
	{"a path segment starting with a digit", "a/1 eq 1", 0, []string{`invalid field path "a/1"`}},
	{"a dot in a name", "a.b eq 1", 1, []string{`unexpected character '.' after "a"`}},
	{"invalid UTF-8", "a eq 1 and \xff", 11, []string{"invalid UTF-8"}},
	{"parentheses nested too deep", strings.Repeat("(", MaxDepth+1) + "a eq 1" + strings.Repeat(")", MaxDepth+1), MaxDepth,
		[]string{"nests deeper than 100 levels"}},
	{"not nested too deep", strings.Repeat("not ", MaxDepth+1) + "a eq 1", 4 * MaxDepth, []string{"nests deeper than 100 levels"}},
	{"input too long", "a eq '" + strings.Repeat("x", MaxLength) + "'", MaxLength, []string{"filter is 65543 bytes long; expected at most 65536"}},
}

func TestParseReportsWhereAndWhatWasExpected(t *testing.T) {
	for _, tc := range syntaxErrorCases {
		t.Run(tc.name, func(t *testing.T) {
			e, err := Parse(tc.in)
			if err == nil {
				t.Fatalf("Parse(%q) = %s, want an error", tc.in, String(e))
			}
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("error %v is %T, want *SyntaxError", err, err)
			}
			if se.Pos != tc.pos {
				t.Errorf("Pos = %d, want %d (%v)", se.Pos, tc.pos, err)
			}
			if se.Expected == "" || se.Input != tc.in {
				t.Errorf("Expected = %q, Input ok = %v; want both set", se.Expected, se.Input == tc.in)
			}
			for _, sub := range tc.msg {
				if !strings.Contains(se.Msg, sub) {
					t.Errorf("message %q does not contain %q", se.Msg, sub)
				}
			}
			if !strings.HasPrefix(err.Error(), "filter: at position ") {
				t.Errorf("Error() = %q, want the filter: at position prefix", err.Error())
			}
		})
	}
}

func TestSyntaxErrorQuotesTheTextNearTheProblem(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"the text at the position", "foo eqq 1", `filter: at position 4 (near "eqq 1"): expected a comparison operator (eq ne gt ge lt le in) after field "foo", got "eqq"`},
		{"the tail at end of input", "amount eq", `filter: at position 9 (near "amount eq"): expected a value after "eq", got end of input`},
		{"at most twenty bytes", "a eq 1 and bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", `(near "bbbbbbbbbbbbbbbbbbbb")`},
		{"whole runes only", "a eq 1 and ééééééééééééé", `(near "éééééééééé")`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.in)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Parse(%q) error = %v, want it to contain %s", tc.in, err, tc.want)
			}
		})
	}
}

func TestParseAcceptsTheLimitsExactly(t *testing.T) {
	deep := strings.Repeat("(", MaxDepth) + "a eq 1" + strings.Repeat(")", MaxDepth)
	if _, err := Parse(deep); err != nil {
		t.Errorf("nesting of exactly MaxDepth: %v", err)
	}
	long := "a eq '" + strings.Repeat("x", MaxLength-7) + "'"
	if _, err := Parse(long); err != nil || len(long) != MaxLength {
		t.Errorf("input of exactly MaxLength (%d bytes): %v", len(long), err)
	}
	chain := strings.Repeat("a eq 1 or ", MaxLength/10-1) + "a eq 1"
	if _, err := Parse(chain); err != nil {
		t.Errorf("a long flat chain is not nesting: %v", err)
	}
}
