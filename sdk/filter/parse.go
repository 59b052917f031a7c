package filter

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Parse parses an OData $filter expression. Blank input (empty or only
// whitespace) means "no filter" and returns (nil, nil). Any other failure is a
// *SyntaxError saying where the problem is and what was expected there.
//
// Parse also rejects trees that could never evaluate meaningfully: a
// comparison whose side is itself a condition, gt/ge/lt/le against a
// boolean, "in" after anything but a field, functions with the wrong number
// or kind of arguments, and a bare field or value where a condition belongs.
func Parse(s string) (e Expr, err error) {
	if len(s) > MaxLength {
		return nil, &SyntaxError{
			Pos:      MaxLength,
			Msg:      fmt.Sprintf("filter is %d bytes long; expected at most %d", len(s), MaxLength),
			Expected: fmt.Sprintf("at most %d bytes", MaxLength),
			Input:    s,
		}
	}
	if isBlank(s) {
		return nil, nil
	}
	defer func() {
		if r := recover(); r != nil {
			se, ok := r.(*SyntaxError)
			if !ok {
				panic(r)
			}
			e, err = nil, se
		}
	}()
	p := &parser{lx: lexer{src: s}}
	p.advance()
	e = p.expr()
	switch p.tok.kind {
	case tokEOF:
		return e, nil
	case tokRParen:
		p.fail(p.tok.pos, "and, or or end of input", "unbalanced parentheses: ')' has no matching '('")
	}
	p.unexpected("and, or or end of input", "")
	panic("unreachable")
}

func isBlank(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isSpace(s[i]) {
			return false
		}
	}
	return true
}

// parser is a recursive-descent parser with one token of lookahead.
type parser struct {
	lx    lexer
	tok   token // current, not yet consumed
	prev  token // last consumed; names the context in error messages
	depth int
}

func (p *parser) advance() {
	p.prev = p.tok
	p.tok = p.lx.next()
}

func (p *parser) fail(pos int, expected, format string, args ...any) {
	bail(p.lx.src, pos, expected, format, args...)
}

// unexpected fails at the current token: "expected <want> after <after>, got
// <token>". An empty after names the previous token instead.
func (p *parser) unexpected(want, after string) {
	if after == "" && p.prev.text != "" {
		after = describe(p.prev)
	}
	if after != "" {
		after = " after " + after
	}
	p.fail(p.tok.pos, want, "expected %s%s, got %s%s", want, after, describe(p.tok), caseHint(p.tok))
}

func (p *parser) isKeyword(kw string) bool { return p.tok.kind == tokIdent && p.tok.text == kw }

// enter counts one level of nesting and fails beyond MaxDepth, which bounds
// the recursion of the parser and of everything that walks its output.
func (p *parser) enter(pos int) {
	p.depth++
	if p.depth > MaxDepth {
		p.fail(pos, fmt.Sprintf("at most %d levels of nesting", MaxDepth),
			"expression nests deeper than %d levels (parentheses, not, function calls)", MaxDepth)
	}
}

// expr = and *("or" and)
func (p *parser) expr() Expr {
	left := p.and()
	for p.isKeyword("or") {
		pos := p.tok.pos
		p.advance()
		left = &Logical{Op: OpOr, Left: left, Right: p.and(), P: pos}
	}
	return left
}

// and = unary *("and" unary)
func (p *parser) and() Expr {
	left := p.unary()
	for p.isKeyword("and") {
		pos := p.tok.pos
		p.advance()
		left = &Logical{Op: OpAnd, Left: left, Right: p.unary(), P: pos}
	}
	return left
}

// unary = "not" unary / comparison
func (p *parser) unary() Expr {
	if !p.isKeyword("not") {
		return p.comparison()
	}
	pos := p.tok.pos
	p.enter(pos)
	p.advance()
	x := p.unary()
	p.depth--
	return &Not{X: x, P: pos}
}

// comparison = operand [cmpop operand / "in" list]; without an operator the
// operand must itself be a condition.
func (p *parser) comparison() Expr {
	left := p.operand("a condition")
	switch {
	case p.tok.kind == tokIdent && isCompareOp(p.tok.text):
		op, pos := CompareOp(p.tok.text), p.tok.pos
		if !isOperand(left) {
			p.fail(pos, "and, or or ')'",
				"cannot apply %q to a parenthesised condition; compare a field, value or function", op)
		}
		p.advance()
		rightPos := p.tok.pos
		right := p.operand("a value")
		if !isOperand(right) {
			p.fail(rightPos, "a value", "expected a value after %q, got a parenthesised condition", op)
		}
		if op != OpEq && op != OpNe && (isBoolLiteral(left) || isBoolLiteral(right)) {
			p.fail(pos, "eq or ne", "%q cannot order booleans; expected eq or ne", op)
		}
		return &Compare{Op: op, Left: left, Right: right, P: pos}
	case p.isKeyword("in"):
		pos := p.tok.pos
		f, ok := left.(*Field)
		if !ok {
			p.fail(pos, "a field before \"in\"", "expected a field before \"in\", got %s", describeNode(left))
		}
		p.advance()
		return &In{Field: f, List: p.list(), P: pos}
	case isCondition(left):
		return left
	}
	p.unexpected("a comparison operator (eq ne gt ge lt le in)", describeNode(left))
	panic("unreachable")
}

// operand = "(" expr ")" / call / field / literal
func (p *parser) operand(want string) Expr {
	t := p.tok
	switch t.kind {
	case tokLParen:
		p.enter(t.pos)
		p.advance()
		e := p.expr()
		if p.tok.kind == tokEOF {
			p.fail(p.tok.pos, "')'",
				"unbalanced parentheses: expected ')' to close the '(' at position %d, got end of input", t.pos)
		}
		if p.tok.kind != tokRParen {
			p.fail(p.tok.pos, "and, or or ')'", "expected and, or or ')' after %s, got %s%s (the '(' at position %d is still open)",
				describe(p.prev), describe(p.tok), caseHint(p.tok), t.pos)
		}
		p.depth--
		p.advance()
		return e
	case tokIdent:
		if lit := p.literal(); lit != nil {
			return lit
		}
		if isReserved(t.text) {
			p.unexpected(want, "")
		}
		p.advance()
		if p.tok.kind == tokLParen {
			return p.call(t)
		}
		return &Field{Name: t.text, P: t.pos}
	case tokLiteral:
		return p.literal()
	}
	p.unexpected(want, "")
	panic("unreachable")
}

// literal consumes and returns the current token if it is a literal
// (including true, false and null), else returns nil.
func (p *parser) literal() *Literal {
	t := p.tok
	var lit *Literal
	switch {
	case t.kind == tokLiteral:
		lit = t.lit
	case t.kind == tokIdent && (t.text == "true" || t.text == "false"):
		lit = &Literal{Kind: KindBool, Raw: t.text, Value: t.text == "true", P: t.pos}
	case t.kind == tokIdent && t.text == "null":
		lit = &Literal{Kind: KindNull, Raw: t.text, P: t.pos}
	default:
		return nil
	}
	p.advance()
	return lit
}

// list = "(" literal *("," literal) ")"
func (p *parser) list() []*Literal {
	if p.tok.kind != tokLParen {
		p.unexpected("'(' starting a list of values", "")
	}
	open := p.tok.pos
	p.advance()
	if p.tok.kind == tokRParen {
		p.fail(p.tok.pos, "a value", "empty list after \"in\"; expected at least one value")
	}
	var list []*Literal
	for {
		lit := p.literal()
		if lit == nil {
			p.unexpected("a literal value in the \"in\" list", "")
		}
		list = append(list, lit)
		switch p.tok.kind {
		case tokComma:
			p.advance()
			continue
		case tokRParen:
			p.advance()
			return list
		case tokEOF:
			p.fail(p.tok.pos, "')'",
				"unbalanced parentheses: expected ')' to close the list at position %d, got end of input", open)
		}
		p.unexpected("',' or ')'", "")
	}
}

// call parses the argument list of the function named by name; the current
// token is its '('.
func (p *parser) call(name token) *Call {
	arity, ok := funcArity(name.text)
	if !ok {
		hint := ""
		if _, ok := funcArity(strings.ToLower(name.text)); ok {
			hint = fmt.Sprintf(" (function names are lowercase: %q)", strings.ToLower(name.text))
		}
		p.fail(name.pos, "contains, startswith, endswith or tolower",
			"unknown function %q; expected contains, startswith, endswith or tolower%s", clip(name.text), hint)
	}
	open := p.tok.pos
	p.enter(name.pos)
	p.advance()
	var args []Expr
	for {
		args = append(args, p.operand("a field or string"))
		if p.tok.kind == tokComma {
			p.advance()
			continue
		}
		if p.tok.kind == tokRParen {
			break
		}
		if p.tok.kind == tokEOF {
			p.fail(p.tok.pos, "')'",
				"unbalanced parentheses: expected ')' to close the '(' of %s at position %d, got end of input", name.text, open)
		}
		p.unexpected("',' or ')'", "")
	}
	p.depth--
	p.advance()
	if len(args) != arity {
		want := "2 arguments (a field and a string)"
		if arity == 1 {
			want = "1 argument (a field or a string)"
		}
		p.fail(name.pos, want, "%s takes %s, got %d", name.text, want, len(args))
	}
	for i, a := range args {
		if !isStringOperand(a) {
			p.fail(a.Pos(), "a field, string or tolower(...)",
				"argument %d of %s must be a field, a string or tolower(...), got %s", i+1, name.text, describeNode(a))
		}
	}
	return &Call{Func: name.text, Args: args, P: name.pos}
}

// funcArity reports the argument count of a known function.
func funcArity(name string) (int, bool) {
	switch name {
	case FuncContains, FuncStartsWith, FuncEndsWith:
		return 2, true
	case FuncToLower:
		return 1, true
	}
	return 0, false
}

func isCompareOp(s string) bool {
	switch CompareOp(s) {
	case OpEq, OpNe, OpGt, OpGe, OpLt, OpLe:
		return true
	}
	return false
}

// isReserved reports whether s is a keyword and so cannot name a field.
func isReserved(s string) bool {
	switch s {
	case "and", "or", "not", "in", "true", "false", "null":
		return true
	}
	return isCompareOp(s)
}

// isCondition reports whether e yields a boolean and can stand where a
// condition is expected.
func isCondition(e Expr) bool {
	switch n := e.(type) {
	case *Logical, *Not, *Compare, *In:
		return true
	case *Call:
		return n.Func != FuncToLower
	}
	return false
}

// isOperand reports whether e may be a side of a comparison.
func isOperand(e Expr) bool {
	switch e.(type) {
	case *Field, *Literal, *Call:
		return true
	}
	return false
}

// isStringOperand reports whether e may be a function argument.
func isStringOperand(e Expr) bool {
	switch n := e.(type) {
	case *Field:
		return true
	case *Literal:
		return n.Kind == KindString
	case *Call:
		return n.Func == FuncToLower
	}
	return false
}

func isBoolLiteral(e Expr) bool {
	l, ok := e.(*Literal)
	return ok && l.Kind == KindBool
}

// describe names a token for an error message.
func describe(t token) string {
	switch t.kind {
	case tokEOF:
		return "end of input"
	case tokLiteral:
		return t.lit.Kind.String() + " " + clip(t.text)
	}
	return strconv.Quote(clip(t.text))
}

// describeNode names a parsed operand for an error message.
func describeNode(e Expr) string {
	if isNil(e) {
		return "nil"
	}
	switch n := e.(type) {
	case *Field:
		return "field " + strconv.Quote(clip(n.Name))
	case *Literal:
		return n.Kind.String() + " " + clip(n.Raw)
	case *Call:
		return n.Func + "(...)"
	}
	return "a condition"
}

// caseHint points out keywords written in the wrong case, the most common
// mistake from SQL habits ("AND", "Eq").
func caseHint(t token) string {
	if t.kind != tokIdent {
		return ""
	}
	if low := strings.ToLower(t.text); low != t.text && isReserved(low) {
		return fmt.Sprintf(" (keywords are lowercase: %q)", low)
	}
	return ""
}

// clip shortens s for quoting in a message, on a rune boundary.
func clip(s string) string {
	const limit = 40
	if len(s) <= limit {
		return s
	}
	end := limit
	for end > 0 && !utf8.RuneStart(s[end]) {
		end--
	}
	return s[:end] + "..."
}
