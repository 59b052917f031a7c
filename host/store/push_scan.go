package store

import (
	"database/sql"
	"fmt"
	"slices"
	"strings"

	"gorm.io/gorm"
)

// mutationColumns are a mutation's columns, as the model declares them:
// push_mutations' and its content's in push_mutation_bodies.
var mutationColumns = []string{"id", "source", "device_id", "mutation_id", "user_id", "entity", "op", "record_id",
	"base_version", "fields", "base_fields", "client_time", "group_id", "hash", "status", "parked", "force", "reason",
	"server_record", "conflict_fields", "backend_id", "result_version", "op_id", "applied_seq", "created_at",
	"updated_at", "resolved_at"}

// mutationField is where mutationQuery.find reads column col of m.
func mutationField(m *PushMutation, col string) any {
	switch col {
	case "id":
		return &m.ID
	case "source":
		return &m.Source
	case "device_id":
		return &m.DeviceID
	case "mutation_id":
		return &m.MutationID
	case "user_id":
		return &m.UserID
	case "entity":
		return &m.Entity
	case "op":
		return &m.Op
	case "record_id":
		return &m.RecordID
	case "base_version":
		return &m.BaseVersion
	case "fields":
		return &m.Fields
	case "base_fields":
		return &m.BaseFields
	case "client_time":
		return &m.ClientTime
	case "group_id":
		return &m.GroupID
	case "hash":
		return &m.Hash
	case "status":
		return &m.Status
	case "parked":
		return &m.Parked
	case "force":
		return &m.Force
	case "reason":
		return &m.Reason
	case "server_record":
		return &m.ServerRecord
	case "conflict_fields":
		return &m.ConflictFields
	case "backend_id":
		return &m.BackendID
	case "result_version":
		return &m.ResultVersion
	case "op_id":
		return &m.OpID
	case "applied_seq":
		return &m.AppliedSeq
	case "created_at":
		return &m.CreatedAt
	case "updated_at":
		return &m.UpdatedAt
	case "resolved_at":
		return &m.ResolvedAt
	}
	panic("store: push_mutations has no column " + col)
}

// mutationQuery reads push_mutations' rows without the omitted columns as
// a plain statement, each column straight into its field: the push stage
// reads thousands of rows per plan, and gorm's reflection per row and
// column cost as much as SQLite's reading them. start begins the SELECT of
// the columns up to its WHERE; the caller writes the condition.
type mutationQuery struct {
	cols []string
	head string
}

func newMutationQuery(omit []string) mutationQuery {
	var q mutationQuery
	for _, c := range mutationColumns {
		if !slices.Contains(omit, c) {
			q.cols = append(q.cols, c)
		}
	}
	quoted := make([]string, len(q.cols))
	from := "push_mutations"
	for i, c := range q.cols {
		quoted[i] = `"` + c + `"`
		if slices.Contains(bodyColumns, c) {
			// The content's columns are named apart from the row's, so
			// the caller's condition needs no table names.
			quoted[i] = "push_mutation_bodies." + quoted[i]
			from = "push_mutations LEFT JOIN push_mutation_bodies ON push_mutation_bodies.push_mutation_id = push_mutations.id"
		}
	}
	q.head = "SELECT " + strings.Join(quoted, ", ") + " FROM " + from + " WHERE "
	return q
}

// start begins the query: the condition follows.
func (q mutationQuery) start(tx *gorm.DB) *plain { return newPlain(tx).sql(q.head) }

// find runs the query start began and appends the rows to out.
func (q mutationQuery) find(tx *gorm.DB, stmt *plain, out []PushMutation) ([]PushMutation, error) {
	dest := make([]any, len(q.cols))
	keep := tx.Dialector.Name() != KindPostgres
	err := stmt.each(tx, func(rows *sql.Rows) error {
		out = append(out, PushMutation{})
		m := &out[len(out)-1]
		for i, c := range q.cols {
			dest[i] = mutationField(m, c)
			if b, ok := dest[i].(*[]byte); ok && keep {
				dest[i] = keptBytes{b}
			}
		}
		return rows.Scan(dest...)
	})
	if err != nil {
		return out, fmt.Errorf("read push_mutations: %w", err)
	}
	return out, nil
}

// keptBytes scans a BLOB into a []byte without the copy database/sql
// makes for a *[]byte: go-sqlite3 hands every BLOB value over in a slice
// of its own (C.GoBytes), which nothing else holds. The mutations' fields
// are most of what the push stage reads.
type keptBytes struct{ p *[]byte }

func (k keptBytes) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*k.p = nil
	case []byte:
		*k.p = v
	case string:
		*k.p = []byte(v)
	default:
		return fmt.Errorf("want bytes, got %T", src)
	}
	return nil
}

// The queries of the push stage's hot paths, and the whole mutation.
var (
	planQuery   = newMutationQuery(planOmits)
	resultQuery = newMutationQuery(resultOmits)
	// fullQuery reads every column, the content included, in one
	// statement (one snapshot of the row and its content).
	fullQuery = newMutationQuery(nil)
)
