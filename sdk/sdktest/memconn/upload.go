package memconn

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/synchub/synchub/sdk"
)

// Upload applies ops in order. It is idempotent per mutation id: an op whose
// mutation was applied before answers the same result again, so a batch
// retried after a lost answer changes nothing twice. A create uses Op.ID as
// the key. With req.Atomic the batch runs on a copy of the store that
// replaces it only when every op applied.
func (m *Connector) Upload(_ context.Context, req sdk.UploadRequest) (sdk.UploadResponse, error) {
	kind, lost := m.trip("upload", 0)
	if lost != nil && kind != FaultAfterApply {
		return sdk.UploadResponse{}, lost
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.st
	if req.Atomic {
		st = st.clone()
	}
	var resp sdk.UploadResponse
	failed := ""
	for _, op := range req.Ops {
		res := m.apply(st, op)
		res.MutationID = op.MutationID
		resp.Results = append(resp.Results, res)
		if res.Status != sdk.StatusApplied && failed == "" {
			failed = op.MutationID
		}
	}
	switch {
	case !req.Atomic:
	case failed == "":
		m.st = st
	default:
		for i, res := range resp.Results {
			if res.Status == sdk.StatusApplied {
				resp.Results[i] = sdk.OpResult{MutationID: res.MutationID, Status: sdk.StatusRejected,
					Message: fmt.Sprintf("not applied: mutation %s of the same atomic batch failed", failed)}
			}
		}
	}
	return resp, lost // lost is the after_apply fault: applied, but the answer is lost
}

// apply applies one op to st.
func (m *Connector) apply(st *store, op sdk.Op) sdk.OpResult {
	if res, ok := st.applied[op.MutationID]; ok {
		return res
	}
	e, ok := m.byName[op.Entity]
	if !ok {
		return rejected("unknown entity %q", op.Entity)
	}
	if e.Schema.ReadOnly {
		return rejected("entity %s is read-only", op.Entity)
	}
	t := st.table(op.Entity)
	cur, exists := t.rows[op.ID]
	if exists && op.Kind != sdk.OpCreate && op.BaseVersion != "" && op.BaseVersion != strconv.FormatInt(cur.version, 10) {
		rec := cur.record(op.ID, nil)
		return sdk.OpResult{Status: sdk.StatusConflict, ID: op.ID, Record: &rec, Message: "the record changed since version " + op.BaseVersion}
	}
	id, fields := op.ID, map[string]any{}
	switch op.Kind {
	case sdk.OpCreate:
		if exists {
			return rejected("duplicate key: %s %s exists", op.Entity, op.ID)
		}
		if id == "" {
			id = newID()
		}
	case sdk.OpUpdate, sdk.OpDelete:
		if !exists {
			return sdk.OpResult{Status: sdk.StatusNotFound, ID: op.ID, Message: fmt.Sprintf("no %s %s", op.Entity, op.ID)}
		}
		maps.Copy(fields, cur.fields)
	default:
		return rejected("unknown op kind %q", op.Kind)
	}
	res := sdk.OpResult{Status: sdk.StatusApplied, ID: id}
	if op.Kind == sdk.OpDelete {
		st.remove(e.Schema, id)
	} else {
		changed, bad := m.validate(st, e.Schema, op)
		if bad != nil {
			return *bad
		}
		maps.Copy(fields, changed)
		rec := st.write(e.Schema, id, fields, m.clock().UTC()).record(id, nil)
		res.Record = &rec
	}
	st.applied[op.MutationID] = res
	return res
}

// validate checks an op's fields against the schema: known, writable, the
// required ones present on a create, and lookups pointing at records that
// exist (those that do not are named in MissingLookups).
func (m *Connector) validate(st *store, e sdk.EntitySchema, op sdk.Op) (map[string]any, *sdk.OpResult) {
	fields, err := toJSON(op.Fields)
	if err != nil {
		return nil, ptr(rejected("fields are not JSON: %v", err))
	}
	var missing []string
	for name, v := range fields {
		f, ok := e.Field(name)
		switch {
		case !ok:
			return nil, ptr(rejected("unknown field %q", name))
		case name == e.Key:
			delete(fields, name) // the key is op.ID
		case f.ReadOnly:
			return nil, ptr(rejected("field %q is read-only", name))
		case f.Type == sdk.TypeLookup && v != nil:
			ref, ok := v.(map[string]any)
			target, _ := ref["entity"].(string)
			id, _ := ref["id"].(string)
			if !ok || id == "" || !slices.Contains(strings.Split(f.Lookup, ","), target) {
				return nil, ptr(rejected("field %q must be a lookup {\"entity\": %q, \"id\": ...}", name, f.Lookup))
			}
			if _, found := st.table(target).rows[id]; !found {
				missing = append(missing, name)
			}
		}
	}
	if op.Kind == sdk.OpCreate {
		for _, f := range e.Fields {
			if f.Required && fields[f.Name] == nil {
				return nil, ptr(rejected("required field %q is missing", f.Name))
			}
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		res := rejected("lookup targets not found: %s", strings.Join(missing, ", "))
		res.MissingLookups = missing
		return nil, &res
	}
	return fields, nil
}

func rejected(format string, args ...any) sdk.OpResult {
	return sdk.OpResult{Status: sdk.StatusRejected, Message: fmt.Sprintf(format, args...)}
}

func ptr[T any](v T) *T { return &v }
