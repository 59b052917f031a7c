package sdk

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tidwall/gjson"

	"github.com/synchub/synchub/sdk/filter"
)

// Record is one row of an entity.
type Record struct {
	ID string `json:"id"`
	// Version is opaque and comes from the back end (ETag, RowVersion,
	// SystemModstamp). Equal versions mean an unchanged record.
	Version    string    `json:"version,omitempty"`
	ModifiedAt time.Time `json:"modified_at,omitempty"`
	// Fields holds the record's fields. A lookup is a Ref.
	Fields map[string]any `json:"fields"`
	// Raw, when set, is Fields as JSON exactly as it crossed the plugin
	// boundary; the host stores it without encoding again. A connector may
	// set Raw (a JSON object, lookups as {"entity", "id"}) instead of
	// Fields when it can write the JSON straight from the back end's
	// answer, which spares building and encoding a map per record; use
	// FieldMap to read the fields of a record either way.
	Raw json.RawMessage `json:"-"`
}

// FieldMap returns Fields, or Raw decoded (numbers as json.Number) when
// the record carries only Raw.
func (r *Record) FieldMap() (map[string]any, error) {
	if r.Fields != nil || len(r.Raw) == 0 {
		return r.Fields, nil
	}
	m, err := decodeFieldsJSON(r.Raw)
	if err != nil {
		return nil, fmt.Errorf("record %s: fields JSON: %w", r.ID, err)
	}
	return m, nil
}

// decodeFieldsJSON decodes a fields object, numbers as json.Number (a
// 64-bit id or a decimal keeps every digit), refusing data after it. A
// valid object is read in one walk (gjson) instead of through
// encoding/json's reflection. The walk gives what encoding/json gives,
// value for value (a string with escapes or bytes that are not UTF-8 is
// decoded by encoding/json on its own), and the rest (invalid JSON, a
// top-level value that is not an object, nesting deeper than
// encoding/json allows) goes through encoding/json, errors included.
func decodeFieldsJSON(raw []byte) (map[string]any, error) {
	if gjson.ValidBytes(raw) {
		if v := gjson.ParseBytes(raw); v.IsObject() {
			if m, ok := walkObject(v, 1); ok {
				return m, nil
			}
		}
	}
	return decodeFieldsStd(raw)
}

// decodeFieldsStd is decodeFieldsJSON through encoding/json.
func decodeFieldsStd(raw []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("data after the object")
	}
	return m, nil
}

// walkObject decodes a valid JSON object as encoding/json decodes it into
// map[string]any with UseNumber; ok is false where it cannot be sure.
func walkObject(v gjson.Result, depth int) (m map[string]any, ok bool) {
	if depth > maxWalkDepth {
		return nil, false
	}
	m, ok = map[string]any{}, true
	v.ForEach(func(k, e gjson.Result) bool {
		var key string
		if key, ok = walkString(k); !ok {
			return false
		}
		var val any
		if val, ok = walkValue(e, depth); !ok {
			return false
		}
		m[key] = val // a repeated key: the last wins, as in encoding/json
		return true
	})
	return m, ok
}

// maxWalkDepth is encoding/json's nesting limit.
const maxWalkDepth = 10000

func walkValue(e gjson.Result, depth int) (any, bool) {
	switch e.Type {
	case gjson.Null:
		return nil, true
	case gjson.False:
		return false, true
	case gjson.True:
		return true, true
	case gjson.Number:
		return json.Number(e.Raw), true
	case gjson.String:
		return walkString(e)
	}
	if e.IsObject() {
		return walkObject(e, depth+1)
	}
	if depth+1 > maxWalkDepth {
		return nil, false
	}
	out, ok := []any{}, true
	e.ForEach(func(_, x gjson.Result) bool {
		var val any
		if val, ok = walkValue(x, depth+1); ok {
			out = append(out, val)
		}
		return ok
	})
	return out, ok
}

// walkString returns a string token's text: as it stands when it has no
// escapes and is valid UTF-8, else as encoding/json decodes the token
// (escapes, bad bytes replaced).
func walkString(e gjson.Result) (string, bool) {
	raw := e.Raw
	if len(raw) < 2 || raw[0] != '"' {
		return "", false
	}
	if strings.IndexByte(raw, '\\') < 0 && utf8.ValidString(raw) {
		return raw[1 : len(raw)-1], true
	}
	var s string
	if err := json.Unmarshal([]byte(raw), &s); err != nil {
		return "", false
	}
	return s, true
}

// FieldsJSON returns the record's fields as JSON.
func (r *Record) FieldsJSON() ([]byte, error) {
	if r.Raw != nil {
		return r.Raw, nil
	}
	if r.Fields == nil {
		return []byte("{}"), nil
	}
	return json.Marshal(r.Fields)
}

// Ref is the value of a lookup field: the entity and id of another record.
type Ref struct {
	Entity string `json:"entity"`
	ID     string `json:"id"`
}

// FetchRequest asks for one pass over an entity.
type FetchRequest struct {
	Entity string
	// Fields is the projection; empty means every field of the schema.
	Fields []string
	// Filter is pushed down on full passes (nil: everything). Incremental
	// passes get no filter: the host filters their changes itself.
	Filter filter.Expr
	// Incremental selects an incremental pass from Cursor.
	Incremental bool
	// Cursor: see Fetcher.
	Cursor string
	// PageSize is the most records a page may hold.
	PageSize int
	// RawFields is for the host, and connectors ignore it: a Client that
	// talks to a plugin process then hands records over with Raw only (the
	// JSON the plugin sent, checked to be an object) and Fields nil,
	// leaving the decoding to the host, which reads few of the fields.
	RawFields bool
}

// Page is one back-end page of a pass.
type Page struct {
	Records []Record
	// Deleted lists ids deleted since the pass's cursor (inline delete feeds).
	Deleted []string
	// Cursor is where to resume after this page.
	Cursor string
	// Done marks the pass's last page.
	Done bool
}

// DeletionsRequest asks for deletions since Cursor.
type DeletionsRequest struct {
	Entity string
	Cursor string
}

// DeletionPage is one page of a delete feed.
type DeletionPage struct {
	IDs    []string
	Cursor string
	Done   bool
}

// ListIDsRequest asks for the ids of an entity's records matching Filter.
type ListIDsRequest struct {
	Entity string
	Filter filter.Expr
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
