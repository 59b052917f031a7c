package push

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/synchub/synchub/host/config"
	"github.com/synchub/synchub/sdk"
)

// maxIDLen bounds ids, mutation ids, entity and group names (the columns'
// size).
const maxIDLen = 200

// decodeFields decodes a JSON object keeping numbers as json.Number.
func decodeFields(raw []byte) (map[string]any, error) {
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return map[string]any{}, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("trailing data after the fields object")
	}
	if m == nil {
		m = map[string]any{}
	}
	return m, nil
}

// encodeFields encodes fields as canonical JSON (sorted keys, no HTML
// escaping).
func encodeFields(m map[string]any) []byte {
	if m == nil {
		return []byte("{}")
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		// Values come from JSON decoding: they always encode.
		panic(fmt.Sprintf("encode fields: %v", err))
	}
	return bytes.TrimRight(buf.Bytes(), "\n")
}

// writable reports whether a device may write field name of entity: a
// field of the schema, in the configured projection, not read-only and not
// the key.
func writable(es sdk.EntitySchema, ent *config.Entity, name string) bool {
	f, ok := es.Field(name)
	if !ok || f.ReadOnly || name == es.Key {
		return false
	}
	return len(ent.Fields) == 0 || slices.Contains(ent.Fields, name)
}

// checkFields validates a mutation's fields against the entity's schema and
// config; it may drop the key field when it only repeats id. It returns a
// reason for the device, or "".
func checkFields(es sdk.EntitySchema, ent *config.Entity, op sdk.OpKind, id string, fields map[string]any) string {
	if op == sdk.OpDelete {
		if len(fields) > 0 {
			return "a delete carries no fields"
		}
		return ""
	}
	for _, name := range sortedKeys(fields) {
		v := fields[name]
		f, ok := es.Field(name)
		switch {
		case !ok:
			return fmt.Sprintf("entity %s has no field %q", es.Name, name)
		case len(ent.Fields) > 0 && !slices.Contains(ent.Fields, name) && name != es.Key:
			return fmt.Sprintf("field %q of entity %s is not synced", name, es.Name)
		case name == es.Key:
			if s, isStr := v.(string); isStr && s == id {
				delete(fields, name) // the key is the mutation's id
				continue
			}
			return fmt.Sprintf("field %q is the record's key: it must be absent or equal the mutation's id", name)
		case f.ReadOnly:
			return fmt.Sprintf("field %q of entity %s is read-only", name, es.Name)
		}
		if v == nil || v == "" {
			if f.Required {
				return fmt.Sprintf("field %q of entity %s is required and cannot be empty", name, es.Name)
			}
			if v == nil {
				continue
			}
		}
		if msg := checkType(f, v); msg != "" {
			return fmt.Sprintf("field %q: %s", name, msg)
		}
	}
	if op == sdk.OpCreate {
		for _, f := range es.Fields {
			if v := fields[f.Name]; f.Required && !f.ReadOnly && f.Name != es.Key && (v == nil || v == "") {
				return fmt.Sprintf("field %q of entity %s is required", f.Name, es.Name)
			}
		}
	}
	return ""
}

// checkType checks a non-null value against the field's type.
func checkType(f sdk.Field, v any) string {
	str := func() (string, bool) { s, ok := v.(string); return s, ok }
	switch f.Type {
	case sdk.TypeString, sdk.TypeText, "":
		s, ok := str()
		if !ok {
			return fmt.Sprintf("want a string, got %s", jsonKind(v))
		}
		if f.MaxLength > 0 && utf8.RuneCountInString(s) > f.MaxLength {
			return fmt.Sprintf("longer than %d characters", f.MaxLength)
		}
	case sdk.TypeGUID:
		s, ok := str()
		if _, err := uuid.Parse(s); !ok || err != nil {
			return "want a GUID string"
		}
	case sdk.TypeDateTime:
		s, ok := str()
		if _, err := time.Parse(time.RFC3339Nano, s); !ok || err != nil {
			return "want an RFC 3339 date-time string"
		}
	case sdk.TypeDate:
		s, ok := str()
		if _, err := time.Parse(time.DateOnly, s); !ok || err != nil {
			return "want a date string YYYY-MM-DD"
		}
	case sdk.TypeInt:
		n, ok := v.(json.Number)
		if _, err := strconv.ParseInt(string(n), 10, 64); !ok || err != nil {
			return fmt.Sprintf("want a whole number, got %s", jsonKind(v))
		}
	case sdk.TypeDecimal:
		if _, ok := v.(json.Number); !ok {
			return fmt.Sprintf("want a number, got %s", jsonKind(v))
		}
	case sdk.TypeBool:
		if _, ok := v.(bool); !ok {
			return fmt.Sprintf("want true or false, got %s", jsonKind(v))
		}
	case sdk.TypeLookup:
		ref, ok := lookupRef(v)
		if !ok {
			return `want a lookup {"entity": "...", "id": "..."} or null`
		}
		if f.Lookup != "" && !slices.Contains(strings.Split(f.Lookup, ","), ref.Entity) {
			return fmt.Sprintf("a lookup of %s cannot point to entity %q", f.Lookup, ref.Entity)
		}
	case sdk.TypeJSON:
	}
	return ""
}

// lookupRef reads a lookup value {"entity", "id"} (nothing else).
func lookupRef(v any) (sdk.Ref, bool) {
	m, ok := v.(map[string]any)
	if !ok || len(m) != 2 {
		return sdk.Ref{}, false
	}
	e, _ := m["entity"].(string)
	id, _ := m["id"].(string)
	if e == "" || id == "" {
		return sdk.Ref{}, false
	}
	return sdk.Ref{Entity: e, ID: id}, true
}

func jsonKind(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case json.Number, float64:
		return "a number"
	case bool:
		return "a boolean"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	}
	return fmt.Sprintf("%T", v)
}
