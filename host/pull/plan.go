package pull

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unsafe"

	"github.com/tidwall/gjson"

	"github.com/synchub/synchub/host/config"
	"github.com/synchub/synchub/host/partition"
	"github.com/synchub/synchub/host/store"
	"github.com/synchub/synchub/sdk"
	"github.com/synchub/synchub/sdk/filter"
)

// plan is what the config and the connector's schema say about pulling
// one entity: what to ask for, what to keep, how to place and filter.
type plan struct {
	source, entity string
	rule           config.PartitionRule
	filter         filter.Expr
	// request is the field list asked of the connector: the configured
	// fields plus those the filter and the partition rule read (nil: all).
	request []string
	// keep is the configured projection (nil: keep every field).
	keep map[string]bool
	// reads are the top-level fields the filter and the partition rule
	// read: all a record's JSON is decoded for when it can be stored as
	// it came.
	reads    map[string]bool
	pageSize int
	deletes  sdk.DeleteMode
	// hash identifies the schema and config the mirror is built with.
	hash string
}

func newPlan(src *config.Source, ent *config.Entity, es sdk.EntitySchema) (*plan, error) {
	pl := &plan{source: src.Name, entity: ent.Name, rule: ent.Partition, pageSize: ent.PageSize, deletes: es.Deletes}
	if pl.deletes == "" {
		pl.deletes = sdk.DeletesInline
	}
	if ent.Filter != "" {
		f, err := filter.Parse(ent.Filter)
		if err != nil {
			return nil, config.ErrorAt(ent.FilterRange, "Invalid filter",
				fmt.Sprintf("the filter of entity %q of source %q does not parse: %s", ent.Name, src.Name, err))
		}
		pl.filter = f
	}
	if len(ent.Fields) > 0 {
		pl.keep = make(map[string]bool, len(ent.Fields))
		for _, f := range ent.Fields {
			pl.keep[f] = true
		}
		req := slices.Clone(ent.Fields)
		extra := filter.Fields(pl.filter)
		if !pl.rule.All && pl.rule.Field != "" {
			extra = append(extra, pl.rule.Field)
		}
		for _, f := range extra {
			top, _, _ := strings.Cut(f, "/")
			if !slices.Contains(req, top) {
				req = append(req, top)
			}
		}
		pl.request = req
	}
	pl.reads = map[string]bool{}
	for _, f := range filter.Fields(pl.filter) {
		top, _, _ := strings.Cut(f, "/")
		pl.reads[top] = true
	}
	if !pl.rule.All && pl.rule.Field != "" {
		pl.reads[pl.rule.Field] = true
	}
	pl.hash = schemaHash(pl, ent, es)
	return pl, nil
}

// schemaHash digests what the mirrored rows depend on: the schema of the
// fields synced (all of them when the config names none), the key, the
// delete mode, and the entity's fields, filter and partition rule. A change
// forces a full pass.
func schemaHash(pl *plan, ent *config.Entity, es sdk.EntitySchema) string {
	type field struct{ Name, Type, Lookup string }
	var fields []field
	for _, f := range es.Fields {
		if pl.request == nil || slices.Contains(pl.request, f.Name) {
			fields = append(fields, field{f.Name, string(f.Type), f.Lookup})
		}
	}
	slices.SortFunc(fields, func(a, b field) int { return strings.Compare(a.Name, b.Name) })
	var filterText string
	if pl.filter != nil {
		filterText = filter.String(pl.filter)
	}
	doc, _ := json.Marshal(struct {
		Version   int
		Key       string
		Deletes   sdk.DeleteMode
		Schema    []field
		Fields    []string
		Filter    string
		Partition config.PartitionRule
	}{1, es.Key, pl.deletes, fields, ent.Fields, filterText,
		config.PartitionRule{All: pl.rule.All, Attr: pl.rule.Attr, Field: pl.rule.Field}})
	sum := sha256.Sum256(doc)
	return hex.EncodeToString(sum[:16])
}

// convert turns a page's records into mirror rows: records that match the
// filter are projected and placed; the ids of those that do not are
// returned for removal (a record that stops matching leaves the mirror).
//
// Records that crossed the plugin boundary carry their fields twice: the
// JSON the plugin sent (Raw) and its decoding (Fields, numbers as
// json.Number). Filter and partition read the map; when the projection
// keeps every field the plugin sent, the row stores Raw as it came,
// without encoding the map again.
func (pl *plan) convert(recs []sdk.Record) (puts []store.MirrorRecord, removes []string, err error) {
	puts = make([]store.MirrorRecord, 0, len(recs))
	var buf bytes.Buffer
	for i := range recs {
		r := &recs[i]
		m, keepsAll := r.Fields, false
		var kept []rawField
		if m == nil && len(r.Raw) > 0 {
			// As a pull receives records (sdk.FetchRequest.RawFields):
			// decode only what the filter and the partition rule read.
			if m, keepsAll, kept, err = pl.sparse(r.Raw); err != nil {
				return nil, nil, fmt.Errorf("record %q: fields are not a JSON object: %w", r.ID, err)
			}
		} else {
			keepsAll = pl.keepsAll(m)
		}
		ok, err := filter.Eval(pl.filter, m)
		if err != nil {
			return nil, nil, fmt.Errorf("record %q: evaluate filter: %w", r.ID, err)
		}
		if !ok {
			removes = append(removes, r.ID)
			continue
		}
		part := partition.Of(pl.rule, pl.entity, m)
		fields := r.Raw
		switch {
		case len(fields) > 0 && keepsAll:
		case r.Fields == nil && len(r.Raw) > 0:
			// The projected fields are written from the JSON as sent.
			fields = projectRaw(kept)
		default:
			buf.Reset()
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			if err := enc.Encode(pl.project(m)); err != nil {
				return nil, nil, fmt.Errorf("record %q: encode fields: %w", r.ID, err)
			}
			fields = bytes.Clone(bytes.TrimRight(buf.Bytes(), "\n"))
		}
		sum := sha256.Sum256(fields)
		mr := store.MirrorRecord{ID: r.ID, Version: r.Version, Fields: fields,
			Hash: hex.EncodeToString(sum[:16]), Partition: part}
		if !r.ModifiedAt.IsZero() {
			t := r.ModifiedAt.UTC()
			mr.ModifiedAt = &t
		}
		puts = append(puts, mr)
	}
	return puts, removes, nil
}

// sparse decodes from a record's JSON object the fields pl.reads names,
// and says whether the projection keeps every field of the object.
// With a projection, it also returns the fields the projection keeps, as
// JSON.
func (pl *plan) sparse(raw []byte) (m map[string]any, keepsAll bool, kept []rawField, err error) {
	m = make(map[string]any, len(pl.reads))
	keepsAll = true
	if len(raw) == 0 {
		return nil, false, nil, errors.New("not an object")
	}
	// A view of raw, not a copy (gjson.ParseBytes copies): the record's
	// JSON never changes once decoded, and the strings taken from it keep
	// it alive.
	obj := gjson.Parse(unsafe.String(&raw[0], len(raw)))
	if !obj.IsObject() {
		return nil, false, nil, errors.New("not an object")
	}
	obj.ForEach(func(k, v gjson.Result) bool {
		switch {
		case pl.keep == nil:
		case pl.keep[k.Str]:
			kept = append(kept, rawField{name: k.Str, key: k.Raw, value: v.Raw})
		default:
			keepsAll = false
		}
		if pl.reads[k.Str] {
			m[k.Str] = valueOf(v)
		}
		return true
	})
	return m, keepsAll, kept, err
}

// rawField is one field of a record's JSON object: its name, and its key
// and value as written.
type rawField struct{ name, key, value string }

// projectRaw writes the kept fields as a JSON object, ordered by name as
// encoding/json orders a map; of a name given twice the last counts, as
// when decoding.
func projectRaw(kept []rawField) []byte {
	slices.SortStableFunc(kept, func(a, b rawField) int { return strings.Compare(a.name, b.name) })
	n := 2
	for _, f := range kept {
		n += len(f.key) + len(f.value) + 2
	}
	out := make([]byte, 0, n)
	out = append(out, '{')
	for i, f := range kept {
		if i+1 < len(kept) && kept[i+1].name == f.name {
			continue
		}
		if len(out) > 1 {
			out = append(out, ',')
		}
		out = append(out, f.key...)
		out = append(out, ':')
		out = append(out, f.value...)
	}
	return append(out, '}')
}

// valueOf converts one JSON value as encoding/json decodes it into an
// interface, numbers as json.Number, without a decoder per value (the
// record's JSON was checked as it crossed the plugin boundary).
func valueOf(v gjson.Result) any {
	switch v.Type {
	case gjson.String:
		return v.Str
	case gjson.Number:
		return json.Number(v.Raw)
	case gjson.True:
		return true
	case gjson.False:
		return false
	case gjson.JSON:
		if v.IsArray() {
			out := []any{}
			v.ForEach(func(_, e gjson.Result) bool {
				out = append(out, valueOf(e))
				return true
			})
			return out
		}
		out := map[string]any{}
		v.ForEach(func(k, e gjson.Result) bool {
			out[k.Str] = valueOf(e)
			return true
		})
		return out
	}
	return nil
}

// keepsAll reports whether the projection keeps every field of m.
func (pl *plan) keepsAll(m map[string]any) bool {
	if pl.keep == nil {
		return true
	}
	for k := range m {
		if !pl.keep[k] {
			return false
		}
	}
	return true
}

// project is m without the fields the projection drops; m itself (which
// may be the connector's own map) is left alone.
func (pl *plan) project(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	if pl.keepsAll(m) {
		return m
	}
	out := make(map[string]any, len(pl.keep))
	for k, v := range m {
		if pl.keep[k] {
			out[k] = v
		}
	}
	return out
}

// now is the pull stage's clock.
func now() time.Time { return time.Now().UTC() }
