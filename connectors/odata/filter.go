package odata

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/synchub/synchub/sdk/filter"
)

// Dialect is what differs between OData services' query languages. The
// zero value is plain OData 4.0 with the 4.01 `in` operator.
type Dialect struct {
	// Property maps a field as the hub names it to the property path the
	// service filters and selects on (Dataverse: lookup "ownerid" ->
	// "_ownerid_value"). nil leaves names as written.
	Property func(field string) string
	// NoIn says the service lacks `in` (Dataverse, OData 4.0 services):
	// `f in (a,b)` goes out as `(f eq a or f eq b)`.
	NoIn bool
	// V3 selects OData 3 literal and function forms (Creatio's
	// EntityDataService, NAV 2013-2016): guid'…', datetime'…' (UTC),
	// decimals with an M suffix, and substringof(needle,haystack) for
	// contains.
	V3 bool
}

func (d Dialect) prop(f string) string {
	if d.Property != nil {
		return d.Property(f)
	}
	return f
}

// Filter translates e to `$filter` text ("" for nil). It fails, naming the
// node, on a tree it cannot translate (an unknown node or literal kind, a
// NaN or infinite number) rather than send a filter that means something
// else.
func Filter(e filter.Expr, d Dialect) (string, error) {
	if e == nil {
		return "", nil
	}
	var b strings.Builder
	if err := d.write(&b, e); err != nil {
		return "", err
	}
	return b.String(), nil
}

func (d Dialect) write(b *strings.Builder, e filter.Expr) error {
	switch n := e.(type) {
	case *filter.Logical:
		b.WriteByte('(')
		if err := d.write(b, n.Left); err != nil {
			return err
		}
		b.WriteString(" " + string(n.Op) + " ")
		if err := d.write(b, n.Right); err != nil {
			return err
		}
		b.WriteByte(')')
	case *filter.Not:
		b.WriteString("not (")
		if err := d.write(b, n.X); err != nil {
			return err
		}
		b.WriteByte(')')
	case *filter.Compare:
		if err := d.write(b, n.Left); err != nil {
			return err
		}
		b.WriteString(" " + string(n.Op) + " ")
		return d.write(b, n.Right)
	case *filter.In:
		return d.writeIn(b, n)
	case *filter.Call:
		return d.writeCall(b, n)
	case *filter.Field:
		b.WriteString(d.prop(n.Name))
	case *filter.Literal:
		s, err := d.Literal(n)
		if err != nil {
			return err
		}
		b.WriteString(s)
	default:
		return fmt.Errorf("odata: cannot translate filter node %T", e)
	}
	return nil
}

func (d Dialect) writeIn(b *strings.Builder, n *filter.In) error {
	field := d.prop(n.Field.Name)
	lits := make([]string, len(n.List))
	for i, l := range n.List {
		s, err := d.Literal(l)
		if err != nil {
			return err
		}
		lits[i] = s
	}
	if d.NoIn || d.V3 {
		b.WriteByte('(')
		for i, s := range lits {
			if i > 0 {
				b.WriteString(" or ")
			}
			b.WriteString(field + " eq " + s)
		}
		b.WriteByte(')')
		return nil
	}
	b.WriteString(field + " in (" + strings.Join(lits, ",") + ")")
	return nil
}

func (d Dialect) writeCall(b *strings.Builder, n *filter.Call) error {
	args := n.Args
	name := n.Func
	if d.V3 && n.Func == filter.FuncContains && len(args) == 2 {
		// OData 3 has substringof(needle, haystack) instead.
		name, args = "substringof", []filter.Expr{args[1], args[0]}
	}
	b.WriteString(name + "(")
	for i, a := range args {
		if i > 0 {
			b.WriteByte(',')
		}
		if err := d.write(b, a); err != nil {
			return err
		}
	}
	b.WriteByte(')')
	return nil
}

// Literal renders a literal as the service expects it. OData 4: strings
// single-quoted with embedded quotes doubled, GUIDs bare and lower-case,
// datetimes bare RFC 3339 in UTC, dates bare YYYY-MM-DD, numbers, true,
// false, null. With V3, GUIDs, datetimes and dates take their typed
// forms and decimals an M suffix.
func (d Dialect) Literal(l *filter.Literal) (string, error) {
	bad := func() (string, error) {
		return "", fmt.Errorf("odata: %s literal %q holds a %T", l.Kind, l.Raw, l.Value)
	}
	switch l.Kind {
	case filter.KindString:
		s, ok := l.Value.(string)
		if !ok {
			return bad()
		}
		return QuoteString(s), nil
	case filter.KindNull:
		return "null", nil
	case filter.KindBool:
		v, ok := l.Value.(bool)
		if !ok {
			return bad()
		}
		return strconv.FormatBool(v), nil
	case filter.KindInt:
		v, ok := l.Value.(int64)
		if !ok {
			return bad()
		}
		return strconv.FormatInt(v, 10), nil
	case filter.KindDecimal:
		v, ok := l.Value.(float64)
		if !ok {
			return bad()
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return "", fmt.Errorf("odata: decimal literal %q is not a finite number", l.Raw)
		}
		s := decimalText(l.Raw, v)
		if d.V3 {
			s += "M"
		}
		return s, nil
	case filter.KindDateTime:
		v, ok := l.Value.(time.Time)
		if !ok {
			return bad()
		}
		if d.V3 {
			return "datetime'" + v.UTC().Format("2006-01-02T15:04:05.9999999") + "'", nil
		}
		return v.UTC().Format(time.RFC3339Nano), nil
	case filter.KindDate:
		v, ok := l.Value.(time.Time)
		if !ok {
			return bad()
		}
		if d.V3 {
			return "datetime'" + v.Format("2006-01-02") + "T00:00:00'", nil
		}
		return v.Format(time.DateOnly), nil
	case filter.KindGUID:
		v, ok := l.Value.(string)
		if !ok {
			return bad()
		}
		if d.V3 {
			return "guid'" + strings.ToLower(v) + "'", nil
		}
		return strings.ToLower(v), nil
	}
	return "", fmt.Errorf("odata: cannot translate a literal of kind %s (%q)", l.Kind, l.Raw)
}

// QuoteString renders s as an OData string literal: single quotes, with
// each embedded quote doubled.
func QuoteString(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// decimalText writes a decimal literal as the filter wrote it when that is
// a plain decimal (filter.PlainDecimal, without a "+") of the value, so
// that a value float64 cannot hold (an amount of 20 significant digits, an
// integer beyond int64) reaches the service with every digit; otherwise
// the value, without an exponent.
func decimalText(raw string, v float64) string {
	if filter.PlainDecimal(raw) && !strings.HasPrefix(raw, "+") {
		if f, err := strconv.ParseFloat(raw, 64); err == nil && f == v {
			return raw
		}
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}
