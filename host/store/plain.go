package store

import (
	"database/sql"
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

// strs returns ids as a list of arguments.
func strs(ids []string) []any {
	out := make([]any, len(ids))
	for i, id := range ids {
		out[i] = id
	}
	return out
}
