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
// after a comma but for the first row.
func (p *plain) row(vs ...any) *plain {
	if p.rows > 0 {
		p.b.WriteByte(',')
	}
	p.rows++
	p.b.WriteByte('(')
	return p.list(vs...).sql(")")
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
