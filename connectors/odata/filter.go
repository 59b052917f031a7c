package odata

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/synchub/synchub/sdk/filter"
)

// Dialect is what differs between OData back ends.
type Dialect struct {
	// Property maps a record field to the OData property that filters and
	// selects it (Dataverse: lookup "ownerid" -> "_ownerid_value"). nil: as is.
	Property func(field string) string
	// NoIn: the service lacks the `in` operator; it is sent as an or-chain.
	NoIn bool
}

func (d Dialect) prop(f string) string {
	if d.Property != nil {
		return d.Property(f)
	}
	return f
}

// Filter translates e to `$filter` text ("" for nil).
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
		fmt.Fprintf(b, " %s ", n.Op)
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
		fmt.Fprintf(b, " %s ", n.Op)
		return d.write(b, n.Right)
	case *filter.In:
		if d.NoIn {
			b.WriteByte('(')
			for i, l := range n.List {
				if i > 0 {
					b.WriteString(" or ")
				}
				b.WriteString(d.prop(n.Field.Name))
				b.WriteString(" eq ")
				b.WriteString(Literal(l))
			}
			b.WriteByte(')')
			return nil
		}
		b.WriteString(d.prop(n.Field.Name))
		b.WriteString(" in (")
		for i, l := range n.List {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(Literal(l))
		}
		b.WriteByte(')')
	case *filter.Call:
		b.WriteString(n.Func)
		b.WriteByte('(')
		for i, a := range n.Args {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := d.write(b, a); err != nil {
				return err
			}
		}
		b.WriteByte(')')
	case *filter.Field:
		b.WriteString(d.prop(n.Name))
	case *filter.Literal:
		b.WriteString(Literal(n))
	default:
		return fmt.Errorf("odata: cannot translate filter node %T", e)
	}
	return nil
}

// Literal renders a literal as OData expects it: strings quoted with ”
// doubling, GUIDs, datetimes and numbers bare.
func Literal(l *filter.Literal) string {
	switch l.Kind {
	case filter.KindString:
		return "'" + strings.ReplaceAll(fmt.Sprint(l.Value), "'", "''") + "'"
	case filter.KindNull:
		return "null"
	case filter.KindBool:
		return strconv.FormatBool(l.Value.(bool))
	case filter.KindInt:
		return strconv.FormatInt(l.Value.(int64), 10)
	case filter.KindDecimal:
		return strconv.FormatFloat(l.Value.(float64), 'f', -1, 64)
	case filter.KindDateTime:
		return l.Value.(time.Time).UTC().Format(time.RFC3339Nano)
	case filter.KindDate:
		return l.Value.(time.Time).Format("2006-01-02")
	case filter.KindGUID:
		return fmt.Sprint(l.Value)
	}
	return l.Raw
}
