package filter

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// String formats e as canonical OData text: single spaces around operators,
// parentheses only where the tree needs them, no spaces inside function
// calls and "in" lists, and literals printed from their Value (so 1.50 prints
// as 1.5, a GUID in lowercase, +00:00 possibly as Z). For any tree Parse
// returns, Parse(String(e)) yields an equal tree apart from positions and
// Raw. A nil e formats as "".
func String(e Expr) string {
	var b strings.Builder
	writeExpr(&b, e)
	return b.String()
}

func writeExpr(b *strings.Builder, e Expr) {
	if isNil(e) {
		return
	}
	switch n := e.(type) {
	case *Logical:
		writeLogicalSide(b, n.Left, n.Op, false)
		b.WriteString(" ")
		b.WriteString(string(n.Op))
		b.WriteString(" ")
		writeLogicalSide(b, n.Right, n.Op, true)
	case *Not:
		b.WriteString("not ")
		writeParen(b, n.X, isLogical(n.X))
	case *Compare:
		writeParen(b, n.Left, !isOperand(n.Left))
		b.WriteString(" ")
		b.WriteString(string(n.Op))
		b.WriteString(" ")
		writeParen(b, n.Right, !isOperand(n.Right))
	case *In:
		writeExpr(b, n.Field)
		b.WriteString(" in (")
		for i, l := range n.List {
			if i > 0 {
				b.WriteString(",")
			}
			writeExpr(b, l)
		}
		b.WriteString(")")
	case *Call:
		b.WriteString(n.Func)
		b.WriteString("(")
		for i, a := range n.Args {
			if i > 0 {
				b.WriteString(",")
			}
			writeExpr(b, a)
		}
		b.WriteString(")")
	case *Field:
		b.WriteString(n.Name)
	case *Literal:
		b.WriteString(literalText(n))
	}
}

// writeLogicalSide parenthesises a side of parent that binds more loosely,
// and a right side with the same operator, because chains parse left-deep.
func writeLogicalSide(b *strings.Builder, side Expr, parent LogicalOp, right bool) {
	l, ok := side.(*Logical)
	need := ok && l != nil && (prec(l.Op) < prec(parent) || (right && prec(l.Op) == prec(parent)))
	writeParen(b, side, need)
}

func prec(op LogicalOp) int {
	if op == OpAnd {
		return 2
	}
	return 1
}

func isLogical(e Expr) bool {
	_, ok := e.(*Logical)
	return ok
}

func writeParen(b *strings.Builder, e Expr, paren bool) {
	if paren {
		b.WriteString("(")
	}
	writeExpr(b, e)
	if paren {
		b.WriteString(")")
	}
}

// literalText prints a literal from its Value, falling back to Raw when the
// Value does not have the type its Kind promises.
func literalText(l *Literal) string {
	switch v := l.Value.(type) {
	case string:
		switch l.Kind {
		case KindString:
			return "'" + strings.ReplaceAll(v, "'", "''") + "'"
		case KindGUID:
			return strings.ToLower(v)
		}
	case int64:
		if l.Kind == KindInt {
			return strconv.FormatInt(v, 10)
		}
	case float64:
		if l.Kind == KindDecimal {
			return formatDecimal(v)
		}
	case bool:
		if l.Kind == KindBool {
			return strconv.FormatBool(v)
		}
	case time.Time:
		switch l.Kind {
		case KindDateTime:
			return v.Format(time.RFC3339Nano)
		case KindDate:
			return v.Format(time.DateOnly)
		}
	case nil:
		if l.Kind == KindNull {
			return "null"
		}
	}
	return l.Raw
}

// formatDecimal prints the shortest text that reads back as the same
// float64, and keeps it a decimal: 1 would re-parse as an integer, so it
// prints as 1.0.
func formatDecimal(f float64) string {
	s := strconv.FormatFloat(f, 'g', -1, 64)
	if math.IsInf(f, 0) || math.IsNaN(f) || strings.ContainsAny(s, ".e") {
		return s
	}
	return s + ".0"
}
