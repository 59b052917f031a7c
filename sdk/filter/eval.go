package filter

import (
	"encoding/json"
	"math/big"
	"strconv"
	"strings"
	"time"
)

// Eval reports whether a record matches e. A nil e matches every record.
//
// fields is the record as decoded from JSON (numbers as float64 or
// json.Number; int, int64 and the other Go integer and float types are
// accepted too). A field path "A/B" is looked up first as the literal key
// "A/B", then by descending into nested maps.
//
// The literal decides how a value is compared:
//   - string: lexical (byte-wise), case-sensitive.
//   - integer and decimal: numeric; a string field holding a number is parsed.
//     Integers compare exactly; a json.Number or string field and a literal
//     written as plain decimals compare digit for digit where float64
//     would round them equal.
//   - boolean: eq and ne only.
//   - datetime: the field must be a time.Time or a string in RFC 3339 (with
//     or without fraction), Salesforce form (2006-01-02T15:04:05.000+0000),
//     without offset (read as UTC) or date-only (midnight UTC); compared as
//     instants.
//   - date: the field's calendar date, in the field's own offset, is compared.
//   - GUID: the field's string is compared case-insensitively.
//   - null: "eq null" is true when the field is absent or nil.
//
// A lookup value shaped {"entity": ..., "id": ...} (any map with an "id" key)
// is compared by its id. An absent or nil field compared with a non-null
// literal is not equal to it: ne is true, every other operator false. A value
// of the wrong type for the comparison (contains on a number, a string field
// against a boolean) makes the comparison false under every operator, ne
// included. "in" is true when any eq in its list is.
//
// Eval returns an error wrapping ErrInvalid only for trees Parse would not
// produce; the result never depends on whether data is well-formed.
func Eval(e Expr, fields map[string]any) (bool, error) {
	if e == nil {
		return true, nil
	}
	return evalCond(e, fields)
}

func evalCond(e Expr, fields map[string]any) (bool, error) {
	if isNil(e) {
		return false, invalidf("missing condition")
	}
	switch n := e.(type) {
	case *Logical:
		if n.Op != OpAnd && n.Op != OpOr {
			return false, invalidf("unknown logical operator %q", n.Op)
		}
		l, err := evalCond(n.Left, fields)
		if err != nil {
			return false, err
		}
		if (n.Op == OpAnd) != l {
			return l, nil // and with false, or with true: decided
		}
		return evalCond(n.Right, fields)
	case *Not:
		x, err := evalCond(n.X, fields)
		return !x, err
	case *Compare:
		return evalCompare(n, fields)
	case *In:
		return evalIn(n, fields)
	case *Call:
		return evalCall(n, fields)
	}
	return false, invalidf("%s is not a condition", describeNode(e))
}

func evalCompare(c *Compare, fields map[string]any) (bool, error) {
	if !isCompareOp(string(c.Op)) {
		return false, invalidf("unknown comparison operator %q", c.Op)
	}
	lv, llit, err := operandValue(c.Left, fields)
	if err != nil {
		return false, err
	}
	rv, rlit, err := operandValue(c.Right, fields)
	if err != nil {
		return false, err
	}
	switch {
	case rlit != nil:
		return compareLiteral(c.Op, lv, rlit)
	case llit != nil:
		return compareLiteral(flip(c.Op), rv, llit)
	}
	return compareValues(c.Op, lv, rv), nil
}

// flip turns "lit op x" into "x flip(op) lit".
func flip(op CompareOp) CompareOp {
	switch op {
	case OpGt:
		return OpLt
	case OpGe:
		return OpLe
	case OpLt:
		return OpGt
	case OpLe:
		return OpGe
	}
	return op
}

func evalIn(in *In, fields map[string]any) (bool, error) {
	if in.Field == nil || len(in.List) == 0 {
		return false, invalidf("\"in\" needs a field and at least one value")
	}
	v := lookup(fields, in.Field.Name)
	for _, lit := range in.List {
		if lit == nil {
			return false, invalidf("nil literal in \"in\" list")
		}
		ok, err := compareLiteral(OpEq, v, lit)
		if err != nil || ok {
			return ok, err
		}
	}
	return false, nil
}

func evalCall(c *Call, fields map[string]any) (bool, error) {
	var match func(s, sub string) bool
	switch c.Func {
	case FuncContains:
		match = strings.Contains
	case FuncStartsWith:
		match = strings.HasPrefix
	case FuncEndsWith:
		match = strings.HasSuffix
	case FuncToLower:
		return false, invalidf("tolower(...) is a value, not a condition")
	default:
		return false, invalidf("unknown function %q", c.Func)
	}
	if len(c.Args) != 2 {
		return false, invalidf("%s takes 2 arguments, got %d", c.Func, len(c.Args))
	}
	s, ok1, err := stringArg(c.Args[0], fields)
	if err != nil {
		return false, err
	}
	sub, ok2, err := stringArg(c.Args[1], fields)
	if err != nil {
		return false, err
	}
	return ok1 && ok2 && match(s, sub), nil
}

// stringArg evaluates a function argument; ok is false when the value is
// absent or not a string.
func stringArg(e Expr, fields map[string]any) (s string, ok bool, err error) {
	switch n := e.(type) {
	case *Field:
		if n == nil {
			break
		}
		s, ok = unwrapLookup(lookup(fields, n.Name)).(string)
		return s, ok, nil
	case *Literal:
		if n == nil {
			break
		}
		if n.Kind != KindString && n.Kind != KindGUID {
			return "", false, nil
		}
		s, ok = n.Value.(string)
		if !ok {
			return "", false, invalidf("%s literal holds %T", n.Kind, n.Value)
		}
		return s, true, nil
	case *Call:
		if n == nil {
			break
		}
		if n.Func != FuncToLower || len(n.Args) != 1 {
			return "", false, invalidf("%s(...) cannot be a function argument", n.Func)
		}
		s, ok, err = stringArg(n.Args[0], fields)
		return strings.ToLower(s), ok, err
	}
	return "", false, invalidf("%s cannot be a function argument", describeNode(e))
}

// operandValue evaluates one side of a comparison. lit is set when the side
// is a literal, whose kind then drives the comparison.
func operandValue(e Expr, fields map[string]any) (v any, lit *Literal, err error) {
	switch n := e.(type) {
	case *Field:
		if n != nil {
			return lookup(fields, n.Name), nil, nil
		}
	case *Literal:
		if n != nil {
			return n.Value, n, nil
		}
	case *Call:
		if n == nil {
			break
		}
		if n.Func != FuncToLower {
			b, err := evalCall(n, fields)
			return b, nil, err
		}
		s, ok, err := stringArg(n, fields)
		if err != nil || !ok {
			return nil, nil, err
		}
		return s, nil, nil
	}
	return nil, nil, invalidf("%s cannot be compared", describeNode(e))
}

// lookup finds a field by its full name, then by navigating nested maps
// along its '/'-separated path. Absent is reported as nil.
func lookup(fields map[string]any, name string) any {
	if v, ok := fields[name]; ok {
		return v
	}
	if strings.IndexByte(name, '/') < 0 {
		return nil
	}
	var cur any = fields
	for {
		seg, rest, more := strings.Cut(name, "/")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[seg]
		if !more {
			return cur
		}
		name = rest
	}
}

// unwrapLookup replaces a lookup reference {"entity":..., "id":...} by its id.
func unwrapLookup(v any) any {
	if m, ok := v.(map[string]any); ok {
		if id, ok := m["id"]; ok {
			return id
		}
	}
	return v
}

// Results of a three-way comparison; unordered covers NaN and lets ne be
// the only true operator.
const (
	less      = -1
	equal     = 0
	greater   = 1
	unordered = 2
)

func holds(op CompareOp, c int) bool {
	switch op {
	case OpEq:
		return c == equal
	case OpNe:
		return c != equal
	case OpGt:
		return c == greater
	case OpGe:
		return c == greater || c == equal
	case OpLt:
		return c == less
	case OpLe:
		return c == less || c == equal
	}
	return false
}

// mismatch is the result when the value's type cannot be compared with the
// literal's: false under every operator.
const mismatch = false

func compareLiteral(op CompareOp, v any, lit *Literal) (bool, error) {
	v = unwrapLookup(v)
	if lit.Kind == KindNull {
		switch op {
		case OpEq:
			return v == nil, nil
		case OpNe:
			return v != nil, nil
		}
		return false, nil
	}
	if lit.Kind == KindBool && op != OpEq && op != OpNe {
		return false, invalidf("%q cannot order booleans", op)
	}
	bad := func() (bool, error) {
		return false, invalidf("%s literal holds %T", lit.Kind, lit.Value)
	}
	if v == nil {
		switch lit.Kind {
		case KindString, KindInt, KindDecimal, KindBool, KindDateTime, KindDate, KindGUID:
			return op == OpNe, nil
		}
		return false, invalidf("literal of %s", lit.Kind)
	}
	switch lit.Kind {
	case KindString:
		want, ok := lit.Value.(string)
		if !ok {
			return bad()
		}
		s, ok := v.(string)
		if !ok {
			return mismatch, nil
		}
		return holds(op, strings.Compare(s, want)), nil
	case KindInt, KindDecimal:
		want, ok := toNum(lit.Value)
		if !ok {
			return bad()
		}
		n, ok := toNum(v)
		if !ok {
			s, isStr := v.(string)
			if n, ok = parseNum(s); !isStr || !ok {
				return mismatch, nil
			}
		}
		c := cmpNum(n, want)
		if c == equal && !(n.isInt && want.isInt) {
			// Equal as float64 may still differ in digits float64 drops
			// (a 20-digit amount): compare the texts exactly.
			c = cmpExact(v, lit.Raw, c)
		}
		return holds(op, c), nil
	case KindBool:
		want, ok := lit.Value.(bool)
		if !ok {
			return bad()
		}
		b, ok := v.(bool)
		if !ok {
			return mismatch, nil
		}
		return (b == want) == (op == OpEq), nil
	case KindDateTime:
		want, ok := lit.Value.(time.Time)
		if !ok {
			return bad()
		}
		t, ok := toTime(v)
		if !ok {
			return mismatch, nil
		}
		return holds(op, t.Compare(want)), nil
	case KindDate:
		want, ok := lit.Value.(time.Time)
		if !ok {
			return bad()
		}
		t, ok := toTime(v)
		if !ok {
			return mismatch, nil
		}
		return holds(op, cmpInt(dateKey(t), dateKey(want))), nil
	case KindGUID:
		want, ok := lit.Value.(string)
		if !ok {
			return bad()
		}
		s, ok := v.(string)
		if !ok {
			return mismatch, nil
		}
		return holds(op, cmpFold(s, want)), nil
	}
	return false, invalidf("literal of %s", lit.Kind)
}

// compareValues compares two non-literal values (field with field, or with a
// function result) by their runtime types.
func compareValues(op CompareOp, a, b any) bool {
	a, b = unwrapLookup(a), unwrapLookup(b)
	if a == nil || b == nil {
		c := unordered
		if a == nil && b == nil {
			c = equal
		}
		return (op == OpEq || op == OpNe) && holds(op, c)
	}
	switch x := a.(type) {
	case string:
		if y, ok := b.(string); ok {
			return holds(op, strings.Compare(x, y))
		}
		return mismatch
	case bool:
		if y, ok := b.(bool); ok && (op == OpEq || op == OpNe) {
			return (x == y) == (op == OpEq)
		}
		return mismatch
	case time.Time:
		if y, ok := toTime(b); ok {
			return holds(op, x.Compare(y))
		}
		return mismatch
	}
	x, ok1 := toNum(a)
	y, ok2 := toNum(b)
	if ok1 && ok2 {
		return holds(op, cmpNum(x, y))
	}
	return mismatch
}

// num is a number kept exact when both sides are integers.
type num struct {
	i     int64
	f     float64
	isInt bool
}

func (n num) float() float64 {
	if n.isInt {
		return float64(n.i)
	}
	return n.f
}

func toNum(v any) (num, bool) {
	switch x := v.(type) {
	case float64:
		return num{f: x}, true
	case json.Number:
		return parseNum(string(x))
	case int64:
		return num{i: x, isInt: true}, true
	case int:
		return num{i: int64(x), isInt: true}, true
	case int32:
		return num{i: int64(x), isInt: true}, true
	case int16:
		return num{i: int64(x), isInt: true}, true
	case int8:
		return num{i: int64(x), isInt: true}, true
	case uint32:
		return num{i: int64(x), isInt: true}, true
	case uint16:
		return num{i: int64(x), isInt: true}, true
	case uint8:
		return num{i: int64(x), isInt: true}, true
	case uint:
		return num{f: float64(x)}, true
	case uint64:
		return num{f: float64(x)}, true
	case float32:
		return num{f: float64(x)}, true
	}
	return num{}, false
}

// parseNum reads a number from text without allocating on the common paths;
// text that cannot be a number is rejected before strconv sees it, because
// strconv allocates its errors.
func parseNum(s string) (num, bool) {
	if s == "" {
		return num{}, false
	}
	if c := s[0]; !isDigit(c) && c != '-' && c != '+' && c != '.' {
		return num{}, false
	}
	if !strings.ContainsAny(s, ".eE") {
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return num{i: i, isInt: true}, true
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	return num{f: f}, err == nil
}

func cmpNum(a, b num) int {
	if a.isInt && b.isInt {
		return cmpInt(a.i, b.i)
	}
	x, y := a.float(), b.float()
	switch {
	case x < y:
		return less
	case x > y:
		return greater
	case x == y:
		return equal
	}
	return unordered
}

// cmpExact compares a record's number written as text (json.Number or a
// string) with a literal's text exactly; c, the float64 comparison, stands
// when either is not a plain decimal of at most 100 characters (an
// exponent could ask big.Rat for a number of any size).
func cmpExact(v any, raw string, c int) int {
	var text string
	switch x := v.(type) {
	case json.Number:
		text = string(x)
	case string:
		text = x
	default:
		return c
	}
	if !PlainDecimal(text) || !PlainDecimal(raw) {
		return c
	}
	var a, b big.Rat
	if _, ok := a.SetString(text); !ok {
		return c
	}
	if _, ok := b.SetString(raw); !ok {
		return c
	}
	return a.Cmp(&b)
}

// PlainDecimal reports whether s is a number written as [-|+]digits[.digits]
// (no exponent), at most 100 characters long: text that can be compared or
// passed on exactly, digit for digit.
func PlainDecimal(s string) bool {
	if len(s) > 100 {
		return false
	}
	if s != "" && (s[0] == '-' || s[0] == '+') {
		s = s[1:]
	}
	whole, frac, dot := strings.Cut(s, ".")
	digits := func(p string) bool {
		if p == "" {
			return false
		}
		for i := 0; i < len(p); i++ {
			if !isDigit(p[i]) {
				return false
			}
		}
		return true
	}
	return digits(whole) && (!dot || digits(frac))
}

func cmpInt[T int | int64](a, b T) int {
	switch {
	case a < b:
		return less
	case a > b:
		return greater
	}
	return equal
}

// cmpFold compares strings ignoring ASCII case, which is all a GUID has.
func cmpFold(a, b string) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		x, y := lowerASCII(a[i]), lowerASCII(b[i])
		if x != y {
			return cmpInt(int(x), int(y))
		}
	}
	return cmpInt(len(a), len(b))
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func dateKey(t time.Time) int {
	y, m, d := t.Date()
	return y*10000 + int(m)*100 + d
}

// toTime accepts a time.Time or a string in one of the forms sources send.
// The layout is chosen by shape so that mismatching data does not pay for
// time.Parse's error allocations.
func toTime(v any) (time.Time, bool) {
	switch x := v.(type) {
	case time.Time:
		return x, true
	case string:
		return parseTime(x)
	}
	return time.Time{}, false
}

func parseTime(s string) (time.Time, bool) {
	if !isDatePrefix(s) {
		return time.Time{}, false
	}
	if len(s) == 10 {
		t, err := time.Parse(time.DateOnly, s)
		return t, err == nil
	}
	if s[10] != 'T' {
		return time.Time{}, false
	}
	layout := time.RFC3339 // also accepts a fraction
	switch n := len(s); {
	case s[n-1] == 'Z':
	case n >= 6 && (s[n-6] == '+' || s[n-6] == '-') && s[n-3] == ':':
	case n >= 5 && (s[n-5] == '+' || s[n-5] == '-'):
		layout = "2006-01-02T15:04:05-0700" // Salesforce: .000+0000
	default:
		layout = "2006-01-02T15:04:05" // no offset: UTC
	}
	t, err := time.Parse(layout, s)
	return t, err == nil
}
