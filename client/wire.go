package client

import (
	"encoding/json"
	"strings"
	"time"
)

// The hub's JSON shapes (snake_case), as the device API documents them.
// Only this file, api.go, filewire.go and events.go know them.

type wireTokenRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
	DeviceID string `json:"device_id"`
}

type wireRefreshRequest struct {
	RefreshToken string `json:"refresh_token"`
}

type wireTokens struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int64  `json:"expires_in"`
	TokenType    string `json:"token_type"`
}

type wireErrorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

type wireSources struct {
	Sources []struct {
		Name string `json:"name"`
	} `json:"sources"`
}

// FieldSchema describes one field of an entity, as the hub's schema gives it.
type FieldSchema struct {
	Name string `json:"name"`
	// Type is one of string, text, guid, int, decimal, bool, datetime,
	// date, lookup, json.
	Type string `json:"type"`
	// Lookup names the target entity (or entities, comma-separated).
	Lookup   string `json:"lookup,omitempty"`
	ReadOnly bool   `json:"read_only,omitempty"`
	Required bool   `json:"required,omitempty"`
}

// EntitySchema describes one entity of a source.
type EntitySchema struct {
	Name string `json:"name"`
	// Key is the back end's key field (the op's id).
	Key      string        `json:"key,omitempty"`
	ReadOnly bool          `json:"read_only,omitempty"`
	Hash     string        `json:"hash,omitempty"`
	Fields   []FieldSchema `json:"fields"`
	// Lookups lists the lookup fields with their target entities.
	Lookups []LookupSchema `json:"lookups,omitempty"`
	// PartitionBy is the entity's partition rule, as configured.
	PartitionBy string `json:"partition_by,omitempty"`
}

// LookupSchema names a lookup field's target entities.
type LookupSchema struct {
	Field    string   `json:"field"`
	Entities []string `json:"entities"`
}

// normalize fills each lookup field's Lookup from Lookups when the field
// itself does not name its targets, so one place (Field.Lookup) answers.
func (e *EntitySchema) normalize() {
	for _, l := range e.Lookups {
		for i := range e.Fields {
			if e.Fields[i].Name == l.Field && e.Fields[i].Lookup == "" {
				e.Fields[i].Lookup = strings.Join(l.Entities, ",")
			}
		}
	}
}

// Field returns the named field.
func (e EntitySchema) Field(name string) (FieldSchema, bool) {
	for _, f := range e.Fields {
		if f.Name == name {
			return f, true
		}
	}
	return FieldSchema{}, false
}

type wireSchema struct {
	Entities []EntitySchema `json:"entities"`
}

type wireOp struct {
	Seq        int64           `json:"seq"`
	Partition  string          `json:"partition"`
	Entity     string          `json:"entity"`
	ID         string          `json:"id"`
	Op         string          `json:"op"` // put, remove
	Version    string          `json:"version"`
	ModifiedAt *time.Time      `json:"modified_at"`
	Fields     json.RawMessage `json:"fields"`
}

type wireApplied struct {
	MutationID string `json:"mutation_id"`
	// ID is the back end's id of a created record, when it assigned its own.
	ID string `json:"id,omitempty"`
}

type wireChanges struct {
	Ops        []wireOp      `json:"ops"`
	Checkpoint string        `json:"checkpoint"`
	HasMore    bool          `json:"has_more"`
	Reset      []string      `json:"reset"`
	Applied    []wireApplied `json:"applied"`
}

type wireMutation struct {
	MutationID  string         `json:"mutation_id"`
	Entity      string         `json:"entity"`
	Op          string         `json:"op"`
	ID          string         `json:"id"`
	BaseVersion string         `json:"base_version,omitempty"`
	Fields      map[string]any `json:"fields,omitempty"`
	ClientTime  time.Time      `json:"client_time"`
	Group       string         `json:"group,omitempty"`
}

type wireMutations struct {
	Mutations []wireMutation `json:"mutations"`
}

type wireMutationResult struct {
	Accepted []string `json:"accepted"`
	Rejected []struct {
		MutationID string `json:"mutation_id"`
		Reason     string `json:"reason"`
	} `json:"rejected"`
}

type wireSyncError struct {
	ID                string          `json:"id"`
	MutationID        string          `json:"mutation_id"`
	Entity            string          `json:"entity"`
	RecordID          string          `json:"record_id"`
	Reason            string          `json:"reason"`
	Status            string          `json:"status"`
	ServerRecord      json.RawMessage `json:"server_record"`
	DeviceRecord      json.RawMessage `json:"device_record"`
	ConflictingFields []string        `json:"conflicting_fields"`
}

type wireSyncErrors struct {
	Errors []wireSyncError `json:"errors"`
}

type wireResolve struct {
	Resolution string         `json:"resolution"`
	Fields     map[string]any `json:"fields,omitempty"`
}
