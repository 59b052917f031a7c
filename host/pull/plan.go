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
		if m == nil && len(r.Raw) > 0 {
			// As a pull receives records (sdk.FetchRequest.RawFields):
			// decode only what the filter and the partition rule read.
			if m, keepsAll, err = pl.sparse(r.Raw); err != nil {
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
		if len(fields) == 0 || !keepsAll {
			if r.Fields == nil && len(r.Raw) > 0 {
				if m, err = decodeObject(r.Raw); err != nil {
					return nil, nil, fmt.Errorf("record %q: fields are not a JSON object: %w", r.ID, err)
				}
			}
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
func (pl *plan) sparse(raw []byte) (m map[string]any, keepsAll bool, err error) {
	m = make(map[string]any, len(pl.reads))
	keepsAll = true
	obj := gjson.ParseBytes(raw)
	if !obj.IsObject() {
		return nil, false, errors.New("not an object")
	}
	obj.ForEach(func(k, v gjson.Result) bool {
		if pl.keep != nil && !pl.keep[k.Str] {
			keepsAll = false
		}
		if pl.reads[k.Str] {
			var val any
			if val, err = decodeValue(v.Raw); err != nil {
				return false
			}
			m[k.Str] = val
		}
		return true
	})
	return m, keepsAll, err
}

// decodeValue decodes one JSON value, numbers as json.Number.
func decodeValue(raw string) (any, error) {
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.UseNumber()
	var v any
	err := dec.Decode(&v)
	return v, err
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

// decodeObject decodes a JSON object keeping numbers as json.Number, so
// large integers survive re-encoding unchanged.
func decodeObject(raw []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	if m == nil {
		m = map[string]any{}
	}
	return m, nil
}

// now is the pull stage's clock.
func now() time.Time { return time.Now().UTC() }
