package filter

import "slices"

// Expr is one node of a parsed filter. The set of node types is closed:
// *Logical, *Not, *Compare, *In, *Call, *Field and *Literal. A translator
// switches on those types and rejects anything it cannot push down.
type Expr interface {
	exprNode()
	// Pos returns the byte offset (0-based) in the filter text of the token
	// that introduced the node: the operator of a *Logical, *Compare or *In,
	// the "not" of a *Not, the name of a *Call, and the first byte of a
	// *Field or *Literal. Hand-built nodes may leave it 0.
	Pos() int
}

// LogicalOp is the connective of a *Logical node.
type LogicalOp string

// The logical connectives. "and" binds tighter than "or".
const (
	OpAnd LogicalOp = "and"
	OpOr  LogicalOp = "or"
)

// CompareOp is the operator of a *Compare node.
type CompareOp string

// The comparison operators.
const (
	OpEq CompareOp = "eq"
	OpNe CompareOp = "ne"
	OpGt CompareOp = "gt"
	OpGe CompareOp = "ge"
	OpLt CompareOp = "lt"
	OpLe CompareOp = "le"
)

// The function names a *Call may carry. contains, startswith and endswith
// take two string arguments and are conditions; tolower takes one string
// argument and is a value, usable only as an argument or comparison operand.
const (
	FuncContains   = "contains"
	FuncStartsWith = "startswith"
	FuncEndsWith   = "endswith"
	FuncToLower    = "tolower"
)

// Logical is "Left and Right" or "Left or Right". Chains parse left-deep:
// "a and b and c" is Logical{and, Logical{and, a, b}, c}.
type Logical struct {
	Op          LogicalOp
	Left, Right Expr
	P           int
}

// Not negates the condition X.
type Not struct {
	X Expr
	P int
}

// Compare is "Left Op Right". Each side is a *Field, *Literal or *Call; the
// usual shape is field-op-literal, but literal-op-field and field-op-field
// are legal too.
type Compare struct {
	Op          CompareOp
	Left, Right Expr
	P           int
}

// In is "Field in (List...)": true when the field equals any of the values.
// The parser guarantees List is non-empty.
type In struct {
	Field *Field
	List  []*Literal
	P     int
}

// Call is a function application; Func is one of the Func* constants and Args
// are *Field, string *Literal or tolower *Call nodes.
type Call struct {
	Func string
	Args []Expr
	P    int
}

// Field names a property of the record. Name is the path as written, with
// "/" separating navigation segments (e.g. "Account/Name").
type Field struct {
	Name string
	P    int
}

// LiteralKind tells which type of constant a *Literal holds.
type LiteralKind int

// The literal kinds. The zero LiteralKind is invalid so that a hand-built
// Literal that forgot its kind is caught rather than read as a string.
const (
	KindString   LiteralKind = iota + 1 // Value is string (quotes removed, '' undoubled)
	KindInt                             // Value is int64
	KindDecimal                         // Value is float64 (also integers too large for int64)
	KindBool                            // Value is bool
	KindNull                            // Value is nil
	KindDateTime                        // Value is time.Time, keeping the written offset
	KindDate                            // Value is time.Time at midnight UTC
	KindGUID                            // Value is string, lowercased
)

// String returns the kind's name as used in error messages.
func (k LiteralKind) String() string {
	switch k {
	case KindString:
		return "string"
	case KindInt:
		return "integer"
	case KindDecimal:
		return "decimal"
	case KindBool:
		return "boolean"
	case KindNull:
		return "null"
	case KindDateTime:
		return "datetime"
	case KindDate:
		return "date"
	case KindGUID:
		return "GUID"
	}
	return "invalid kind"
}

// Literal is a constant. Raw is the source text exactly as written (empty for
// hand-built literals); Value is the decoded constant whose Go type is fixed
// by Kind. Eval and String use Value, never Raw.
type Literal struct {
	Kind  LiteralKind
	Raw   string
	Value any
	P     int
}

func (*Logical) exprNode() {}
func (*Not) exprNode()     {}
func (*Compare) exprNode() {}
func (*In) exprNode()      {}
func (*Call) exprNode()    {}
func (*Field) exprNode()   {}
func (*Literal) exprNode() {}

// Pos implements Expr.
func (n *Logical) Pos() int { return n.P }

// Pos implements Expr.
func (n *Not) Pos() int { return n.P }

// Pos implements Expr.
func (n *Compare) Pos() int { return n.P }

// Pos implements Expr.
func (n *In) Pos() int { return n.P }

// Pos implements Expr.
func (n *Call) Pos() int { return n.P }

// Pos implements Expr.
func (n *Field) Pos() int { return n.P }

// Pos implements Expr.
func (n *Literal) Pos() int { return n.P }

// isNil reports whether e is nil or a typed nil pointer, so that walkers of
// hand-built trees never dereference one.
func isNil(e Expr) bool {
	switch n := e.(type) {
	case nil:
		return true
	case *Logical:
		return n == nil
	case *Not:
		return n == nil
	case *Compare:
		return n == nil
	case *In:
		return n == nil
	case *Call:
		return n == nil
	case *Field:
		return n == nil
	case *Literal:
		return n == nil
	}
	return false
}

// Walk visits e and its descendants in pre-order: a node, then its children
// left to right (an *In visits its Field, then each literal of List). If fn
// returns false, Walk skips that node's children. Nil nodes are not visited.
func Walk(e Expr, fn func(Expr) bool) {
	if isNil(e) || !fn(e) {
		return
	}
	switch n := e.(type) {
	case *Logical:
		Walk(n.Left, fn)
		Walk(n.Right, fn)
	case *Not:
		Walk(n.X, fn)
	case *Compare:
		Walk(n.Left, fn)
		Walk(n.Right, fn)
	case *In:
		Walk(n.Field, fn)
		for _, l := range n.List {
			Walk(l, fn)
		}
	case *Call:
		for _, a := range n.Args {
			Walk(a, fn)
		}
	}
}

// Fields returns the names of the fields e references, sorted and without
// duplicates; nil when there are none.
func Fields(e Expr) []string {
	var names []string
	Walk(e, func(x Expr) bool {
		if f, ok := x.(*Field); ok {
			names = append(names, f.Name)
		}
		return true
	})
	slices.Sort(names)
	return slices.Compact(names)
}
