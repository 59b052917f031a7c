package memconn

import (
	"encoding/json"
	"maps"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/synchub/synchub/sdk"
)

// store is the back end's data. The Connector's mutex guards it. Rows are
// values whose field maps are never changed once stored, so a record handed
// out stays valid after later writes.
type store struct {
	version int64 // the version of the last write
	tables  map[string]*table
	log     []change                // every record write, ascending by version
	applied map[string]sdk.OpResult // applied upload results by mutation id
	files   map[string]*file
	written map[string]string // file ids by write key (WriteFileRequest.Key)
}

type table struct {
	rows map[string]row
	ids  []string // sorted: a full pass walks them in order
}

type row struct {
	version  int64
	modified time.Time
	fields   map[string]any // JSON values, key field included
}

type change struct {
	version    int64
	entity, id string
	deleted    bool
}

type file struct {
	meta    sdk.File
	version int64
	data    []byte
}

func newStore() *store {
	return &store{tables: map[string]*table{}, applied: map[string]sdk.OpResult{}, files: map[string]*file{}, written: map[string]string{}}
}

// table returns an entity's table, empty if it has no records yet.
func (s *store) table(entity string) *table {
	t, ok := s.tables[entity]
	if !ok {
		t = &table{rows: map[string]row{}}
		s.tables[entity] = t
	}
	return t
}

// write stores fields as the record's new state under a new version.
func (s *store) write(e sdk.EntitySchema, id string, fields map[string]any, now time.Time) row {
	s.version++
	fields[e.Key] = id
	if e.ModifiedField != "" {
		fields[e.ModifiedField] = now.Format(time.RFC3339Nano)
	}
	t := s.table(e.Name)
	if _, ok := t.rows[id]; !ok {
		i := sort.SearchStrings(t.ids, id)
		t.ids = slices.Insert(t.ids, i, id)
	}
	r := row{version: s.version, modified: now, fields: fields}
	t.rows[id] = r
	s.log = append(s.log, change{version: s.version, entity: e.Name, id: id})
	return r
}

// remove deletes a record under a new version.
func (s *store) remove(e sdk.EntitySchema, id string) {
	s.version++
	t := s.table(e.Name)
	delete(t.rows, id)
	if i := sort.SearchStrings(t.ids, id); i < len(t.ids) && t.ids[i] == id {
		t.ids = slices.Delete(t.ids, i, i+1)
	}
	s.log = append(s.log, change{version: s.version, entity: e.Name, id: id, deleted: true})
}

// changesSince returns the entity's changes after version since, one per
// record (its latest), in version order.
func (s *store) changesSince(entity string, since int64) []change {
	from := sort.Search(len(s.log), func(i int) bool { return s.log[i].version > since })
	latest := map[string]int{}
	for i := from; i < len(s.log); i++ {
		if s.log[i].entity == entity {
			latest[s.log[i].id] = i
		}
	}
	var out []change
	for i := from; i < len(s.log); i++ {
		if c := s.log[i]; c.entity == entity && latest[c.id] == i {
			out = append(out, c)
		}
	}
	return out
}

// clone copies the store so that an atomic batch can be applied to the copy
// and dropped if one of its ops fails.
func (s *store) clone() *store {
	c := &store{version: s.version, tables: map[string]*table{}, log: s.log[:len(s.log):len(s.log)],
		applied: maps.Clone(s.applied), files: maps.Clone(s.files), written: maps.Clone(s.written)}
	for name, t := range s.tables {
		c.tables[name] = &table{rows: maps.Clone(t.rows), ids: slices.Clone(t.ids)}
	}
	return c
}

// record returns the row as an sdk.Record holding the projected fields (all
// when fields is empty).
func (r row) record(id string, fields []string) sdk.Record {
	rec := sdk.Record{ID: id, Version: strconv.FormatInt(r.version, 10), ModifiedAt: r.modified}
	if len(fields) == 0 {
		rec.Fields = maps.Clone(r.fields)
		return rec
	}
	rec.Fields = make(map[string]any, len(fields)+1)
	for _, f := range fields {
		if v, ok := r.fields[f]; ok {
			rec.Fields[f] = v
		}
	}
	return rec
}

// toJSON turns Go values into the JSON values a record holds on the wire
// (numbers become float64, times strings), so that in-process callers see
// exactly what callers over gRPC see. It also copies fields.
func toJSON(fields map[string]any) (map[string]any, error) {
	b, err := json.Marshal(fields)
	if err != nil {
		return nil, err
	}
	out := map[string]any{}
	return out, json.Unmarshal(b, &out)
}

func mustJSON(fields map[string]any) map[string]any {
	out, err := toJSON(fields)
	if err != nil {
		panic(err)
	}
	return out
}

func newID() string { return uuid.NewString() }
