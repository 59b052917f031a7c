package sdk

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

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
// 64-bit id or a decimal keeps every digit), refusing data after it.
func decodeFieldsJSON(raw []byte) (map[string]any, error) {
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
