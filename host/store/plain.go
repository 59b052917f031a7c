package store

import (
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"
)

// plain builds one of the hot statements of the mirror and the push stage
// (a batch of upserts, a status update, a lookup by a list of ids) and
// runs it on the transaction's connection, around gorm: gorm builds each
// statement anew through reflection, one variable at a time, which cost
// as much as SQLite running it. Placeholders are the dialect's (? or $n);
// the text of a statement of the same shape is the same, so the
// connection's statement cache (SQLite) keeps it prepared. Statements are
// reported to gorm's logger as gorm reports its own.
type plain struct {
	pg   bool
	b    strings.Builder
	args []any
	rows int // rows of a VALUES list written by row
	// first are the values of the VALUES list's first row and the
	// numbers of their parameters (SQLite, see row).
	first    []any
	firstArg []int
}

func newPlain(tx *gorm.DB) *plain {
	return &plain{pg: tx.Dialector.Name() == KindPostgres}
}

// sql appends text.
func (p *plain) sql(text string) *plain {
	p.b.WriteString(text)
	return p
}

// arg appends a placeholder for v.
func (p *plain) arg(v any) *plain {
	p.args = append(p.args, v)
	if p.pg {
		p.b.WriteByte('$')
		p.b.WriteString(strconv.Itoa(len(p.args)))
	} else {
		p.b.WriteByte('?')
	}
	return p
}

// constant appends the string literal of one of the store's own constants
// (a status): unlike a placeholder, a PostgreSQL session's generic plan
// sees its value, and so the statistics of how many rows hold it.
func (p *plain) constant(v string) *plain {
	p.b.WriteByte('\'')
	p.b.WriteString(strings.ReplaceAll(v, "'", "''"))
	p.b.WriteByte('\'')
	return p
}

// list appends placeholders for vs, separated by commas.
func (p *plain) list(vs ...any) *plain {
	for i, v := range vs {
		if i > 0 {
			p.b.WriteByte(',')
		}
		p.arg(v)
	}
	return p
}

// row appends a row of a VALUES list: its placeholders in parentheses,
// after a comma but for the first row. On SQLite a value equal to the
// first row's in the same column (the source, a status, the time every
// row was written at) is not bound again: its placeholder names the first
// row's parameter (?NNN), which saves converting and binding most of a
// batch's arguments.
func (p *plain) row(vs ...any) *plain {
	if p.rows > 0 {
		p.b.WriteByte(',')
	}
	p.rows++
	p.b.WriteByte('(')
	if p.pg {
		return p.list(vs...).sql(")")
	}
	if p.rows == 1 {
		p.first, p.firstArg = vs, make([]int, len(vs))
	}
	for i, v := range vs {
		if i > 0 {
			p.b.WriteByte(',')
		}
		if p.rows > 1 && i < len(p.first) && sameArg(v, p.first[i]) {
			p.b.WriteByte('?')
			p.b.WriteString(strconv.Itoa(p.firstArg[i]))
			continue
		}
		// An unnumbered ? takes the number after the highest so far,
		// which is len(p.args) once v is appended.
		p.arg(v)
		if p.rows == 1 {
			p.firstArg[i] = len(p.args)
		}
	}
	return p.sql(")")
}

// sameArg reports whether a and b are the same value of the same type, for
// the types that recur across a batch's rows; a value of any other type is
// never the same.
func sameArg(a, b any) bool {
	switch x := a.(type) {
	case string:
		return same(x, b)
	case int64:
		return same(x, b)
	case int:
		return same(x, b)
	case bool:
		return same(x, b)
	case time.Time:
		// The same instant in the same location: it binds as the same
		// text.
		return same(x, b)
	}
	return false
}

func same[T comparable](x T, b any) bool {
	y, ok := b.(T)
	return ok && x == y
}

func (p *plain) exec(tx *gorm.DB) (sql.Result, error) {
	begin := time.Now()
	text := p.b.String()
	res, err := tx.Statement.ConnPool.ExecContext(tx.Statement.Context, text, p.args...)
	tx.Logger.Trace(tx.Statement.Context, begin, func() (string, int64) {
		n := int64(-1)
		if res != nil {
			n, _ = res.RowsAffected()
		}
		return text, n
	}, err)
	return res, err
}

func (p *plain) query(tx *gorm.DB) (*sql.Rows, error) {
	begin := time.Now()
	text := p.b.String()
	rows, err := tx.Statement.ConnPool.QueryContext(tx.Statement.Context, text, p.args...)
	tx.Logger.Trace(tx.Statement.Context, begin, func() (string, int64) { return text, -1 }, err)
	return rows, err
}

// each runs the query and calls scan for each row it returns.
func (p *plain) each(tx *gorm.DB, scan func(*sql.Rows) error) error {
	rows, err := p.query(tx)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// in appends "col IN (...)" for values: on PostgreSQL "col = ANY($n)"
// with the values as one array parameter (one statement text, planned
// once, whatever the number of values), on SQLite a list of placeholders.
// values is a []string or an []int64.
func (p *plain) in(col string, values any) *plain {
	p.sql(col)
	if p.pg {
		return p.sql(" = ANY(").arg(values).sql(")")
	}
	p.sql(" IN (")
	switch vs := values.(type) {
	case []string:
		p.list(anys(vs)...)
	case []int64:
		p.list(anys(vs)...)
	default:
		panic(fmt.Sprintf("plain.in: values of type %T", values))
	}
	return p.sql(")")
}

// anys returns vs as a list of arguments.
func anys[T any](vs []T) []any {
	out := make([]any, len(vs))
	for i, v := range vs {
		out[i] = v
	}
	return out
}
