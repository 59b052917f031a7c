package emulator

import (
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// The $filter grammar Dataverse accepts: eq ne gt ge lt le, and or not,
// parentheses, contains/startswith/endswith, literals (string, number,
// true/false/null, unquoted GUID, date and datetime). The OData 4.01 "in"
// operator parses but is refused like the service does (501, "The query node
// In is not supported"). String comparisons are case-insensitive (SQL
// collation) and comparisons with null are unknown, so "ne" skips nulls.

// dtValue is a datetime as unix seconds.
type dtValue int64

// fschema resolves property names to their EDM type for one entity type.
type fschema interface {
	propType(name string) (string, bool)
	typeName() string // "Microsoft.Dynamics.CRM.account"
}

// frecord yields normalized values: string, float64, bool, uuid.UUID, dtValue or nil.
type frecord func(prop string) any

type fnode interface {
	eval(rec frecord) tri
}

type tri int8

const (
	triFalse tri = iota
	triTrue
	triUnknown
)

type fLogic struct {
	and  bool
	l, r fnode
}

func (n fLogic) eval(rec frecord) tri {
	a := n.l.eval(rec)
	if n.and && a == triFalse || !n.and && a == triTrue {
		return a
	}
	b := n.r.eval(rec)
	switch {
	case n.and && b == triFalse, !n.and && b == triTrue:
		return b
	case a == triUnknown || b == triUnknown:
		return triUnknown
	}
	return a
}

type fNot struct{ x fnode }

func (n fNot) eval(rec frecord) tri {
	switch n.x.eval(rec) {
	case triTrue:
		return triFalse
	case triFalse:
		return triTrue
	}
	return triUnknown
}

// operand is a property reference or a literal.
type operand struct {
	prop  string
	typ   string
	lit   any
	isLit bool
}

func (o operand) value(rec frecord) any {
	if o.isLit {
		return o.lit
	}
	return rec(o.prop)
}

type fCmp struct {
	op   string
	l, r operand
}

func (n fCmp) eval(rec frecord) tri {
	a, b := n.l.value(rec), n.r.value(rec)
	if a == nil || b == nil {
		switch {
		case n.op == "eq" && n.r.isLit && n.r.lit == nil || n.op == "eq" && n.l.isLit && n.l.lit == nil:
			return boolTri(a == nil && b == nil)
		case n.op == "ne" && n.r.isLit && n.r.lit == nil || n.op == "ne" && n.l.isLit && n.l.lit == nil:
			return boolTri(!(a == nil && b == nil))
		}
		return triUnknown
	}
	c, ok := compareValues(a, b)
	if !ok {
		return triUnknown
	}
	switch n.op {
	case "eq":
		return boolTri(c == 0)
	case "ne":
		return boolTri(c != 0)
	case "gt":
		return boolTri(c > 0)
	case "ge":
		return boolTri(c >= 0)
	case "lt":
		return boolTri(c < 0)
	default:
		return boolTri(c <= 0)
	}
}

func boolTri(b bool) tri {
	if b {
		return triTrue
	}
	return triFalse
}

// compareValues orders two normalized values of compatible types.
func compareValues(a, b any) (int, bool) {
	switch x := a.(type) {
	case string:
		y, ok := b.(string)
		if !ok {
			return 0, false
		}
		return strings.Compare(strings.ToLower(x), strings.ToLower(y)), true
	case float64:
		y, ok := b.(float64)
		if !ok {
			return 0, false
		}
		return cmpOrdered(x, y), true
	case dtValue:
		y, ok := b.(dtValue)
		if !ok {
			return 0, false
		}
		return cmpOrdered(x, y), true
	case bool:
		y, ok := b.(bool)
		if !ok {
			return 0, false
		}
		return cmpOrdered(b2i(x), b2i(y)), true
	case uuid.UUID:
		y, ok := b.(uuid.UUID)
		if !ok {
			return 0, false
		}
		return cmpID(x, y), true
	}
	return 0, false
}

func cmpOrdered[T int | int64 | float64 | dtValue](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

type fFunc struct {
	name string
	prop operand
	arg  string
}

func (n fFunc) eval(rec frecord) tri {
	v, ok := n.prop.value(rec).(string)
	if !ok {
		return triUnknown
	}
	v, a := strings.ToLower(v), strings.ToLower(n.arg)
	switch n.name {
	case "contains":
		return boolTri(strings.Contains(v, a))
	case "startswith":
		return boolTri(strings.HasPrefix(v, a))
	default:
		return boolTri(strings.HasSuffix(v, a))
	}
}

// fBool is a bare boolean property or literal used as a predicate.
type fBool struct{ o operand }

func (n fBool) eval(rec frecord) tri {
	b, ok := n.o.value(rec).(bool)
	if !ok {
		return triUnknown
	}
	return boolTri(b)
}

// matches reports whether the record passes the filter (nil filter: all).
func matches(f fnode, rec frecord) bool { return f == nil || f.eval(rec) == triTrue }

type ftoken struct {
	kind byte // i ident, s string, n number, g guid, d datetime, ( ) , or 0 EOF
	text string
	pos  int
}

var (
	guidRe = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}`)
	dateRe = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2}))?`)
	numRe  = regexp.MustCompile(`^-?\d+(\.\d+)?([eE][+-]?\d+)?[mMdDfFlL]?`)
)

type fparser struct {
	src  string
	toks []ftoken
	i    int
	sch  fschema
}

func syntaxErr(pos int, src string) *apiError {
	return newErr(http.StatusBadRequest, codeQuery, "Syntax error at position %d in '%s'.", pos, src)
}

func lexFilter(src string) ([]ftoken, *apiError) {
	var toks []ftoken
	for p := 0; p < len(src); {
		c := src[p]
		rest := src[p:]
		switch {
		case c == ' ' || c == '\t':
			p++
		case c == '(' || c == ')' || c == ',':
			toks = append(toks, ftoken{kind: c, text: string(c), pos: p})
			p++
		case c == '\'':
			var b strings.Builder
			q := p + 1
			for {
				if q >= len(src) {
					return nil, newErr(http.StatusBadRequest, codeQuery, "There is an unterminated string literal at position %d in '%s'.", len(src), src)
				}
				if src[q] == '\'' {
					if q+1 < len(src) && src[q+1] == '\'' {
						b.WriteByte('\'')
						q += 2
						continue
					}
					break
				}
				b.WriteByte(src[q])
				q++
			}
			toks = append(toks, ftoken{kind: 's', text: b.String(), pos: p})
			p = q + 1
		case guidRe.MatchString(rest):
			m := guidRe.FindString(rest)
			toks = append(toks, ftoken{kind: 'g', text: m, pos: p})
			p += len(m)
		case dateRe.MatchString(rest) && (len(dateRe.FindString(rest)) > 4):
			m := dateRe.FindString(rest)
			toks = append(toks, ftoken{kind: 'd', text: m, pos: p})
			p += len(m)
		case c == '-' || c >= '0' && c <= '9':
			m := numRe.FindString(rest)
			if m == "" {
				return nil, newErr(http.StatusBadRequest, codeQuery, "Syntax error: character '%c' is not valid at position %d in '%s'.", c, p, src)
			}
			toks = append(toks, ftoken{kind: 'n', text: m, pos: p})
			p += len(m)
		case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			q := p
			for q < len(src) && (src[q] == '_' || src[q] == '.' || src[q] == '/' || src[q] >= 'a' && src[q] <= 'z' ||
				src[q] >= 'A' && src[q] <= 'Z' || src[q] >= '0' && src[q] <= '9') {
				q++
			}
			toks = append(toks, ftoken{kind: 'i', text: src[p:q], pos: p})
			p = q
		default:
			return nil, newErr(http.StatusBadRequest, codeQuery, "Syntax error: character '%c' is not valid at position %d in '%s'.", c, p, src)
		}
	}
	return append(toks, ftoken{pos: len(src)}), nil
}

// parseFilter parses a $filter expression against sch.
func parseFilter(src string, sch fschema) (fnode, *apiError) {
	toks, err := lexFilter(src)
	if err != nil {
		return nil, err
	}
	p := &fparser{src: src, toks: toks, sch: sch}
	n, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.peek().kind != 0 {
		return nil, syntaxErr(p.peek().pos, src)
	}
	return n, nil
}

func (p *fparser) peek() ftoken { return p.toks[p.i] }
func (p *fparser) next() ftoken { t := p.toks[p.i]; p.i++; return t }
func (p *fparser) isWord(w string) bool {
	t := p.peek()
	return t.kind == 'i' && t.text == w
}

func (p *fparser) or() (fnode, *apiError) {
	l, err := p.and()
	for err == nil && p.isWord("or") {
		p.next()
		var r fnode
		if r, err = p.and(); err == nil {
			l = fLogic{and: false, l: l, r: r}
		}
	}
	return l, err
}

func (p *fparser) and() (fnode, *apiError) {
	l, err := p.not()
	for err == nil && p.isWord("and") {
		p.next()
		var r fnode
		if r, err = p.not(); err == nil {
			l = fLogic{and: true, l: l, r: r}
		}
	}
	return l, err
}

func (p *fparser) not() (fnode, *apiError) {
	if p.isWord("not") {
		p.next()
		x, err := p.not()
		if err != nil {
			return nil, err
		}
		return fNot{x}, nil
	}
	return p.cmp()
}

var cmpOps = map[string]string{"eq": "Equal", "ne": "NotEqual", "gt": "GreaterThan", "ge": "GreaterThanOrEqual", "lt": "LessThan", "le": "LessThanOrEqual"}

func (p *fparser) cmp() (fnode, *apiError) {
	if p.peek().kind == '(' {
		p.next()
		n, err := p.or()
		if err != nil {
			return nil, err
		}
		if p.peek().kind != ')' {
			return nil, syntaxErr(p.peek().pos, p.src)
		}
		p.next()
		return n, nil
	}
	t := p.peek()
	if t.kind == 'i' && (t.text == "contains" || t.text == "startswith" || t.text == "endswith") && p.toks[p.i+1].kind == '(' {
		return p.function()
	}
	if t.kind == 'i' && p.toks[p.i+1].kind == '(' && t.text != "not" {
		return nil, newErr(http.StatusBadRequest, codeQuery,
			"An unknown function with name '%s' was found. This may also be a function import or a key lookup on a navigation property, which is not allowed.", t.text)
	}
	l, err := p.operand()
	if err != nil {
		return nil, err
	}
	op := p.peek()
	if op.kind == 'i' && op.text == "in" {
		p.next()
		if p.peek().kind != '(' {
			return nil, syntaxErr(p.peek().pos, p.src)
		}
		for p.peek().kind != ')' && p.peek().kind != 0 {
			p.next()
		}
		if p.peek().kind == 0 {
			return nil, syntaxErr(p.peek().pos, p.src)
		}
		p.next()
		return nil, newErr(http.StatusNotImplemented, codeQueryNode, "The query node In is not supported")
	}
	kind, isCmp := cmpOps[op.text]
	if op.kind != 'i' || !isCmp {
		if l.typ == "Edm.Boolean" {
			return fBool{l}, nil
		}
		return nil, syntaxErr(op.pos, p.src)
	}
	p.next()
	r, err := p.operand()
	if err != nil {
		return nil, err
	}
	if !compatible(l.typ, r.typ) {
		return nil, newErr(http.StatusBadRequest, codeQuery,
			"A binary operator with incompatible types was detected. Found operand types '%s' and '%s' for operator kind '%s'.",
			l.typ, r.typ, kind)
	}
	return fCmp{op: op.text, l: l, r: r}, nil
}

func (p *fparser) function() (fnode, *apiError) {
	name := p.next().text
	p.next() // (
	prop, err := p.operand()
	if err != nil {
		return nil, err
	}
	if p.peek().kind != ',' {
		return nil, syntaxErr(p.peek().pos, p.src)
	}
	p.next()
	arg, err := p.operand()
	if err != nil {
		return nil, err
	}
	if p.peek().kind != ')' {
		return nil, syntaxErr(p.peek().pos, p.src)
	}
	p.next()
	if prop.typ != "Edm.String" || arg.typ != "Edm.String" || !arg.isLit || arg.lit == nil {
		return nil, newErr(http.StatusBadRequest, codeQuery,
			"No function signature for the function with name '%s' matches the specified arguments. The function signatures considered are: %s(Edm.String Nullable=true, Edm.String Nullable=true).", name, name)
	}
	return fFunc{name: name, prop: prop, arg: arg.lit.(string)}, nil
}

func (p *fparser) operand() (operand, *apiError) {
	t := p.next()
	switch t.kind {
	case 's':
		return operand{isLit: true, lit: t.text, typ: "Edm.String"}, nil
	case 'g':
		return operand{isLit: true, lit: uuid.MustParse(t.text), typ: "Edm.Guid"}, nil
	case 'd':
		v, typ, ok := parseODataDate(t.text)
		if !ok {
			return operand{}, syntaxErr(t.pos, p.src)
		}
		return operand{isLit: true, lit: v, typ: typ}, nil
	case 'n':
		return numberLiteral(t, p.src)
	case 'i':
		switch t.text {
		case "true", "false":
			return operand{isLit: true, lit: t.text == "true", typ: "Edm.Boolean"}, nil
		case "null":
			return operand{isLit: true, lit: nil, typ: ""}, nil
		}
		if strings.Contains(t.text, ".") && p.peek().kind == 's' {
			// enum literal such as Microsoft.Dynamics.CRM.AttributeTypeCode'Picklist'
			return operand{isLit: true, lit: p.next().text, typ: "Edm.String"}, nil
		}
		typ, ok := p.sch.propType(t.text)
		if !ok {
			name := strings.TrimPrefix(p.sch.typeName(), "Microsoft.Dynamics.CRM.")
			return operand{}, newErr(http.StatusBadRequest, codeQuery, "Could not find a property named '%s' on type 'Microsoft.Dynamics.CRM.%s'.", t.text, name)
		}
		return operand{prop: t.text, typ: typ}, nil
	}
	return operand{}, syntaxErr(t.pos, p.src)
}

func numberLiteral(t ftoken, src string) (operand, *apiError) {
	text := strings.TrimRight(t.text, "mMdDfFlL")
	f, err := strconv.ParseFloat(text, 64)
	if err != nil {
		return operand{}, syntaxErr(t.pos, src)
	}
	typ := "Edm.Int32"
	switch {
	case strings.ContainsAny(text, "eE"):
		typ = "Edm.Double"
	case strings.Contains(text, "."):
		typ = "Edm.Decimal"
	case f > 2147483647 || f < -2147483648:
		typ = "Edm.Int64"
	}
	return operand{isLit: true, lit: f, typ: typ}, nil
}

func parseODataDate(s string) (dtValue, string, bool) {
	if len(s) == 10 {
		t, err := time.Parse("2006-01-02", s)
		return dtValue(t.Unix()), "Edm.Date", err == nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04Z07:00"} {
		if t, err := time.Parse(layout, s); err == nil {
			return dtValue(t.Unix()), "Edm.DateTimeOffset", true
		}
	}
	return 0, "", false
}

func typeGroup(t string) string {
	switch t {
	case "Edm.Int32", "Edm.Int64", "Edm.Decimal", "Edm.Double", "Edm.Single":
		return "number"
	case "Edm.DateTimeOffset", "Edm.Date":
		return "date"
	}
	return t
}

func compatible(a, b string) bool {
	return a == "" || b == "" || typeGroup(a) == typeGroup(b)
}

// tableSchema adapts an entityDef to fschema.
type tableSchema struct{ d *entityDef }

func (s tableSchema) propType(name string) (string, bool) {
	c, ok := s.d.byProp[name]
	if !ok {
		return "", false
	}
	return edmOf(c), true
}

func (s tableSchema) typeName() string { return "Microsoft.Dynamics.CRM." + s.d.logical }

// filterValue normalizes a stored value for filter evaluation.
func filterValue(c *column, v any) any {
	switch x := v.(type) {
	case nil:
		return nil
	case int64:
		if c.typ == tDateTime {
			return dtValue(x)
		}
		return float64(x)
	case ref:
		return x.id
	case string, float64, bool, uuid.UUID:
		return x
	}
	return fmt.Sprint(v)
}
