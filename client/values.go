package client

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ParseAssignments parses "field=value" arguments (the CLI's create and
// update) into fields, each value read by the field's schema type:
//
//	string, text, guid  the text as is
//	int                 a whole number
//	decimal             a number (kept exact, as a JSON number)
//	bool                true/false, yes/no, 1/0
//	datetime            RFC 3339 (2024-05-01T10:00:00Z) or a date (midnight UTC)
//	date                YYYY-MM-DD
//	lookup              entity:id, or a bare id when the lookup has one target
//	json                a JSON value
//
// An empty value ("field=") sets the field to null. Errors are *FieldError
// with a message a user can act on.
func ParseAssignments(e EntitySchema, args []string) (map[string]any, error) {
	out := make(map[string]any, len(args))
	for _, a := range args {
		name, text, ok := strings.Cut(a, "=")
		if !ok || name == "" {
			return nil, &FieldError{Entity: e.Name, Value: a, Reason: fmt.Sprintf("'%s' is not field=value", a)}
		}
		f, ok := e.Field(name)
		if !ok {
			return nil, unknownField(e, name)
		}
		if f.ReadOnly {
			return nil, &FieldError{Entity: e.Name, Field: name, Type: f.Type, Reason: fmt.Sprintf("field '%s' of %s is read-only", name, e.Name)}
		}
		v, err := ParseValue(e, f, text)
		if err != nil {
			return nil, err
		}
		out[name] = v
	}
	return out, nil
}

// ParseValue reads one field's value from text by its type (see
// ParseAssignments).
func ParseValue(e EntitySchema, f FieldSchema, text string) (any, error) {
	bad := func(format string, args ...any) error {
		return &FieldError{Entity: e.Name, Field: f.Name, Type: f.Type, Value: text,
			Reason: fmt.Sprintf("field '%s' is %s; ", f.Name, f.Type) + fmt.Sprintf(format, args...)}
	}
	if text == "" {
		return nil, nil
	}
	switch f.Type {
	case "int":
		n, err := strconv.ParseInt(text, 10, 64)
		if err != nil {
			return nil, bad("'%s' is not a whole number", text)
		}
		return n, nil
	case "decimal":
		x, err := strconv.ParseFloat(text, 64)
		if err != nil || math.IsInf(x, 0) || math.IsNaN(x) || strings.ContainsAny(text, "xXpP_") {
			return nil, bad("'%s' is not a number", text)
		}
		if !json.Valid([]byte(text)) { // "+5", ".5", "5." parse but are not JSON numbers
			text = strconv.FormatFloat(x, 'f', -1, 64)
		}
		return json.Number(text), nil
	case "bool":
		switch strings.ToLower(text) {
		case "true", "yes", "1", "on":
			return true, nil
		case "false", "no", "0", "off":
			return false, nil
		}
		return nil, bad("'%s' is not true or false", text)
	case "datetime":
		t, ok := parseDateTime(text)
		if !ok {
			return nil, bad("'%s' is not a date and time (use 2024-05-01T10:00:00Z or 2024-05-01)", text)
		}
		return t.UTC().Format(time.RFC3339Nano), nil
	case "date":
		if _, err := time.Parse(time.DateOnly, text); err != nil {
			return nil, bad("'%s' is not a date (use 2024-05-01)", text)
		}
		return text, nil
	case "lookup":
		targets := lookupTargets(f)
		if ent, id, ok := strings.Cut(text, ":"); ok && slices.Contains(targets, ent) {
			if id == "" {
				return nil, bad("'%s' has no id after '%s:'", text, ent)
			}
			return map[string]any{"entity": ent, "id": id}, nil
		}
		if len(targets) == 1 {
			return map[string]any{"entity": targets[0], "id": text}, nil
		}
		return nil, bad("'%s' needs the form entity:id (entity one of %s)", text, strings.Join(targets, ", "))
	case "json":
		var v any
		if err := json.Unmarshal([]byte(text), &v); err != nil {
			return nil, bad("'%s' is not JSON", text)
		}
		return v, nil
	}
	return text, nil
}

func parseDateTime(s string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02 15:04:05", time.DateOnly} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

func lookupTargets(f FieldSchema) []string {
	var out []string
	for t := range strings.SplitSeq(f.Lookup, ",") {
		if t = strings.TrimSpace(t); t != "" {
			out = append(out, t)
		}
	}
	return out
}

func unknownField(e EntitySchema, name string) error {
	names := make([]string, 0, len(e.Fields))
	for _, f := range e.Fields {
		names = append(names, f.Name)
	}
	return &FieldError{Entity: e.Name, Field: name,
		Reason: fmt.Sprintf("unknown field '%s' of %s; fields: %s", name, e.Name, strings.Join(names, ", "))}
}

// checkFields validates fields a library caller hands to Create or Update:
// known, writable, and of a JSON shape that fits the type. It returns the
// fields normalised to their JSON form.
func checkFields(e EntitySchema, fields map[string]any) (map[string]any, error) {
	raw, err := json.Marshal(fields)
	if err != nil {
		return nil, &FieldError{Entity: e.Name, Reason: fmt.Sprintf("fields of %s are not JSON: %v", e.Name, err)}
	}
	norm, err := decodeFields(raw)
	if err != nil {
		return nil, err
	}
	for name, v := range norm {
		f, ok := e.Field(name)
		if !ok {
			return nil, unknownField(e, name)
		}
		if f.ReadOnly {
			return nil, &FieldError{Entity: e.Name, Field: name, Type: f.Type, Reason: fmt.Sprintf("field '%s' of %s is read-only", name, e.Name)}
		}
		if v == nil {
			continue
		}
		if reason := shapeProblem(f, v); reason != "" {
			return nil, &FieldError{Entity: e.Name, Field: name, Type: f.Type, Value: fmt.Sprint(v),
				Reason: fmt.Sprintf("field '%s' is %s; %s", name, f.Type, reason)}
		}
	}
	return norm, nil
}

func shapeProblem(f FieldSchema, v any) string {
	switch f.Type {
	case "int":
		n, ok := v.(json.Number)
		if !ok {
			return fmt.Sprintf("%v is not a number", v)
		}
		if _, err := n.Int64(); err != nil {
			return fmt.Sprintf("%s is not a whole number", n)
		}
	case "decimal":
		if _, ok := v.(json.Number); !ok {
			return fmt.Sprintf("%v is not a number", v)
		}
	case "bool":
		if _, ok := v.(bool); !ok {
			return fmt.Sprintf("%v is not true or false", v)
		}
	case "datetime", "date":
		s, ok := v.(string)
		if !ok {
			return fmt.Sprintf("%v is not a date string", v)
		}
		if _, ok := parseDateTime(s); !ok {
			return fmt.Sprintf("'%s' is not a date", s)
		}
	case "lookup":
		m, ok := v.(map[string]any)
		if !ok {
			return `a lookup is {"entity": ..., "id": ...}`
		}
		if id, _ := m["id"].(string); id == "" {
			return "a lookup needs an id"
		}
	case "string", "text", "guid":
		if _, ok := v.(string); !ok {
			return fmt.Sprintf("%v is not a string", v)
		}
	}
	return ""
}

// decodeFields decodes a JSON object keeping numbers exact.
func decodeFields(raw []byte) (map[string]any, error) {
	out := map[string]any{}
	if len(raw) == 0 || string(raw) == "null" {
		return out, nil
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil {
		return nil, fmt.Errorf("decode fields: %w", err)
	}
	return out, nil
}

func encodeFields(m map[string]any) (string, error) {
	if m == nil {
		m = map[string]any{}
	}
	b, err := json.Marshal(m)
	if err != nil {
		return "", fmt.Errorf("encode fields: %w", err)
	}
	return string(b), nil
}
