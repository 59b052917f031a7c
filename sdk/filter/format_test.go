package filter

import (
	"fmt"
	"math"
	"slices"
	"testing"
	"time"
)

// equalValue compares literal values: times as instants with the same
// offset, floats treating NaN as equal to itself.
func equalValue(a, b any) bool {
	switch x := a.(type) {
	case time.Time:
		y, ok := b.(time.Time)
		if !ok {
			return false
		}
		_, ox := x.Zone()
		_, oy := y.Zone()
		return x.Equal(y) && ox == oy
	case float64:
		y, ok := b.(float64)
		return ok && (x == y || math.IsNaN(x) && math.IsNaN(y))
	}
	return a == b
}

// diffExpr describes the first difference between two trees, or returns "".
// Raw is ignored (String normalises it); P is compared only if withPos.
func diffExpr(a, b Expr, withPos bool) string {
	if isNil(a) || isNil(b) {
		if isNil(a) && isNil(b) {
			return ""
		}
		return fmt.Sprintf("%#v vs %#v", a, b)
	}
	if withPos && a.Pos() != b.Pos() {
		return fmt.Sprintf("%s at %d vs %d", String(a), a.Pos(), b.Pos())
	}
	both := func(l, r Expr) string {
		if d := diffExpr(l, r, withPos); d != "" {
			return d
		}
		return ""
	}
	mismatch := fmt.Sprintf("%T %s vs %T %s", a, String(a), b, String(b))
	switch x := a.(type) {
	case *Logical:
		y, ok := b.(*Logical)
		if !ok || x.Op != y.Op {
			return mismatch
		}
		if d := both(x.Left, y.Left); d != "" {
			return d
		}
		return both(x.Right, y.Right)
	case *Not:
		y, ok := b.(*Not)
		if !ok {
			return mismatch
		}
		return both(x.X, y.X)
	case *Compare:
		y, ok := b.(*Compare)
		if !ok || x.Op != y.Op {
			return mismatch
		}
		if d := both(x.Left, y.Left); d != "" {
			return d
		}
		return both(x.Right, y.Right)
	case *In:
		y, ok := b.(*In)
		if !ok || len(x.List) != len(y.List) {
			return mismatch
		}
		if d := both(x.Field, y.Field); d != "" {
			return d
		}
		for i := range x.List {
			if d := both(x.List[i], y.List[i]); d != "" {
				return d
			}
		}
	case *Call:
		y, ok := b.(*Call)
		if !ok || x.Func != y.Func || len(x.Args) != len(y.Args) {
			return mismatch
		}
		for i := range x.Args {
			if d := both(x.Args[i], y.Args[i]); d != "" {
				return d
			}
		}
	case *Field:
		if y, ok := b.(*Field); !ok || x.Name != y.Name {
			return mismatch
		}
	case *Literal:
		if y, ok := b.(*Literal); !ok || x.Kind != y.Kind || !equalValue(x.Value, y.Value) {
			return mismatch
		}
	default:
		return mismatch
	}
	return ""
}

func TestStringReparsesToTheSameTree(t *testing.T) {
	inputs := []string{}
	for _, tc := range parseCases {
		inputs = append(inputs, tc.in)
	}
	for _, tc := range evalCases {
		inputs = append(inputs, tc.filter)
	}
	for _, in := range inputs {
		t.Run(in, func(t *testing.T) {
			first, err := Parse(in)
			if err != nil {
				t.Fatal(err)
			}
			text := String(first)
			second, err := Parse(text)
			if err != nil {
				t.Fatalf("Parse(String) of %q: %v", text, err)
			}
			if d := diffExpr(first, second, false); d != "" {
				t.Errorf("round trip through %q changed the tree: %s", text, d)
			}
			if again := String(second); again != text {
				t.Errorf("String is not stable: %q then %q", text, again)
			}
		})
	}
}

func TestStringFormatsHandBuiltTrees(t *testing.T) {
	cases := []struct {
		name string
		e    Expr
		want string
	}{
		{"nil is empty", nil, ""},
		{"a whole decimal keeps a point", &Compare{Op: OpEq, Left: &Field{Name: "n"}, Right: &Literal{Kind: KindDecimal, Value: 2.0}}, "n eq 2.0"},
		{"an or under and is parenthesised", &Logical{Op: OpAnd,
			Left:  &Logical{Op: OpOr, Left: cmp("a", 1), Right: cmp("b", 2)},
			Right: cmp("c", 3)}, "(a eq 1 or b eq 2) and c eq 3"},
		{"a right-nested or is parenthesised", &Logical{Op: OpOr,
			Left:  cmp("a", 1),
			Right: &Logical{Op: OpOr, Left: cmp("b", 2), Right: cmp("c", 3)}}, "a eq 1 or (b eq 2 or c eq 3)"},
		{"a string quote is doubled", &Compare{Op: OpEq, Left: &Field{Name: "s"}, Right: &Literal{Kind: KindString, Value: "o'neil"}}, "s eq 'o''neil'"},
		{"a datetime in UTC uses Z", &Compare{Op: OpGt, Left: &Field{Name: "d"},
			Right: &Literal{Kind: KindDateTime, Value: time.Date(2024, 5, 1, 8, 0, 0, 0, time.UTC)}}, "d gt 2024-05-01T08:00:00Z"},
		{"a mistyped value falls back to Raw", &Compare{Op: OpEq, Left: &Field{Name: "n"}, Right: &Literal{Kind: KindInt, Raw: "7", Value: "seven"}}, "n eq 7"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := String(tc.e); got != tc.want {
				t.Errorf("String = %q, want %q", got, tc.want)
			}
		})
	}
}

func cmp(field string, v int64) *Compare {
	return &Compare{Op: OpEq, Left: &Field{Name: field}, Right: &Literal{Kind: KindInt, Value: v}}
}

func TestFieldsListsEachReferencedFieldOnce(t *testing.T) {
	e, err := Parse("b eq 1 and (a in ('x') or contains(tolower(c),'y') or b lt d) and Account/Name eq 'z'")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"Account/Name", "a", "b", "c", "d"}
	if got := Fields(e); !slices.Equal(got, want) {
		t.Errorf("Fields = %q, want %q", got, want)
	}
	if got := Fields(nil); got != nil {
		t.Errorf("Fields(nil) = %q, want nil", got)
	}
}

func TestWalkVisitsInPreOrderAndCanSkipChildren(t *testing.T) {
	e, err := Parse("not a eq 1 or s in ('x','y')")
	if err != nil {
		t.Fatal(err)
	}
	var all []string
	Walk(e, func(x Expr) bool {
		all = append(all, fmt.Sprintf("%T", x))
		return true
	})
	want := []string{"*filter.Logical", "*filter.Not", "*filter.Compare", "*filter.Field", "*filter.Literal",
		"*filter.In", "*filter.Field", "*filter.Literal", "*filter.Literal"}
	if !slices.Equal(all, want) {
		t.Errorf("visited %q, want %q", all, want)
	}
	var top []string
	Walk(e, func(x Expr) bool {
		top = append(top, fmt.Sprintf("%T", x))
		_, isLogical := x.(*Logical)
		return isLogical
	})
	if want := []string{"*filter.Logical", "*filter.Not", "*filter.In"}; !slices.Equal(top, want) {
		t.Errorf("with skipping visited %q, want %q", top, want)
	}
	Walk(&In{List: []*Literal{nil}}, func(Expr) bool { return true }) // nil children must not panic
}
